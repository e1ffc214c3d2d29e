"""The server under test.

:class:`ServerUnderTest` builds a throw-away deployment on existing PostgreSQL and Redis
servers: a fresh database (migrated, optionally seeded with the demo catalog), a Redis
key namespace of its own, and ``ticketmaster serve`` on a free port. On exit it stops the
server, drops the database and deletes the namespace's keys, whatever happened in
between. :func:`target_from_args` picks that or, with ``--url``, an already running
server that is used as it is (nothing created, nothing cleaned up).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis

from bench.http1 import split_url
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.processes import end_process

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CLI = (sys.executable, "-m", "ticketmaster.entrypoints.cli.main")


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    pid: int | None
    """The server's process id when this program started it (for CPU accounting)."""
    description: str

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def with_database(url: str, name: str) -> str:
    """The same server's URL, naming database ``name`` (the test suite's too)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_blocking(coro: Coroutine[Any, Any, None]) -> None:
    # A thread of its own, so this also works when the caller is inside an event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def admin_sql(server_url: str, sql: str) -> None:
    """Run one statement on the server's maintenance connection (CREATE/DROP DATABASE)."""

    async def go() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run_blocking(go())


def on_sale_event_ids(database_url: str, within_seconds: float = 60.0) -> list[str]:
    """Events whose sale is open or opens within ``within_seconds`` (what the worker's
    on-sale warm-up loads into Redis)."""
    ids: list[str] = []

    async def go() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT id FROM events WHERE on_sale_at <= now() + make_interval(secs => $1)"
                " AND starts_at > now()",
                within_seconds,
            )
            ids.extend(r["id"] for r in rows)
        finally:
            await conn.close()

    _run_blocking(go())
    return ids


def sync_client(redis_url: str, cluster: bool = False) -> redis.Redis | redis.RedisCluster:
    """A blocking client of the deployment's Redis; with ``cluster``, ``redis_url`` is a
    seed node (keys of other slots are routed, scans cover every primary)."""
    return redis.RedisCluster.from_url(redis_url) if cluster else redis.Redis.from_url(redis_url)


def delete_namespace(redis_url: str, namespace: str, cluster: bool = False) -> None:
    """Delete every key of a deployment's Redis namespace."""
    client = sync_client(redis_url, cluster)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=RedisKeys(namespace).all_keys_pattern(), count=1000):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


