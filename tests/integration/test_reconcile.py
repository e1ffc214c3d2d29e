"""Reconcile and audit against real drift (issue 5): each kind of disagreement between Redis
and PostgreSQL is injected behind the system's back, the audit catches it (where it breaks
an invariant), ``Reconciler.run_once`` repairs it, the audit then passes and a second
reconcile finds nothing. Sales are real: the purchase use case, the purchase processor and
a ``ticketmaster sandbox`` process; the CLI variants run ``ticketmaster reconcile|audit``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from tests import factories
from tests.cluster import events_apart
from tests.conftest import delete_namespace, engine_env
from tests.fleet import Sandbox, cli
from ticketmaster import bootstrap
from ticketmaster.adapters.payments.sandbox import SandboxPaymentProvider, fetch_ledger
from ticketmaster.adapters.postgres.consistency import PostgresConsistencyReader
from ticketmaster.adapters.postgres.holds import PostgresExpiryRepository
from ticketmaster.bootstrap import Container
from ticketmaster.config import Settings
from ticketmaster.domain.holds import Hold
from ticketmaster.services.audit import Auditor, AuditReport
from ticketmaster.services.expiry import ExpireHolds
from ticketmaster.services.holds import HoldSeats
from ticketmaster.services.purchase_processing import PurchaseProcessor
from ticketmaster.services.purchases import RequestPurchase
from ticketmaster.services.reconcile import Reconciler

PRICE_CENTS = 4200


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    s = Sandbox(tmp_path_factory.mktemp("reconcile-sandbox"))
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


@pytest.fixture
def topology() -> str:
    """One Redis node, unless a test is parametrised over "single" and "cluster"."""
    return "single"


@pytest.fixture
def redis_settings(settings: Settings, topology: str, request: pytest.FixtureRequest) -> Settings:
    """``settings``, on the test Redis node or on the session's 3-primary Redis Cluster."""
    if topology == "single":
        return settings
    return replace(settings, redis_url=str(request.getfixturevalue("redis_cluster_url")), redis_cluster=True)


@pytest.fixture
async def container(redis_settings: Settings, namespace: str) -> AsyncIterator[Container]:
    c = await bootstrap.build(redis_settings)
    await delete_namespace(c.redis, namespace)  # the autouse clean empties the single node only
    try:
        yield c
    finally:
        await c.close()


@dataclass
class World:
    """One test's event and the tools to break and heal it."""

    c: Container
    pool: asyncpg.Pool
    sandbox_url: str
    event_id: str
    seats: list[str]
    ledger_mark: int

    @property
    def seats_key(self) -> str:
        return self.c.keys.seats(self.event_id)

    async def user(self) -> str:
        user_id = f"usr_{secrets.token_hex(6)}"
        await self.c.users.add_guest(user_id)
        return user_id

    async def hold(self, seats: list[str], *, user: str | None = None) -> Hold:
        return await self.c.holds.hold_seats(
            HoldSeats(self.event_id, user or await self.user(), seats, secrets.token_hex(8))
        )

    async def try_hold(self, seats: list[str]) -> str:
        """The gate's answer to another buyer asking for ``seats`` (no PostgreSQL row kept)."""
        user = await self.user()
        reply = await self.c.gate.hold(
            self.event_id, f"hold_probe_{secrets.token_hex(4)}", user, tuple(seats), 60_000, "fp", "k"
        )
        if reply.outcome == "OK":
            await self.c.gate.release(self.event_id, reply.hold_id, user, tuple(seats))
        return str(reply.outcome)

    async def sell(self, seats: list[str]) -> str:
        """A real sale: hold, purchase (202 path), the processor charges the sandbox and books."""
        user = await self.user()
        held = await self.hold(seats, user=user)
        purchase = await self.c.purchases.request(
            RequestPurchase(held.id, user, "tok_visa", secrets.token_hex(8))
        )
        provider = SandboxPaymentProvider(self.sandbox_url)
        processor = PurchaseProcessor(self.c.purchase_repo, self.c.gate, provider)
        try:
            [claimed] = await self.c.purchase_repo.claim(processor.worker_id, 10, 30)
            assert claimed.id == purchase.id
            await processor.process(claimed)
        finally:
            await provider.aclose()
        status = await self.pool.fetchval("SELECT status FROM purchases WHERE id = $1", purchase.id)
        assert status == "SUCCEEDED"
        assert await self.c.redis.hmget(self.seats_key, seats) == ["SOLD"] * len(seats)
        return purchase.id

    async def state(self, seat: str) -> str | None:
        raw: str | None = await self.c.redis.hget(self.seats_key, seat)
        return raw

    async def ledger(self) -> list[dict[str, Any]]:
        """The sandbox payments made during this test (the sandbox outlives the test's data)."""
        return (await fetch_ledger(self.sandbox_url))[self.ledger_mark :]

    def reconciler(self) -> Reconciler:
        return Reconciler(
            self.c.gate,
            PostgresConsistencyReader(self.c.pool),
            ExpireHolds(PostgresExpiryRepository(self.c.pool), self.c.gate),
            grace_seconds=0.2,
        )

    async def audit(self) -> AuditReport:
        return await Auditor(
            PostgresConsistencyReader(self.c.pool),
            self.c.gate,
            self.ledger,
            grace_seconds=5.0,
            recheck_seconds=0.2,
        ).run()


