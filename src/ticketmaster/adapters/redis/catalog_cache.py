"""Event facts and venue layouts cached near the gate (process memory, then Redis), so
the hold and seat-map paths do not touch PostgreSQL once an event is warm."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Protocol

import orjson
import redis.asyncio as redis

from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.domain.layout import EventInfo, VenueLayout

EVENT_INFO_REDIS_TTL_S = 60  # re-imports may change prices or the on-sale time
EVENT_INFO_LOCAL_TTL_S = 5.0
UNKNOWN_EVENT_TTL_S = 2.0
MAX_LOCAL_LAYOUTS = 64
# A layout revision never changes, but a re-import leaves the old one behind: let it go.
LAYOUT_REDIS_TTL_S = 24 * 3600


class CatalogSource(Protocol):
    async def event_info(self, event_id: str) -> EventInfo | None: ...
    async def venue_layout(self, venue_id: str) -> VenueLayout | None: ...


class CatalogCache:
    def __init__(self, client: redis.Redis, keys: RedisKeys, source: CatalogSource) -> None:
        self._redis = client
        self._keys = keys
        self._source = source
        self._events: dict[str, tuple[float, EventInfo | None]] = {}
        self._layouts: OrderedDict[str, VenueLayout] = OrderedDict()
        self._loading: dict[tuple[str, int], asyncio.Future[VenueLayout]] = {}
        self._event_loads: dict[str, asyncio.Future[EventInfo | None]] = {}

    async def event_info(self, event_id: str) -> EventInfo | None:
        cached = self._events.get(event_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        # One read per event however many requests miss at once (an on-sale's first second
        # would otherwise send every one of them to Redis, and on a miss to PostgreSQL).
        loading = self._event_loads.get(event_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load_event(event_id))
            self._event_loads[event_id] = loading
            loading.add_done_callback(lambda _: self._event_loads.pop(event_id, None))
        return await asyncio.shield(loading)

    async def _load_event(self, event_id: str) -> EventInfo | None:
        raw = await self._redis.get(self._keys.event_meta(event_id))
        if raw is None:
            return await self.refresh_event(event_id)
        info = EventInfo.from_json(orjson.loads(raw))
        self._events[event_id] = (time.monotonic() + EVENT_INFO_LOCAL_TTL_S, info)
        return info

    async def refresh_event(self, event_id: str) -> EventInfo | None:
        """Read the event's facts from PostgreSQL into Redis and this process (the on-sale
        warm-up calls it, so the Redis copy does not lapse in the sale's first second)."""
        info = await self._source.event_info(event_id)
        if info is not None:
            await self._redis.set(
                self._keys.event_meta(event_id), orjson.dumps(info.to_json()), ex=EVENT_INFO_REDIS_TTL_S
            )
        ttl = EVENT_INFO_LOCAL_TTL_S if info is not None else UNKNOWN_EVENT_TTL_S
        self._events[event_id] = (time.monotonic() + ttl, info)
        return info

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

    async def forget_events(self, event_ids: list[str]) -> None:
        """Drop cached event facts after a re-import (other processes catch up within their
        local TTL)."""
        for event_id in event_ids:
            self._events.pop(event_id, None)
        for event_id in event_ids:  # one key per call: events live in different Cluster slots
            await self._redis.delete(self._keys.event_meta(event_id))
