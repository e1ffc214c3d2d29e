"""``ticketmaster bench onsale``: the orchestration.

Contract: sign up ``--buyers`` guests, import one event of ``--seats`` seats with a waiting
room opening ``--lead`` seconds later, release the buyers at their arrival times, inject the
``--chaos`` faults, and stop when every seat is SOLD (or every buyer is done, or after
``--max-seconds``). Then check the result from outside (final map, abandoned holds expired,
no seat bought twice), run ``ticketmaster audit``, write ``report.json``, ``report.md`` and
the PNG plots into ``--out``. Exit status 1 when the audit (or a consistency check) fails,
0 otherwise, whatever the timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import machine
from bench.http1 import split_url
from bench.onsale import stats
from bench.onsale.arrivals import arrival_offsets
from bench.onsale.buyer import BuyerRecord, GaveUp, Sale, journey, read_map
from bench.onsale.chaos import Fault, inject
from bench.onsale.client import Client, Journal
from bench.onsale.config import OnSaleConfig
from bench.onsale.pauses import CollectorPauses, quiet_collector
from bench.onsale.report import write_report
from bench.onsale.seats import SeatView
from bench.onsale.stack import CLI, Stack, start_stack

ROWS, ROW_SEATS = 20, 25  # 500 seats a section; section 1 is the front
ADMISSION_WINDOW_S = 120


def event_catalog(event_id: str, seats: int, on_sale_at: datetime) -> dict[str, Any]:
    sections: list[dict[str, Any]] = []
    left = seats
    while left > 0:
        sid = f"s{len(sections) + 1:02d}"
        rows = []
        for r in range(ROWS):
            n = min(ROW_SEATS, left)
            if n <= 0:
                break
            rows.append({"id": f"R{r + 1:02d}", "seats": n})
            left -= n
        sections.append({"id": sid, "name": f"Section {len(sections) + 1}", "rows": rows})
    venue = f"ven_{event_id}"
    return {
        "venues": [{"id": venue, "name": "On-sale Arena", "city": "Bench", "sections": sections}],
        "events": [
            {
                "id": event_id,
                "title": "On-sale benchmark",
                "datetime": (on_sale_at + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "venueId": venue,
                "onSaleAt": on_sale_at.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{on_sale_at.microsecond // 1000:03d}Z",
                "waitingRoom": True,
                # Admitted buyers who find every seat held keep looking for a while (holds lapse
                # after the short benchmark TTL): the window is not tied to that TTL.
                "admissionWindowSeconds": ADMISSION_WINDOW_S,
                "priceTiers": [
                    {
                        "id": "pt_front",
                        "name": "Front",
                        "priceCents": 15000,
                        "currency": "USD",
                        "sections": [s["id"] for s in sections[: max(1, len(sections) // 4)]],
                    },
                    {
                        "id": "pt_rest",
                        "name": "Rest",
                        "priceCents": 6000,
                        "currency": "USD",
                        "sections": [s["id"] for s in sections[max(1, len(sections) // 4) :]],
                    },
                ]
                if len(sections) > 1
                else [
                    {
                        "id": "pt_all",
                        "name": "All",
                        "priceCents": 9000,
                        "currency": "USD",
                        "sections": [sections[0]["id"]],
                    }
                ],
            }
        ],
    }


async def _sign_up(client: Client, buyers: list[BuyerRecord], show: bool) -> None:
    bar = tqdm(total=len(buyers), desc="signing up buyers", unit=" buyers", disable=not show)
    queue = list(buyers)

    async def one() -> None:
        while queue:
            me = queue.pop()
            for _ in range(20):
                reply = await client.request("POST", "/auth/guest", "auth")
                if reply.status == 201:
                    me.token = reply.json()["token"]
                    bar.update()
                    break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"POST /auth/guest keeps failing ({reply.status})")

    await asyncio.gather(*(one() for _ in range(32)))
    bar.close()


async def _best_supported(client: Client) -> bool:
    """Whether the server takes ``{"best": ...}`` holds: one of its OpenAPI schemas has a
    ``best`` property beside one with ``seatIds`` (the hold request is either of the two)."""
    reply = await client.request("GET", "/openapi.json", "openapi")
    if reply.status != 200:
        return False
    schemas = (reply.json().get("components") or {}).get("schemas") or {}
    names = {name for schema in schemas.values() for name in (schema.get("properties") or {})}
    return {"best", "seatIds"} <= names


async def _monitor(sale: Sale, samples: list[stats.Sample], seats: int, bar: tqdm[Any]) -> None:
    """Every half second: the seat map's counts and the harness's queue; ends the sale when
    every seat is SOLD."""
    while not sale.over.is_set():
        try:
            view: SeatView | None = await read_map(sale, "monitor", fresh=True, client=sale.observer)
        except GaveUp:
            view = None
        now = sale.journal.now()
        if view is not None:
            joined = sum(1 for b in sale.buyers if b.joined_at is not None)
            admitted = sum(1 for b in sale.buyers if b.admitted_at is not None)
            shopping = sum(1 for b in sale.buyers if b.admitted_at is not None and b.done_at is None)
            samples.append((now, view.available, view.held, view.sold, joined - admitted, shopping, admitted))
            bar.n = view.sold
            bar.set_postfix(queue=joined - admitted, admitted=admitted, held=view.held, refresh=False)
            bar.refresh()
            if view.sold >= seats:
                sale.over.set()
                return
        if all(b.done_at is not None for b in sale.buyers) and sale.journal.now() > sale.open_at:
            sale.over.set()
            return
        await asyncio.sleep(0.5)


async def _cpu(stack: Stack | None) -> dict[str, float]:
    """CPU seconds used so far by each component's processes, and by this load generator."""
    out: dict[str, float] = {"client": time.process_time()}
    if stack is None:
        return out
    for role, pids in stack.engine_pids().items():
        total = 0.0
        for pid in pids:
            with contextlib.suppress(OSError, IndexError, ValueError):  # it ended meanwhile
                total += machine.process_cpu_seconds(pid)
        out[role] = total
    return out


