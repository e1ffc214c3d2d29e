"""A real PostgreSQL streaming replica of the test server, for the read-replica tests.

``pg_basebackup -R`` copies the server the suite uses (the machine's, or the embedded one)
into a temporary directory with the binaries of the same major version, then ``postgres``
runs it as a hot standby on a free loopback port. It is started and stopped by its PID
(SIGINT: PostgreSQL's fast shutdown, which ends client sessions at once). It never outlives
the test process: a watcher of its own stops it the same way once the process that started
it is gone (a SIGKILLed or timed-out pytest runs no finalizer).

The server must accept replication connections from 127.0.0.1 or its socket (``.ci/run``
adds ``host replication all 127.0.0.1/32 trust`` to the machine's pg_hba.conf).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg

from tests.conftest import free_port
from ticketmaster.processes import end_process

HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
# Stops the replica ($2) once the test process ($1) is gone; ends by itself with the replica.
# A process of its own (not a thread, not the parent-death signal of the thread that forked
# the server), in a session of its own, so only the test process's death sets it off.
_WATCHER = """
while kill -0 "$1" 2>/dev/null; do
  kill -0 "$2" 2>/dev/null || exit 0
  sleep 0.5
done
kill -INT "$2" 2>/dev/null
"""


def _binaries(major: int) -> tuple[Path, str]:
    """The binaries of this major version, and the system user their servers run as when
    we are root (PostgreSQL refuses root): the machine's, else pgserver's (embedded)."""
    system = Path(f"/usr/lib/postgresql/{major}/bin")
    if (system / "pg_basebackup").exists():
        return system, "postgres"
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH), "pgserver"


class StreamingReplica:
    """A hot standby of ``primary_url``'s server; ``url(db)`` reaches one of its databases."""

    def __init__(self, primary_url: str, directory: Path) -> None:
        self.primary_url = primary_url
        self.directory = directory
        self.pgdata = directory / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._watcher: subprocess.Popen[bytes] | None = None
        self._user: str | None = None

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create(self, major: int) -> None:
        """Copy the primary (its server's ``major`` version) with ``pg_basebackup -R``."""
        self.bin, user = _binaries(major)
        self._user = user if os.geteuid() == 0 else None
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            shutil.chown(self.directory, self._user)
        parts = urlsplit(self.primary_url)
        host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
        args = [str(self.bin / "pg_basebackup"), "-h", host, "-p", str(parts.port or 5432), "-U", "postgres"]
        subprocess.run(
            [*args, "-D", str(self.pgdata), "-R", "-X", "stream", "-c", "fast"],
            check=True,
            user=self._user,
            capture_output=True,
            timeout=300,
        )
        # The machine's server keeps its configuration outside its data directory (Debian):
        # the copy gets its own; settings come from the command line (``start``).
        for name, text in (("postgresql.conf", ""), ("pg_hba.conf", HBA), ("pg_ident.conf", "")):
            (self.pgdata / name).write_text(text)
            if self._user is not None:
                shutil.chown(self.pgdata / name, self._user)

    def start(self, timeout: float = 120.0) -> None:
        """Start (again) and wait until it accepts connections as a standby."""
        args = [str(self.bin / "postgres"), "-D", str(self.pgdata), "-p", str(self.port)]
        args += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.directory}"]
        args += ["-c", "hot_standby=on", "-c", "shared_buffers=16MB", "-c", "ssl=off"]
        args += ["-c", "cluster_name=tm-test-replica", "-c", "logging_collector=off"]
        with open(self.directory / "postgres.log", "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(args, user=self._user, stdout=log, stderr=log)
        self._watcher = subprocess.Popen(
            ["sh", "-c", _WATCHER, "sh", str(os.getpid()), str(self.process.pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False
        ).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the replica did not start; see {self.directory / 'postgres.log'}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown by PID (sessions are ended, not waited for); SIGKILL if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._watcher is not None:  # it ends within a beat of the replica
            end_process(self._watcher, timeout=5)
            self._watcher = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


async def server_major(url: str) -> int:
    """The major version of the PostgreSQL server at ``url`` (15 for 15.x)."""
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()
