"""The shared redis.asyncio client and the errors that mean "Redis is unreachable"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ticketmaster.domain.errors import Unavailable

REDIS_DOWN: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)


def create_client(url: str, *, max_connections: int = 200) -> redis.Redis:
    """A client that fails fast (short timeouts) so a dead Redis becomes a quick 503."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        health_check_interval=10,
        max_connections=max_connections,
    )


@asynccontextmanager
async def translate_unavailable() -> AsyncIterator[None]:
    try:
        yield
    except REDIS_DOWN as exc:
        raise Unavailable(f"Redis is unavailable: {type(exc).__name__}") from exc
