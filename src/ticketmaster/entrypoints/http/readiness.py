"""``/readyz``'s answer: one engine check per ``ttl_s`` per process, however many ask.

A load balancer (or a flood) may ask every process many times a second; each asking
costing a PostgreSQL and a Redis round trip would make the probe a load of its own. The
answer is reused for ``ttl_s`` from the start of the check that produced it, and callers
arriving while a check runs share it (one in flight at a time), so a dependency that goes
down turns the answer to "not ready" within ``ttl_s`` plus one check (itself bounded by
its own timeout).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Readiness:
    """Each engine's state: ``ok`` or ``down: <why>``."""

    postgres: str
    redis: str

    @property
    def ready(self) -> bool:
        return self.postgres == "ok" and self.redis == "ok"


class CachedReadiness:
    def __init__(
        self,
        check: Callable[[], Awaitable[Readiness]],
        *,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._ttl_s = ttl_s
        self._clock = clock
        self._answer: Readiness | None = None
        self._checked_at = 0.0
        self._running: asyncio.Future[Readiness] | None = None

    async def get(self) -> Readiness:
        """The last answer while it is younger than ``ttl_s``, else the next check's."""
        if self._answer is not None and self._clock() - self._checked_at < self._ttl_s:
            return self._answer
        if self._running is None:
            self._running = asyncio.ensure_future(self._refresh())
        # Shielded: a caller that goes away does not cancel the check the others wait for.
        return await asyncio.shield(self._running)

    async def _refresh(self) -> Readiness:
        started = self._clock()
        try:
            answer = await self._check()
        finally:
            self._running = None
        self._answer, self._checked_at = answer, started
        return answer
