"""Seat-map rendering, two designs on the 52,000-seat stadium, CPU only (no HTTP, no Redis):

- incremental (what ships, services/seat_map.py): the renderer applies the change log since
  its last render and re-deflates only the ~32 KB segments whose seats changed;
- snapshot: build the whole map from the seat states and gzip it in one stream (level 1 and
  6), as a design serving a snapshot at most ~100 ms old would do up to 10 times a second per
  event and process.

Each round starts from the same stadium (30 % SOLD, 10 % HELD) and then renders after each
of ``--ticks`` batches of ``--changes`` seat changes (250 holds/s of 2.5 seats is ~60 changes
per 100 ms tick). Reports CPU ms per render (median of the rounds) and body sizes. The
renderer is driven through its public API with in-memory fakes of its two ports.

Example: ``.venv/bin/python -m bench.seat_map_snapshot --changes 60,600 --rounds 5``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson

from ticketmaster.domain.gate import SeatChanges, SeatSnapshot
from ticketmaster.domain.layout import EventInfo, SectionLayout, VenueLayout
from ticketmaster.services.seat_map import SeatMapRenderer

EVENT = "evt_bench"
FAR_MS = 4_000_000_000_000  # holds that never lapse during the bench


def stadium() -> VenueLayout:
    """52 sections x 25 rows x 40 seats, as the demo stadium's size."""
    sections = tuple(
        SectionLayout(f"s{n:02d}", f"Section {n}", tuple((f"R{r}", 40) for r in range(1, 26)))
        for n in range(1, 53)
    )
    return VenueLayout("ven_bench", sections)


class FakeGate:
    """The seat states and their change log, in memory (SeatStateReader)."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = dict(states)
        self.current = 1
        self.log: list[tuple[int, dict[str, str]]] = []

    def change(self, seats: dict[str, str]) -> None:
        self.current += 1
        self.log.append((self.current, seats))
        for seat, raw in seats.items():
            if raw:
                self.states[seat] = raw
            else:
                self.states.pop(seat, None)

    async def ensure_loaded(self, event_id: str) -> None:
        return None

    async def version(self, event_id: str) -> int | None:
        return self.current

    async def snapshot(self, event_id: str) -> SeatSnapshot:
        return SeatSnapshot(self.current, dict(self.states), int(time.time() * 1000))

    async def changes_since(self, event_id: str, version: int, *, limit: int = 10_000) -> SeatChanges | None:
        entries = tuple(e for e in self.log if e[0] > version)
        return SeatChanges(version, self.current, entries, int(time.time() * 1000))


class FakeCatalog:
    """One event at the stadium (LayoutCatalog)."""

    def __init__(self, layout: VenueLayout) -> None:
        self.layout = layout
        self.info = EventInfo(
            EVENT, layout.venue_id, datetime(2030, 1, 1, tzinfo=UTC), False, seat_count=52_000
        )

    async def event_info(self, event_id: str) -> EventInfo | None:
        return self.info if event_id == EVENT else None

    async def venue_layout(self, venue_id: str, revision: int) -> VenueLayout:
        return self.layout


def _status(raw: str | None, now_ms: int) -> str:
    if raw is None:
        return "AVAILABLE"
    if raw == "SOLD":
        return "SOLD"
    return "HELD" if int(raw.rpartition("|")[2]) > now_ms else "AVAILABLE"


def snapshot_body(document: dict[str, Any], states: dict[str, str], level: int) -> bytes:
    """The snapshot design: every seat's status from the states, one JSON, one gzip stream."""
    now_ms = int(time.time() * 1000)
    for section in document["sections"]:
        for seat in section["seats"]:
            seat["status"] = _status(states.get(seat["id"]), now_ms)
    packer = zlib.compressobj(level, zlib.DEFLATED, 31)
    return packer.compress(orjson.dumps(document)) + packer.flush()


def _random_changes(rng: random.Random, seats: list[str], count: int) -> dict[str, str]:
    return {
        rng.choice(seats): rng.choice(["", "SOLD", f"h_{rng.randrange(10**9)}|{FAR_MS}"])
        for _ in range(count)
    }


async def one_round(layout: VenueLayout, changes: int, ticks: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    seats = sorted(layout.seat_ids)
    start = {s: "SOLD" for s in rng.sample(seats, len(seats) * 3 // 10)}
    start.update(
        {s: f"h_{i}|{FAR_MS}" for i, s in enumerate(rng.sample(seats, len(seats) // 10)) if s not in start}
    )
    gate = FakeGate(start)
    renderer = SeatMapRenderer(gate, FakeCatalog(layout))
    first = await renderer.seat_map(EVENT)  # the template and the first full render, not timed
    document = orjson.loads(zlib.decompress(first.gzipped, 31) if first.gzipped else first.body)
    incremental: list[float] = []
    snap: dict[int, list[float]] = {1: [], 6: []}
    sizes: dict[str, int] = {}
    for _ in range(ticks):
        gate.change(_random_changes(rng, seats, changes))
        t0 = time.process_time()
        rendered = await renderer.seat_map(EVENT)
        incremental.append((time.process_time() - t0) * 1000)
        sizes["incremental"] = len(rendered.gzipped or b"")
        for level in snap:
            t0 = time.process_time()
            body = snapshot_body(document, gate.states, level)
            snap[level].append((time.process_time() - t0) * 1000)
            sizes[f"snapshot{level}"] = len(body)
    return {
        "incremental_ms": statistics.median(incremental),
        "snapshot1_ms": statistics.median(snap[1]),
        "snapshot6_ms": statistics.median(snap[6]),
        **{f"{k}_kb": v / 1024 for k, v in sizes.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--changes", default="60,600", help="seat changes per render, comma-separated (60,600)"
    )
    parser.add_argument("--ticks", type=int, default=20, help="renders per round (20)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; medians are reported (5)")
    args = parser.parse_args()
    layout = stadium()
    print(f"stadium: {len(layout.seat_ids):,} seats; CPU ms per render, median of {args.rounds} rounds")
    print(
        "| changes per render | incremental ms | snapshot gzip-1 ms | snapshot gzip-6 ms"
        " | gzip KB inc / s1 / s6 |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    for changes in (int(c) for c in args.changes.split(",")):
        rounds = [asyncio.run(one_round(layout, changes, args.ticks, seed)) for seed in range(args.rounds)]

        def med(key: str, rounds: list[dict[str, float]] = rounds) -> float:
            return statistics.median(r[key] for r in rounds)

        print(
            f"| {changes} | {med('incremental_ms'):.2f} | {med('snapshot1_ms'):.1f}"
            f" | {med('snapshot6_ms'):.1f} "
            f"| {med('incremental_kb'):.0f} / {med('snapshot1_kb'):.0f} / {med('snapshot6_kb'):.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
