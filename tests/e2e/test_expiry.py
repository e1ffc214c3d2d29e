"""Hold expiry (I4): expired seats come back fast, a payment in flight keeps its seats, and a
late or repeated release changes nothing.

How expiry lag is measured ("from expiresAt to the seat shown AVAILABLE"). The public seat
map shows a lapsed hold as AVAILABLE the moment ``expiresAt`` passes (the renderer compares
each hold's expiry with the time of its Redis snapshot), so timing the seat map would time
only its 100 ms render cache. What the expiry machinery does is *release* the seat: delete
its entry from the event's seats hash (``RedisKeys.seats``: the state the gate, the seat map
and the version counter live on) after marking the hold EXPIRED in PostgreSQL. That moment
is measured twice, for holds made over HTTP by a real API server process and released by a
real worker process:

1. by the worker itself: ``ticketmaster_expiry_lag_seconds``, observed right after the
   release script returns (``time.time() - expiresAt``). The worker runs the stock jobs and
   settings, with its Prometheus endpoint on (``--metrics-port``) so the test can read it.
   The assertions use this histogram: it is the product's own metric, one observation per
   hold (checked), and it is not inflated by the observer being descheduled;
2. from outside, as a cross-check: a watcher process with its own Redis connection reads
   the seats hash every ~5 ms (tests/e2e/seat_watcher.py); a hold's lag is the completion
   time of the first read that no longer shows it minus its ``expiresAt`` as the API
   returned it (same host clock as Redis's), so it errs long by up to one poll gap, which
   is reported. Every hold must be seen held, then released, and never before its expiry.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio.cluster import RedisCluster

from tests import factories
from tests.cluster import events_apart
from tests.conftest import ON_CLUSTER, ServerProcess, delete_namespace, free_port
from tests.e2e.buyers import Buyer, hold, new_buyers, seat_statuses
from tests.fleet import CLIENT_LIMITS, LEAN_POOL, Sandbox, api, eventually, worker
from ticketmaster import bootstrap
from ticketmaster.adapters.postgres.holds import PostgresExpiryRepository
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.bootstrap import Container
from ticketmaster.config import Settings
from ticketmaster.domain.holds import BlockingHold, Hold
from ticketmaster.entrypoints.worker.expiry import ExpiryListener, RedisSweeper
from ticketmaster.processes import end_process
from ticketmaster.services.expiry import ExpireHolds
from ticketmaster.services.holds import HoldSeats

REPO = Path(__file__).resolve().parents[2]
NOTIFICATIONS = "TICKETMASTER_EXPIRY_NOTIFICATIONS"
REDIS_SWEEP = "TICKETMASTER_REDIS_SWEEP_INTERVAL_SECONDS"
PG_SWEEP = "TICKETMASTER_POSTGRES_SWEEP_INTERVAL_SECONDS"
RECONCILE = "TICKETMASTER_RECONCILE_INTERVAL_SECONDS"
SWEEP_INTERVAL_S = 0.1  # the Redis sweeper's interval (the default), set explicitly below
LAG_TARGET_S = 0.1  # SPEC §5 / issue 5 goal: expiry lag p99 < 100 ms with notifications on
I4_BOUND_S = 1.0  # SPEC I4: an expired hold's seats are shown AVAILABLE again within 1 s
# Notifications off: every hold released within the sweeper interval plus this much for the
# release itself (a PostgreSQL update and a Lua script). 0.1 + 0.15 is a histogram bucket.
PROCESSING_SLACK_S = 0.15
LAG_METRIC = "ticketmaster_expiry_lag_seconds"


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class Buckets:
    """A histogram's cumulative bucket counts (upper bound -> observations at or below it)."""

    counts: dict[float, float]

    def __sub__(self, other: Buckets) -> Buckets:
        return Buckets({le: n - other.counts.get(le, 0.0) for le, n in self.counts.items()})

    @property
    def total(self) -> int:
        return int(self.counts[math.inf])

    def at_most(self, bound: float) -> int:
        return int(self.counts[bound])

    def quantile(self, q: float) -> float:
        """Like PromQL's histogram_quantile: linear inside the bucket holding the rank."""
        rank = q * self.total
        lower, below = 0.0, 0.0
        for le in sorted(self.counts):
            if self.counts[le] >= rank:
                if le == math.inf:
                    return lower
                share = (rank - below) / (self.counts[le] - below) if self.counts[le] > below else 1.0
                return lower + (le - lower) * share
            lower, below = le, self.counts[le]
        return lower


