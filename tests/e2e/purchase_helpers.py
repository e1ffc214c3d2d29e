"""Processes and checks for the purchase end-to-end tests.

- :class:`SandboxProcess` / :class:`WorkerProcess`: ``ticketmaster sandbox`` and
  ``ticketmaster worker`` as real processes.
- :class:`PurchaseStack`: sandboxes, and N workers pointed at one of them, kept running across
  tests and restarted only when a test asks for another configuration.
- :class:`Shop`: one test's view: a buyer-side HTTP client, the pool and the stack.
- :func:`audit`: money against tickets (I1, I3): the sandbox ledger's net charges and
  the live bookings in PostgreSQL match one to one, by purchase id, in count and amount.
"""

from __future__ import annotations

import collections
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

from tests import factories
from tests.conftest import ServerProcess, free_port
from tests.e2e.buyers import Buyer, hold, new_buyer
from tests.fleet import eventually
from ticketmaster.processes import end_process

T = TypeVar("T")

LEASE = "TICKETMASTER_WORKER_LEASE_SECONDS"
PAYMENT_TIMEOUT = "TICKETMASTER_PAYMENT_TIMEOUT_SECONDS"
HOLD_TTL = "TICKETMASTER_HOLD_TTL_SECONDS"
SANDBOX_URL = "TICKETMASTER_SANDBOX_URL"
STRIPE_API_BASE = "TICKETMASTER_STRIPE_API_BASE"
# Workers paying through the Stripe adapter, which talks to the stack's sandbox (Stripe's API).
STRIPE = (("TICKETMASTER_PAYMENT_PROVIDER", "stripe"), ("TICKETMASTER_STRIPE_API_KEY", "sk_test_sandbox"))
PRICE_CENTS = 9900


def _wait_http_ok(url: str, process: subprocess.Popen[bytes], name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{name} did not answer {url}")


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """How the sandbox behaves: per-request latency (``MIN:MAX`` ms), tok_timeout's hang and
    how long a tok_processing PaymentIntent stays processing."""

    latency: str = "20:60"
    hang_seconds: float = 3.0
    settle_seconds: float = 1.0


class SandboxProcess:
    """``ticketmaster sandbox`` on a free port; its ledger lives in memory (a fresh account)."""

    def __init__(self, spec: SandboxSpec, data_dir: Path) -> None:
        self.spec = spec
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        args = ["--host", "127.0.0.1", "--port", str(port), "--latency-ms", spec.latency]
        args += ["--hang-seconds", str(spec.hang_seconds), "--settle-seconds", str(spec.settle_seconds)]
        env = {**os.environ, "TICKETMASTER_DATA_DIR": str(data_dir), "TICKETMASTER_LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ticketmaster.entrypoints.cli.main", "sandbox", *args], env=env
        )

    def wait_ready(self) -> None:
        _wait_http_ok(self.url + "/healthz", self.process, "sandbox")

    def payment_count(self) -> int:
        return len(httpx.get(self.url + "/v1/ledger", timeout=10).json()["payments"])

    def stop(self) -> None:
        end_process(self.process)


class WorkerProcess:
    """``ticketmaster worker``: it serves nothing, so it is ready when it does work."""

    def __init__(self, env: dict[str, str]) -> None:
        self._server = ServerProcess(env, command="worker")
        self.process = self._server.process

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease handed back, a payment left in flight."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        self._server.stop()


@dataclass(frozen=True, slots=True)
class StackConfig:
    sandbox: SandboxSpec
    workers: int
    settings: tuple[tuple[str, str], ...]  # extra TICKETMASTER_* variables of the workers