async def new_world(c: Container, pool: asyncpg.Pool, sandbox_url: str) -> World:
    """A fresh 12-seat event, loaded in Redis, whose sales pay ``sandbox_url``."""
    v = factories.venue(sections=1, rows=1, seats=12)
    e = factories.event(v, price_cents=PRICE_CENTS)
    await factories.load(pool, {"venues": [v], "events": [e]})
    mark = len(await fetch_ledger(sandbox_url))
    w = World(c, pool, sandbox_url, e["id"], [f"sec0-A-{n}" for n in range(1, 13)], mark)
    await c.gate.ensure_loaded(w.event_id)
    return w


@pytest.fixture
async def world(container: Container, pool: asyncpg.Pool, sandbox: Sandbox) -> World:
    return await new_world(container, pool, sandbox.url)


def _fixes(kind: str) -> float:
    return REGISTRY.get_sample_value("ticketmaster_reconcile_fixes_total", {"kind": kind}) or 0.0


# Each drift: inject it (returning what the repair must achieve), the invariant the audit
# must report before the repair (None: not an invariant violation by itself), the fix kind.
Check = Callable[[], Awaitable[None]]


async def _orphan_hold(w: World) -> Check:
    """Redis holds a seat for a hold PostgreSQL never heard of (its row write failed)."""
    seat = w.seats[0]
    reply = await w.c.gate.hold(w.event_id, "hold_orphan", await w.user(), (seat,), 600_000, "fp", "k")
    assert reply.outcome == "OK"
    assert await w.try_hold([seat]) == "UNAVAILABLE"

    async def repaired() -> None:
        assert await w.state(seat) is None
        assert await w.try_hold([seat]) == "OK"

    return repaired


async def _expired_still_active(w: World) -> Check:
    """PostgreSQL says ACTIVE a minute after expiry (no sweeper ran); Redis still blocks."""
    held = await w.hold(w.seats[1:3])
    await w.pool.execute("UPDATE holds SET expires_at = now() - interval '1 minute' WHERE id = $1", held.id)

    async def repaired() -> None:
        assert await w.pool.fetchval("SELECT status FROM holds WHERE id = $1", held.id) == "EXPIRED"
        assert await w.c.redis.hmget(w.seats_key, w.seats[1:3]) == [None, None]
        assert await w.try_hold(w.seats[1:3]) == "OK"

    return repaired


async def _sold_missing(w: World) -> Check:
    """A booked seat lost its SOLD mark in Redis (a write lost in a crash)."""
    await w.sell(w.seats[3:5])
    await w.c.redis.hdel(w.seats_key, w.seats[3])
    assert await w.try_hold([w.seats[3]]) == "OK", "the drift must be real: the seat looks free"

    async def repaired() -> None:
        assert await w.c.redis.hmget(w.seats_key, w.seats[3:5]) == ["SOLD", "SOLD"]
        assert await w.try_hold([w.seats[3]]) == "UNAVAILABLE"

    return repaired


