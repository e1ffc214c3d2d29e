"""Processes that expiry, race and fault tests own and stop for real.

- :class:`RedisServer`: a ``redis-server`` of the test's own on a free loopback port, without
  persistence, so a SIGKILL and a restart bring it back empty.
- :class:`PostgresServer`: a PostgreSQL server of the test's own (the ``pgserver`` binaries,
  started as :mod:`ticketmaster.embedded` does), stopped and started again with its ``pg_ctl``.
- :class:`Sandbox`, :func:`api`, :func:`worker`: ``ticketmaster sandbox|serve|worker`` processes;
  :func:`own_fleet` starts a :class:`Fleet` of them (with its own Redis when asked) and stops it,
  :func:`fleet_http` is the ``http`` fixture of a module whose ``fleet`` fixture is one.
- :func:`cli`: one ``ticketmaster`` command (``audit``, ``reconcile``) with a given environment.
- :class:`Journal`: every request a load generator made, with send/receive times, so a test
  can say what was answered while a dependency was down; :class:`Shoppers` is that load.

Every process is ended by its own PID (``Popen``), never by name.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from tests.conftest import ServerProcess, free_port, single_node
from tests.e2e.buyers import Buyer, hold, new_buyer, seat_statuses
from ticketmaster.embedded import EmbeddedEngines
from ticketmaster.processes import end_process

T = TypeVar("T")
CLI = [sys.executable, "-m", "ticketmaster.entrypoints.cli.main"]
# The test PostgreSQL server is shared (max_connections); the processes a test starts need few.
LEAN_POOL = {"TICKETMASTER_DB_POOL_SIZE": "6"}
# Idle connections are dropped by the client well before the server's 5 s keep-alive ends, so
# a request never goes out on a connection the server is closing at that very moment.
CLIENT_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float, what: str, every: float = 0.05
) -> T:
    """Poll ``probe`` until it returns something other than None, or fail after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {within}s waiting for {what}")
        await asyncio.sleep(every)