class PurchaseStack:
    """Sandboxes and the workers paying through one of them. Every worker shares the test
    database, so a test that needs special workers gets *only* those (the others stop);
    sandboxes are cheap and stay up until the module ends."""

    def __init__(self, base_env: dict[str, str], data_dir: Path) -> None:
        self._base_env = base_env
        self._data_dir = data_dir
        self._sandboxes: dict[SandboxSpec, SandboxProcess] = {}
        self.sandbox: SandboxProcess | None = None
        self.workers: list[WorkerProcess] = []
        self._settings: tuple[tuple[str, str], ...] | None = None
        self.ledger_mark = 0

    @property
    def sandbox_url(self) -> str:
        assert self.sandbox is not None
        return self.sandbox.url

    def prestart(self, *specs: SandboxSpec) -> None:
        """Launch sandboxes now (not waiting for them), so they boot alongside other processes."""
        for spec in specs:
            self._sandbox(spec)

    def _sandbox(self, spec: SandboxSpec) -> SandboxProcess:
        if spec not in self._sandboxes:
            self._sandboxes[spec] = SandboxProcess(spec, self._data_dir)
        return self._sandboxes[spec]

    def configure(self, config: StackConfig) -> None:
        """Reuse what matches ``config``, restart the rest; then mark the ledger's end so
        each test audits only the payments made during it."""
        sandbox = self._sandbox(config.sandbox)
        self.workers = [w for w in self.workers if w.alive]  # a test may have killed some
        if sandbox is not self.sandbox or self._settings != config.settings:
            self._stop_workers()
            self.sandbox, self._settings = sandbox, config.settings
        while len(self.workers) > config.workers:
            self.workers.pop().stop()
        while len(self.workers) < config.workers:
            self.start_worker()  # boots while the sandbox may still do; a worker retries it
        sandbox.wait_ready()
        self.ledger_mark = sandbox.payment_count()

    def worker_env(self) -> dict[str, str]:
        assert self._settings is not None
        url = self.sandbox_url
        return {**self._base_env, **dict(self._settings), SANDBOX_URL: url, STRIPE_API_BASE: url}

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.worker_env())
        self.workers.append(worker)
        return worker

    def _stop_workers(self) -> None:
        for worker in self.workers:
            if worker.alive:
                worker.process.terminate()  # all at once: each drains its jobs in parallel
        while self.workers:
            self.workers.pop().stop()

    def close(self) -> None:
        self._stop_workers()
        for sandbox in self._sandboxes.values():
            sandbox.process.terminate()
        for sandbox in self._sandboxes.values():
            sandbox.stop()
        self._sandboxes.clear()
        self.sandbox = None


@dataclass
class Shop:
    """What one test works with: the API over HTTP, PostgreSQL, and the stack's sandbox."""

    http: httpx.AsyncClient
    pool: asyncpg.Pool
    stack: PurchaseStack

    async def event(self, seats: int = 10, **fields: Any) -> tuple[str, list[str]]:
        """A fresh on-sale event of one row (``seats`` seats at PRICE_CENTS, more import-file
        ``fields``); its seat ids."""
        v = factories.venue(sections=1, rows=1, seats=seats)
        e = factories.event(v, price_cents=PRICE_CENTS, **fields)
        await factories.load(self.pool, {"venues": [v], "events": [e]})
        section = v["sections"][0]["id"]
        return e["id"], [f"{section}-A-{n}" for n in range(1, seats + 1)]

    async def buyer(self) -> Buyer:
        return await new_buyer(self.http)

    async def hold(self, buyer: Buyer, event_id: str, seat_ids: list[str]) -> dict[str, Any]:
        response = await hold(self.http, buyer, event_id, seat_ids)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def post_purchase(
        self, buyer: Buyer, hold_id: str, token: object = "tok_visa", key: str | None = "auto"
    ) -> httpx.Response:
        """POST /holds/{id}/purchase; ``key="auto"`` sends a fresh Idempotency-Key, None none."""
        headers = dict(buyer.auth)
        if key is not None:
            headers["Idempotency-Key"] = secrets.token_hex(8) if key == "auto" else key
        return await self.http.post(
            f"/holds/{hold_id}/purchase", json={"paymentToken": token}, headers=headers
        )

    async def purchase(self, buyer: Buyer, hold_id: str, token: str = "tok_visa") -> str:
        """Start a purchase that must be accepted (202 PENDING); its id."""
        response = await self.post_purchase(buyer, hold_id, token)
        assert response.status_code == 202, response.text
        body = response.json()
        assert (body["holdId"], body["status"]) == (hold_id, "PENDING")
        assert response.headers["Location"] == f"/purchases/{body['purchaseId']}"
        return str(body["purchaseId"])

    async def get(self, buyer: Buyer, path: str, expect: int = 200) -> Any:
        response = await self.http.get(path, headers=buyer.auth)
        assert response.status_code == expect, (path, response.status_code, response.text)
        return response.json()

    async def settle(self, buyer: Buyer, purchase_id: str, within: float = 30.0) -> dict[str, Any]:
        """Poll GET /purchases/{id} until it leaves PENDING; the final body."""

        async def done() -> dict[str, Any] | None:
            body: dict[str, Any] = await self.get(buyer, f"/purchases/{purchase_id}")
            return None if body["status"] == "PENDING" else body

        return await eventually(done, within=within, what=f"purchase {purchase_id} to settle")

    async def ledger(self) -> list[dict[str, Any]]:
        """The sandbox's payments made since this test configured the stack, in order."""
        async with httpx.AsyncClient(base_url=self.stack.sandbox_url, timeout=10) as client:
            response = await client.get("/v1/ledger")
        assert response.status_code == 200, response.text
        payments: list[dict[str, Any]] = response.json()["payments"]
        return payments[self.stack.ledger_mark :]

    async def purchase_row(self, purchase_id: str) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM purchases WHERE id = $1", purchase_id)
        assert row is not None, purchase_id
        return row

    async def audit(self, *, exclude_bookings: Iterable[str] = ()) -> Audit:
        return await audit(self.pool, await self.ledger(), exclude_bookings=exclude_bookings)


