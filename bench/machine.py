"""What the benchmark ran on, and how much CPU a process has used (Linux ``/proc``)."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() in {"model name", "Model", "Hardware"}:
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cpus() -> int:
    """What ``nproc`` prints: the CPUs this process may run on."""
    return len(os.sched_getaffinity(0))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid``."""
    # Fields after "(comm)": index 11 is utime and 12 is stime (fields 14 and 15 of proc(5)).
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def pids_named(name: str) -> list[int]:
    """Processes whose command name starts with ``name`` (e.g. the machine's shared servers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().startswith(name):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def spawned_children(parent: int) -> list[int]:
    """The children of ``parent`` started by multiprocessing (the API processes of a
    ``serve --workers N``), not multiprocessing's resource tracker."""
    found = []
    for tasks in Path(f"/proc/{parent}/task").glob("*/children"):
        for pid in tasks.read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                continue
    return sorted(found)


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU seconds used so far by each of ``pids`` that still exists."""
    found = {}
    for pid in pids:
        try:
            found[pid] = process_cpu_seconds(pid)
        except OSError:  # a process that ended meanwhile
            continue
    return found


def describe() -> list[str]:
    """Lines naming the machine, its load, the interpreter and the command line."""
    try:
        from importlib.metadata import version

        import uvloop  # noqa: F401  (only whether it can be imported matters)

        loop = f"uvloop {version('uvloop')}"
    except ImportError:
        loop = "asyncio (uvloop not installed)"
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return [
        f"machine: nproc {usable_cpus()} (os.cpu_count {os.cpu_count()}), CPU {cpu_model()!r}, "
        f"{platform.system()} {platform.release()}",
        f"load average at start: {load}",
        f"client: Python {platform.python_version()}, {loop}",
        f"command: {shlex.join([sys.executable, *sys.argv])}",
    ]
