"""Seat-map bodies: rendered from a Redis snapshot and the cached layout, never from
PostgreSQL, and shared by concurrent readers.

A rendered map is reused for up to ``max_staleness_s`` (default 100 ms) even if seats
changed meanwhile: each body is a consistent snapshot with its own ``version``, the gate
stays authoritative, and a 50,000-seat map is built a few times a second at most instead
of once per reader. The ETag is (version, held count): a version only stays put while no
script ran, and then the only change possible is a hold lapsing by time, which lowers the
held count.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from dataclasses import dataclass

import orjson

from ticketmaster.adapters.redis.catalog_cache import CatalogCache
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.domain.errors import NotFound
from ticketmaster.domain.layout import EventInfo, VenueLayout
from ticketmaster.observability import SEAT_MAP_RENDERS

_STATUS = {0: b"AVAILABLE", 1: b"HELD", 2: b"SOLD"}
GZIP_MIN_BYTES = 2048


@dataclass(frozen=True, slots=True)
class RenderedMap:
    version: int
    etag: str
    body: bytes
    gzipped: bytes | None
    made_at: float


@dataclass(frozen=True, slots=True)
class _Template:
    """Pre-encoded JSON pieces of every seat: head + STATUS + tail."""

    sections: tuple[tuple[bytes, tuple[tuple[str, bytes, bytes], ...]], ...]


def _template(layout: VenueLayout, info: EventInfo) -> _Template:
    sections = []
    for s in layout.sections:
        head = orjson.dumps({"id": s.id, "name": s.name})[:-1] + b',"seats":['
        tier = orjson.dumps(info.section_tiers.get(s.id))
        seats = []
        for row, count in s.rows:
            row_json = orjson.dumps(row)
            for n in range(1, count + 1):
                sid = f"{s.id}-{row}-{n}"
                seat_head = (
                    b'{"id":'
                    + orjson.dumps(sid)
                    + b',"row":'
                    + row_json
                    + b',"number":'
                    + (str(n).encode() + b',"status":"')
                )
                seats.append((sid, seat_head, b'","priceTierId":' + tier + b"}"))
        sections.append((head, tuple(seats)))
    return _Template(tuple(sections))


def _status(raw: str, now_ms: int) -> int:
    if raw == "SOLD":
        return 2
    _, _, exp = raw.rpartition("|")
    return 1 if exp.isdigit() and int(exp) > now_ms else 0


def _render(
    event_id: str, version: int, template: _Template, states: dict[str, str], now_ms: int
) -> tuple[bytes, int]:
    held = 0
    out = [
        b'{"eventId":' + orjson.dumps(event_id) + b',"version":' + str(version).encode() + b',"sections":['
    ]
    for index, (head, seats) in enumerate(template.sections):
        parts = []
        for sid, seat_head, tail in seats:
            raw = states.get(sid)
            code = 0 if raw is None else _status(raw, now_ms)
            held += code == 1
            parts.append(seat_head + _STATUS[code] + tail)
        out.append((b"," if index else b"") + head + b",".join(parts) + b"]}")
    out.append(b"]}")
    return b"".join(out), held


class SeatMapRenderer:
    def __init__(self, gate: RedisSeatGate, catalog: CatalogCache, *, max_staleness_s: float = 0.1) -> None:
        self._gate = gate
        self._catalog = catalog
        self._max_staleness_s = max_staleness_s
        self._maps: dict[str, RenderedMap] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._templates: dict[tuple[str, str], _Template] = {}

    async def seat_map(self, event_id: str) -> RenderedMap:
        cached = self._maps.get(event_id)
        if cached is not None and time.monotonic() - cached.made_at < self._max_staleness_s:
            return cached
        lock = self._locks.setdefault(event_id, asyncio.Lock())
        async with lock:  # one render per event at a time; the others reuse it
            cached = self._maps.get(event_id)
            if cached is not None and time.monotonic() - cached.made_at < self._max_staleness_s:
                return cached
            rendered = await self._build(event_id)
            self._maps[event_id] = rendered
            return rendered

    async def _build(self, event_id: str) -> RenderedMap:
        info = await self._catalog.event_info(event_id)
        if info is None:
            raise NotFound(f"event {event_id!r} does not exist")
        layout = await self._catalog.venue_layout(info.venue_id)
        key = (info.venue_id, orjson.dumps(info.section_tiers, option=orjson.OPT_SORT_KEYS).decode())
        template = self._templates.get(key)
        if template is None:
            template = await asyncio.to_thread(_template, layout, info)
            self._templates[key] = template
        snap = await self._gate.snapshot(event_id)
        body, held = await asyncio.to_thread(
            _render, event_id, snap.version, template, snap.states, snap.taken_at_ms
        )
        gzipped = (
            await asyncio.to_thread(gzip.compress, body, 1, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
        )
        SEAT_MAP_RENDERS.inc()
        return RenderedMap(snap.version, f'"{snap.version}.{held}"', body, gzipped, time.monotonic())