async def sale_run(
    cfg: OnSaleConfig, api_url: str, env: dict[str, str], stack: Stack | None
) -> dict[str, Any]:
    host, port = split_url(api_url)
    journal = Journal()
    client = Client(host, port, journal, connections=cfg.connections)
    rng = random.Random(cfg.seed)
    event_id = cfg.event_id or f"evt_onsale_{os.getpid()}_{rng.randrange(1 << 30):x}"
    buyers = [BuyerRecord(i, 0.0) for i in range(cfg.buyers)]
    await _sign_up(client, buyers, cfg.progress)
    on_sale_at = datetime.now(UTC) + timedelta(seconds=cfg.lead_s + 3)
    catalog = Path(env["TICKETMASTER_DATA_DIR"]) / f"{event_id}.json"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text(json.dumps(event_catalog(event_id, cfg.seats, on_sale_at)))
    done = await asyncio.to_thread(_cli, env, "import", str(catalog))
    if done.returncode != 0:
        raise RuntimeError(f"import failed: {done.stderr}")
    open_at = journal.now() + (on_sale_at.timestamp() - time.time())
    offsets = arrival_offsets(
        cfg.buyers, cfg.prequeue_share, max(0.0, open_at - journal.now() - 1), cfg.arrival_s, cfg.seed
    )
    order = list(range(cfg.buyers))
    rng.shuffle(order)
    for i, offset in zip(order, offsets, strict=True):
        buyers[i].arrive_at = open_at + offset
    sale = Sale(cfg, client, journal, event_id, open_at, await _best_supported(client), buyers=buyers)
    sale.observer = Client(host, port, journal, connections=1)
    faults = [Fault.parse(text) for text in cfg.chaos]
    samples: list[stats.Sample] = []
    cpu0 = await _cpu(stack)
    quiet_collector()  # until the sale's end, below (bench/onsale/pauses.py)
    pauses = CollectorPauses()
    pauses.start()
    bar = tqdm(total=cfg.seats, desc="seats sold", unit=" seats", disable=not cfg.progress)
    tasks = [
        asyncio.create_task(journey(sale, b, random.Random(cfg.seed * 100_003 + b.index))) for b in buyers
    ]
    chaos = [
        asyncio.create_task(inject(f, stack, open_at, journal.now, cfg.payment_latency_ms))
        for f in faults
        if stack
    ]
    try:
        await asyncio.wait_for(
            _monitor(sale, samples, cfg.seats, bar), cfg.max_s + cfg.lead_s + cfg.arrival_s
        )
    except TimeoutError:
        sale.over.set()
    finally:
        gc.enable()
        pauses.stop()
    ended = journal.now()
    cpu1 = await _cpu(stack)
    await asyncio.wait(tasks, timeout=20)
    for t in [*tasks, *chaos]:
        t.cancel()
    await asyncio.gather(*tasks, *chaos, return_exceptions=True)
    bar.close()
    final = SeatView.of((await client.request("GET", f"/events/{event_id}/seats", "final")).json())
    expired = await _expired_holds(client, buyers)
    await client.close()
    await sale.observer.close()
    audit = await asyncio.to_thread(_cli, env, "audit", "--grace", "5")
    report = _report(cfg, sale, samples, faults, final, expired, audit, ended, cpu0, cpu1, on_sale_at)
    report["load_generator_gc"] = pauses.summary()
    return report


async def _expired_holds(client: Client, buyers: list[BuyerRecord]) -> Counter[str]:
    """Status of every abandoned hold, read back as its buyer (EXPIRED once its TTL passed)."""
    seen: Counter[str] = Counter()
    for b in buyers:
        if b.abandoned_hold:
            reply = await client.request(
                "GET", f"/holds/{b.abandoned_hold}", "final", headers={"Authorization": f"Bearer {b.token}"}
            )
            seen[
                (reply.json() or {}).get("status", str(reply.status))
                if reply.status == 200
                else str(reply.status)
            ] += 1
    return seen


