"""Sell-out burst: successful-hold latency from the first second of a sale (SPEC §5).

Contract. Each round imports a venue and an event of its own (never seen by any cache or by
Redis), then ``--clients`` closed-loop clients, each on its own keep-alive connection, ask
for the event's seats one by one, every request by a distinct buyer for a seat nobody asked
for before, until every seat is held. So every request should be a 201: a 409 or anything
else is counted as an error. Latency is per request, from its write to its whole response.

Scenarios (``--scenario``):
- ``opening``: the event's ``onSaleAt`` is ``--lead`` seconds after its import and the clients
  start at that instant, as buyers do at an on-sale; the worker may warm the event up before.
- ``cold``: the event has been on sale for a day and nothing has touched it; the deployment's
  warm-up is switched off (``TICKETMASTER_WARMUP_SECONDS=0``), so the first requests pay for
  the event's first load (the cold path).

Reported per round and as medians over rounds: successful-hold p50/p99 over the whole burst,
p99 of the requests sent in the first second, p99 leaving out the first 0.25 s, the first
answer's latency, holds/s and the time to sell out.

Example: ``.venv/bin/python -m bench.burst --seats 10000 --rounds 3 --scenario opening``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import machine
from bench.holds import make_buyers
from bench.http1 import READ_LIMIT, read_response
from bench.loadgen import percentile
from bench.sut import ServerUnderTest, add_target_arguments, with_database

ROW_SEATS = 50


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def catalog(round_no: int, seats: int, on_sale_at: datetime) -> tuple[dict[str, object], list[str]]:
    """An import file with a venue of ``seats`` seats (rows of 50, 25 rows a section) and one
    event there, and the event's seat ids."""
    rows = [f"R{i:02d}" for i in range(1, 26)]
    sections: list[dict[str, object]] = []
    seat_ids: list[str] = []
    left = seats
    while left > 0:
        sid = f"b{len(sections) + 1:02d}"
        sec_rows = []
        for row in rows:
            n = min(ROW_SEATS, left)
            if n <= 0:
                break
            sec_rows.append({"id": row, "seats": n})
            seat_ids += [f"{sid}-{row}-{k}" for k in range(1, n + 1)]
            left -= n
        sections.append({"id": sid, "name": f"Block {sid}", "rows": sec_rows})
    venue_id = f"ven_burst_{round_no}"
    data = {
        "venues": [
            {"id": venue_id, "name": f"Burst Arena {round_no}", "city": "Bench", "sections": sections}
        ],
        "events": [
            {
                "id": f"evt_burst_{round_no}",
                "title": f"Burst {round_no}",
                "datetime": "2031-06-01T20:00:00Z",
                "venueId": venue_id,
                "onSaleAt": _iso(on_sale_at),
                "waitingRoom": False,
                "priceTiers": [
                    {
                        "id": "pt_all",
                        "name": "All",
                        "priceCents": 5000,
                        "currency": "USD",
                        "sections": [s["id"] for s in sections],
                    }
                ],
            }
        ],
    }
    return data, seat_ids


@dataclass
class Burst:
    """What one sell-out burst observed: per request (sent s after the start, latency s, status)."""

    samples: list[tuple[float, float, int]] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0

    def ok_latencies_ms(self, since_s: float = 0.0, until_s: float = float("inf")) -> list[float]:
        return sorted(lat * 1000 for sent, lat, st in self.samples if st == 201 and since_s <= sent < until_s)

    def row(self) -> dict[str, float]:
        ok = self.ok_latencies_ms()
        first_sec = self.ok_latencies_ms(until_s=1.0)
        later = self.ok_latencies_ms(since_s=0.25)
        first = min(self.samples, key=lambda s: s[0])
        return {
            "holds": len(ok),
            "errors": self.errors + sum(1 for s in self.samples if s[2] != 201),
            "p50_ms": float(percentile(ok, 50)),
            "p99_ms": float(percentile(ok, 99)),
            "first_second_p99_ms": float(percentile(first_sec, 99)),
            "after_250ms_p99_ms": float(percentile(later, 99)),
            "max_ms": float(percentile(ok, 100)),
            "first_answer_ms": first[1] * 1000,
            "holds_per_s": len(ok) / self.wall_s if self.wall_s else 0.0,
            "sell_out_s": self.wall_s,
        }


