"""Event facts and venue layouts cached near the gate (process memory, then Redis), so
the hold and seat-map paths do not touch PostgreSQL once an event is warm.

Re-imports (prices, on-sale times) reach every process through the catalog generation, a
random Redis value the import replaces after its commit (random rather than a counter: a
Redis that lost it can never hand back a value a process already saw). Each process reads
it at most every GENERATION_CHECK_S; on a change it drops its cached event facts, and its
Redis reads and writes move to keys of the new generation. A process therefore serves
pre-import facts for at most GENERATION_CHECK_S after the change, and a fact read from
PostgreSQL before the commit is only ever stored under the older generation's keys.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from typing import Protocol

import orjson
from cachetools import LRUCache

from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.domain.layout import EventInfo, VenueLayout

EVENT_INFO_REDIS_TTL_S = 60  # old generations' keys go; the bound if a change was not announced
EVENT_INFO_LOCAL_TTL_S = 5.0
GENERATION_CHECK_S = 1.0
UNKNOWN_EVENT_TTL_S = 2.0
_UNKNOWN = "unknown"  # the Redis marker of an event id PostgreSQL does not have
# Event ids come from clients (unknown ones are remembered too): an LRU, not a dict.
MAX_LOCAL_EVENTS = 10_000
MAX_LOCAL_LAYOUTS = 64
# A layout revision never changes, but a re-import leaves the old one behind: let it go.
LAYOUT_REDIS_TTL_S = 24 * 3600


class CatalogSource(Protocol):
    async def event_info(self, event_id: str) -> EventInfo | None: ...
    async def venue_layout(self, venue_id: str) -> VenueLayout | None: ...


class CatalogCache:
    def __init__(
        self,
        client: RedisClient,
        keys: RedisKeys,
        source: CatalogSource,
        *,
        generation_check_s: float = GENERATION_CHECK_S,
        max_events: int = MAX_LOCAL_EVENTS,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._source = source
        self._events: LRUCache[str, tuple[float, EventInfo | None]] = LRUCache(max_events)
        self._layouts: OrderedDict[str, VenueLayout] = OrderedDict()
        self._loading: dict[tuple[str, int], asyncio.Future[VenueLayout]] = {}
        self._event_loads: dict[tuple[str, str], asyncio.Future[EventInfo | None]] = {}
        self._generation = ""  # the catalog generation this process last saw
        self._generation_due = 0.0  # monotonic time of the next look at it
        self._generation_check_s = generation_check_s
        self._generation_look: asyncio.Future[None] | None = None

    async def _current_generation(self) -> str:
        now = time.monotonic()
        if now >= self._generation_due:
            self._generation_due = now + self._generation_check_s  # one look, however many requests
            self._generation_look = asyncio.ensure_future(self._look_at_generation())
            await asyncio.shield(self._generation_look)
        elif not self._generation and self._generation_look is not None:
            await asyncio.shield(self._generation_look)  # the very first look: everyone waits for it
        return self._generation

    async def _look_at_generation(self) -> None:
        raw = await self._redis.get(self._keys.catalog_generation())
        generation = "0" if raw is None else str(raw)
        if generation != self._generation:
            self._events.clear()
            self._generation = generation

    async def event_info(self, event_id: str) -> EventInfo | None:
        generation = await self._current_generation()
        cached = self._events.get(event_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        # One read per event however many requests miss at once (an on-sale's first second
        # would otherwise send every one of them to Redis, and on a miss to PostgreSQL).
        key = (event_id, generation)
        loading = self._event_loads.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load_event(event_id, generation))
            self._event_loads[key] = loading
            loading.add_done_callback(lambda _: self._event_loads.pop(key, None))
        return await asyncio.shield(loading)

    async def _load_event(self, event_id: str, generation: str) -> EventInfo | None:
        raw = await self._redis.get(self._keys.event_meta(event_id, generation))
        if raw is None:
            return await self._refresh(event_id, generation)
        info = None if raw == _UNKNOWN else EventInfo.from_json(orjson.loads(raw))
        self._keep(event_id, generation, info)
        return info

    async def refresh_event(self, event_id: str) -> EventInfo | None:
        """Read the event's facts from PostgreSQL into Redis and this process (the on-sale
        warm-up calls it, so the Redis copy does not lapse in the sale's first second)."""
        return await self._refresh(event_id, await self._current_generation())

    async def _refresh(self, event_id: str, generation: str) -> EventInfo | None:
        info = await self._source.event_info(event_id)
        key = self._keys.event_meta(event_id, generation)
        if info is not None:
            await self._redis.set(key, orjson.dumps(info.to_json()), ex=EVENT_INFO_REDIS_TTL_S)
        else:  # shared by every process, briefly; an import's new generation never sees it
            await self._redis.set(key, _UNKNOWN, ex=int(UNKNOWN_EVENT_TTL_S))
        self._keep(event_id, generation, info)
        return info

    def _keep(self, event_id: str, generation: str, info: EventInfo | None) -> None:
        if generation != self._generation:  # an import happened meanwhile: do not keep it
            return
        ttl = EVENT_INFO_LOCAL_TTL_S if info is not None else UNKNOWN_EVENT_TTL_S
        self._events[event_id] = (time.monotonic() + ttl, info)

    def cached_events(self) -> int:
        """How many event ids (known or not) this process remembers."""
        return len(self._events)

    async def venue_layout(self, venue_id: str, revision: int) -> VenueLayout:
        """The venue's layout at ``revision`` (an ``EventInfo.layout_revision``) or a later
        one: revisions only grow, and an event whose facts are a little older gets the newer
        drawing rather than a reload (its seats are the same in every revision)."""
        layout = self._layouts.get(venue_id)
        if layout is not None and layout.revision >= revision:
            self._layouts.move_to_end(venue_id)
            return layout
        # One load per venue however many requests miss at once (an on-sale's first second):
        # a stadium's layout and seat index cost tens of ms of CPU to build.
        key = (venue_id, revision)
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load_layout(venue_id, revision))
            self._loading[key] = loading
            loading.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(loading)

    async def _load_layout(self, venue_id: str, revision: int) -> VenueLayout:
        raw = await self._redis.get(self._keys.venue_layout(venue_id, revision))
        if raw is not None:
            layout = VenueLayout.from_json(orjson.loads(raw))
        else:
            source = await self._source.venue_layout(venue_id)
            if source is None:
                raise LookupError(f"venue {venue_id!r} has no layout")
            layout = source
            await self._redis.set(
                self._keys.venue_layout(venue_id, layout.revision),
                orjson.dumps(layout.to_json()),
                ex=LAYOUT_REDIS_TTL_S,
            )
        # Build the seat index once, off the event loop, not in the requests that use it.
        await asyncio.to_thread(lambda: layout.seat_ids)
        current = self._layouts.get(venue_id)
        if current is None or current.revision <= layout.revision:
            self._layouts[venue_id] = layout
        if len(self._layouts) > MAX_LOCAL_LAYOUTS:
            self._layouts.popitem(last=False)
        return layout


async def announce_catalog_change(client: RedisClient, keys: RedisKeys) -> None:
    """Tell every process that the catalog changed (call after the import committed)."""
    await client.set(keys.catalog_generation(), secrets.token_hex(8))
