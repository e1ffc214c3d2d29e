"""Ending child processes the project starts (engines, sandbox, servers under test)."""

from __future__ import annotations

import os
import socket
import subprocess
from typing import Any


def end_process(process: subprocess.Popen[Any] | None, *, timeout: float = 15.0) -> None:
    """SIGTERM (a graceful stop: engines flush, servers drain), then SIGKILL if it is not
    gone within ``timeout`` seconds: a child never outlives the one who started it."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port() -> int:
    """A loopback TCP port free at the time of asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