@dataclass(frozen=True, slots=True)
class Audit:
    """Net charges and live bookings, both keyed by purchase id (they have equal keys)."""

    charges: dict[str, dict[str, Any]]
    bookings: dict[str, asyncpg.Record]


async def audit(
    pool: asyncpg.Pool, payments: list[dict[str, Any]], *, exclude_bookings: Iterable[str] = ()
) -> Audit:
    """I1 and I3 over the whole database and the given ledger entries.

    ``exclude_bookings``: bookings a test wrote behind the system's back (no charge exists).
    """
    excluded = set(exclude_bookings)
    net = [p for p in payments if p["status"] == "succeeded" and not p["refunded"]]
    per_purchase = collections.Counter(p["metadata"].get("purchaseId") for p in net)
    assert None not in per_purchase, f"a net charge names no purchase: {net}"
    twice = {k: n for k, n in per_purchase.items() if n > 1}
    assert not twice, f"purchases charged more than once (I3): {twice}"
    per_hold = collections.Counter(p["metadata"].get("holdId") for p in net)
    assert all(n == 1 for n in per_hold.values()), f"holds charged more than once (I3): {per_hold}"
    charges = {p["metadata"]["purchaseId"]: p for p in net}

    rows = await pool.fetch(
        """
        SELECT b.id, b.purchase_id, b.amount_cents, b.currency, b.status,
               array_agg(bs.seat_id ORDER BY bs.seat_id) AS seat_ids
        FROM bookings b JOIN booking_seats bs ON bs.booking_id = b.id AND bs.live
        GROUP BY b.id
        """
    )
    missing = excluded - {r["id"] for r in rows}
    assert not missing, f"excluded bookings are not live: {missing}"
    bookings = {r["purchase_id"]: r for r in rows if r["id"] not in excluded}
    excluded_purchases = {r["purchase_id"] for r in rows if r["id"] in excluded}

    assert set(charges) == set(bookings), (
        f"I3: charged without a ticket: {sorted(set(charges) - set(bookings))}; "
        f"ticket without a charge: {sorted(set(bookings) - set(charges))}"
    )
    for purchase_id, charge in charges.items():
        booking = bookings[purchase_id]
        assert booking["status"] == "CONFIRMED", booking
        assert (charge["amountCents"], charge["currency"]) == (
            booking["amount_cents"],
            booking["currency"],
        ), (
            purchase_id,
            charge,
            dict(booking),
        )

    doubles = await pool.fetch(
        "SELECT event_id, seat_id, count(*) AS n FROM booking_seats WHERE live"
        " GROUP BY event_id, seat_id HAVING count(*) > 1"
    )
    assert not doubles, f"I1: seats in two live bookings: {[dict(r) for r in doubles]}"

    succeeded = {
        r["id"] for r in await pool.fetch("SELECT id FROM purchases WHERE status = 'SUCCEEDED'")
    } - excluded_purchases
    assert succeeded == set(bookings), (succeeded, set(bookings))
    recorded = {
        r["purchase_id"]: r
        for r in await pool.fetch("SELECT purchase_id, provider_payment_id, status FROM payments")
    }
    for purchase_id, charge in charges.items():
        row = recorded.get(purchase_id)
        assert row is not None, f"no payments row for charged purchase {purchase_id}"
        assert (row["status"], row["provider_payment_id"]) == ("SUCCEEDED", charge["id"]), dict(row)
    return Audit(charges, bookings)