def ready(url: str) -> bool:
    """Whether GET ``url`` answers 200 within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


class ServerUnderTest:
    """A fresh database and namespace, migrated (and seeded), with ``serve`` running.

    Use as ``with ServerUnderTest(db_url, redis_url) as target: ...``. ``database_url``
    names a PostgreSQL server (any database on it; a new one is created beside it).
    """

    def __init__(
        self,
        database_url: str = DEFAULT_DATABASE_URL,
        redis_url: str = DEFAULT_REDIS_URL,
        *,
        seed_demo: bool = True,
        log_level: str = "WARNING",
        extra_env: dict[str, str] | None = None,
        ready_timeout_s: float = 60.0,
        progress: Callable[[str], None] | None = None,
        with_worker: bool = False,
    ) -> None:
        run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
        self.database_name = f"tm_bench_{run_id}"
        self.namespace = f"tmbench{run_id}"
        self.server_url = database_url
        self.redis_url = redis_url
        self.seed_demo = seed_demo
        self.log_level = log_level
        self.extra_env = extra_env or {}
        self.ready_timeout_s = ready_timeout_s
        self.progress = progress or (lambda message: None)
        self.process: subprocess.Popen[bytes] | None = None
        self.with_worker = with_worker
        self.worker: subprocess.Popen[bytes] | None = None
        self.secret_key = secrets.token_urlsafe(48)  # one per deployment: tokens must verify
        self._stack = ExitStack()
        self._workdir = Path(tempfile.gettempdir())  # the deployment's own, once entered
        self.cluster = self.extra_env.get("TICKETMASTER_REDIS_CLUSTER", "").lower() in {
            "1",
            "true",
            "yes",
            "on",
        }

    def env(self, data_dir: Path) -> dict[str, str]:
        """The environment of a ``ticketmaster`` process of this deployment."""
        return {
            **os.environ,
            "TICKETMASTER_DATABASE_URL": with_database(self.server_url, self.database_name),
            "TICKETMASTER_REDIS_URL": self.redis_url,
            "TICKETMASTER_REDIS_NAMESPACE": self.namespace,
            "TICKETMASTER_DATA_DIR": str(data_dir),
            "TICKETMASTER_SECRET_KEY": self.secret_key,
            "TICKETMASTER_LOG_LEVEL": self.log_level,
            **self.extra_env,
        }

    def cli(self, env: dict[str, str], *args: str) -> None:
        """Run ``ticketmaster ARGS`` in ``env``; its failure is an error with its stderr."""
        done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"`ticketmaster {' '.join(args)}` failed ({done.returncode}):\n{done.stderr}")

    def __enter__(self) -> Target:
        with ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tm-bench-")))
            self.progress(f"creating database {self.database_name} on {redact(self.server_url)}")
            admin_sql(self.server_url, f'CREATE DATABASE "{self.database_name}"')
            stack.callback(
                admin_sql, self.server_url, f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)'
            )
            stack.callback(delete_namespace, self.redis_url, self.namespace, self.cluster)
            env = self.env(workdir / "data")
            self.cli(env, "migrate")
            if self.seed_demo:
                self.progress("seeding the demo catalog")
                self.cli(env, "seed", "--demo")
            port = free_port()
            log_path = workdir / "server.log"
            with log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [*CLI, "serve"], env={**env, "TICKETMASTER_PORT": str(port)}, stdout=log, stderr=log
                )
            stack.callback(self._stop)
            if self.with_worker:
                # As deployed: expired holds are swept, purchases processed, queues stepped.
                with (workdir / "worker.log").open("wb") as log:
                    self.worker = subprocess.Popen([*CLI, "worker"], env=env, stdout=log, stderr=log)
                stack.callback(self._stop_worker)
            self._wait_ready(self.process, port, log_path)
            self.wait_warm()
            self._workdir = workdir
            self._stack = stack.pop_all()
        return Target(
            "127.0.0.1",
            port,
            self.process.pid,
            f"managed: `ticketmaster serve` pid {self.process.pid} on port {port}, fresh database "
            f"{self.database_name} on {redact(self.server_url)}, Redis {redact(self.redis_url)} namespace "
            f"{self.namespace}, "
            + ("demo catalog seeded" if self.seed_demo else "empty catalog")
            + (f", `ticketmaster worker` pid {self.worker.pid}" if self.worker is not None else ""),
        )

    def serve_also(self, *serve_args: str) -> Target:
        """Another ``ticketmaster serve SERVE_ARGS`` on this deployment (same database,
        namespace and secret) on a free port, stopped with the deployment."""
        return self.start_server([*CLI, "serve", *serve_args], f"`ticketmaster serve {' '.join(serve_args)}`")

    def start_server(self, command: list[str], what: str) -> Target:
        """Run ``command`` as a server of this deployment (its environment names the
        deployment's engines and secret, and ``TICKETMASTER_PORT`` a free port), wait until
        it is ready and stop it with the deployment."""
        port = free_port()
        log_path = self._workdir / f"server-{port}.log"
        env = {**self.env(self._workdir / "data"), "TICKETMASTER_PORT": str(port)}
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        self._stack.callback(end_process, process)
        self._wait_ready(process, port, log_path)
        return Target("127.0.0.1", port, process.pid, f"{what} pid {process.pid}")

    def _wait_ready(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.progress(f"starting the server on port {port}")
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
            if ready(f"http://127.0.0.1:{port}/readyz"):
                return
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {self.ready_timeout_s} s:\n{log_path.read_text()}")

    def wait_warm(self) -> None:
        """With a worker and its on-sale warm-up on, wait until the warm-up has loaded every
        open event into Redis (call again after an import): until then it loads the demo
        catalog (seconds of Redis and worker CPU), measured as the cost of whatever runs first."""
        window_s = float(self.extra_env.get("TICKETMASTER_WARMUP_SECONDS", "60"))
        if self.worker is None or window_s <= 0:
            return
        keys = RedisKeys(self.namespace)
        events = on_sale_event_ids(with_database(self.server_url, self.database_name), window_s)
        self.progress(f"waiting for the worker to load {len(events)} open events into Redis")
        client = sync_client(self.redis_url, self.cluster)
        deadline = time.monotonic() + self.ready_timeout_s * 2
        try:
            while time.monotonic() < deadline:
                if self.worker is not None and self.worker.poll() is not None:
                    raise RuntimeError(f"worker exited with {self.worker.returncode}")
                if all(client.exists(keys.loaded(event_id)) for event_id in events):
                    return
                time.sleep(0.2)
        finally:
            client.close()
        raise TimeoutError(f"the worker did not load the open events within {self.ready_timeout_s * 2} s")

    def _stop(self) -> None:
        end_process(self.process)

    def _stop_worker(self) -> None:
        end_process(self.worker)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress("stopping the server, dropping the database and the Redis namespace")
        self._stack.close()


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "server under test",
        "By default a fresh database is created on --database-url, migrated and seeded, the Redis "
        "namespace is private, and `ticketmaster serve` runs on a free port; all is removed afterwards.",
    )
    db_default = os.environ.get("TICKETMASTER_TEST_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_default = os.environ.get("TICKETMASTER_TEST_REDIS_URL") or DEFAULT_REDIS_URL
    group.add_argument(
        "--database-url",
        default=db_default,
        help="PostgreSQL server to create the throw-away database on "
        "(default: $TICKETMASTER_TEST_DATABASE_URL or %(default)s)",
    )
    group.add_argument(
        "--redis-url",
        default=redis_default,
        help="Redis server (default: $TICKETMASTER_TEST_REDIS_URL or %(default)s)",
    )
    group.add_argument(
        "--url",
        help="benchmark an already running server at this http:// base URL instead (it must hold the "
        "demo catalog; nothing is created or cleaned up, and its CPU is not measured)",
    )


@contextmanager
def _existing(url: str) -> Iterator[Target]:
    host, port = split_url(url)
    if not ready(f"http://{host}:{port}/healthz"):
        raise ConnectionError(f"{url}/healthz does not answer 200")
    yield Target(host, port, None, f"existing server at {url}")


def target_from_args(
    args: argparse.Namespace, *, seed_demo: bool = True, progress: Callable[[str], None] | None = None
) -> AbstractContextManager[Target]:
    """A context manager yielding the :class:`Target` chosen by the command line."""
    if args.url:
        return _existing(args.url)
    return ServerUnderTest(args.database_url, args.redis_url, seed_demo=seed_demo, progress=progress)