async def burst(
    host: str, port: int, event_id: str, seats: list[str], tokens: list[str], clients: int, start_at: float
) -> Burst:
    """Sell ``seats`` out with ``clients`` closed-loop clients, starting at ``start_at`` (epoch s)."""
    result = Burst()
    queue = list(reversed(seats))
    head = f"POST /events/{event_id}/holds HTTP/1.1\r\nHost: {host}:{port}\r\n"
    requests = []
    for i, seat in enumerate(seats):
        body = json.dumps({"seatIds": [seat]}).encode()
        requests.append(
            (
                head
                + f"Authorization: Bearer {tokens[i % len(tokens)]}\r\n"
                + f"Idempotency-Key: burst-{event_id}-{i}\r\n"
                + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    requests.reverse()
    conns = [await asyncio.open_connection(host, port, limit=READ_LIMIT) for _ in range(clients)]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while queue:
            queue.pop()
            request = requests.pop()
            sent = time.perf_counter()
            writer.write(request)
            try:
                response = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError) as exc:
                result.errors += 1
                print(f"  transport error: {exc!r}", file=sys.stderr)
                return
            done = time.perf_counter()
            result.samples.append((sent - t0, done - sent, response.status))
            if response.status != 201 and result.errors < 5:
                result.errors += 1
                print(f"  {response.status}: {response.body[:200]!r}", file=sys.stderr)

    await asyncio.gather(*(client(r, w) for r, w in conns))
    result.wall_s = time.perf_counter() - t0
    for _, writer in conns:
        writer.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--scenario", choices=("opening", "cold"), default="opening", help="(opening)")
    parser.add_argument("--seats", type=int, default=10_000, help="seats of each round's venue (10000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each a fresh venue and event (3)")
    parser.add_argument("--lead", type=float, default=10.0, help="opening: s from import to onSaleAt (10)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.url:
        raise SystemExit("--url is not supported: each round imports its own venue and event")
    for line in machine.describe():
        print(line)
    extra = {"TICKETMASTER_MAX_IN_FLIGHT": "4096", "TICKETMASTER_RATE_LIMIT_PER_SECOND": "1000"}
    if args.scenario == "cold":
        extra["TICKETMASTER_WARMUP_SECONDS"] = "0"
    sut = ServerUnderTest(
        args.database_url, args.redis_url, seed_demo=False, extra_env=extra, with_worker=True
    )
    rows: list[dict[str, float]] = []
    with sut as target, tempfile.TemporaryDirectory() as tmp:
        env = sut.env(Path(tmp))
        database = with_database(args.database_url, sut.database_name)
        tokens = asyncio.run(make_buyers(database, env["TICKETMASTER_SECRET_KEY"], args.seats))
        print(
            f"server: {target.description}; scenario {args.scenario}; {args.seats} seats; "
            f"{args.clients} clients"
        )
        for round_no in range(1, args.rounds + 1):
            now = datetime.now(UTC)
            on_sale = (
                now + timedelta(seconds=args.lead) if args.scenario == "opening" else now - timedelta(days=1)
            )
            data, seat_ids = catalog(round_no, args.seats, on_sale)
            random.Random(round_no).shuffle(seat_ids)
            path = Path(tmp) / f"burst{round_no}.json"
            path.write_text(json.dumps(data))
            sut.cli(env, "import", str(path))
            # 20 ms past the opening: the server's clock must have passed onSaleAt too.
            start_at = on_sale.timestamp() + 0.02 if args.scenario == "opening" else time.time()
            result = asyncio.run(
                burst(
                    target.host,
                    target.port,
                    f"evt_burst_{round_no}",
                    seat_ids,
                    tokens,
                    args.clients,
                    start_at,
                )
            )
            row = result.row()
            rows.append(row)
            print(
                f"round {round_no}: holds {row['holds']:.0f}, errors {row['errors']:.0f}, "
                f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, first-second p99 "
                f"{row['first_second_p99_ms']:.1f} ms, p99 after 0.25 s {row['after_250ms_p99_ms']:.1f} ms, "
                f"max {row['max_ms']:.1f} ms, first answer {row['first_answer_ms']:.1f} ms, "
                f"{row['holds_per_s']:.0f} holds/s, sold out in {row['sell_out_s']:.1f} s"
            )
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(
        f"\nmedian of {len(rows)} rounds ({args.scenario}, {args.clients} clients): "
        f"p50 {med['p50_ms']:.1f} ms, "
        f"p99 {med['p99_ms']:.1f} ms, first-second p99 {med['first_second_p99_ms']:.1f} ms, "
        f"p99 after 0.25 s {med['after_250ms_p99_ms']:.1f} ms, first answer {med['first_answer_ms']:.1f} ms, "
        f"{med['holds_per_s']:.0f} holds/s; errors in all rounds: {sum(r['errors'] for r in rows):.0f}"
    )
    print("target (SPEC §5): successful-hold p99 < 50 ms at 50 clients from the first second")
    if args.json:
        args.json.write_text(json.dumps({"scenario": args.scenario, "rounds": rows, "median": med}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
