"""tests/replica.py's streaming replica never outlives the test process that started it:
a pytest that is SIGKILLed (or killed by a CI timeout) runs no finalizer, and a standby
left behind would keep a port, a WAL sender on the suite's server and its memory."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.replica import server_major

ROOT = Path(__file__).resolve().parents[2]
# A stand-in for a test process: starts a replica, says its PID, then waits to be killed.
STARTER = """
import sys, time
from pathlib import Path
from tests.replica import StreamingReplica
replica = StreamingReplica(sys.argv[1], Path(sys.argv[2]))
replica.create(int(sys.argv[3]))
replica.start()
print(replica.process.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_the_replica_stops_when_the_process_that_started_it_is_killed(engine_urls: tuple[str, str]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="tm-test-replica-orphan-"))
    major = asyncio.run(server_major(engine_urls[0]))
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, engine_urls[0], str(directory), str(major)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    standby = 0
    try:
        assert starter.stdout is not None
        standby = int(starter.stdout.readline())  # blocks until the replica accepts connections
        assert alive(standby)

        starter.send_signal(signal.SIGKILL)
        starter.wait()
        deadline = time.monotonic() + 30
        while alive(standby):
            assert time.monotonic() < deadline, "the orphaned replica is still running"
            time.sleep(0.1)
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        if starter.stdout is not None:
            starter.stdout.close()
        if standby and alive(standby):
            os.kill(standby, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)