async def _sold_unbacked(w: World) -> Check:
    """Redis says SOLD for a seat no live booking has."""
    await w.c.redis.hset(w.seats_key, w.seats[5], "SOLD")
    assert await w.try_hold([w.seats[5]]) == "UNAVAILABLE"

    async def repaired() -> None:
        assert await w.state(w.seats[5]) is None
        assert await w.try_hold([w.seats[5]]) == "OK"

    return repaired


async def _hold_missing(w: World) -> Check:
    """A live PostgreSQL hold vanished from Redis: another buyer could take its seats."""
    held = await w.hold(w.seats[6:8])
    await w.c.redis.hdel(w.seats_key, *held.seat_ids)
    await w.c.redis.delete(w.c.keys.hold(w.event_id, held.id))
    await w.c.redis.zrem(w.c.keys.expiries(w.event_id), held.id)

    async def repaired() -> None:
        states = await w.c.redis.hmget(w.seats_key, list(held.seat_ids))
        assert [s.rpartition("|")[0] for s in states] == [held.id, held.id], states
        assert await w.try_hold(list(held.seat_ids)) == "UNAVAILABLE"

    return repaired


async def _hold_not_live(w: World) -> Check:
    """Redis still holds seats for a hold PostgreSQL has cancelled (its release was lost)."""
    held = await w.hold(w.seats[8:10])
    await w.pool.execute("UPDATE holds SET status = 'CANCELLED' WHERE id = $1", held.id)

    async def repaired() -> None:
        assert await w.c.redis.hmget(w.seats_key, w.seats[8:10]) == [None, None]
        assert await w.try_hold(w.seats[8:10]) == "OK"

    return repaired


async def _index_drift(w: World) -> Check:
    """The availability index says the sold and the held seat are free (a lost index write):
    best available would offer them, and its check against the seat states would not."""
    await w.c.redis.hset(w.c.keys.seat_rows(w.event_id), "0", ",".join(["0"] * len(w.seats)))
    assert await w.c.gate.index_problems(w.event_id)

    async def repaired() -> None:
        assert await w.c.gate.index_problems(w.event_id) == {}

    return repaired


DRIFTS: dict[str, tuple[Callable[[World], Awaitable[Check]], str | None, str]] = {
    "orphan Redis hold without a PostgreSQL row": (_orphan_hold, None, "orphan_hold"),
    "expired hold still ACTIVE in PostgreSQL": (_expired_still_active, "I4", "expired_active"),
    "SOLD seat missing in Redis": (_sold_missing, "I5", "sold_missing"),
    "Redis SOLD without a booking": (_sold_unbacked, "I1", "sold_unbacked"),
    "live PostgreSQL hold missing from Redis": (_hold_missing, "I5", "hold_missing"),
    "Redis hold that PostgreSQL has cancelled": (_hold_not_live, "I4", "orphan_hold"),
    "availability index unlike the seat states": (_index_drift, "I4", "index_row"),
}


async def _honest_state(w: World) -> Check:
    """A sale and a live hold beside the drift, which must come through untouched."""
    await w.sell([w.seats[10]])
    bystander = await w.hold([w.seats[11]])

    async def untouched() -> None:
        assert await w.c.redis.hmget(w.seats_key, w.seats[10:]) == [
            "SOLD",
            f"{bystander.id}|{int(bystander.expires_at.timestamp() * 1000)}",
        ]

    return untouched


@pytest.mark.parametrize("topology", ["single", "cluster"])
@pytest.mark.parametrize("drift", list(DRIFTS))
async def test_reconcile_repairs_the_drift_and_the_audit_then_passes(world: World, drift: str) -> None:
    inject, invariant, kind = DRIFTS[drift]
    untouched = await _honest_state(world)
    baseline = await world.audit()
    assert baseline.ok, baseline.lines()

    repaired = await inject(world)
    before = await world.audit()
    if invariant is not None:
        assert not before.ok
        found = before.violations[invariant]
        assert found, before.lines()
        assert all(not v for i, v in before.violations.items() if i != invariant), before.lines()

    fixes = _fixes(kind)
    changes = await world.reconciler().run_once()

    assert any(f": {kind}: " in line for line in changes), changes
    assert not [line for line in changes if "CONFLICT" in line], changes
    assert _fixes(kind) > fixes
    await repaired()
    await untouched()
    after = await world.audit()
    assert after.ok, after.lines()
    assert await world.reconciler().run_once() == []


