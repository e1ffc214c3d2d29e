"""The reconciler must never free a seat of a live hold whose row is committed while it
looks (regression: reading "known holds" after the truth made a just-committed hold look
dead, and its seat was given away)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from tests import factories
from ticketmaster import bootstrap
from ticketmaster.adapters.postgres.consistency import PostgresConsistencyReader
from ticketmaster.adapters.postgres.holds import NewHold
from ticketmaster.bootstrap import Container, make_reconciler
from ticketmaster.config import Settings
from ticketmaster.domain.holds import Hold, HoldStatus
from ticketmaster.domain.reconcile import EventTruth


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    c = await bootstrap.build(settings)
    yield c
    await c.close()


class CommitAfterTruth(PostgresConsistencyReader):
    """The real reader; right after the truth read that follows the Redis snapshot (the
    reconciler's second one), the pending hold row gets committed."""

    def __init__(self, pool: asyncpg.Pool, container: Container) -> None:
        super().__init__(pool)
        self.container = container
        self.pending: tuple[Hold, str] | None = None
        self.truth_reads = 0

    async def event_truth(self, event_id: str) -> EventTruth:
        truth = await super().event_truth(event_id)
        self.truth_reads += 1
        if self.pending is not None and self.truth_reads == 2:
            hold, key = self.pending
            await self.container.hold_repo.insert_many([NewHold(hold, key)])
        return truth


async def test_a_hold_committed_while_reconciling_keeps_its_seat(
    container: Container, pool: asyncpg.Pool
) -> None:
    v = factories.venue()
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    user = "usr_race"
    await container.users.add_guest(user)
    seat = "sec0-A-1"
    reply = await container.gate.hold(e["id"], "hold_race", user, (seat,), 60_000, "fp", "key-race")
    assert reply.outcome == "OK"
    hold = Hold(
        id="hold_race",
        event_id=e["id"],
        user_id=user,
        seat_ids=(seat,),
        status=HoldStatus.ACTIVE,
        expires_at=datetime.fromtimestamp(reply.expires_at_ms / 1000, UTC),
        fingerprint="fp",
    )
    reader = CommitAfterTruth(pool, container)
    reader.pending = (hold, "key-race")
    reconciler = make_reconciler(container)
    reconciler.reader = reader
    reconciler.grace_seconds = 0.05

    changes = await reconciler.reconcile_event(e["id"])

    snapshot = await container.gate.snapshot(e["id"])
    assert snapshot.states.get(seat, "").startswith("hold_race|"), changes
    assert not [c for c in changes if "orphan" in c]