def _wait_http_ok(url: str, process: subprocess.Popen[bytes], name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{name} did not answer {url} within {timeout}s")


async def seat_map_showing_sales(http: httpx.AsyncClient, event_id: str, sold: list[str]) -> dict[str, str]:
    """The seat map once every booked seat shows SOLD. The worker marks seats SOLD in Redis
    just after committing the booking, so a read in between shows them HELD by the paying
    hold; at no read may a booked seat be AVAILABLE."""

    async def all_shown() -> dict[str, str] | None:
        shown = await seat_statuses(http, event_id)
        assert [s for s in sold if shown[s] == "AVAILABLE"] == [], "a sold seat became available"
        return shown if all(shown[s] == "SOLD" for s in sold) else None

    return await eventually(all_shown, within=10, what="every booked seat to show SOLD")


def answers_by_outcome(journal: Journal) -> collections.Counter[tuple[str, int]]:
    """After a fault: every answer was a 201/202/409, or a 503 ``unavailable``/``overloaded``
    with Retry-After (never another 5xx, never a dropped connection); the count of each."""
    attempts = journal.attempts
    unexpected = [a for a in attempts if a.status not in (201, 202, 409, 503)]
    assert not unexpected, unexpected[:5]
    for a in attempts:
        if a.status == 503:
            assert a.error in ("unavailable", "overloaded"), a
            assert a.retry_after, a
    return collections.Counter((a.kind, a.status) for a in attempts)


async def refused_to_others(http: httpx.AsyncClient, event_id: str, seats: list[str]) -> None:
    """A new buyer asking for ``seats`` (8 at a time) is refused every one of them."""
    for start in range(0, len(seats), 8):
        batch = seats[start : start + 8]
        response = await hold(http, await new_buyer(http), event_id, batch)
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "seats_unavailable", response.text
        assert sorted(response.json()["seatIds"]) == sorted(batch), response.text


async def all_succeeded(pool: asyncpg.Pool, purchase_ids: list[str]) -> None:
    """Every one of these accepted (202) purchases is in PostgreSQL and ends SUCCEEDED."""

    async def settled() -> list[asyncpg.Record] | None:
        rows = await pool.fetch(
            "SELECT id, status, failure_reason FROM purchases WHERE id = ANY($1::text[])", purchase_ids
        )
        return rows if all(r["status"] != "PENDING" for r in rows) else None

    rows = await eventually(settled, within=60, what="every accepted purchase to settle")
    assert len(rows) == len(purchase_ids), "a 202 purchase is not in PostgreSQL"
    assert {(r["status"], r["failure_reason"]) for r in rows} == {("SUCCEEDED", None)}, rows


async def assert_sale_intact(
    http: httpx.AsyncClient, pool: asyncpg.Pool, shoppers: Shoppers, event_id: str
) -> None:
    """After a fault: every purchase accepted (202) ends SUCCEEDED; every seat booked shows
    SOLD and is refused to a new buyer; every hold acknowledged (201) and not paid for is
    still ACTIVE, shows HELD and is refused to a new buyer."""
    await all_succeeded(pool, list(shoppers.accepted))

    sold = [
        r["seat_id"]
        for r in await pool.fetch(
            "SELECT seat_id FROM booking_seats WHERE event_id = $1 AND live ORDER BY seat_id", event_id
        )
    ]
    paid_holds = set(shoppers.accepted.values())
    assert len(sold) == len(paid_holds)
    open_holds = await pool.fetch(
        """
        SELECT h.id, array_agg(s.seat_id) AS seats FROM holds h JOIN hold_seats s ON s.hold_id = h.id
        WHERE h.id = ANY($1::text[]) AND h.status = 'ACTIVE' GROUP BY h.id
        """,
        [h for h in shoppers.acked if h not in paid_holds],
    )
    assert len(open_holds) == len(shoppers.acked) - len(paid_holds), "an acknowledged hold was lost"
    held = [seat for row in open_holds for seat in row["seats"]]
    shown = await seat_map_showing_sales(http, event_id, sold)
    assert [s for s in sold if shown[s] != "SOLD"] == []
    assert [s for s in held if shown[s] != "HELD"] == []
    await refused_to_others(http, event_id, sold)
    await refused_to_others(http, event_id, held)


# --- engines the test owns ------------------------------------------------------------------


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on a fixed free port, no RDB, no AOF: a restart starts empty."""

    BINARY = "/usr/bin/redis-server"

    def __init__(self, directory: Path, *extra_args: str) -> None:
        self.directory = directory
        self.extra_args = extra_args  # more redis-server options, e.g. a maxmemory-policy
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 10.0) -> float:
        """Start (again, on the same port); returns the monotonic time it first answered PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        args = [self.BINARY, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--daemonize", "no", "--dir", str(self.directory)]
        args += ["--logfile", str(self.directory / f"redis-{self.starts}.log"), *self.extra_args]
        self.process = subprocess.Popen(args)
        deadline = time.monotonic() + timeout
        while not redis_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.01)
        return time.monotonic()

    def kill(self) -> None:
        """SIGKILL: nothing flushed, every connection cut."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            end_process(self.process)


class PostgresServer:
    """A PostgreSQL server in ``data_dir`` (pgserver's binaries; it listens on a unix socket).

    Started like the embedded engine; stopped and restarted with ``pg_ctl`` (as the
    ``pgserver`` system user when we are root, as pgserver itself does).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "postgres"
        self._engines = EmbeddedEngines(data_dir, want_postgres=True, want_redis=False)
        self.url = ""
        self.running = False

    @property
    def _user(self) -> str | None:
        return "pgserver" if os.geteuid() == 0 else None

    def _pg_ctl(self, *args: str) -> None:
        import pgserver

        pgserver.pg_ctl(list(args), pgdata=self.pgdata, user=self._user, timeout=60)

    def start(self) -> None:
        self._engines.start()
        assert self._engines.database_url is not None
        self.url = self._engines.database_url
        self.running = True

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` is a crash as far as clients can tell: every backend is gone at once."""
        self._pg_ctl("-m", mode, "-w", "stop")
        self.running = False

    def restart(self) -> None:
        socket_dir = parse_qs(urlsplit(self.url).query)["host"][0]
        log = str(self.pgdata / "log")
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", log, "start")
        self.running = True

    def close(self) -> None:
        if self.running:
            try:
                self._pg_ctl("-m", "fast", "-w", "stop")
            finally:
                self.running = False
        self._engines.stop()


# --- ticketmaster processes -------------------------------------------------------------------


class Sandbox:
    """``ticketmaster sandbox`` on a free port; its ledger lives in memory (a fresh account)."""

    def __init__(
        self, data_dir: Path, latency: str = "5:20", *, hang_seconds: float = 3.0, settle_seconds: float = 1.0
    ) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        args = ["sandbox", "--host", "127.0.0.1", "--port", str(port), "--latency-ms", latency]
        args += ["--hang-seconds", str(hang_seconds), "--settle-seconds", str(settle_seconds)]
        env = {**os.environ, "TICKETMASTER_DATA_DIR": str(data_dir), "TICKETMASTER_LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen([*CLI, *args], env=env)

    def wait_ready(self) -> None:
        # Generous: on a loaded machine the sandbox's imports alone can take tens of seconds.
        _wait_http_ok(self.url + "/healthz", self.process, "sandbox", timeout=60.0)

    async def ledger(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.get("/v1/ledger")
        assert response.status_code == 200, response.text
        payments: list[dict[str, Any]] = response.json()["payments"]
        return payments

    def stop(self) -> None:
        end_process(self.process)


def api(env: dict[str, str]) -> ServerProcess:
    """``ticketmaster serve`` (started; call ``wait_ready``)."""
    return ServerProcess(env)


def worker(env: dict[str, str]) -> ServerProcess:
    """``ticketmaster worker``: it serves nothing; a test knows it runs when it sees its work."""
    return ServerProcess(env, command="worker")


@dataclass
class Fleet:
    """An API server and workers on ``env``, with the ``redis-server`` and payment sandbox of
    their own when :func:`own_fleet` was asked for them (None otherwise)."""

    env: dict[str, str]
    server: ServerProcess
    workers: list[ServerProcess]
    redis: RedisServer | None
    sandbox: Sandbox | None


@contextmanager
def own_fleet(
    base_env: dict[str, str],
    directory: Path,
    settings: dict[str, str] | None = None,
    *,
    own_redis: bool = False,
    sandbox_latency: str | None = None,
    workers: int = 1,
) -> Iterator[Fleet]:
    """``serve`` and ``workers`` workers on ``base_env`` with LEAN_POOL and ``settings``; on a
    ``redis-server`` of their own in ``directory`` (``own_redis``) and with a payment sandbox
    (``sandbox_latency``) when asked. Ready when entered; all of it stopped on exit, whatever
    happened, each process by its own PID."""
    with ExitStack() as stack:
        env = {**base_env, **LEAN_POOL, **(settings or {})}
        redis_server = sandbox = None
        if own_redis:
            redis_server = RedisServer(directory / "redis")
            stack.callback(redis_server.stop)
            redis_server.start()
            env |= single_node(redis_server.url)
        if sandbox_latency is not None:
            sandbox = Sandbox(directory / "sandbox", latency=sandbox_latency)
            stack.callback(sandbox.stop)
            env["TICKETMASTER_SANDBOX_URL"] = sandbox.url
        processes: list[ServerProcess] = []
        for start in [api] + [worker] * workers:
            processes.append(start(env))
            stack.callback(processes[-1].stop)
        if sandbox is not None:
            sandbox.wait_ready()
        processes[0].wait_ready()
        yield Fleet(env, processes[0], processes[1:], redis_server, sandbox)


def fleet_http() -> object:
    """The ``http`` fixture of a module whose ``fleet`` fixture is a :class:`Fleet`: a client of
    its API server per test. Use as ``http = fleet_http()``."""

    @pytest.fixture(name="http")
    async def http(fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=fleet.server.url, timeout=30, limits=CLIENT_LIMITS) as client:
            yield client

    return http


async def cli(env: dict[str, str], *args: str, within: float = 90.0) -> subprocess.CompletedProcess[str]:
    """Run one ``ticketmaster`` command to completion with exactly this configuration."""
    full_env = {**os.environ, **env}
    return await asyncio.to_thread(
        subprocess.run, [*CLI, *args], env=full_env, capture_output=True, text=True, timeout=within
    )


# --- what a load generator saw ------------------------------------------------------------------


@dataclass
class Attempt:
    kind: str  # "hold" | "purchase" | "probe"
    user: str
    seats: tuple[str, ...]
    sent: float  # time.monotonic()
    received: float
    status: int  # 0 = the request itself failed (connection)
    body: dict[str, Any]
    retry_after: str | None

    @property
    def error(self) -> str | None:
        value = self.body.get("error")
        return None if value is None else str(value)


@dataclass
class Journal:
    attempts: list[Attempt] = field(default_factory=list)

    async def send(
        self,
        kind: str,
        user: str,
        seats: tuple[str, ...],
        request: Callable[[], Awaitable[httpx.Response]],
    ) -> Attempt:
        sent = time.monotonic()
        try:
            response = await request()
        except httpx.HTTPError as exc:
            attempt = Attempt(kind, user, seats, sent, time.monotonic(), 0, {"exception": repr(exc)}, None)
        else:
            try:
                body = response.json()
            except ValueError:
                body = {"text": response.text}
            attempt = Attempt(
                kind,
                user,
                seats,
                sent,
                time.monotonic(),
                response.status_code,
                body if isinstance(body, dict) else {"body": body},
                response.headers.get("Retry-After"),
            )
        self.attempts.append(attempt)
        return attempt

    def of(self, kind: str) -> list[Attempt]:
        return [a for a in self.attempts if a.kind == kind]


@dataclass
class Shoppers:
    """Buyers holding one seat at a time and paying for most of their holds, ``sessions`` at
    once, until told to stop; each seat is asked for once. Every request goes in ``journal``."""

    http: httpx.AsyncClient
    event_id: str
    seats: list[str]
    buyers: list[Buyer]
    journal: Journal = field(default_factory=Journal)
    holds_per_buyer: int = 6  # the per-user limit is 8 seats
    purchase_share: float = 0.6
    think_s: float = 0.08  # a buyer's pause between two requests
    backoff_s: float = 0.1  # after a 503: a client's short back-off
    acked: dict[str, Attempt] = field(default_factory=dict)  # hold id -> its 201
    accepted: dict[str, str] = field(default_factory=dict)  # purchase id -> hold id (202)
    _rng: random.Random = field(default_factory=lambda: random.Random(7))

    async def run(self, stop: asyncio.Event, sessions: int) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(sessions):
                group.create_task(self._session(stop))

    async def _session(self, stop: asyncio.Event) -> None:
        while not stop.is_set() and self.buyers and self.seats:
            buyer = self.buyers.pop()
            held = 0
            while held < self.holds_per_buyer:
                if stop.is_set() or not self.seats:
                    return
                held += await self._shop(buyer, self.seats.pop(0))
                await asyncio.sleep(self.think_s)

    async def _shop(self, buyer: Buyer, seat: str) -> bool:
        """One seat: hold it, and maybe pay for it; True when the hold was acknowledged."""
        attempt = await self.journal.send(
            "hold", buyer.user_id, (seat,), lambda: hold(self.http, buyer, self.event_id, [seat])
        )
        if attempt.status == 503:
            await asyncio.sleep(self.backoff_s)
        if attempt.status != 201:
            return False
        hold_id = str(attempt.body["holdId"])
        self.acked[hold_id] = attempt
        if self._rng.random() >= self.purchase_share:
            return True
        await asyncio.sleep(self.think_s)
        paid = await self.journal.send(
            "purchase",
            buyer.user_id,
            (seat,),
            lambda: self.http.post(
                f"/holds/{hold_id}/purchase",
                json={"paymentToken": "tok_visa"},
                headers={**buyer.auth, "Idempotency-Key": f"pay-{hold_id}"},
            ),
        )
        if paid.status == 202:
            self.accepted[str(paid.body["purchaseId"])] = hold_id
        elif paid.status == 503:
            await asyncio.sleep(self.backoff_s)
        return True
