"""Seat-map bodies: rendered from a Redis snapshot and the cached layout (never from
PostgreSQL), shared by concurrent readers, and never older than the request.

Freshness contract: a request is answered with a map whose snapshot was taken after the
request arrived, unless the cached map is provably current (same seat-map version, and
no hold in it has lapsed since). So a buyer who cancels and then reloads the map sees
the seats AVAILABLE. Cost contract: renders of one event never overlap; requests that
arrive while one runs share the next one, so the render rate is bounded by the render
time however many readers there are.

Rendering is a byte patch: each (venue, pricing) has a pre-encoded all-AVAILABLE body in
which every seat's status value sits at a known offset, padded to the same width
(JSON allows whitespace after a value), so a render copies the body and overwrites
only the seats that are HELD or SOLD. The ETag is (version, held count): a version only
stays put while no script ran, and then the only change possible is a hold lapsing by
time, which lowers the held count.
"""

from __future__ import annotations

import asyncio
import gzip
import math
import time
from dataclasses import dataclass

import orjson

from ticketmaster.adapters.redis.catalog_cache import CatalogCache
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.domain.errors import NotFound
from ticketmaster.domain.layout import EventInfo, VenueLayout
from ticketmaster.observability import SEAT_MAP_RENDERS

_AVAILABLE = b'"AVAILABLE"'
_PATCH = {1: b'"HELD"'.ljust(len(_AVAILABLE)), 2: b'"SOLD"'.ljust(len(_AVAILABLE))}
GZIP_MIN_BYTES = 2048


@dataclass(frozen=True, slots=True)
class RenderedMap:
    version: int
    etag: str
    body: bytes
    gzipped: bytes | None
    fresh_until_ms: float  # the earliest expiry of a HELD seat in it: after that it is stale


@dataclass(frozen=True, slots=True)
class _Template:
    """The all-AVAILABLE body (without its closing version field) and where each seat's
    status value starts in it."""

    body: bytes
    offsets: dict[str, int]


def _template(event_id: str, layout: VenueLayout, info: EventInfo) -> _Template:
    parts: list[bytes] = [b'{"eventId":' + orjson.dumps(event_id) + b',"sections":[']
    size = len(parts[0])
    offsets: dict[str, int] = {}
    for index, s in enumerate(layout.sections):
        head = (b"," if index else b"") + orjson.dumps({"id": s.id, "name": s.name})[:-1] + b',"seats":['
        parts.append(head)
        size += len(head)
        tier = orjson.dumps(info.section_tiers.get(s.id))
        first = True
        for row, count in s.rows:
            row_json = orjson.dumps(row)
            for n in range(1, count + 1):
                sid = f"{s.id}-{row}-{n}"
                seat_head = (
                    (b"" if first else b",")
                    + b'{"id":'
                    + orjson.dumps(sid)
                    + b',"row":'
                    + row_json
                    + b',"number":'
                    + str(n).encode()
                    + b',"status":'
                )
                first = False
                offsets[sid] = size + len(seat_head)
                seat = seat_head + _AVAILABLE + b',"priceTierId":' + tier + b"}"
                parts.append(seat)
                size += len(seat)
        parts.append(b"]}")
        size += 2
    parts.append(b"]")
    return _Template(b"".join(parts), offsets)


def _render(
    template: _Template, version: int, states: dict[str, str], now_ms: int
) -> tuple[bytes, int, float]:
    """(body, held count, earliest live hold expiry) of one snapshot."""
    body = bytearray(template.body)
    held = 0
    earliest = math.inf
    offsets = template.offsets
    for seat, raw in states.items():
        offset = offsets.get(seat)
        if offset is None:
            continue
        if raw == "SOLD":
            body[offset : offset + len(_AVAILABLE)] = _PATCH[2]
            continue
        _, _, exp_text = raw.rpartition("|")
        exp = int(exp_text) if exp_text.isdigit() else 0
        if exp > now_ms:
            body[offset : offset + len(_AVAILABLE)] = _PATCH[1]
            held += 1
            earliest = min(earliest, exp)
    body += b',"version":' + str(version).encode() + b"}"
    return bytes(body), held, earliest


@dataclass
class _EventMaps:
    current: RenderedMap | None = None
    running: asyncio.Task[None] | None = None
    queued: asyncio.Future[RenderedMap] | None = None
    template_key: tuple[str, str] | None = None
    template: _Template | None = None


class SeatMapRenderer:
    def __init__(self, gate: RedisSeatGate, catalog: CatalogCache) -> None:
        self._gate = gate
        self._catalog = catalog
        self._events: dict[str, _EventMaps] = {}

    async def seat_map(self, event_id: str) -> RenderedMap:
        st = self._events.setdefault(event_id, _EventMaps())
        current = st.current
        if (
            current is not None
            and time.time() * 1000 < current.fresh_until_ms
            and await self._gate.version(event_id) == current.version
        ):
            return current
        if st.queued is None:
            st.queued = asyncio.get_running_loop().create_future()
        future = st.queued  # the next render to start: its snapshot is newer than this request
        if st.running is None:
            self._start(event_id, st)
        return await asyncio.shield(future)

    def _start(self, event_id: str, st: _EventMaps) -> None:
        future, st.queued = st.queued, None
        assert future is not None

        async def run() -> None:
            try:
                rendered = await self._build(event_id, st)
            except BaseException as exc:
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # the waiters get it; do not log it as unretrieved
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                st.current = rendered
                future.set_result(rendered)
            finally:
                st.running = None
                if st.queued is not None:
                    self._start(event_id, st)

        st.running = asyncio.create_task(run())

    async def _build(self, event_id: str, st: _EventMaps) -> RenderedMap:
        info = await self._catalog.event_info(event_id)
        if info is None:
            raise NotFound(f"event {event_id!r} does not exist")
        key = (info.venue_id, orjson.dumps(info.section_tiers, option=orjson.OPT_SORT_KEYS).decode())
        if st.template is None or st.template_key != key:
            layout = await self._catalog.venue_layout(info.venue_id)
            st.template = await asyncio.to_thread(_template, event_id, layout, info)
            st.template_key = key
        snap = await self._gate.snapshot(event_id)
        body, held, earliest = _render(st.template, snap.version, snap.states, snap.taken_at_ms)
        gzipped = (
            await asyncio.to_thread(gzip.compress, body, 1, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
        )
        SEAT_MAP_RENDERS.inc()
        return RenderedMap(snap.version, f'"{snap.version}.{held}"', body, gzipped, earliest)
