"""Per-request costs of the on-sale's requests, measured one kind at a time: CPU of the API,
Redis, PostgreSQL and the worker per request (``bench/costs.json``, read by the simulation).

Contract: a system of the harness's own (its own redis-server and PostgreSQL, so each
component's CPU is its processes' CPU), ``api`` API process(es) and one worker. For each
kind, ``concurrency`` clients make ``n`` requests of only that kind; the CPU each component's
processes used meanwhile, divided by the requests, is the kind's cost (a purchase's worker
and PostgreSQL cost is measured until every purchase has settled). The payment provider's
latency is a parameter of the model, not a cost.

Seat-map reads are measured twice: of a map unchanged since its last render (``seat_map``:
the cached body) and of one a hold changed just before (``seat_map_changed``: the hold-then-read
pairs' cost less a hold's). Polls are measured twice: of buyers still waiting (the token and
the cached view: most polls of a sale) and of buyers the counter passed
(``queue_status_passed``: their place looked up, an admission token signed). Each figure is
the median of ``--repeat`` rounds.

Usage: ``.venv/bin/python -m bench.onsale.costs [--buyers 2000] [--repeat 3] [--out bench/costs.json]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import machine
from bench.http1 import split_url
from bench.onsale.client import Client, Journal
from bench.onsale.config import OnSaleConfig
from bench.onsale.run import event_catalog
from bench.onsale.stack import Stack, start_stack

COMPONENTS = ("api", "redis", "postgres", "worker")


def _cpu(stack: Stack) -> dict[str, float]:
    out = dict.fromkeys(COMPONENTS, 0.0)
    for role, pids in stack.engine_pids().items():
        for pid in pids:
            with contextlib.suppress(OSError, IndexError, ValueError):
                out[role] += machine.process_cpu_seconds(pid)
    return out


async def _phase(
    stack: Stack,
    name: str,
    jobs: list[Callable[[], Awaitable[Any]]],
    concurrency: int,
    results: dict[str, Any],
    settle: Callable[[list[Any]], Awaitable[None]] | None = None,
) -> list[Any]:
    queue = list(reversed(range(len(jobs))))
    out: list[Any] = [None] * len(jobs)  # in the jobs' order
    before, t0 = _cpu(stack), time.monotonic()

    async def worker() -> None:
        while queue:
            i = queue.pop()
            out[i] = await jobs[i]()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.monotonic() - t0
    if settle is not None:
        await settle(out)
    after = _cpu(stack)
    n = len(jobs)
    results[name] = {
        "requests": n,
        "per_s": n / wall if wall else None,
        **{f"{c}_ms": (after[c] - before[c]) * 1000 / n for c in COMPONENTS},
    }
    print(
        f"{name:16s} {n:6d} requests {n / wall:7.0f}/s  "
        + "  ".join(f"{c} {results[name][c + '_ms']:.3f} ms" for c in COMPONENTS),
        flush=True,
    )
    return out


async def measure(stack: Stack, buyers: int, concurrency: int) -> dict[str, Any]:
    host, port = split_url(stack.api_url)
    client = Client(host, port, Journal(), connections=concurrency)
    results: dict[str, Any] = {}

    async def guest() -> str:
        reply = await client.request("POST", "/auth/guest", "auth")
        return str(reply.json()["token"])

    tokens = await _phase(stack, "auth", [guest] * buyers, concurrency, results)
    opened = datetime.now(UTC) - timedelta(minutes=1)
    queued, plain, best = "evt_cost_queue", "evt_cost_open", "evt_cost_best"
    later = "evt_cost_later"  # its sale opens in an hour: every poll finds its buyer waiting
    changing = "evt_cost_map"  # a map read after each hold: every read renders
    events = ((queued, True), (plain, False), (best, False), (later, True), (changing, False))
    for event_id, room in events:
        on_sale = opened + timedelta(hours=1) if event_id == later else opened
        data = event_catalog(event_id, max(5000, 2 * buyers), on_sale)
        data["events"][0]["waitingRoom"] = room
        path = stack.workdir / f"{event_id}.json"
        path.write_text(json.dumps(data))
        done = stack.cli("import", str(path))
        if done.returncode != 0:
            raise RuntimeError(done.stderr)

    def join(event_id: str, token: str) -> Callable[[], Awaitable[Any]]:
        async def go() -> Any:
            reply = await client.request("POST", f"/events/{event_id}/queue", "join", headers=_auth(token))
            return reply.json()["queueToken"]

        return go

    queue_tokens = await _phase(stack, "queue_join", [join(queued, t) for t in tokens], concurrency, results)

    def poll(event_id: str, token: str, qt: str) -> Callable[[], Awaitable[Any]]:
        async def go() -> Any:
            headers = {**_auth(token), "X-Queue-Token": qt}
            path = f"/events/{event_id}/queue/status"
            reply = await client.request("GET", path, "status", headers=headers)
            if reply.status != 200:
                raise RuntimeError(f"queue status answered {reply.status}: {reply.body[:300]!r}")
            return bool(reply.json()["admitted"])

        return go

    # Polls of buyers the counter passed (the queue opened a minute ago and admits ten times
    # its seats a minute): each checks its place (passed()) and gets an admission token ...
    pairs = list(zip(tokens, queue_tokens, strict=True))
    admitted = await _phase(
        stack, "queue_status_passed", [poll(queued, t, q) for t, q in pairs * 3], concurrency, results
    )
    # ... and of buyers still waiting (most polls of an on-sale): the token and the cached view.
    # Joining before the opening costs the same queue_join.lua (measured above, after it).
    waiting_tokens = await asyncio.gather(*(join(later, t)() for t in tokens))
    waiting = await _phase(
        stack,
        "queue_status",
        [poll(later, t, q) for t, q in zip(tokens, waiting_tokens, strict=True)] * 3,
        concurrency,
        results,
    )
    if not all(admitted) or any(waiting):
        raise RuntimeError(
            f"polls admitted {sum(admitted)} of {len(admitted)} (want all) and {sum(waiting)} of "
            f"{len(waiting)} before the opening (want none)"
        )

    async def seat_map() -> Any:
        headers = {"Accept-Encoding": "gzip"}
        return (await client.request("GET", f"/events/{plain}/seats", "map", headers=headers)).status

    await _phase(stack, "seat_map", [seat_map] * (buyers // 2), concurrency, results)
    rows = 20 * 25

    def hold(i: int, token: str, event_id: str = plain) -> Callable[[], Awaitable[Any]]:
        seats = [
            f"s{(2 * i + k) // rows + 1:02d}-R{(2 * i + k) % rows // 25 + 1:02d}-{(2 * i + k) % 25 + 1}"
            for k in (0, 1)
        ]

        async def go() -> Any:
            headers = {**_auth(token), "Idempotency-Key": f"cost-{event_id}-{i}"}
            reply = await client.request(
                "POST", f"/events/{event_id}/holds", "hold", headers=headers, body={"seatIds": seats}
            )
            return reply.json().get("holdId")

        return go

    holds = await _phase(stack, "hold", [hold(i, t) for i, t in enumerate(tokens)], concurrency, results)

    def hold_then_map(i: int, token: str) -> Callable[[], Awaitable[Any]]:
        held = hold(i, token, changing)

        async def go() -> Any:
            if await held() is None:
                raise RuntimeError("a hold on the map's event was refused")
            headers = {"Accept-Encoding": "gzip"}
            return (await client.request("GET", f"/events/{changing}/seats", "map", headers=headers)).status

        return go

    # A seat-map read of a sale in progress: the map changed since the last render, so the
    # read waits for a new one (renders are shared by the readers that wait meanwhile). Each
    # job holds two seats, then reads; less a hold's cost, that is a changed map's read.
    pairs_cost: dict[str, Any] = {}
    jobs = [hold_then_map(i, t) for i, t in enumerate(tokens[: buyers // 2])]
    await _phase(stack, "hold_then_seat_map", jobs, concurrency, pairs_cost)
    results["seat_map_changed"] = {
        "requests": pairs_cost["hold_then_seat_map"]["requests"],
        "per_s": pairs_cost["hold_then_seat_map"]["per_s"],
        **{
            f"{c}_ms": max(0.0, pairs_cost["hold_then_seat_map"][f"{c}_ms"] - results["hold"][f"{c}_ms"])
            for c in COMPONENTS
        },
    }

    def hold_best(i: int, token: str) -> Callable[[], Awaitable[Any]]:
        async def go() -> Any:
            headers = {**_auth(token), "Idempotency-Key": f"cost-best-{i}"}
            body = {"best": {"count": 2}}
            reply = await client.request(
                "POST", f"/events/{best}/holds", "hold_best", headers=headers, body=body
            )
            if reply.status != 201:
                raise RuntimeError(f"best-available hold answered {reply.status}: {reply.body[:300]!r}")
            return reply.json()["holdId"]

        return go

    # The same buyers each ask a third event for its best 2 seats side by side (hold_best.lua
    # searches the availability index), filling it from the front as an on-sale does.
    await _phase(stack, "hold_best", [hold_best(i, t) for i, t in enumerate(tokens)], concurrency, results)
    paid = [(t, h) for t, h in zip(tokens, holds, strict=True) if h][: buyers // 2]

    def purchase(token: str, hold_id: str) -> Callable[[], Awaitable[Any]]:
        async def go() -> Any:
            reply = await client.request(
                "POST",
                f"/holds/{hold_id}/purchase",
                "purchase",
                headers=_auth(token),
                body={"paymentToken": "tok_visa"},
            )
            if reply.status != 202:
                raise RuntimeError(f"purchase answered {reply.status}: {reply.body[:300]!r}")
            return reply.json()["purchaseId"]

        return go

    pending: list[tuple[str, str]] = []

    async def settled() -> None:
        deadline = time.monotonic() + 300
        while pending and time.monotonic() < deadline:
            token, pid = pending[-1]
            reply = await client.request("GET", f"/purchases/{pid}", "ps", headers=_auth(token))
            if reply.json().get("status") in ("SUCCEEDED", "FAILED"):
                pending.pop()
            else:
                await asyncio.sleep(0.2)

    jobs = [purchase(t, h) for t, h in paid]
    ids: list[Any] = []

    async def settle_all(purchase_ids: list[Any]) -> None:
        pending.extend(zip([t for t, _ in paid], purchase_ids, strict=True))
        await settled()

    async def run_purchases() -> None:
        ids.extend(await _phase(stack, "purchase", jobs, concurrency, results, settle=settle_all))

    await run_purchases()

    def status(token: str, pid: str) -> Callable[[], Awaitable[Any]]:
        async def go() -> Any:
            return (await client.request("GET", f"/purchases/{pid}", "ps", headers=_auth(token))).status

        return go

    await _phase(
        stack,
        "purchase_status",
        [status(t, p) for (t, _), p in zip(paid, ids, strict=True)] * 2,
        concurrency,
        results,
    )
    await client.close()
    return results


def median_of_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per kind, each figure's median over the rounds (one round's CPU readings move by a fifth
    on this machine from one hour to the next), and the rounds' ms per component beside it."""
    out: dict[str, Any] = {}
    for kind in rounds[0]:
        figures: dict[str, Any] = {
            key: statistics.median(r[kind][key] or 0.0 for r in rounds) for key in rounds[0][kind]
        }
        figures["rounds_ms"] = {c: [round(r[kind][f"{c}_ms"], 3) for r in rounds] for c in COMPONENTS}
        out[kind] = figures
    return out


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--buyers", type=int, default=2000, help="distinct buyers (2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="clients at once (32)")
    parser.add_argument("--api-processes", type=int, default=1, help="API processes (1)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds, each on a system of its own; costs are their medians (3)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/costs.json"), help="(bench/costs.json)")
    args = parser.parse_args()
    lines = machine.describe()
    for line in lines:
        print(line)
    cfg = replace(
        OnSaleConfig(),
        own_engines=True,
        api_processes=args.api_processes,
        hold_ttl_s=600,
        payment_latency_ms="100:1000",
        out=Path("/tmp") / "tm-costs",
        progress=False,
        extra_env={"TICKETMASTER_RATE_LIMIT_PER_SECOND": "1000", "TICKETMASTER_MAX_IN_FLIGHT": "4096"},
    )
    rounds: list[dict[str, Any]] = []
    for n in range(max(1, args.repeat)):
        print(f"round {n + 1} of {max(1, args.repeat)}", flush=True)
        with ExitStack() as exits:
            stack = start_stack(cfg, exits, print)
            rounds.append(asyncio.run(measure(stack, args.buyers, args.concurrency)))
    results = median_of_rounds(rounds)
    args.out.write_text(
        json.dumps(
            {
                "machine": lines,
                "api_processes": args.api_processes,
                "rounds": len(rounds),
                "endpoints": results,
            },
            indent=1,
        )
    )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
