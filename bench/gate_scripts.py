"""Redis CPU per seat-gate script call, by Redis's own accounting: ``INFO commandstats``
usec_per_call of EVALSHA for single-seat holds, their releases and best-available holds.

Each round loads a fresh stadium-sized event (the demo stadium's 40 sections x 26 rows x
50 seats, with its availability index) into a private namespace of the Redis at
``--redis-url``, through the real gate adapter (``RedisSeatGate``, its loader and its
pipelined script calls), then runs three phases, each after ``CONFIG RESETSTAT`` (which
resets the whole server's statistics): ``--holds`` single-seat holds of random seats by
distinct buyers, the releases of those holds, the expiry (expire.lua, as the sweeper's
fallback calls it) of as many single-seat holds that lapsed, and as many best-available
holds of 1-4 adjacent seats. Seeded: every run does the same work. Redis's figure is what the
script costs the server, whatever else loads the machine; a call made by anyone else
meanwhile is counted too, so a round whose EVALSHA count exceeds its own is flagged ``*``.

The scripts run are those of the ``ticketmaster`` package imported (its path is printed):
to measure another checkout, put its ``src`` first on ``PYTHONPATH``.

Example: ``.venv/bin/python -m bench.gate_scripts --holds 3000 --rounds 5``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import os
import random
import statistics
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import redis.asyncio as aioredis

import ticketmaster
from bench import machine
from bench.gates.redis_gate import FreshEvents, delete_keys
from bench.holds import SEATS_PER_ROW, SECTIONS, VENUE_ID
from ticketmaster.adapters.redis.client import create_client
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.lua import load_script
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.domain.best_available import SeatSearch
from ticketmaster.domain.gate import Outcome
from ticketmaster.domain.layout import EventInfo, SectionLayout, VenueLayout

TTL_MS = 600_000  # no hold lapses during a round
CONCURRENCY = 32
ROWS = 26  # per section
PHASES = ("hold", "release", "expire", "best")
SCRIPTS = ("hold.lua", "hold_best.lua", "release.lua", "expire.lua")


def demo_stadium() -> VenueLayout:
    """The demo stadium's shape (bench.holds): 52,000 seats."""
    rows = tuple((f"R{r}", SEATS_PER_ROW) for r in range(1, ROWS + 1))
    sections = tuple(SectionLayout(f"s{i:02d}", f"Section {i}", rows) for i in range(1, SECTIONS + 1))
    return VenueLayout(VENUE_ID, sections)


class StadiumSource(FreshEvents):
    """LiveStateSource of fresh stadium events: nothing sold or held, the layout in memory."""

    def __init__(self, layout: VenueLayout) -> None:
        self.layout = layout

    async def event_info(self, event_id: str) -> EventInfo | None:
        return EventInfo(event_id, self.layout.venue_id, datetime(2020, 1, 1, tzinfo=UTC), False)

    async def venue_layout(self, venue_id: str) -> VenueLayout | None:
        return self.layout


async def _evalsha_stats(client: aioredis.Redis) -> tuple[int, float]:
    """(calls, usec_per_call) of EVALSHA since the last CONFIG RESETSTAT."""
    stats = await client.info("commandstats")
    entry = stats.get("cmdstat_evalsha", {"calls": 0, "usec_per_call": 0.0})
    return int(entry["calls"]), float(entry["usec_per_call"])


