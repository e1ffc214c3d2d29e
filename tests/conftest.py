"""Shared fixtures: real engines (configured or embedded), a database and Redis
namespace of this run's own, and a real API server process for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis as sync_redis
from bench.sut import with_database
from redis.cluster import RedisCluster as SyncRedisCluster

from ticketmaster.adapters.postgres.migrate import upgrade_to_head
from ticketmaster.adapters.redis.client import RedisClient, create_client
from ticketmaster.config import Settings
from ticketmaster.embedded import EmbeddedEngines
from ticketmaster.processes import end_process

RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"

# TICKETMASTER_TEST_REDIS_CLUSTER=true: the run's Redis is a local 3-primary, 3-replica Redis
# Cluster started for it (TICKETMASTER_TEST_REDIS_URL is then ignored), and every server a
# test starts runs with TICKETMASTER_REDIS_CLUSTER=true: the API suite against a cluster.
ON_CLUSTER = os.environ.get("TICKETMASTER_TEST_REDIS_CLUSTER", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run the long load/chaos variants")
    parser.addoption(
        "--serve-workers",
        type=int,
        default=1,
        metavar="N",
        help="the shared API server of the end-to-end tests runs `serve --workers N` (default 1)",
    )


@pytest.fixture(scope="session")
def run_slow(request: pytest.FixtureRequest) -> bool:
    """Long variants of load/chaos tests run with --run-slow; the default run is short."""
    return bool(request.config.getoption("--run-slow"))


@pytest.fixture(scope="session")
def engine_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(PostgreSQL server URL, Redis URL): the TICKETMASTER_TEST_* ones, or embedded."""
    pg = os.environ.get("TICKETMASTER_TEST_DATABASE_URL")
    rd = os.environ.get("TICKETMASTER_TEST_REDIS_URL")
    if ON_CLUSTER:
        with _local_cluster(tmp_path_factory.mktemp("run-cluster")) as rd:
            if pg:
                yield pg, rd
                return
            engines = EmbeddedEngines(tmp_path_factory.mktemp("engines"), want_redis=False).start()
            try:
                yield str(engines.database_url), rd
            finally:
                engines.stop()
        return
    if pg and rd:
        yield pg, rd
        return
    engines = EmbeddedEngines(
        tmp_path_factory.mktemp("engines"), want_postgres=not pg, want_redis=not rd
    ).start()
    try:
        yield pg or str(engines.database_url), rd or str(engines.redis_url)
    finally:
        engines.stop()


@contextmanager
def own_database(server_url: str, name: str) -> Iterator[str]:
    """A database ``name`` created on that server and migrated to head; dropped on exit."""

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = with_database(server_url, name)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(engine_urls: tuple[str, str]) -> Iterator[str]:
    """A database created for this run, migrated to head, dropped at the end."""
    with own_database(engine_urls[0], f"tm_test_{RUN_ID}") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(engine_urls: tuple[str, str]) -> str:
    return engine_urls[1]