def _cli(env: dict[str, str], *args: str) -> Any:
    import subprocess

    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600)


def _report(
    cfg: OnSaleConfig,
    sale: Sale,
    samples: list[stats.Sample],
    faults: list[Fault],
    final: SeatView,
    expired: Counter[str],
    audit: Any,
    ended: float,
    cpu0: dict[str, float],
    cpu1: dict[str, float],
    on_sale_at: datetime,
) -> dict[str, Any]:
    open_at, buyers = sale.open_at, sale.buyers
    entries = sale.journal.entries
    sold_out = next((t for t, a, h, s, *_ in samples if s >= cfg.seats), None)
    all_taken = next((t for t, a, *_ in samples if a == 0), None)
    bought = [b for b in buyers if b.outcome == "bought"]
    seats_bought = [s for b in bought for s in b.seats]
    twice = [s for s, n in Counter(seats_bought).items() if n > 1]
    waits = [
        b.admitted_at - max(b.joined_at, open_at) for b in buyers if b.admitted_at and b.joined_at is not None
    ]
    window = max(ended - open_at, 1e-9)
    checks = {
        "seats_bought_by_buyers": len(seats_bought),
        "seats_sold_on_map": final.sold,
        "bought_twice": twice,
        "bought_equals_sold": len(seats_bought) == final.sold,
        "sold_out": final.sold == cfg.seats,
    }
    return {
        "config": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items() if k != "extra_env"
        },
        "machine": machine.describe(),
        "event_id": sale.event_id,
        "on_sale_at": on_sale_at.isoformat(),
        "best_available_used": sale.best_supported,
        "sell_out_s": None if sold_out is None else sold_out - open_at,
        "all_seats_taken_s": None if all_taken is None else all_taken - open_at,
        "run_s": window,
        "endpoints": stats.endpoints(entries, open_at - cfg.lead_s - 5),
        "connection_wait_ms": {
            name: {k: v for k, v in stats.spread([w * 1000 for _, w in slot]).items() if k != "n"}
            for name, slot in sorted(sale.journal.slot_waits.items())
        },
        "queue_wait_s": stats.spread(waits),
        "outcomes": dict(Counter(b.outcome for b in buyers).most_common()),
        "refusals": {
            f"{outcome} {code}": n
            for (outcome, code), n in Counter((b.outcome, b.refusal) for b in buyers if b.refusal).items()
        },
        "holds": {"attempts": sum(b.holds for b in buyers), "conflicts": sum(b.conflicts for b in buyers)},
        "expiry": {
            "abandoned_holds": sum(1 for b in buyers if b.abandoned_hold),
            "status_after": dict(expired),
        },
        "fairness": stats.fairness(buyers, open_at),
        "chaos": stats.recovery(faults, entries, [b.bought_at for b in bought if b.bought_at is not None]),
        "checks": checks,
        "cpu_s": {k: cpu1.get(k, 0.0) - v for k, v in cpu0.items()},
        "audit": {"exit": audit.returncode, "output": (audit.stdout + audit.stderr)[-4000:]},
        "timeline": {
            "open_at": open_at,
            "samples": samples,
            "per_second": stats.timeline(
                entries,
                open_at,
                [b.bought_at for b in bought if b.bought_at is not None],
                [w for slot in sale.journal.slot_waits.values() for w in slot],
            ),
        },
        "passed": audit.returncode == 0 and not twice and len(seats_bought) == final.sold,
    }


def run(cfg: OnSaleConfig) -> int:
    """Run the benchmark; writes the report and returns the exit status."""

    def say(message: str) -> None:
        if cfg.progress:
            print(message, flush=True)

    for line in machine.describe():
        say(line)
    with ExitStack() as exits:
        if cfg.url:
            if cfg.chaos:
                raise SystemExit("--chaos needs a system the harness starts (leave out --url)")
            stack, api_url, env = None, cfg.url, dict(os.environ)
            env.setdefault("TICKETMASTER_DATA_DIR", str(cfg.out / "data"))
        else:
            stack = start_stack(cfg, exits, say)
            api_url, env = stack.api_url, stack.env
        report = asyncio.run(sale_run(cfg, api_url, env, stack))
    write_report(report, cfg.out, plots=cfg.plots)
    sold = report["sell_out_s"]
    say(f"sold out in {sold:.1f} s" if sold is not None else "NOT sold out")
    say(f"report: {cfg.out / 'report.md'}; audit exit {report['audit']['exit']}")
    if not report["passed"]:
        say("FAILED: " + json.dumps(report["checks"]) + "\n" + report["audit"]["output"])
    return 0 if report["passed"] else 1
