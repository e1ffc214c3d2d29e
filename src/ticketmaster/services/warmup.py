"""Use case: the on-sale warm-up (SPEC §3): an event is loaded before its sale opens, and
stays loaded.

Every ``interval`` (+/-20 % jitter) the job asks PostgreSQL (not a Redis SCAN: the catalog
is the list of what should be warm) for the events not yet over whose ``onSaleAt`` is at
most ``window`` seconds ahead or already past. Then, per event:

- *opening soon or just opened* (``onSaleAt`` within ``window`` either side): its facts are
  re-read into Redis and this process's memory (their Redis copy expires after a minute,
  and must not lapse in the sale's first second), and its venue layout and seat index are
  built into this process's memory, and the ``primers`` run (the first use of a PostgreSQL
  connection for the hold commit, or of the Redis pipe, costs what the first buyers of a
  sale must not wait for);
- *seat state* (``load_seats``, the worker): ``gate.ensure_loaded`` — one EXISTS when the
  event is loaded; otherwise the one load shared with any request that needs it at the same
  moment (in-process task, lock key across processes), e.g. after Redis lost its data.

API processes run it with ``load_seats=False``: their own caches, so the first hold of a
sale in each process does not build the layout. A failed round is retried next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ticketmaster.domain.layout import EventInfo, VenueLayout
from ticketmaster.observability import WARMUP_LOADS

log = logging.getLogger(__name__)
JITTER = 0.2
INTERVAL_S = 5.0


class OnSaleSource(Protocol):
    async def on_sale_soon(self, within_seconds: float) -> list[tuple[str, datetime]]: ...


class Catalog(Protocol):
    async def refresh_event(self, event_id: str) -> EventInfo | None: ...
    async def venue_layout(self, venue_id: str, revision: int) -> VenueLayout: ...


class Gate(Protocol):
    async def is_loaded(self, event_id: str) -> bool: ...
    async def ensure_loaded(self, event_id: str) -> None: ...


class OnSaleWarmup:
    def __init__(
        self,
        source: OnSaleSource,
        catalog: Catalog,
        gate: Gate,
        window_seconds: float,
        *,
        load_seats: bool = True,
        primers: Sequence[Callable[[], Awaitable[None]]] = (),
        interval_s: float = INTERVAL_S,
    ) -> None:
        self._source = source
        self._catalog = catalog
        self._gate = gate
        self._window = window_seconds
        self._load_seats = load_seats
        self._primers = primers
        # A round must come well inside the window, or an event could open unwarmed.
        self._interval = min(interval_s, window_seconds / 4)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # PostgreSQL or Redis blip: the next round tries again
                log.warning("on-sale warm-up round failed; retrying", exc_info=True)
            delay = self._interval * random.uniform(1 - JITTER, 1 + JITTER)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def tick(self) -> list[str]:
        """One round; returns the events whose seat state this round loaded into Redis."""
        now = datetime.now(UTC)
        window = timedelta(seconds=self._window)
        loaded: list[str] = []
        primed = False
        for event_id, on_sale_at in await self._source.on_sale_soon(self._window):
            if abs(on_sale_at - now) <= window:
                info = await self._catalog.refresh_event(event_id)
                if info is None:
                    continue
                await self._catalog.venue_layout(info.venue_id, info.layout_revision)
                if not primed:
                    await asyncio.gather(*(prime() for prime in self._primers))
                    primed = True
            if self._load_seats and not await self._gate.is_loaded(event_id):
                await self._gate.ensure_loaded(event_id)
                WARMUP_LOADS.inc()
                loaded.append(event_id)
        return loaded
