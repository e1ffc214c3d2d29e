"""The load: closed-loop clients holding and releasing contiguous seats, measured in a
window after a warm-up, with a double-hold check."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench import machine
from bench.gates.gate import Gate, Held

MAX_SEATS_PER_ATTEMPT = 4


@dataclass(frozen=True, slots=True)
class Load:
    clients: int
    seats: int
    release_probability: float
    keep: int
    duration_s: float
    warmup_s: float
    seed: int


def seat_ids(count: int) -> list[str]:
    """Seat ids whose text order is their numeric order, so contiguous means adjacent."""
    width = max(5, len(str(count - 1)))
    return [f"s{i:0{width}d}" for i in range(count)]


@dataclass
class RunStats:
    gate: str
    round: int
    duration_s: float
    holds: int = 0
    conflicts: int = 0
    gave_up: int = 0
    retries: int = 0
    releases: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    release_errors: Counter[str] = field(default_factory=Counter)
    double_holds: int = 0
    latencies_s: list[float] = field(default_factory=list)
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None

    def per_s(self, count: int) -> float:
        return count / self.duration_s

    def latency_ms(self, q: float) -> float | None:
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def cpu_ms_per_hold(self) -> float | None:
        """Client plus database CPU per successful hold (PostgreSQL: backends only)."""
        if self.server_cpu_s is None or not self.holds:
            return None
        return 1000 * (self.client_cpu_s + self.server_cpu_s) / self.holds

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "round": self.round,
            "duration_s": self.duration_s,
            "holds": self.holds,
            "holds_per_s": self.per_s(self.holds),
            "conflicts": self.conflicts,
            "conflicts_per_s": self.per_s(self.conflicts),
            "gave_up": self.gave_up,
            "retries": self.retries,
            "retries_per_s": self.per_s(self.retries),
            "releases": self.releases,
            "errors": dict(self.errors),
            "release_errors": dict(self.release_errors),
            "double_holds": self.double_holds,
            "attempts_timed": len(self.latencies_s),
            "p50_ms": self.latency_ms(0.50),
            "p90_ms": self.latency_ms(0.90),
            "p99_ms": self.latency_ms(0.99),
            "max_ms": self.latency_ms(1.0),
            "client_cpu_pct": 100 * self.client_cpu_s / self.duration_s,
            "cpu_ms_per_hold": self.cpu_ms_per_hold(),
            "server_cpu_pct": None
            if self.server_cpu_s is None
            else 100 * self.server_cpu_s / self.duration_s,
        }


class HeldSeats:
    """What the clients believe is held right now; a seat granted twice is a gate bug.

    A hold is entered after its success returned and removed before its release is sent,
    so a correct gate can never trip it (the check may miss bugs, never invent them)."""

    def __init__(self) -> None:
        self._by_seat: dict[str, str] = {}

    def add(self, hold: Held) -> int:
        doubles = 0
        for seat in hold.seat_ids:
            if seat in self._by_seat:
                doubles += 1
            self._by_seat[seat] = hold.hold_id
        return doubles

    def remove(self, hold: Held) -> None:
        for seat in hold.seat_ids:
            if self._by_seat.get(seat) == hold.hold_id:
                del self._by_seat[seat]


async def _client(
    index: int,
    gate: Gate,
    load: Load,
    seats: list[str],
    window: tuple[float, float],
    stats: RunStats,
    held: HeldSeats,
) -> None:
    rng = random.Random(load.seed * 1_000_003 + index)
    user = f"usr_bench{index}"
    start, end = window
    cart: list[tuple[Held, int]] = []  # kept holds and how many more attempts they live
    clock = time.perf_counter
    while clock() < end:
        n = rng.randint(1, min(MAX_SEATS_PER_ATTEMPT, len(seats)))
        first = rng.randrange(len(seats) - n + 1)
        wanted = tuple(seats[first : first + n])
        t0 = clock()
        try:
            attempt = await gate.try_hold(user, wanted)
        except Exception as exc:  # deadlock, timeout, ...: counted, and the client goes on
            if start <= clock() < end:
                stats.errors[type(exc).__name__] += 1
            await asyncio.sleep(0.001)
            continue
        t1 = clock()
        counted = start <= t1 < end
        if counted:
            stats.latencies_s.append(t1 - t0)
            stats.retries += attempt.retries
            if attempt.held is not None:
                stats.holds += 1
            else:
                stats.conflicts += 1
                stats.gave_up += attempt.gave_up
        due = [h for h, left in cart if left <= 1]
        cart = [(h, left - 1) for h, left in cart if left > 1]
        if attempt.held is not None:
            doubles = held.add(attempt.held)
            if doubles:
                stats.double_holds += doubles
            if rng.random() < load.release_probability:
                due.append(attempt.held)
            else:
                cart.append((attempt.held, load.keep))
        for hold in due:
            held.remove(hold)
            try:
                await gate.release(hold)
            except Exception as exc:
                stats.release_errors[type(exc).__name__] += 1
            else:
                if start <= clock() < end:
                    stats.releases += 1


async def measure(gate: Gate, load: Load, round_no: int, event_id: str) -> RunStats:
    """One run of one gate: fresh event, warm-up, measured window, figures."""
    seats = seat_ids(load.seats)
    await gate.reset(event_id, seats)
    stats = RunStats(gate.name, round_no, load.duration_s)
    held = HeldSeats()
    begin = time.perf_counter()
    window = (begin + load.warmup_s, begin + load.warmup_s + load.duration_s)
    tasks = [
        asyncio.create_task(_client(i, gate, load, seats, window, stats, held)) for i in range(load.clients)
    ]
    try:
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        cpu0 = machine.process_cpu_seconds(os.getpid())
        server0 = await gate.server_cpu_seconds()
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        stats.client_cpu_s = machine.process_cpu_seconds(os.getpid()) - cpu0
        server1 = await gate.server_cpu_seconds()
        if server0 is not None and server1 is not None:
            stats.server_cpu_s = server1 - server0
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return stats
