"""RedisRateLimiter: one token bucket per user (or per client address) in Redis, shared by
every API process."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from ticketmaster.adapters.redis.batching import ScriptBatcher
from ticketmaster.adapters.redis.client import REDIS_DOWN, RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.lua import load_script

log = logging.getLogger(__name__)
_DOWN: tuple[type[Exception], ...] = (*REDIS_DOWN, TimeoutError)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: int = 0
    """Whole seconds (at least 1) before the next request would be allowed; 0 when allowed."""


class RedisRateLimiter:
    """``rate_per_second`` sustained, ``burst`` at once, per subject (see rate_limit.lua):
    a user by default, or whatever ``bucket`` names a key for (a client address).

    Fails open: when Redis does not answer, requests are let through (and the write they
    guard fails on its own if it needs Redis) rather than refused for a limiter outage.
    """

    def __init__(
        self,
        client: RedisClient,
        keys: RedisKeys,
        *,
        rate_per_second: float,
        burst: int,
        bucket: Callable[[str], str] | None = None,
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("need rate_per_second > 0 and burst >= 1")
        self._bucket = keys.rate_limit if bucket is None else bucket
        self._rate = rate_per_second
        self._burst = burst
        # Concurrent checks share pipelined round trips, like the hold script's calls.
        self._take = ScriptBatcher(client, load_script("rate_limit.lua"))

    async def take(self, subject: str, cost: int = 1) -> RateDecision:
        try:
            allowed, retry_ms = await self._take(
                keys=[self._bucket(subject)], args=[self._rate, self._burst, cost]
            )
        except _DOWN as exc:
            log.warning("rate limiter unavailable, letting the request through: %r", exc)
            return RateDecision(True)
        if int(allowed):
            return RateDecision(True)
        return RateDecision(False, max(1, math.ceil(int(retry_ms) / 1000)))
