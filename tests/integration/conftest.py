import asyncpg
import pytest
import redis.asyncio as redis

from tests.conftest import delete_namespace
from tests.integration.seat_world import World, make_world
from ticketmaster.adapters.redis.client import RedisClient


@pytest.fixture(autouse=True)
def _clean(clean: None) -> None:
    """Every integration test starts from empty tables and an empty Redis namespace."""


@pytest.fixture
async def world(pool: asyncpg.Pool, redis_client: redis.Redis, namespace: str) -> World:
    """The seat-gate tests' world (tests/integration/seat_world.py)."""
    return await make_world(pool, redis_client, namespace)


@pytest.fixture(params=["single", "cluster"])
def gate_redis(request: pytest.FixtureRequest) -> RedisClient:
    """The Redis the world's gate uses: one node, or the session's Redis Cluster (started
    only when a cluster case is selected)."""
    name = "redis_cluster_client" if request.param == "cluster" else "redis_client"
    client: RedisClient = request.getfixturevalue(name)
    return client


@pytest.fixture
async def world_on_either(pool: asyncpg.Pool, gate_redis: RedisClient, namespace: str) -> World:
    """The seat-gate world on one node or a Cluster: a test taking it runs on both."""
    await delete_namespace(gate_redis, namespace)  # the autouse clean empties the single node
    return await make_world(pool, gate_redis, namespace)
