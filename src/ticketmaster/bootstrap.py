"""Composition root: builds the adapters once and hands them to the entry points."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as redis

from ticketmaster.adapters.postgres.events import PostgresEventCatalog
from ticketmaster.adapters.postgres.pool import create_pool
from ticketmaster.adapters.postgres.users import PostgresUserRepository
from ticketmaster.adapters.redis.client import create_client
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.tokens import TokenSigner
from ticketmaster.config import Settings


@dataclass
class Container:
    """Everything a process needs, wired once; ``close`` releases it all."""

    settings: Settings
    pool: asyncpg.Pool
    redis: redis.Redis
    keys: RedisKeys
    signer: TokenSigner
    events: PostgresEventCatalog
    users: PostgresUserRepository

    async def close(self) -> None:
        await self.redis.aclose()
        await self.pool.close()


async def build(settings: Settings) -> Container:
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError("build() needs both engine URLs; start the embedded engines first")
    pool = await create_pool(settings.database_url, max_size=settings.db_pool_size)
    client = create_client(settings.redis_url)
    return Container(
        settings=settings,
        pool=pool,
        redis=client,
        keys=RedisKeys(settings.redis_namespace),
        signer=TokenSigner(settings.secret_key),
        events=PostgresEventCatalog(pool),
        users=PostgresUserRepository(pool),
    )
