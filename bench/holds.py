"""Hold benchmark: successful holds/s and latency through the full HTTP stack on the
52,000-seat stadium, beside GET /healthz of the same server in the same run, and the
seat-map p99 for 50 readers while holds are being made.

Setup: a fresh deployment (bench.sut: ``serve`` plus a ``worker`` sweeping expired holds,
as deployed) with the demo catalog plus one bench event at the demo stadium (no waiting
room, on sale), a hold TTL of ``--hold-ttl`` seconds so seats
keep recycling, and the load shedder's in-flight limit raised so raw capacity is
measured. Every request is made by a distinct buyer (users bulk-inserted, tokens signed
with the deployment's key) with a fresh Idempotency-Key, asking for 1-4 random
contiguous seats, so the per-buyer limit never interferes and contention is real.

Per concurrency level in ``--clients`` (default 50,200,500): GET /healthz, then holds.
"holds/s" counts 201s; 409s (seats taken) are the contention, not errors; anything else
is an error. Then: 50 seat-map readers (gzip, closed loop) while --map-writers clients
make holds at a paced --map-hold-rate (default 250 holds/s: an on-sale the waiting room
admits, which would hold the stadium's seats in about a minute); that row also gives the
hold latency at this load, measured from each request's scheduled start.

Example: ``.venv/bin/python -m bench.holds --duration 8 --repeat 3``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from bench import machine
from bench.http1 import build_get
from bench.loadgen import LoadResult, run_event_loop, run_load
from bench.sut import ServerUnderTest, Target, add_target_arguments, with_database
from ticketmaster.adapters.tokens import TokenSigner

EVENT_ID = "evt_bench_stadium"
VENUE_ID = "ven_empire_stadium"
SECTIONS = 40
ROWS = "ABCDEFGHJKLMNPQRSTUVWXYZ"[:24] + "AA" + "AB"  # the demo stadium: 26 rows x 50 seats
SEATS_PER_ROW = 50


def _catalog(event_ids: Sequence[str]) -> dict[str, object]:
    return {
        "venues": [],
        "events": [
            {
                "id": event_id,
                "title": "Hold Benchmark Live",
                "datetime": "2030-06-01T20:00:00Z",
                "venueId": VENUE_ID,
                "onSaleAt": "2020-01-01T00:00:00Z",
                "waitingRoom": False,
                "priceTiers": [
                    {
                        "id": "pt_all",
                        "name": "All",
                        "priceCents": 5000,
                        "currency": "USD",
                        "sections": [f"s{i:02d}" for i in range(1, SECTIONS + 1)],
                    }
                ],
            }
            for event_id in event_ids
        ],
    }


def _seat_run(rng: random.Random) -> list[str]:
    section = f"s{rng.randint(1, SECTIONS):02d}"
    row = ROWS[rng.randrange(26)]
    count = rng.randint(1, 4)
    start = rng.randint(1, SEATS_PER_ROW - count + 1)
    return [f"{section}-{row}-{n}" for n in range(start, start + count)]


class HoldRequests:
    """Request bytes for hold attempts: a distinct buyer and key per request.

    ``prebuilt`` requests are made up front, before the load starts, so building them does
    not take CPU the server would otherwise get during the window; later ones are built on
    demand.
    """

    def __init__(
        self,
        host: str,
        port: int,
        tokens: list[str],
        seed: int,
        prebuilt: int = 0,
        body: Callable[[random.Random], dict[str, object]] | None = None,
        event_id: str = EVENT_ID,
    ) -> None:
        """``body(rng)``: each request's JSON body (default: 1-4 random contiguous seats)."""
        self.head = f"POST /events/{event_id}/holds HTTP/1.1\r\nHost: {host}:{port}\r\n"
        self.body = body or (lambda rng: {"seatIds": _seat_run(rng)})
        self.tokens = tokens
        self.next = 0
        self.rng = random.Random(seed)
        self.seed = seed
        self.ready = [self._build(0, 0) for _ in range(prebuilt)]
        self.ready.reverse()

    def _build(self, client_id: int, seq: int) -> bytes:
        return self.request(self.body(self.rng), client_id, seq)

    def request(self, payload: dict[str, object], client_id: int, seq: int) -> bytes:
        """A request with this JSON body, by the next buyer, with a fresh key."""
        token = self.tokens[self.next % len(self.tokens)]
        self.next += 1
        body = json.dumps(payload).encode()
        return (
            self.head
            + f"Authorization: Bearer {token}\r\n"
            + f"Idempotency-Key: b{self.seed}-{self.next}-{client_id}-{seq}\r\n"
            + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    def __call__(self, client_id: int, seq: int) -> bytes:
        return self.ready.pop() if self.ready else self._build(client_id, seq)


async def make_buyers(database_url: str, secret: str, count: int) -> list[str]:
    """``count`` guest users inserted at once, and a signed bearer token for each."""
    ids = [f"usr_bench{i:07d}" for i in range(count)]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.copy_records_to_table("users", columns=["id"], records=[(i,) for i in ids])
    finally:
        await conn.close()
    signer = TokenSigner(secret)
    return [signer.sign("access", user, 3600)[0] for user in ids]


def hold_bench_env(hold_ttl: int = 3) -> dict[str, str]:
    """Settings of a hold benchmark's deployment: seats recycle every ``hold_ttl`` seconds,
    and neither the load shedder nor the per-user limit caps what is measured."""
    return {
        "TICKETMASTER_HOLD_TTL_SECONDS": str(hold_ttl),
        "TICKETMASTER_MAX_IN_FLIGHT": "4096",
        "TICKETMASTER_RATE_LIMIT_PER_SECOND": "1000",
    }


@contextmanager
def stadium(
    args: argparse.Namespace,
    extra_env: dict[str, str],
    buyers: int,
    event_ids: Sequence[str] = (EVENT_ID,),
) -> Iterator[tuple[ServerUnderTest, Target, list[str]]]:
    """A fresh deployment with its worker, the bench stadium event imported (one such event
    per id of ``event_ids``), and ``buyers`` access tokens of distinct users; everything is
    dropped on exit. The deployment itself comes first, to start more servers on it
    (``serve_also``)."""
    if args.url:
        raise SystemExit("--url is not supported: the benchmark needs its own deployment and buyers")
    for line in machine.describe():
        print(line)
    sut = ServerUnderTest(args.database_url, args.redis_url, extra_env=extra_env, with_worker=True)
    with sut as target, tempfile.TemporaryDirectory() as tmp:
        env = sut.env(Path(tmp))
        catalog = Path(tmp) / "bench.json"
        catalog.write_text(json.dumps(_catalog(event_ids)))
        sut.cli(env, "import", str(catalog))
        sut.wait_warm()
        database = with_database(args.database_url, sut.database_name)
        yield sut, target, asyncio.run(make_buyers(database, env["TICKETMASTER_SECRET_KEY"], buyers))


@contextmanager
def stadium_deployment(
    args: argparse.Namespace, extra_env: dict[str, str], buyers: int
) -> Iterator[tuple[Target, list[str]]]:
    """:func:`stadium` without the deployment object: its server and the buyers' tokens."""
    with stadium(args, extra_env, buyers) as (_, target, tokens):
        yield target, tokens


def hold_rates(result: LoadResult) -> tuple[float, float, int]:
    created = result.statuses.get(201, 0) / result.duration_s
    conflicts = sum(v for k, v in result.statuses.items() if k == 409) / result.duration_s
    others = sum(v for k, v in result.statuses.items() if k not in (201, 409)) + sum(result.errors.values())
    return created, conflicts, others


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--clients", default="50,200,500", help="hold concurrency levels (50,200,500)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per scenario (8)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per scenario (1)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported (3)")
    parser.add_argument("--hold-ttl", type=int, default=3, help="hold TTL of the deployment, s (3)")
    parser.add_argument("--map-readers", type=int, default=50, help="seat-map readers (50)")
    parser.add_argument("--map-writers", type=int, default=50, help="hold clients during the map test (50)")
    parser.add_argument(
        "--map-hold-rate",
        type=float,
        default=250.0,
        help="holds/s the map test's writers offer, paced (250; 0 = as fast as they can)",
    )
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(",")]
    extra = hold_bench_env(args.hold_ttl)
    with stadium_deployment(args, extra, int(max(levels) * 40 * args.duration)) as (target, tokens):
        print(f"server: {target.description}; hold TTL {args.hold_ttl}s; {len(tokens)} buyers")
        prebuilt = min(len(tokens), int(8000 * (args.duration + args.warmup + 1)))
        healthz = build_get(target.host, target.port, "/healthz")
        seat_map = build_get(
            target.host, target.port, f"/events/{EVENT_ID}/seats", {"Accept-Encoding": "gzip"}
        )
        rows: dict[str, list[tuple[float, ...]]] = {}
        paced_name = f"holds paced {args.map_hold_rate:.0f}/s" if args.map_hold_rate else "holds (map test)"
        for round_no in range(args.repeat):
            for level in levels:
                base = run_event_loop(
                    run_load(target.host, target.port, [healthz], level, args.duration, args.warmup)
                )
                holds = run_event_loop(
                    run_load(
                        target.host,
                        target.port,
                        HoldRequests(target.host, target.port, tokens, round_no * 1000 + level, prebuilt),
                        level,
                        args.duration,
                        args.warmup,
                    )
                )
                created, conflicts, other = hold_rates(holds)
                if other and round_no == 0:
                    print(f"  holds @ {level}: {holds.statuses} {holds.errors}", file=sys.stderr)
                rows.setdefault(f"holds @ {level}", []).append(
                    (
                        created,
                        conflicts,
                        holds.p50_ms,
                        holds.p99_ms,
                        other,
                        base.rps,
                        (created + conflicts) / base.rps if base.rps else 0.0,
                    )
                )

            async def map_under_load(seed: int) -> tuple[LoadResult, LoadResult]:
                writer = HoldRequests(target.host, target.port, tokens, seed)
                return await asyncio.gather(
                    run_load(
                        target.host, target.port, [seat_map], args.map_readers, args.duration, args.warmup
                    ),
                    run_load(
                        target.host,
                        target.port,
                        writer,
                        args.map_writers,
                        args.duration,
                        args.warmup,
                        rate=args.map_hold_rate or None,
                    ),
                )

            maps, writes = run_event_loop(map_under_load(99 + round_no))
            created, conflicts, other = hold_rates(writes)
            rows.setdefault("seat map under holds", []).append(
                (maps.rps, created, maps.p50_ms, maps.p99_ms, maps.error_count + other, 0.0, 0.0)
            )
            rows.setdefault(paced_name, []).append(
                (created, conflicts, writes.p50_ms, writes.p99_ms, other, 0.0, 0.0)
            )
        print(
            f"\n{'scenario':<22} {'201/s':>8} {'409/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
            f" {'healthz/s':>10} {'ratio':>6}"
        )
        for name, values in rows.items():
            med = [statistics.median(v[i] for v in values) for i in range(7)]
            if name.startswith("seat map"):
                print(
                    f"{name:<22} {'reads/s':>8} {med[0]:>8.0f} {med[2]:>8.1f} {med[3]:>8.1f} {med[4]:>7.0f}"
                    f"   (holds/s meanwhile: {med[1]:.0f})"
                )
            elif name == paced_name:
                print(
                    f"{name:<22} {med[0]:>8.0f} {med[1]:>8.0f} {med[2]:>8.1f} {med[3]:>8.1f} {med[4]:>7.0f}"
                    "   (during the map test; latency from the scheduled start)"
                )
            else:
                print(
                    f"{name:<22} {med[0]:>8.0f} {med[1]:>8.0f} {med[2]:>8.1f} {med[3]:>8.1f} {med[4]:>7.0f}"
                    f" {med[5]:>10.0f} {med[6]:>6.2f}"
                )
        for name, values in rows.items():
            if name.startswith("holds @"):
                print(f"{name:<22} ratio per round: " + ", ".join(f"{v[6]:.2f}" for v in values))
            elif name.startswith("seat map"):
                print(f"{name:<22} p99 ms per round: " + ", ".join(f"{v[3]:.1f}" for v in values))
        print(
            "medians over rounds; latency percentiles are of 201 responses (seat map: of 200s);"
            " ratio = (201+409)/s divided by GET /healthz req/s at the same concurrency, same round"
        )
        print("targets: hold p99 < 50 ms; ratio >= 0.5; seat-map p99 < 50 ms (issue 3) / < 200 ms (SPEC)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
