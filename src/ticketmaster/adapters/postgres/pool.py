"""The asyncpg connection pool and the errors that mean "PostgreSQL is unreachable"."""

from __future__ import annotations

import asyncio

import asyncpg

# A plain connection or one borrowed from a pool: both run the same queries.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

# Errors that mean the database could not do the work at all (as opposed to a refusal).
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release hook: asyncpg has already rolled back any open transaction; nothing else
    needs resetting, since no pooled connection sets session state (LISTEN, SET, session
    advisory locks use connections of their own). Skips one round trip per query."""


async def create_pool(
    dsn: str, *, max_size: int = 20, min_size: int = 1, connect_timeout: float = 5.0
) -> asyncpg.Pool:
    """A pool whose connections give up quickly, so a dead database becomes a fast 503."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout,
        command_timeout=10,
        max_inactive_connection_lifetime=60,
        reset=_keep_session,
    )
    assert pool is not None
    return pool