# --- the operator's commands ----------------------------------------------------------------------


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox whose whole ledger belongs to this test (the CLI audit reads all of it)."""
    s = Sandbox(tmp_path)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


@pytest.mark.parametrize("topology", ["single", "cluster"])
async def test_cli_audit_fails_on_drift_and_reconcile_heals_every_kind_at_once(
    container: Container,
    pool: asyncpg.Pool,
    own_sandbox: Sandbox,
    database_url: str,
    redis_settings: Settings,
    namespace: str,
    tmp_path: Path,
) -> None:
    """On two events (on a Cluster, on two primaries) with an honest sale and hold each,
    ``ticketmaster audit`` passes; then it exits 1 on every kind of drift at once in both
    events, naming each event's, plus a charge without a booking (I3, against the sandbox's
    ledger); ``ticketmaster reconcile`` prints each fix of each event and exits 0; money is
    not its business, so the audit still fails on I3 alone until the charge is refunded,
    then passes."""
    worlds = await events_apart(
        container.redis,
        container.keys,
        partial(new_world, container, pool, own_sandbox.url),
        attrgetter("event_id"),
    )
    assert redis_settings.redis_url is not None
    env = {
        **engine_env(database_url, redis_settings.redis_url, namespace, tmp_path / "cli"),
        "TICKETMASTER_REDIS_CLUSTER": "true" if redis_settings.redis_cluster else "false",
        "TICKETMASTER_SANDBOX_URL": own_sandbox.url,
    }
    untouched = [await _honest_state(w) for w in worlds]
    audit = await cli(env, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "audit passed" in audit.stdout

    checks = [await inject(w) for w in worlds for inject, _, _ in DRIFTS.values()]
    async with httpx.AsyncClient(base_url=own_sandbox.url, timeout=10) as client:
        charged = await client.post(
            "/v1/payments",
            json={
                "amountCents": PRICE_CENTS,
                "currency": "USD",
                "paymentToken": "tok_visa",
                "metadata": {"purchaseId": "pur_ghost", "eventId": worlds[0].event_id},
            },
            headers={"Idempotency-Key": "ghost-charge"},
        )
        assert charged.status_code == 200, charged.text

        audit = await cli(env, "audit")
        assert audit.returncode == 1, audit.stdout + audit.stderr
        assert "AUDIT FAILED" in audit.stdout
        for invariant in ("I1", "I3", "I4", "I5"):
            assert f"{invariant}: ok" not in audit.stdout, audit.stdout
        for w in worlds:
            assert f"{w.event_id}/{w.seats[3]} is sold in PostgreSQL but not SOLD in Redis" in audit.stdout
            assert f"{w.event_id}/{w.seats[5]} is SOLD in Redis without a live booking" in audit.stdout
            assert f"{w.event_id}: availability index row 0 " in audit.stdout, audit.stdout

        reconcile = await cli(env, "reconcile")
        assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
        kinds = (
            "orphan_hold",
            "expired_active",
            "sold_missing",
            "sold_unbacked",
            "hold_missing",
            "index_row",
        )
        for w in worlds:
            for kind in kinds:
                assert f"{w.event_id}: {kind}: " in reconcile.stdout, reconcile.stdout
        assert "CONFLICT" not in reconcile.stdout, reconcile.stdout
        assert "reconcile complete" in reconcile.stdout
        for check in [*checks, *untouched]:
            await check()

        audit = await cli(env, "audit")
        assert audit.returncode == 1, audit.stdout + audit.stderr
        assert "purchase pur_ghost was charged without a booking" in audit.stdout, audit.stdout
        for invariant in ("I1", "I2", "I4", "I5"):
            assert f"{invariant}: ok" in audit.stdout, audit.stdout

        refunded = await client.post(
            f"/v1/payments/{charged.json()['id']}/refund", headers={"Idempotency-Key": "ghost-refund"}
        )
        assert refunded.status_code == 200, refunded.text
    audit = await cli(env, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "audit passed" in audit.stdout
    reconcile = await cli(env, "reconcile")
    assert reconcile.stdout.splitlines() == ["reconcile complete: 0 change(s)"], reconcile.stdout