class MetricsWorker:
    """``ticketmaster worker --metrics-port``: the worker's jobs and its /metrics."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ticketmaster.entrypoints.cli.main",
                "worker",
                "--metrics-port",
                str(self.port),
            ],
            env={**os.environ, **env},
            cwd=REPO,
        )

    async def lag_buckets(self) -> Buckets | None:
        """The expiry-lag histogram now, or None while the endpoint does not answer yet."""
        assert self.process.poll() is None, f"the worker exited with {self.process.returncode}"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        except httpx.HTTPError:
            return None
        counts: dict[float, float] = {}
        for family in text_string_to_metric_families(text):
            if family.name == LAG_METRIC:
                for sample in family.samples:
                    if sample.name == LAG_METRIC + "_bucket":
                        counts[float(sample.labels["le"])] = sample.value
        return Buckets(counts) if counts else None

    def stop(self) -> None:
        end_process(self.process)


class SeatWatcher:
    """tests/e2e/seat_watcher.py as a process of its own: which holds it saw on a seat, and the
    wall time of the first read that no longer showed them (see the module docstring)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.seen: set[str] = set()
        self.released: dict[str, float] = {}
        self.max_gap = 0.0
        self.ready = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def watching(cls, redis_url: str, key: str) -> AsyncIterator[SeatWatcher]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.e2e.seat_watcher",
            redis_url,
            key,
            *(["cluster"] if ON_CLUSTER else []),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        watcher = cls(process)
        try:
            await asyncio.wait_for(watcher.ready.wait(), 30)
            yield watcher
        finally:
            await watcher.close()

    @property
    def alive(self) -> bool:
        return self._process.returncode is None and not self._reader.done()

    async def _read(self) -> None:
        assert self._process.stdout is not None
        async for raw in self._process.stdout:
            kind, *rest = raw.decode().split()
            if kind == "ready":
                self.ready.set()
            elif kind == "held":
                self.seen.add(rest[0])
            elif kind == "released":
                self.released.setdefault(rest[0], float(rest[1]))
            elif kind == "gap":
                self.max_gap = float(rest[0])

    async def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
        await self._reader


@dataclass
class Made:
    hold_id: str
    seat: str
    expires_at_ms: int


@dataclass
class LagRun:
    label: str
    holds: list[Made] = field(default_factory=list)
    metric: Buckets = field(default_factory=lambda: Buckets({math.inf: 0.0}))
    observed: list[float] = field(default_factory=list)  # the outside watcher's lags
    resolution: float = 0.0

    def summary(self) -> str:
        m, seen = self.metric, self.observed
        return (
            f"expiry lag [{self.label}], {len(self.holds)} holds - worker histogram:"
            f" p50~{m.quantile(0.5) * 1000:.0f} ms p99~{m.quantile(0.99) * 1000:.0f} ms,"
            f" {m.at_most(LAG_TARGET_S)}/{m.total} <= 100 ms;"
            f" outside watcher: p50={percentile(seen, 0.5) * 1000:.0f} ms"
            f" p99={percentile(seen, 0.99) * 1000:.0f} ms max={max(seen) * 1000:.0f} ms"
            f" (longest gap between its reads {self.resolution * 1000:.0f} ms)"
        )


