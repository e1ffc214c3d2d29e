"""The admission ticker: moves every open waiting room's "admitted up to" counter forward.

Every ``interval`` (with +/-20 % jitter, so several workers do not step in lockstep) it
runs one atomic step (queue_admit.lua) per event that has a queue, whose waiting room is
on and whose sale has opened. The step credits only the time since the previous step of
any worker, so several workers together admit at the configured rate, never faster; it
readmits skipped waiters who came back first, within the same rate and cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime
from typing import Protocol

from ticketmaster.adapters.redis.waiting_room import StepResult
from ticketmaster.domain.layout import EventInfo
from ticketmaster.domain.waiting_room import AdmissionPolicy, admission_policy
from ticketmaster.observability import (
    QUEUE_ADMISSION_RATE,
    QUEUE_ADMISSIONS,
    QUEUE_ADMITTED_ACTIVE,
    QUEUE_ADMITTED_UP_TO,
    QUEUE_LENGTH,
    QUEUE_READMISSIONS,
)

log = logging.getLogger(__name__)
JITTER = 0.2


class Catalog(Protocol):
    async def event_info(self, event_id: str) -> EventInfo | None: ...


class Queues(Protocol):
    async def active_events(self) -> list[str]: ...
    async def forget_event(self, event_id: str) -> None: ...
    async def step(self, event_id: str, policy: AdmissionPolicy, on_sale_at_ms: int) -> StepResult: ...


class AdmissionTicker:
    def __init__(self, queues: Queues, catalog: Catalog, hold_ttl_seconds: int, interval_s: float) -> None:
        self._queues = queues
        self._catalog = catalog
        self._hold_ttl = hold_ttl_seconds
        self._interval = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # Redis blip: the next tick catches up (budget is time-based)
                log.warning("admission tick failed; retrying", exc_info=True)
            delay = self._interval * random.uniform(1 - JITTER, 1 + JITTER)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def tick(self) -> dict[str, StepResult]:
        """One step for every event whose queue is open; returns the steps taken."""
        steps: dict[str, StepResult] = {}
        now = datetime.now(UTC)
        for event_id in await self._queues.active_events():
            info = await self._catalog.event_info(event_id)
            if info is None or not info.waiting_room:
                await self._queues.forget_event(event_id)
                continue
            if now < info.on_sale_at:
                continue
            result = await self._queues.step(
                event_id,
                admission_policy(info, self._hold_ttl),
                int(info.on_sale_at.timestamp() * 1000),
            )
            if not result.closed:
                steps[event_id] = result
                _record(event_id, result)
        return steps


def _record(event_id: str, r: StepResult) -> None:
    QUEUE_ADMISSIONS.labels(event_id, "admitted").inc(r.admitted)
    QUEUE_ADMISSIONS.labels(event_id, "skipped").inc(r.skipped)
    QUEUE_READMISSIONS.labels(event_id).inc(r.readmitted)
    QUEUE_LENGTH.labels(event_id).set(max(0, r.issued - r.admitted_up_to))
    QUEUE_ADMITTED_UP_TO.labels(event_id).set(r.admitted_up_to)
    QUEUE_ADMITTED_ACTIVE.labels(event_id).set(r.active)
    QUEUE_ADMISSION_RATE.labels(event_id).set(r.measured_per_second)