@contextmanager
def _local_cluster(directory: Path) -> Iterator[str]:
    """A seed node of a local 3-primary, 3-replica Redis Cluster (ticketmaster.local_cluster,
    on the machine's redis-server), stopped on exit."""
    from tests.cluster import REDIS
    from ticketmaster.local_cluster import LocalRedisCluster

    cluster = LocalRedisCluster(directory, binaries=REDIS)
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(
    engine_urls: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A seed node of a local Redis Cluster, started once per session and only when a test
    asks for it (the run's own Redis when it runs on a cluster)."""
    if ON_CLUSTER:
        yield engine_urls[1]
        return
    with _local_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
        yield url


@pytest.fixture(scope="session")
async def redis_cluster_client(redis_cluster_url: str, namespace: str) -> AsyncIterator[RedisClient]:
    """The service's own cluster client (``create_client(cluster=True)``) on that cluster."""
    client = create_client(redis_cluster_url, cluster=True)
    yield client
    await delete_namespace(client, namespace)
    await client.aclose()


@pytest.fixture(scope="session")
def namespace() -> str:
    return f"tmtest{RUN_ID}"


@pytest.fixture(scope="session")
def settings(
    database_url: str, redis_url: str, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings.from_env(engine_env(database_url, redis_url, namespace, tmp_path_factory.mktemp("data")))


def engine_env(database_url: str, redis_url: str, namespace: str, data_dir: Path) -> dict[str, str]:
    return {
        "TICKETMASTER_DATABASE_URL": database_url,
        "TICKETMASTER_REDIS_URL": redis_url,
        "TICKETMASTER_REDIS_NAMESPACE": namespace,
        "TICKETMASTER_DATA_DIR": str(data_dir),
        "TICKETMASTER_SECRET_KEY": "test-secret-" + "x" * 40,
        "TICKETMASTER_LOG_LEVEL": "WARNING",
        # Tests start their own sandboxes on free ports; never a stray one on the default port.
        "TICKETMASTER_SANDBOX_URL": "http://127.0.0.1:9",
        # Tests re-import and expect the next GET to see it; the micro-cache has its own test.
        "TICKETMASTER_BROWSE_CACHE_SECONDS": "0",
        # Many tests fire dozens of concurrent writes as one buyer (idempotency, races);
        # the rate limiter has tests of its own with tight limits.
        "TICKETMASTER_RATE_LIMIT_PER_SECOND": "1000",
        "TICKETMASTER_RATE_LIMIT_BURST": "1000",
        # Race tests fire 500+ requests at once to prove correctness, not load shedding
        # (which has its own tests with a small limit).
        "TICKETMASTER_MAX_IN_FLIGHT": "4096",
    } | ({"TICKETMASTER_REDIS_CLUSTER": "true"} if ON_CLUSTER else {})


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    assert p is not None
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def redis_client(redis_url: str, namespace: str) -> AsyncIterator[RedisClient]:
    """A client of the run's Redis (a cluster client when the run is on a cluster)."""
    client = create_client(redis_url, cluster=ON_CLUSTER)
    yield client
    await delete_namespace(client, namespace)
    await client.aclose()


async def delete_namespace(client: RedisClient, namespace: str) -> None:
    """Delete this run's keys (on a Cluster, SCAN visits every primary)."""
    async for key in client.scan_iter(match=f"{namespace}:*", count=1000):
        await client.delete(key)


_TABLES = (
    "booking_seats, bookings, payments, purchases, hold_seats, holds, users, price_tier_sections,"
    " price_tiers, title_term_variants, event_title_terms, events, seats, seat_rows, sections, venues"
)


@pytest.fixture
async def clean(pool: asyncpg.Pool, redis_client: RedisClient, namespace: str) -> None:
    """Empty every table and this run's Redis namespace before the test."""
    await pool.execute(f"TRUNCATE {_TABLES} CASCADE")
    await delete_namespace(redis_client, namespace)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A real ``ticketmaster <command>`` process on a free port."""

    def __init__(
        self,
        env: dict[str, str],
        command: str = "serve",
        args: tuple[str, ...] = (),
        *,
        session: bool = False,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **env, "TICKETMASTER_PORT": str(self.port)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ticketmaster.entrypoints.cli.main", command, *args],
            env=full_env,
            start_new_session=session,  # a process group of its own, for a terminal's Ctrl-C
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("server did not become ready")

    def stop(self) -> None:
        end_process(self.process)


@contextmanager
def own_server(env: dict[str, str]) -> Iterator[ServerProcess]:
    """A ready ``serve`` process with ``env`` (a namespace of its own), whose Redis keys are
    deleted when it stops."""
    server = ServerProcess(env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        forget_namespace(env)


def server_with_settings(suffix: str, settings: dict[str, str]) -> tuple[object, object]:
    """Fixtures of a module testing settings of its own: ``settings_server``, one ``own_server``
    for the module on this run's engines with a namespace and data directory of its own
    (``suffix``) and ``settings`` on top, and ``client``, a client of it per test. Use as
    ``settings_server, client = server_with_settings(...)``."""

    @pytest.fixture(scope="module", name="settings_server")
    def server(
        database_url: str, redis_url: str, namespace: str, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[ServerProcess]:
        env = engine_env(database_url, redis_url, f"{namespace}{suffix}", tmp_path_factory.mktemp(suffix))
        with own_server(env | settings) as process:
            yield process

    @pytest.fixture(name="client")
    async def client(settings_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=settings_server.url, timeout=10) as http:
            yield http

    return server, client


def forget_namespace(env: dict[str, str]) -> None:
    """Delete every Redis key of ``env``'s namespace (what a test's own processes left)."""
    on_cluster = env.get("TICKETMASTER_REDIS_CLUSTER") == "true"
    client = sync_redis_client(env["TICKETMASTER_REDIS_URL"], cluster=on_cluster)
    try:
        for key in client.scan_iter(match=env["TICKETMASTER_REDIS_NAMESPACE"] + ":*", count=1000):
            client.delete(key)
    finally:
        client.close()


def single_node(url: str) -> dict[str, str]:
    """The settings of a test's own single Redis node (``url``), on a cluster run too."""
    return {"TICKETMASTER_REDIS_URL": url, "TICKETMASTER_REDIS_CLUSTER": "false"}


def sync_redis_client(url: str, *, cluster: bool = ON_CLUSTER) -> sync_redis.Redis | SyncRedisCluster:
    """A blocking client of ``url`` for a test's own inspection (a cluster client on a cluster)."""
    if cluster:
        return SyncRedisCluster.from_url(url, decode_responses=True)
    return sync_redis.Redis.from_url(url, decode_responses=True)


@pytest.fixture(scope="session")
def server_env(
    database_url: str, redis_url: str, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return engine_env(database_url, redis_url, namespace, tmp_path_factory.mktemp("server-data"))


@pytest.fixture(scope="session")
def server(server_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """The API server most end-to-end tests share; ``--serve-workers N`` runs it as N
    processes on its port, so the public-API tests run as against a scaled-out host."""
    workers = int(request.config.getoption("--serve-workers"))
    proc = ServerProcess(server_env, args=("--workers", str(workers)) if workers > 1 else ())
    try:
        proc.wait_ready(timeout=60)
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client