@pytest.fixture(scope="module")
def ttl1_server(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    """An API server process of this module whose holds last one second."""
    proc = api({**server_env, **LEAN_POOL, "TICKETMASTER_HOLD_TTL_SECONDS": "1"})
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def http(ttl1_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ttl1_server.url, timeout=30, limits=CLIENT_LIMITS) as client:
        yield client


@contextlib.contextmanager
def running_worker(env: dict[str, str]) -> Iterator[ServerProcess]:
    proc = worker(env)
    try:
        yield proc
    finally:
        proc.stop()


async def _event(pool: asyncpg.Pool, sections: int, rows: int = 10, seats: int = 10) -> tuple[str, list[str]]:
    v = factories.venue(sections=sections, rows=rows, seats=seats)
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    ids = [
        f"{s['id']}-{r['id']}-{n}" for s in v["sections"] for r in s["rows"] for n in range(1, r["seats"] + 1)
    ]
    return e["id"], ids


async def _measure(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis_url: str,
    redis_client: redis.Redis,
    keys: RedisKeys,
    worker_env: dict[str, str],
    *,
    label: str,
    count: int,
    spread_s: float,
) -> LagRun:
    """``count`` one-second holds of one seat each, made evenly over ``spread_s`` seconds; the
    lag of every one of them from expiresAt to its seat's release."""
    event_id, seats = await _event(pool, sections=math.ceil((count + 1) / 100))
    buyers = await new_buyers(http, count + 1)
    run = LagRun(label)
    proc = MetricsWorker(worker_env)
    try:
        async with SeatWatcher.watching(redis_url, keys.seats(event_id)) as watcher:
            # A warm-up hold the worker must release: it is up, and the histogram has a baseline.
            warm = await hold(http, buyers[count], event_id, [seats[count]])
            assert warm.status_code == 201, warm.text

            async def warmed() -> Buckets | None:
                buckets = await proc.lag_buckets()
                released = warm.json()["holdId"] in watcher.released
                return buckets if buckets is not None and buckets.total >= 1 and released else None

            before = await eventually(warmed, within=30, what="the worker to release a warm-up hold")
            start = time.monotonic()

            async def make(i: int) -> Made:
                # Spreading the load over time, not waiting for anything.
                await asyncio.sleep(max(0.0, start + i * spread_s / count - time.monotonic()))
                response = await hold(http, buyers[i], event_id, [seats[i]])
                assert response.status_code == 201, response.text
                body = response.json()
                return Made(body["holdId"], seats[i], _ms(body["expiresAt"]))

            async with asyncio.TaskGroup() as group:  # one failure cancels the rest
                made = [group.create_task(make(i)) for i in range(count)]
            run.holds = [task.result() for task in made]

            async def all_released() -> Buckets | None:
                states = await redis_client.hgetall(keys.seats(event_id))
                if any(m.seat in states for m in run.holds):
                    return None
                buckets = await proc.lag_buckets()
                return buckets if buckets is not None and (buckets - before).total >= count else None

            try:
                after = await eventually(all_released, within=spread_s + 15, what="every hold's release")
            except AssertionError as exc:
                states = await redis_client.hgetall(keys.seats(event_id))
                stuck = {m.hold_id: states[m.seat] for m in run.holds if m.seat in states}
                rows = await pool.fetch(
                    "SELECT id, status FROM holds WHERE id = ANY($1::text[])", list(stuck)
                )
                raise AssertionError(f"{exc}: still held in Redis {stuck}, in PostgreSQL {rows}") from None

            # The outside view: the watcher has seen every hold it saw held go (it may lag behind).
            async def watched() -> bool | None:
                assert watcher.alive, "the seat watcher stopped"
                return True if watcher.seen <= set(watcher.released) else None

            await eventually(watched, within=10, what="the watcher to see every release")
    finally:
        proc.stop()
    run.metric = after - before
    run.resolution = watcher.max_gap
    assert run.metric.total == count, f"{run.metric.total} lag observations for {count} expired holds"
    run.observed = [
        watcher.released[m.hold_id] - m.expires_at_ms / 1000 for m in run.holds if m.hold_id in watcher.seen
    ]
    early = [lag for lag in run.observed if lag < 0]
    assert not early, f"{len(early)} holds were released before their expiry (by {-min(early):.3f}s)"
    # A watcher descheduled for longer than a hold lives misses it; on a sane machine it sees all.
    assert len(run.observed) >= 0.9 * count, f"the watcher saw only {len(run.observed)} of {count} holds"

    # The durable side too: every hold is EXPIRED in PostgreSQL, and the map shows them free.
    async def settled() -> bool | None:
        n = await pool.fetchval(
            "SELECT count(*) FROM holds WHERE id = ANY($1::text[]) AND status = 'EXPIRED'",
            [m.hold_id for m in run.holds],
        )
        return True if n == count else None

    await eventually(settled, within=10, what="every hold to be EXPIRED in PostgreSQL")
    shown = await seat_statuses(http, event_id)
    assert {shown[m.seat] for m in run.holds} == {"AVAILABLE"}
    print(run.summary())
    return run


def _worker_env(server_env: dict[str, str], notifications: bool) -> dict[str, str]:
    return {
        **server_env,
        # Room for the listener, the sweepers and the other jobs side by side (not the lean pool).
        "TICKETMASTER_DB_POOL_SIZE": "12",
        REDIS_SWEEP: str(SWEEP_INTERVAL_S),
        # The reconciler also frees lapsed seats (as drift, without a lag observation); keep it
        # out of the way so the histogram counts every hold exactly once.
        RECONCILE: "300",
        NOTIFICATIONS: "true" if notifications else "false",
    }


async def test_expiry_lag_with_notifications_within_i4_bound(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis_url: str,
    redis_client: redis.Redis,
    namespace: str,
    server_env: dict[str, str],
    run_slow: bool,
) -> None:
    count = 1000 if run_slow else 300
    run = await _measure(
        http,
        pool,
        redis_url,
        redis_client,
        RedisKeys(namespace),
        _worker_env(server_env, notifications=True),
        label="notifications on",
        count=count,
        spread_s=count / 150,
    )
    # I4's hard bound: every seat is shown AVAILABLE within 1 s of its hold's expiry; and the
    # issue's goal, p99 under 100 ms. Measured p99 is 5-8 ms on a quiet machine and under
    # 25 ms with both cores busy with other processes (one release script per event per
    # sweep), so the 100 ms bound has a wide margin on this shared 2-core machine.
    print(run.summary())
    assert run.metric.at_most(I4_BOUND_S) == count, run.summary()
    assert run.metric.at_most(LAG_TARGET_S) >= 0.99 * count, run.summary()


async def test_without_notifications_every_hold_is_released_within_the_sweeper_interval(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    redis_url: str,
    redis_client: redis.Redis,
    namespace: str,
    server_env: dict[str, str],
    run_slow: bool,
) -> None:
    count = 600 if run_slow else 150
    run = await _measure(
        http,
        pool,
        redis_url,
        redis_client,
        RedisKeys(namespace),
        _worker_env(server_env, notifications=False),
        label="notifications off",
        count=count,
        spread_s=count / 150,
    )
    assert run.metric.at_most(SWEEP_INTERVAL_S + PROCESSING_SLACK_S) == count, run.summary()


# --- in-process: one path at a time, metrics, late and repeated releases -------------------------


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    """The composition root in this process, with one-second holds."""
    c = await bootstrap.build(replace(settings, hold_ttl_seconds=1))
    try:
        yield c
    finally:
        await c.close()


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def _guest(c: Container) -> str:
    user_id = f"usr_{secrets.token_hex(6)}"
    await c.users.add_guest(user_id)
    return user_id


@pytest.fixture(params=["single", "cluster"])
def listener_redis(request: pytest.FixtureRequest) -> str | None:
    """None for the test Redis node, else a seed node of the session's Redis Cluster."""
    return str(request.getfixturevalue("redis_cluster_url")) if request.param == "cluster" else None


@pytest.fixture
async def listening_container(
    listener_redis: str | None, settings: Settings, namespace: str
) -> AsyncIterator[Container]:
    """``container``, on one Redis node or on the session's Redis Cluster."""
    if listener_redis is not None:
        settings = replace(settings, redis_url=listener_redis, redis_cluster=True)
    c = await bootstrap.build(replace(settings, hold_ttl_seconds=1))
    await delete_namespace(c.redis, namespace)  # the autouse clean empties the single node
    try:
        yield c
    finally:
        await c.close()


async def _events_apart(c: Container, pool: asyncpg.Pool) -> list[tuple[str, list[str]]]:
    """Two events; on a Cluster, on different primaries (the listener must hear both)."""
    return await events_apart(c.redis, c.keys, partial(_event, pool, sections=1, rows=1), itemgetter(0))


async def test_the_notification_path_alone_releases_expired_holds(
    listening_container: Container, pool: asyncpg.Pool
) -> None:
    """Only the keyspace-notification listener runs (no sweeper): it alone frees every seat,
    marks every hold EXPIRED, and the metrics say so by path; on a Cluster, on every primary."""
    c = listening_container
    events = await _events_apart(c, pool)
    expire = ExpireHolds(PostgresExpiryRepository(c.pool), c.gate)
    stop = asyncio.Event()
    by_notification = _sample("ticketmaster_holds_expired_total", {"path": "notification"})
    lag_count = _sample("ticketmaster_expiry_lag_seconds_count")
    listener = asyncio.create_task(ExpiryListener(c.redis, c.keys, expire).run(stop))
    try:
        made = [
            await c.holds.hold_seats(HoldSeats(event_id, await _guest(c), [seat], secrets.token_hex(8)))
            for event_id, seats in events
            for seat in seats[:3]
        ]

        async def all_released() -> bool | None:
            assert not listener.done(), listener
            left = [await c.redis.hgetall(c.keys.seats(event_id)) for event_id, _ in events]
            rows = await pool.fetch(
                "SELECT status FROM holds WHERE id = ANY($1::text[])", [h.id for h in made]
            )
            return True if not any(left) and {r["status"] for r in rows} == {"EXPIRED"} else None

        await eventually(all_released, within=15, what="the listener to release every hold")
    finally:
        stop.set()
        await listener
    released = _sample("ticketmaster_holds_expired_total", {"path": "notification"}) - by_notification
    assert released == len(made)
    assert _sample("ticketmaster_expiry_lag_seconds_count") - lag_count == len(made)


async def _hold_on_each(c: Container, events: list[tuple[str, list[str]]], per_event: int) -> list[Hold]:
    return [
        await c.holds.hold_seats(HoldSeats(event_id, await _guest(c), [seat], secrets.token_hex(8)))
        for event_id, seats in events
        for seat in seats[:per_event]
    ]


async def _settled(
    c: Container, pool: asyncpg.Pool, events: list[tuple[str, list[str]]], made: list[Hold]
) -> bool:
    """Every seat of ``events`` free in Redis and every hold of ``made`` EXPIRED in PostgreSQL."""
    left = [await c.redis.hgetall(c.keys.seats(event_id)) for event_id, _ in events]
    rows = await pool.fetch("SELECT status FROM holds WHERE id = ANY($1::text[])", [h.id for h in made])
    return not any(left) and {r["status"] for r in rows} == {"EXPIRED"}


async def test_the_redis_sweeper_alone_releases_holds_whose_notification_was_missed(
    listening_container: Container, pool: asyncpg.Pool
) -> None:
    """No listener runs (every expiry notification is missed): the Redis sweeper alone frees
    every lapsed hold from its work lists; on a Cluster, on two primaries, each event on the
    list of its own slot range."""
    c = listening_container
    cluster = isinstance(c.redis, RedisCluster)
    events = await _events_apart(c, pool)
    expire = ExpireHolds(PostgresExpiryRepository(c.pool), c.gate)
    by_sweeper = _sample("ticketmaster_holds_expired_total", {"path": "redis_sweeper"})
    made = await _hold_on_each(c, events, 3)
    for event_id, _ in events:
        assert await c.redis.sismember(c.keys.sweep_list(event_id, cluster=cluster), event_id)
    stop = asyncio.Event()
    sweeper = asyncio.create_task(RedisSweeper(c.redis, c.keys, expire).run(stop))
    try:

        async def all_released() -> bool | None:
            assert not sweeper.done(), sweeper
            return True if await _settled(c, pool, events, made) else None

        await eventually(all_released, within=15, what="the sweeper to release every hold")
    finally:
        stop.set()
        await sweeper
    assert _sample("ticketmaster_holds_expired_total", {"path": "redis_sweeper"}) - by_sweeper == len(made)


@pytest.mark.parametrize("listener_redis", ["cluster"], indirect=True)
async def test_a_stalled_primary_does_not_hold_up_the_sweep_of_the_others(
    listening_container: Container, pool: asyncpg.Pool
) -> None:
    """One primary stops answering (CLIENT PAUSE, ended by itself) while holds on it and on
    another primary have lapsed: a sweep releases the other primary's holds within its
    ``list_wait``, and the stalled primary's once it answers again."""
    c = listening_container
    assert isinstance(c.redis, RedisCluster)
    client = c.redis

    def node_of(key: str) -> str:
        return str(client.get_node_from_key(key).name)

    for _ in range(20):  # until the two events' work lists are on their own primaries too
        (stalled, stalled_seats), (other, other_seats) = await _events_apart(c, pool)
        lists = [c.keys.sweep_list(e, cluster=True) for e in (stalled, other)]
        paused = node_of(lists[0])
        if paused not in (node_of(lists[1]), node_of(c.keys.seats(other))):
            break
    else:
        raise AssertionError("no two events with work lists on different primaries")
    events = [(stalled, stalled_seats), (other, other_seats)]
    made = await _hold_on_each(c, events, 2)
    sweeper = RedisSweeper(
        c.redis, c.keys, ExpireHolds(PostgresExpiryRepository(c.pool), c.gate), list_wait=0.3
    )
    # Once before the holds lapse: its script is then loaded on every primary (redis-py loads
    # a script missing on one node with SCRIPT LOAD on all, which would wait for the pause).
    assert await sweeper.sweep() == (0, min(int(h.expires_at.timestamp() * 1000) for h in made), False)
    lapse_at = max(h.expires_at for h in made).timestamp()

    async def lapsed() -> bool | None:
        return True if time.time() > lapse_at + 0.05 else None

    await eventually(lapsed, within=10, what="every hold to lapse")
    host, port = paused.rsplit(":", 1)
    node = redis.Redis(host=host, port=int(port), decode_responses=True)
    try:
        await node.client_pause(3000, all=True)
        released, _, _ = await sweeper.sweep()
        # Only the other primary's two holds: had the sweep waited for the paused primary to
        # answer again, it would have released all four.
        assert released == 2, released
        assert not await c.redis.hgetall(c.keys.seats(other))

        async def all_released() -> bool | None:
            await sweeper.sweep()
            return True if await _settled(c, pool, events, made) else None

        await eventually(all_released, within=15, what="the stalled primary's holds to be released")
    finally:
        await sweeper.aclose()
        await eventually(node.ping, within=5, what="the paused node to answer again")
        await node.aclose()


async def test_a_late_or_repeated_release_changes_nothing(container: Container, pool: asyncpg.Pool) -> None:
    c = container
    event_id, seats = await _event(pool, sections=1, rows=1)
    expire = ExpireHolds(PostgresExpiryRepository(c.pool), c.gate)
    alice, bob = await _guest(c), await _guest(c)
    first = await c.holds.hold_seats(HoldSeats(event_id, alice, seats[:2], "k-alice"))

    async def version() -> int:
        return int(await c.redis.get(c.keys.version(event_id)) or 0)

    async def seats_hash() -> dict[str, str]:
        states: dict[str, str] = await c.redis.hgetall(c.keys.seats(event_id))
        return states

    # Too early (a spurious notification): nothing happens.
    before = await version()
    assert await expire.expire(first.id, "notification") is False
    assert await version() == before
    assert {s: v.rpartition("|")[0] for s, v in (await seats_hash()).items()} == dict.fromkeys(
        seats[:2], first.id
    )
    assert await pool.fetchval("SELECT status FROM holds WHERE id = $1", first.id) == "ACTIVE"

    async def lapsed() -> bool | None:
        return True if time.time() * 1000 > first.expires_at.timestamp() * 1000 + 5 else None

    await eventually(lapsed, within=5, what="the hold's expiry to pass")
    # The listener and the sweeper of this worker and of another one, all at once: one wins.
    other_worker = ExpireHolds(PostgresExpiryRepository(c.pool), c.gate)
    outcomes = await asyncio.gather(
        expire.expire(first.id, "notification"),
        expire.expire(first.id, "redis_sweeper"),
        other_worker.expire(first.id, "notification"),
        other_worker.expire(first.id, "postgres_sweeper"),
    )
    assert sorted(outcomes) == [False, False, False, True]
    assert await seats_hash() == {}
    released_at = await version()
    assert released_at == before + 1
    assert await pool.fetchval("SELECT status FROM holds WHERE id = $1", first.id) == "EXPIRED"

    # A duplicate notification: nothing changes, not even the version.
    assert await expire.expire(first.id, "redis_sweeper") is False
    assert await version() == released_at

    # Someone else holds the seats (for ten minutes); the old hold's late release must not free them.
    long_holds = replace(c.holds, hold_ttl_seconds=600)
    second = await long_holds.hold_seats(HoldSeats(event_id, bob, seats[:2], "k-bob"))
    taken = await version()
    for path in ("notification", "postgres_sweeper", "reconcile"):
        assert await expire.expire(first.id, path) is False
        # ... also in a worker that has not seen the hold before (nothing remembered).
        assert await ExpireHolds(PostgresExpiryRepository(c.pool), c.gate).expire(first.id, path) is False
    assert await version() == taken
    assert {s: v.rpartition("|")[0] for s, v in (await seats_hash()).items()} == dict.fromkeys(
        seats[:2], second.id
    )
    assert await pool.fetchval("SELECT status FROM holds WHERE id = $1", second.id) == "ACTIVE"
    # ... nor does an expiry of the live one, which is not due.
    assert await expire.expire(second.id, "notification") is False
    assert await version() == taken
    assert await expire.expire("hold_doesnotexist", "notification") is False


class CountingRepository(PostgresExpiryRepository):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.settled: collections.Counter[str] = collections.Counter()

    async def settle(self, hold_id: str) -> BlockingHold | None:
        self.settled[hold_id] += 1
        return await super().settle(hold_id)


async def test_a_due_hold_with_nothing_to_release_does_not_make_the_sweeper_spin(
    container: Container, pool: asyncpg.Pool
) -> None:
    """A hold in the expiry set that the sweeper cannot settle (here it has no PostgreSQL
    row, as when its write failed and the undo could not reach Redis) is retried once per
    sweep interval, not in a 2 ms busy loop of PostgreSQL queries; the holds around it are
    still released on time."""
    c = container
    event_id, seats = await _event(pool, sections=1, rows=1)
    user = await _guest(c)
    orphan = await c.gate.hold(event_id, "hold_orphan", user, (seats[0],), 50, "fp", "k-orphan")
    assert orphan.outcome == "OK"
    repo = CountingRepository(c.pool)
    interval = 0.1
    sweeper = RedisSweeper(c.redis, c.keys, ExpireHolds(repo, c.gate), interval)
    stop = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(sweeper.run(stop))
    try:
        later = await c.holds.hold_seats(HoldSeats(event_id, await _guest(c), seats[1:2], "k-later"))

        async def later_released() -> bool | None:
            assert not task.done(), task
            status = await pool.fetchval("SELECT status FROM holds WHERE id = $1", later.id)
            return True if status == "EXPIRED" else None

        await eventually(later_released, within=10, what="the sweeper to release the live hold")
        assert await c.redis.hget(c.keys.seats(event_id), seats[1]) is None
    finally:
        stop.set()
        await task
    elapsed = time.monotonic() - started
    assert repo.settled["hold_orphan"] <= elapsed / interval * 1.5 + 5, (repo.settled, elapsed)


# --- a payment in flight outlives the hold's own expiry -------------------------------------------


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox(tmp_path, latency="4000:4000")
    try:
        sandbox.wait_ready()
        yield sandbox
    finally:
        sandbox.stop()


async def test_a_hold_whose_payment_is_in_flight_is_not_released(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    server_env: dict[str, str],
    slow_sandbox: Sandbox,
    container: Container,
) -> None:
    """Every expiry path runs, often (sweepers, listener, reconciler); a PURCHASING hold's
    seats stay held past its expiresAt while the 4-second charge is in flight, while a hold
    made at the same moment and not paid for is released."""
    env = {
        **server_env,
        **LEAN_POOL,
        "TICKETMASTER_SANDBOX_URL": slow_sandbox.url,
        "TICKETMASTER_PAYMENT_TIMEOUT_SECONDS": "15",
        NOTIFICATIONS: "true",
        PG_SWEEP: "0.2",
        RECONCILE: "0.3",
    }
    event_id, seats = await _event(pool, sections=1, rows=1)
    alice, carol, bob = await new_buyers(http, 3)
    keys = container.keys
    with running_worker(env) as proc:
        paid = await hold(http, alice, event_id, seats[:2])
        control = await hold(http, carol, event_id, seats[2:3])
        assert (paid.status_code, control.status_code) == (201, 201), (paid.text, control.text)
        paid_hold, expires_ms = paid.json()["holdId"], _ms(paid.json()["expiresAt"])
        bought = await http.post(
            f"/holds/{paid_hold}/purchase",
            json={"paymentToken": "tok_visa"},
            headers={**alice.auth, "Idempotency-Key": secrets.token_hex(8)},
        )
        assert bought.status_code == 202, bought.text
        purchase_id = bought.json()["purchaseId"]

        # The unpaid hold made at the same moment is released: the expiry machinery is running.
        async def control_released() -> bool | None:
            assert proc.process.poll() is None, "the worker died"
            status = await pool.fetchval("SELECT status FROM holds WHERE id = $1", control.json()["holdId"])
            raw = await container.redis.hget(keys.seats(event_id), seats[2])
            return True if status == "EXPIRED" and raw is None else None

        await eventually(control_released, within=10, what="the unpaid hold to be released")

        # ... and then several PostgreSQL sweeps and reconciles more.
        async def well_past() -> bool | None:
            return True if time.time() * 1000 > expires_ms + 1500 else None

        await eventually(well_past, within=10, what="1.5 s past the paid hold's expiry")
        purchase = await _get(http, alice, f"/purchases/{purchase_id}")
        assert purchase["status"] == "PENDING", "the charge must still be in flight now"
        assert (await _get(http, alice, f"/holds/{paid_hold}"))["status"] == "PURCHASING"
        assert await pool.fetchval("SELECT status FROM holds WHERE id = $1", paid_hold) == "PURCHASING"
        shown = await seat_statuses(http, event_id)
        assert [shown[s] for s in seats[:3]] == ["HELD", "HELD", "AVAILABLE"]
        raw = await container.redis.hmget(keys.seats(event_id), seats[:2])
        assert [r.rpartition("|")[0] for r in raw] == [paid_hold, paid_hold], raw
        taken = await hold(http, bob, event_id, seats[:2])
        assert (taken.status_code, taken.json()["error"]) == (409, "seats_unavailable"), taken.text
        # A late expiry notification for it changes nothing either.
        expire = ExpireHolds(PostgresExpiryRepository(container.pool), container.gate)
        assert await expire.expire(paid_hold, "notification") is False
        assert (await seat_statuses(http, event_id))[seats[0]] == "HELD"

        async def settled() -> dict[str, Any] | None:
            body = await _get(http, alice, f"/purchases/{purchase_id}")
            return None if body["status"] == "PENDING" else body

        done = await eventually(settled, within=30, what="the purchase to settle")
        assert done["status"] == "SUCCEEDED", done

        async def sold() -> bool | None:
            shown = await seat_statuses(http, event_id)
            return True if [shown[s] for s in seats[:2]] == ["SOLD", "SOLD"] else None

        await eventually(sold, within=10, what="the paid seats to show SOLD")
        # A notification arriving after the sale changes nothing.
        before = await container.redis.get(keys.version(event_id))
        assert await expire.expire(paid_hold, "notification") is False
        assert await container.redis.get(keys.version(event_id)) == before
        assert await container.redis.hmget(keys.seats(event_id), seats[:2]) == ["SOLD", "SOLD"]
    [charge] = await slow_sandbox.ledger()
    assert (charge["status"], charge["refunded"], charge["metadata"]["purchaseId"]) == (
        "succeeded",
        False,
        purchase_id,
    )


async def _get(http: httpx.AsyncClient, buyer: Buyer, path: str) -> dict[str, Any]:
    response = await http.get(path, headers=buyer.auth)
    assert response.status_code == 200, (path, response.text)
    body: dict[str, Any] = response.json()
    return body