async def _redis_ms(client: aioredis.Redis) -> int:
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def _run(calls: list[Callable[[], Awaitable[object]]]) -> None:
    """Every call, ``CONCURRENCY`` at a time (the gate pipelines concurrent calls)."""
    queue = iter(calls)

    async def worker() -> None:
        for call in queue:
            await call()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _round(
    client: aioredis.Redis,
    keys: RedisKeys,
    source: StadiumSource,
    number: int,
    holds: int,
    measured: tuple[str, ...],
) -> dict[str, tuple[int, int, float]]:
    """Phase -> (calls expected, calls counted, usec_per_call) of one round on a new event."""
    gate = RedisSeatGate(client, keys, source, max_seats_per_user=8)
    event = f"evt_gate_scripts_{number}"
    rng = random.Random(number)
    rows = source.layout.ranked_rows
    picked = rng.sample([row.seat(n) for row in rows for n in range(1, row.seats + 1)], 2 * holds)
    seats, lapsing = picked[:holds], picked[holds:]
    everywhere = SeatSearch(0, True, ((0, len(rows) - 1),))
    counts = [rng.randint(1, 4) for _ in range(holds)]
    held: list[tuple[str, str, str]] = []
    results: dict[str, tuple[int, int, float]] = {}

    async def hold(i: int) -> None:
        hold_id, user = f"hold_s{i}", f"usr_s{i}"
        reply = await gate.hold(event, hold_id, user, (seats[i],), TTL_MS, "bench", f"k{i}")
        assert reply.outcome == Outcome.OK, reply
        held.append((hold_id, user, seats[i]))

    async def release(hold_id: str, user: str, seat: str) -> None:
        assert await gate.release(event, hold_id, user, (seat,)) == 1

    async def hold_briefly(i: int) -> None:
        reply = await gate.hold(event, f"hold_e{i}", f"usr_e{i}", (lapsing[i],), 1, "bench", f"e{i}")
        assert reply.outcome == Outcome.OK, reply

    async def lapse() -> None:
        """Hold the expire phase's seats for 1 ms, then wait for Redis's clock to pass them."""
        await _run([functools.partial(hold_briefly, i) for i in range(holds)])
        past = await _redis_ms(client) + 2  # each expired 1 ms after its hold, before now
        for _ in range(1000):
            if await _redis_ms(client) > past:
                return
            await asyncio.sleep(0.001)
        raise RuntimeError("Redis's clock does not move")

    async def expire(i: int) -> None:
        assert await gate.expire(event, f"hold_e{i}", f"usr_e{i}", (lapsing[i],)) == 1

    async def best(i: int) -> None:
        search = SeatSearch(counts[i], True, everywhere.ranges)
        reply = await gate.hold_best(event, f"hold_b{i}", f"usr_b{i}", search, TTL_MS, "bench", f"b{i}")
        assert reply.outcome == Outcome.OK, reply

    try:
        await gate.ensure_loaded(event)
        phases: dict[str, list[Callable[[], Awaitable[object]]]] = {
            "hold": [functools.partial(hold, i) for i in range(holds)],
            "release": [],
            "expire": [functools.partial(expire, i) for i in range(holds)],
            "best": [functools.partial(best, i) for i in range(holds)],
        }
        for phase in measured:
            if phase == "release":
                phases[phase] = [functools.partial(release, *h) for h in held]
            if phase == "expire":
                await lapse()
            await client.config_resetstat()
            await _run(phases[phase])
            calls, usec = await _evalsha_stats(client)
            results[phase] = (len(phases[phase]), calls, usec)
    finally:
        await delete_keys(client, f"{keys.event_tag(event)}:*")
    return results


async def _main(args: argparse.Namespace) -> int:
    client = create_client(args.redis_url)
    keys = RedisKeys(args.namespace)
    source = StadiumSource(demo_stadium())
    digest = hashlib.sha1("".join(load_script(s) for s in SCRIPTS).encode()).hexdigest()[:12]
    for line in machine.describe():
        print(line)
    print(f"scripts: {ticketmaster.__file__} ({', '.join(SCRIPTS)} sha1 {digest})")
    print(f"{len(source.layout.ranked_rows)} rows, {args.holds} calls per phase, {args.rounds} rounds\n")
    try:
        for name in SCRIPTS:
            await client.script_load(load_script(name))
        figures: dict[str, list[float]] = {phase: [] for phase in args.phases}
        print("EVALSHA usec_per_call (Redis INFO commandstats), * = other clients' calls counted too")
        for number in range(args.rounds):
            results = await _round(client, keys, source, number, args.holds, args.phases)
            cells = []
            for phase in args.phases:
                expected, calls, usec = results[phase]
                figures[phase].append(usec)
                cells.append(f"{phase} {usec:7.2f}{'*' if calls > expected else ' '}")
            print(f"round {number + 1}: " + "  ".join(cells), flush=True)
        print("median:  " + "  ".join(f"{p} {statistics.median(figures[p]):7.2f} " for p in args.phases))
    finally:
        await delete_keys(client, f"{args.namespace}:*")
        await client.aclose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="the Redis to measure")
    parser.add_argument("--holds", type=int, default=3000, help="calls per phase (3000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each on a new event (5)")
    parser.add_argument(
        "--namespace",
        default=f"bench-gate-scripts-{os.getpid()}",
        help="key prefix of the bench's keys, deleted after",
    )
    parser.add_argument(
        "--phases",
        type=_phases,
        default=PHASES,
        help=f"comma-separated, in this order: {','.join(PHASES)} (all; release needs hold)",
    )
    return asyncio.run(_main(parser.parse_args()))


def _phases(text: str) -> tuple[str, ...]:
    wanted = set(text.split(","))
    if not wanted <= set(PHASES) or ("release" in wanted and "hold" not in wanted):
        raise argparse.ArgumentTypeError(f"phases of {','.join(PHASES)}; release needs hold")
    return tuple(p for p in PHASES if p in wanted)


if __name__ == "__main__":
    sys.exit(main())
