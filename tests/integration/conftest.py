import asyncpg
import pytest
import redis.asyncio as redis

from tests.integration.seat_world import World, make_world


@pytest.fixture(autouse=True)
def _clean(clean: None) -> None:
    """Every integration test starts from empty tables and an empty Redis namespace."""


@pytest.fixture
async def world(pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str) -> World:
    """The seat-gate tests' world (tests/integration/seat_world.py)."""
    return await make_world(pool, redis_client, namespace)
