"""Purchase benchmark: purchases completed per second and the time from 202 to the final
state, with the default sandbox latency (uniform 100-1000 ms) and N worker processes.

For each worker count in ``--workers`` (default ``1,2``) the run uses a fresh deployment
(database, Redis namespace, ``serve``), a payment sandbox process and N ``worker``
processes. It makes ``--purchases`` guest buyers hold one seat each of an on-sale event
without a waiting room, then POSTs every purchase (``--concurrency`` at a time) and waits
until none is PENDING. Timings come from the database (``completed_at - created_at``; the
202 is sent right after ``created_at`` commits), so client polling cannot distort them;
throughput is purchases completed / (last completion - first acceptance). Every run ends
with ``ticketmaster audit`` against the same deployment and fails loudly if it fails.

Example: ``.venv/bin/python -m bench.purchases --purchases 400 --workers 1,2``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bench import machine
from bench.sut import CLI, ServerUnderTest, add_target_arguments, free_port, with_database


@dataclass(frozen=True, slots=True)
class RunResult:
    workers: int
    purchases: int
    throughput: float
    p50_s: float
    p99_s: float
    max_s: float
    audit: str


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _pick_event(client: httpx.AsyncClient, needed: int) -> tuple[str, list[str]]:
    """An on-sale event without a waiting room, with at least ``needed`` free seats."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cursor: str | None = None
    while True:
        page = (
            await client.get("/events", params={"limit": "100", **({"cursor": cursor} if cursor else {})})
        ).json()
        for summary in page["events"]:
            detail = (await client.get(f"/events/{summary['id']}")).json()
            if detail["waitingRoom"] or detail["onSaleAt"] > now:
                continue
            seat_map = (await client.get(f"/events/{summary['id']}/seats")).json()
            free = [
                s["id"] for sec in seat_map["sections"] for s in sec["seats"] if s["status"] == "AVAILABLE"
            ]
            if len(free) >= needed:
                return summary["id"], free
        cursor = page["nextCursor"]
        if cursor is None:
            raise RuntimeError("no suitable on-sale event without a waiting room in the catalog")


async def _drive(base_url: str, purchases: int, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        event_id, seats = await _pick_event(client, purchases)
        gate = asyncio.Semaphore(concurrency)

        async def hold(i: int) -> tuple[str, str]:
            async with gate:
                token = (await client.post("/auth/guest")).json()["token"]
                response = await client.post(
                    f"/events/{event_id}/holds",
                    json={"seatIds": [seats[i]]},
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-{i}"},
                )
                if response.status_code != 201:
                    raise RuntimeError(f"hold failed: {response.status_code} {response.text}")
                return token, str(response.json()["holdId"])

        held = await asyncio.gather(*(hold(i) for i in range(purchases)))

        async def buy(token: str, hold_id: str) -> None:
            async with gate:
                response = await client.post(
                    f"/holds/{hold_id}/purchase",
                    json={"paymentToken": "tok_visa"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code != 202:
                    raise RuntimeError(f"purchase refused: {response.status_code} {response.text}")

        await asyncio.gather(*(buy(token, hold_id) for token, hold_id in held))


async def _measure(database_url: str, expected: int, timeout_s: float) -> tuple[float, list[float]]:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while await conn.fetchval("SELECT count(*) FROM purchases WHERE status = 'PENDING'"):
            if time.monotonic() > deadline:
                raise TimeoutError("purchases still PENDING at the deadline")
            await asyncio.sleep(0.2)
        rows = await conn.fetch(
            "SELECT status, extract(epoch FROM completed_at - created_at)::float8 AS took,"
            " extract(epoch FROM created_at)::float8 AS accepted,"
            " extract(epoch FROM completed_at)::float8 AS done FROM purchases"
        )
    finally:
        await conn.close()
    bad = [r["status"] for r in rows if r["status"] != "SUCCEEDED"]
    if len(rows) != expected or bad:
        raise RuntimeError(f"{len(rows)} purchases, not succeeded: {bad}")
    span = max(r["done"] for r in rows) - min(r["accepted"] for r in rows)
    return len(rows) / span, [float(r["took"]) for r in rows]


def _run(args: argparse.Namespace, workers: int) -> RunResult:
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    extra = {"TICKETMASTER_SANDBOX_URL": sandbox_url}
    with ExitStack() as stack:
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tm-bench-purchases-")))
        procs: list[subprocess.Popen[bytes]] = []

        def stop_all() -> None:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()

        stack.callback(stop_all)
        sandbox_log = (log_dir / "sandbox.log").open("wb")
        procs.append(
            subprocess.Popen(
                [*CLI, "sandbox", "--port", str(sandbox_port), "--latency-ms", args.latency_ms],
                stdout=sandbox_log,
                stderr=sandbox_log,
            )
        )
        sut = ServerUnderTest(args.database_url, args.redis_url, extra_env=extra)
        target = stack.enter_context(sut)
        env = {**sut.env(log_dir / "data"), "TICKETMASTER_PORT": str(target.port)}
        for n in range(workers):
            log = (log_dir / f"worker-{n}.log").open("wb")
            procs.append(subprocess.Popen([*CLI, "worker"], env=env, stdout=log, stderr=log))
        asyncio.run(_drive(target.base_url, args.purchases, args.concurrency))
        database_url = with_database(args.database_url, sut.database_name)
        throughput, took = asyncio.run(_measure(database_url, args.purchases, args.timeout))
        audit = subprocess.run([*CLI, "audit"], env=env, capture_output=True, text=True, check=False)
        verdict = "passed" if audit.returncode == 0 else "FAILED"
        if audit.returncode != 0:
            print(audit.stdout, audit.stderr, file=sys.stderr)
        return RunResult(
            workers,
            len(took),
            throughput,
            _percentile(took, 0.5),
            _percentile(took, 0.99),
            max(took),
            verdict,
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_target_arguments(parser)
    parser.add_argument("--purchases", type=int, default=300, help="purchases per run (300)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker process counts (1,2)")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent client requests (50)")
    parser.add_argument("--latency-ms", default="100:1000", help="sandbox latency MIN:MAX (100:1000)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for completion (300)")
    args = parser.parse_args()
    if args.url:
        parser.error("--url is not supported: this benchmark needs its own sandbox and workers")
    for line in machine.describe():
        print(line)
    print(f"sandbox latency {args.latency_ms} ms, {args.purchases} purchases per run, pid {os.getpid()}")
    results = [_run(args, int(n)) for n in args.workers.split(",")]
    print(f"{'workers':>7} {'purchases':>9} {'done/s':>8} {'p50 202->done':>14} {'p99':>8} {'max':>8}  audit")
    for r in results:
        print(
            f"{r.workers:>7} {r.purchases:>9} {r.throughput:>8.1f} {r.p50_s * 1000:>11.0f} ms "
            f"{r.p99_s * 1000:>5.0f} ms {r.max_s * 1000:>5.0f} ms  {r.audit}"
        )
    return 0 if all(r.audit == "passed" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
