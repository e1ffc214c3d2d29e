"""The system under test: either an existing one (``--url``) or one the harness starts and
stops, whose processes it can kill and restart for the faults (:mod:`.chaos`).

A started system is: PostgreSQL (a fresh database on ``TICKETMASTER_DATABASE_URL``'s server,
or a pgserver of its own), Redis (a private namespace on ``TICKETMASTER_REDIS_URL``, or a
``redis-server`` of its own, without persistence), the payment sandbox (its ledger in a file,
so a restart keeps it), ``serve --workers N`` and M ``worker`` processes. Engines of its own
are used when a fault needs them, with ``--own-engines``, or when no URL is configured; the
machine's shared servers are never restarted. Everything is removed on exit.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import redis

from bench.onsale.config import OnSaleConfig
from bench.sut import admin_sql, delete_namespace, free_port, ready, with_database
from ticketmaster.embedded import EmbeddedEngines
from ticketmaster.processes import end_process

CLI = (sys.executable, "-m", "ticketmaster.entrypoints.cli.main")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

DB_POOL_SIZE = 10  # PostgreSQL connections per API process the stack starts (the model's too)


@dataclass
class Stack:
    """Processes of a started system, by role; ``env`` configures any ``ticketmaster`` command
    for it (import, audit)."""

    env: dict[str, str]
    api_url: str
    workdir: Path
    logs: Path
    redis_port: int | None = None
    redis_proc: subprocess.Popen[bytes] | None = None
    pg: EmbeddedEngines | None = None
    sandbox_port: int = 0
    sandbox: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    cpu_pids: dict[str, list[int]] = field(default_factory=dict)

    # --- processes ---------------------------------------------------------------------

    def _spawn(self, name: str, *args: str, extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen([*CLI, *args], env={**self.env, **(extra or {})}, stdout=log, stderr=log)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def start_redis(self) -> None:
        assert self.redis_port is not None
        args = [REDIS_SERVER, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", ""]
        args += [
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis_proc = subprocess.Popen(args)
        _wait(lambda: _redis_ping(self.redis_port or 0), "redis-server")

    def kill_redis(self) -> None:
        assert self.redis_proc is not None
        self.redis_proc.send_signal(signal.SIGKILL)
        self.redis_proc.wait()

    def start_sandbox(self, latency_ms: str) -> None:
        args = [
            "sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.sandbox_port),
            "--latency-ms",
            latency_ms,
        ]
        self.sandbox = self._spawn("sandbox", *args, "--ledger", str(self.workdir / "ledger.jsonl"))
        _wait(lambda: ready(f"http://127.0.0.1:{self.sandbox_port}/healthz"), "sandbox")

    def kill_sandbox(self) -> None:
        assert self.sandbox is not None
        self.sandbox.send_signal(signal.SIGKILL)
        self.sandbox.wait()

    def start_api(self, processes: int) -> None:
        self.api = self._spawn("api", "serve", "--workers", str(processes))
        _wait(lambda: ready(self.api_url + "/readyz"), "the API", timeout=90)

    def api_children(self) -> list[int]:
        """PIDs of the API processes (the children of ``serve --workers N``, or it alone)."""
        assert self.api is not None
        path = Path(f"/proc/{self.api.pid}/task/{self.api.pid}/children")
        children = [int(p) for p in path.read_text().split()] if path.exists() else []
        return [c for c in children if _is_ticketmaster(c)] or [self.api.pid]

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn(f"worker{len(self.workers)}", "worker")
        self.workers.append(proc)
        return proc

    def restart_postgres(self) -> None:
        """``pg_ctl stop -m immediate`` (every backend gone at once, as in a crash), then start."""
        assert self.pg is not None
        assert self.pg.database_url is not None
        from pgserver._commands import POSTGRES_BIN_PATH  # the binaries pgserver runs

        pgdata = str(self.workdir / "engines" / "postgres")
        user = "pgserver" if os.geteuid() == 0 else None
        pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 120, "check": True}
        subprocess.run([pg_ctl, "-D", pgdata, "-m", "immediate", "-w", "stop"], user=user, **quiet)  # type: ignore[call-overload]
        socket_dir = parse_qs(urlsplit(self.pg.database_url).query)["host"][0]
        start = [
            pg_ctl,
            "-D",
            pgdata,
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {socket_dir}",
            "-l",
            f"{pgdata}/log",
            "start",
        ]
        subprocess.run(start, user=user, **quiet)  # type: ignore[call-overload]

    def engine_pids(self) -> dict[str, list[int]]:
        """Processes whose CPU the report attributes to each component."""
        pids = {"api": self.api_children(), "worker": [w.pid for w in self.workers if w.poll() is None]}
        if self.redis_proc is not None:
            pids["redis"] = [self.redis_proc.pid]
        if self.pg is not None:
            pids["postgres"] = _postgres_pids(self.workdir / "engines" / "postgres")
        return pids


def _redis_ping(port: int) -> bool:
    client = redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _is_ticketmaster(pid: int) -> bool:
    try:
        return (
            b"ticketmaster" in Path(f"/proc/{pid}/cmdline").read_bytes()
            or b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes()
        )
    except OSError:
        return False


def _postgres_pids(pgdata: Path) -> list[int]:
    """The postmaster of ``pgdata`` and its children (every backend)."""
    try:
        master = int((pgdata / "postmaster.pid").read_text().split()[0])
        path = Path(f"/proc/{master}/task/{master}/children")
        return [master, *(int(p) for p in path.read_text().split())]
    except (OSError, ValueError, IndexError):
        return []


def _wait(probe: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.1)


def _end_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        end_process(process)


def start_stack(cfg: OnSaleConfig, exits: ExitStack, say: Callable[[str], None]) -> Stack:
    """Start the whole system for ``cfg``; ``exits`` stops and removes it all."""
    workdir = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="tm-onsale-")))
    own = cfg.own_engines or bool(cfg.chaos) or not (cfg.database_url and cfg.redis_url)
    needs_pg = own and (
        any(c.startswith("pg-") for c in cfg.chaos) or not cfg.database_url or cfg.own_engines
    )
    run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "TICKETMASTER_DATA_DIR": str(workdir / "data"),
        "TICKETMASTER_SECRET_KEY": secrets.token_urlsafe(48),
        "TICKETMASTER_LOG_LEVEL": "WARNING",
        "TICKETMASTER_HOLD_TTL_SECONDS": str(cfg.hold_ttl_s),
        "TICKETMASTER_DB_POOL_SIZE": str(DB_POOL_SIZE),
        **cfg.extra_env,
    }
    stack = Stack(env, "", workdir, cfg.out / "logs")
    if needs_pg:
        say("starting a PostgreSQL of the harness's own")
        stack.pg = EmbeddedEngines(workdir / "engines", want_postgres=True, want_redis=False).start()
        exits.callback(stack.pg.stop)
        assert stack.pg.database_url is not None
        env["TICKETMASTER_DATABASE_URL"] = stack.pg.database_url
    else:
        assert cfg.database_url is not None
        name = f"tm_onsale_{run_id}"
        say(f"creating database {name}")
        admin_sql(cfg.database_url, f'CREATE DATABASE "{name}"')
        exits.callback(admin_sql, cfg.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        env["TICKETMASTER_DATABASE_URL"] = with_database(cfg.database_url, name)
    if own:
        stack.redis_port = free_port()
        stack.start_redis()
        exits.callback(lambda: end_process(stack.redis_proc))
        env["TICKETMASTER_REDIS_URL"] = f"redis://127.0.0.1:{stack.redis_port}/0"
    else:
        assert cfg.redis_url is not None
        namespace = f"tmonsale{run_id}"
        env["TICKETMASTER_REDIS_URL"], env["TICKETMASTER_REDIS_NAMESPACE"] = cfg.redis_url, namespace
        exits.callback(delete_namespace, cfg.redis_url, namespace)
    stack.sandbox_port = free_port()
    env["TICKETMASTER_SANDBOX_URL"] = f"http://127.0.0.1:{stack.sandbox_port}"
    api_port = free_port()
    env["TICKETMASTER_PORT"] = str(api_port)
    stack.api_url = f"http://127.0.0.1:{api_port}"
    done = stack.cli("migrate")
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed: {done.stderr}")
    say("starting the payment sandbox, the API and the worker")
    stack.start_sandbox(cfg.payment_latency_ms)
    exits.callback(lambda: end_process(stack.sandbox))
    stack.start_api(cfg.api_processes)
    exits.callback(lambda: end_process(stack.api))
    for _ in range(cfg.worker_processes):
        stack.start_worker()
    exits.callback(lambda: _end_all(stack.workers))
    return stack
