"""Implementations of the CLI sub-commands (thin: parse, call a use case, report)."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import asyncpg
from redis.exceptions import RedisError
from tqdm import tqdm

from ticketmaster.adapters.postgres.catalog import PostgresCatalogStore
from ticketmaster.adapters.postgres.migrate import current_revision, upgrade_to_head
from ticketmaster.adapters.redis.catalog_cache import EVENT_INFO_REDIS_TTL_S, announce_catalog_change
from ticketmaster.adapters.redis.client import create_client
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.config import PREFIX, Settings
from ticketmaster.domain.catalog import Catalog, CatalogError, ImportReport, parse_catalog
from ticketmaster.embedded import EmbeddedEngines, EnginesNotInstalled
from ticketmaster.entrypoints.cli.serving import serve_api
from ticketmaster.processes import end_process
from ticketmaster.services.catalog_import import import_catalog
from ticketmaster.services.demo import demo_catalog

if TYPE_CHECKING:
    from ticketmaster.bootstrap import Container


@contextmanager
def engines(settings: Settings) -> Iterator[Settings]:
    """Settings with both URLs set, starting embedded engines for the missing ones."""
    if not settings.embedded:
        yield settings
        return
    try:
        started = EmbeddedEngines(
            settings.data_dir,
            want_postgres=settings.database_url is None,
            want_redis=settings.redis_url is None,
        ).start()
    except EnginesNotInstalled as exc:
        raise SystemExit(f"ticketmaster: {exc}") from None
    try:
        yield replace(
            settings,
            database_url=settings.database_url or started.database_url,
            redis_url=settings.redis_url or started.redis_url,
        )
    finally:
        started.stop()


def require_noeviction(settings: Settings) -> None:
    """Refuse to start on a Redis that may evict keys: the gate's idempotency records and
    hold keys must live until they expire, or a retried request could hold a seat twice.
    On a Cluster every node is checked, replicas too (a failover makes one a primary)."""
    from ticketmaster.adapters.redis.client import REQUIRED_EVICTION_POLICY, eviction_policies

    assert settings.redis_url is not None
    policies = asyncio.run(eviction_policies(settings.redis_url, cluster=settings.redis_cluster))
    unread = [node for node, policy in policies.items() if policy is None]
    wrong = {
        node: policy for node, policy in policies.items() if policy not in (None, REQUIRED_EVICTION_POLICY)
    }
    if unread:
        print(
            f"ticketmaster: warning: cannot read the Redis maxmemory-policy of {', '.join(unread)} "
            f"(CONFIG GET refused or Redis down); it must be {REQUIRED_EVICTION_POLICY}",
            file=sys.stderr,
        )
    if not wrong:
        return
    if settings.redis_cluster:
        nodes = ", ".join(f"{node} ({policy})" for node, policy in sorted(wrong.items()))
        where = f"the Redis Cluster of {PREFIX}REDIS_URL has nodes with another maxmemory-policy: {nodes}"
        fix = " on every node, replicas too, and set it in each redis.conf"
    else:
        where = f"the Redis of {PREFIX}REDIS_URL has maxmemory-policy {next(iter(wrong.values()))}"
        fix = " and set it in redis.conf"
    raise SystemExit(
        f"ticketmaster: {where}; it must be {REQUIRED_EVICTION_POLICY} (the seat gate relies on its "
        f"idempotency records and hold keys: an evicted one could let a retry hold or sell a seat "
        f"twice). Run `CONFIG SET maxmemory-policy {REQUIRED_EVICTION_POLICY}`{fix}."
    )


def _db(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    with engines(settings) as s:
        upgrade_to_head(_db(s))
        print(f"schema at revision {current_revision(_db(s))}")
    return 0


def _load(settings: Settings, catalog: Catalog, label: str) -> tuple[ImportReport, bool]:
    """Import ``catalog`` and tell the running processes; (report, whether they were told)."""
    if current_revision(_db(settings)) is None:
        raise SystemExit("ticketmaster: the database has no schema; run `ticketmaster migrate`")
    total = sum(v.seat_count for v in catalog.venues) + len(catalog.events)

    async def go() -> tuple[ImportReport, bool]:
        pool = await asyncpg.create_pool(_db(settings), min_size=1, max_size=2)
        assert pool is not None
        try:
            with tqdm(
                total=total, desc=label, unit=" rows", unit_scale=True, disable=not sys.stderr.isatty()
            ) as bar:

                def advance(n: int) -> None:
                    bar.update(n)

                report = await import_catalog(PostgresCatalogStore(pool), catalog, advance)
        finally:
            await pool.close()
        return report, await _announce(settings)

    return asyncio.run(go())


async def _announce(settings: Settings) -> bool:
    """Replace the catalog generation, so every process drops the event facts it cached
    within a second; False (with a warning) when Redis could not be told."""
    assert settings.redis_url is not None
    client = create_client(settings.redis_url, cluster=settings.redis_cluster)
    try:
        await announce_catalog_change(client, RedisKeys(settings.redis_namespace))
    except (RedisError, OSError) as exc:
        print(
            f"warning: the import is written, but Redis could not be told ({type(exc).__name__}): "
            f"API processes may serve the old prices and on-sale times for up to "
            f"{EVENT_INFO_REDIS_TTL_S} s; importing again retries",
            file=sys.stderr,
        )
        return False
    finally:
        await client.aclose()
    return True


def _report(report: ImportReport) -> None:
    print(
        f"venues: {report.venues_written}, new seats: {report.seats_written}, "
        f"events written: {report.events_written}, unchanged: {report.events_unchanged}"
    )


def import_file(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"import failed: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as exc:
        print(f"import failed: {path} is not UTF-8 text (byte {exc.start})", file=sys.stderr)
        return 1
    except json.JSONDecodeError as exc:
        print(
            f"import failed: {path} is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}",
            file=sys.stderr,
        )
        return 1
    try:
        catalog = parse_catalog(data)
        with engines(settings) as s:
            report, told = _load(s, catalog, f"importing {path.name}")
    except CatalogError as exc:
        print(f"import failed, nothing written: {exc.path}: {exc.message}", file=sys.stderr)
        return 1
    _report(report)
    return 0 if told else 1


def seed(args: argparse.Namespace, settings: Settings) -> int:
    if args.events < 1:
        print("seed failed: --events must be at least 1", file=sys.stderr)
        return 2
    with engines(settings) as s:
        report, told = _load(s, demo_catalog(events=args.events), "demo catalog")
    _report(report)
    return 0 if told else 1


def _catalog_is_empty(database_url: str) -> bool:
    async def check() -> bool:
        conn = await asyncpg.connect(database_url)
        try:
            return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM events)")
        finally:
            await conn.close()

    return asyncio.run(check())


def serve(args: argparse.Namespace, settings: Settings) -> int:
    with engines(settings) as s:
        require_noeviction(s)
        return serve_api(s, workers=args.workers or s.web_concurrency)


def worker(args: argparse.Namespace, settings: Settings) -> int:
    import uvloop
    from prometheus_client import start_http_server

    from ticketmaster.entrypoints.worker.runner import worker_main

    if args.metrics_port is not None:
        # A thread of prometheus_client's own: the metrics stay readable while the jobs are busy.
        start_http_server(args.metrics_port, addr=args.metrics_host)
        print(f"worker metrics on http://{args.metrics_host}:{args.metrics_port}/metrics", flush=True)
    with engines(settings) as s:
        require_noeviction(s)
        uvloop.run(worker_main(s))
    return 0


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@contextmanager
def sandbox_process(settings: Settings) -> Iterator[None]:
    """The payment sandbox as its own process, unless one already answers at SANDBOX_URL."""
    url = urlsplit(settings.sandbox_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    if _listening(host, port):
        print(f"using the payment sandbox already running at {settings.sandbox_url}", flush=True)
        yield
        return
    ledger = settings.data_dir / "sandbox-ledger.jsonl"
    command = [
        sys.executable,
        "-m",
        "ticketmaster.entrypoints.cli.main",
        "sandbox",
        "--host",
        host,
        "--port",
        str(port),
        "--ledger",
        str(ledger),
    ]
    # Own session: Ctrl-C reaches us, and we stop the sandbox after the API.
    process = subprocess.Popen(command, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not _listening(host, port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ticketmaster: the payment sandbox did not start on {host}:{port}")
            time.sleep(0.05)
        yield
    finally:
        end_process(process, timeout=10)


@contextmanager
def local_cluster(settings: Settings, wanted: bool) -> Iterator[Settings]:
    """With ``wanted``: settings pointed at a fresh local Redis Cluster (3 primaries, 3
    replicas, ticketmaster.local_cluster) in a directory under the data dir, stopped and
    removed on exit. Its state starts empty; events are rebuilt from PostgreSQL on first use."""
    if not wanted:
        yield settings
        return
    if settings.redis_url is not None:
        raise SystemExit(f"ticketmaster: --local-cluster starts its own Redis; unset {PREFIX}REDIS_URL")
    from ticketmaster.local_cluster import ClusterBinariesMissing, LocalRedisCluster

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="redis-cluster-", dir=settings.data_dir))
    try:
        cluster = LocalRedisCluster(directory, extra_args=("--hz", "50"))  # prompt key expiry
        cluster.start()  # stops its nodes itself when it fails
    except BaseException as exc:
        shutil.rmtree(directory, ignore_errors=True)
        if isinstance(exc, ClusterBinariesMissing):
            raise SystemExit(f"ticketmaster: {exc}") from None
        raise
    try:
        ports = ", ".join(str(node.port) for node in cluster.nodes)
        print(
            f"local Redis Cluster (3 primaries, 3 replicas; {cluster.binaries.server}) on 127.0.0.1 "
            f"ports {ports}; seed {cluster.url}, {PREFIX}REDIS_CLUSTER=true",
            flush=True,
        )
        yield replace(settings, redis_url=cluster.url, redis_cluster=True)
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    with local_cluster(settings, args.local_cluster) as settings, engines(settings) as s:
        require_noeviction(s)
        upgrade_to_head(_db(s))
        if _catalog_is_empty(_db(s)):
            print("empty database: loading the demo catalog", flush=True)
            _report(_load(s, demo_catalog(), "demo catalog")[0])
        with sandbox_process(s):
            print(
                f"ticketmaster on http://{s.host}:{s.port}: open http://{s.host}:{s.port}/ in a browser "
                f"(API docs at /docs); worker in-process, payment sandbox at {s.sandbox_url}; "
                "Ctrl-C stops everything",
                flush=True,
            )
            return serve_api(s, workers=args.workers or s.web_concurrency, with_worker=True)


async def _with_container(settings: Settings, use: Callable[[Container], Awaitable[int]]) -> int:
    from ticketmaster import bootstrap

    container = await bootstrap.build(settings)
    try:
        return await use(container)
    finally:
        await container.close()


def reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from ticketmaster.bootstrap import make_reconciler

    async def go(container: Container) -> int:
        changes = await make_reconciler(container).run_once()
        for line in changes:
            print(line)
        print(f"reconcile complete: {len(changes)} change(s)")
        return 0

    with engines(settings) as s:
        return asyncio.run(_with_container(s, go))


def audit(args: argparse.Namespace, settings: Settings) -> int:
    from ticketmaster.bootstrap import make_auditor

    async def go(container: Container) -> int:
        report = await make_auditor(container, grace_seconds=args.grace).run()
        for line in report.lines():
            print(line)
        print("audit passed" if report.ok else "AUDIT FAILED: invariant violations found")
        return 0 if report.ok else 1

    with engines(settings) as s:
        return asyncio.run(_with_container(s, go))
