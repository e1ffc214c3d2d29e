"""The hold use case against in-memory fakes of its ports: the branches where a request
meets an earlier one with the same Idempotency-Key (replay, adoption of a hold whose first
request died before its commit, a key Redis forgot but PostgreSQL remembers), and holds
whose commit is in doubt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from ticketmaster.domain import holds as rules
from ticketmaster.domain.errors import CommitInDoubt, IdempotencyConflict, SeatsUnavailable, Unavailable
from ticketmaster.domain.gate import GateResult, Outcome
from ticketmaster.domain.holds import Hold, HoldStatus, WriteOutcome
from ticketmaster.domain.layout import EventInfo, SectionLayout, VenueLayout
from ticketmaster.services import hold_doubts
from ticketmaster.services import holds as hold_service
from ticketmaster.services.holds import HoldSeats, HoldService

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
EVENT, USER, KEY = "evt_1", "usr_1", "key-1"
SEATS = ["A-1-1", "A-1-2"]


class FakeCatalog:
    async def event_info(self, event_id: str) -> EventInfo | None:
        if event_id != EVENT:
            return None
        return EventInfo(EVENT, "ven_1", NOW - timedelta(days=1), waiting_room=False)

    async def venue_layout(self, venue_id: str, revision: int) -> VenueLayout:
        return VenueLayout(venue_id, (SectionLayout("A", "Floor", (("1", 4),)),))


@dataclass
class FakeGate:
    """Answers scripted replies in order; records releases and the idempotency records."""

    replies: list[GateResult]
    records: dict[str, str] = field(default_factory=dict)
    released: list[tuple[str, str | None]] = field(default_factory=list)
    holds_asked: list[str] = field(default_factory=list)

    async def hold(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        seat_ids: tuple[str, ...],
        ttl_ms: int,
        fingerprint: str,
        idempotency_key: str,
        *,
        max_seats: int | None = None,
    ) -> GateResult:
        self.holds_asked.append(hold_id)
        reply = self.replies.pop(0)
        if reply.outcome is Outcome.OK:
            self.records[idempotency_key] = hold_id
            return GateResult(Outcome.OK, hold_id=hold_id, expires_at_ms=reply.expires_at_ms)
        return reply

    async def release(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        seat_ids: tuple[str, ...],
        *,
        forget_idempotency_key: str | None = None,
    ) -> int:
        self.released.append((hold_id, forget_idempotency_key))
        if forget_idempotency_key is not None:
            self.records.pop(forget_idempotency_key, None)
        return len(seat_ids)

    async def idempotency_record(self, event_id: str, user_id: str, key: str) -> str | None:
        return self.records.get(key)


@dataclass
class FakeHolds:
    rows: dict[str, Hold] = field(default_factory=dict)
    by_key: dict[tuple[str, str], str] = field(default_factory=dict)

    async def get(self, hold_id: str) -> Hold | None:
        return self.rows.get(hold_id)

    async def by_idempotency_key(self, user_id: str, key: str) -> Hold | None:
        hold_id = self.by_key.get((user_id, key))
        return None if hold_id is None else self.rows[hold_id]

    down: int = 0  # how many more calls of void_unless_present fail as if PostgreSQL were away

    async def cancel(self, hold_id: str, user_id: str) -> Hold | None:
        return self.rows.get(hold_id)

    async def void_unless_present(self, holds: Sequence[Hold]) -> set[str]:
        if self.down:
            self.down -= 1
            raise OSError("connection refused")
        voided = {h.id for h in holds if h.id not in self.rows}
        for h in holds:
            if h.id in voided:
                self.rows[h.id] = Hold(
                    h.id, h.event_id, h.user_id, (), HoldStatus.CANCELLED, h.expires_at, h.fingerprint
                )
        return voided


@dataclass
class FakeWriter:
    """Commits into FakeHolds like the real writer: one row per (user, key)."""

    holds: FakeHolds
    written: list[str] = field(default_factory=list)
    in_doubt: list[bool] = field(default_factory=list)
    """Per write, in order: the connection breaks after the statement was sent; True if the
    commit happened all the same."""

    async def write_hold(self, hold: Hold, idempotency_key: str, generation: int = 0) -> WriteOutcome:
        if self.in_doubt:
            committed = self.in_doubt.pop(0)
            if committed:
                self.holds.rows[hold.id] = hold
                self.holds.by_key[(hold.user_id, idempotency_key)] = hold.id
            raise CommitInDoubt("connection lost during the commit")
        owner = self.holds.by_key.get((hold.user_id, idempotency_key))
        if owner is not None and owner != hold.id:
            return WriteOutcome.KEY_TAKEN
        self.written.append(hold.id)
        present = hold.id in self.holds.rows
        self.holds.rows[hold.id] = hold
        self.holds.by_key[(hold.user_id, idempotency_key)] = hold.id
        return WriteOutcome.PRESENT if present else WriteOutcome.INSERTED


def service(gate: FakeGate, holds: FakeHolds, writer: FakeWriter | None = None) -> HoldService:
    return HoldService(FakeCatalog(), gate, holds, writer or FakeWriter(holds), 600, clock=lambda: NOW)


def request(seats: list[str] = SEATS) -> HoldSeats:
    return HoldSeats(EVENT, USER, seats, KEY)


FINGERPRINT = rules.fingerprint(EVENT, tuple(SEATS))


def earlier_hold(hold_id: str = "hold_earlier", fingerprint: str = FINGERPRINT) -> Hold:
    return Hold(
        hold_id, EVENT, USER, tuple(SEATS), HoldStatus.ACTIVE, NOW + timedelta(minutes=5), fingerprint
    )


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adoption branch waits for the first request's row, the doubt resolver between
    tries; short waits keep this fast."""
    monkeypatch.setattr(hold_service, "REPLAY_WAIT_S", 0.05)
    monkeypatch.setattr(hold_doubts, "RETRY_FIRST_S", 0.001)


async def test_a_replay_whose_first_request_died_before_its_commit_adopts_the_hold() -> None:
    # Redis holds the seats for hold_lost (its record is there), but no row ever appears.
    gate = FakeGate([GateResult(Outcome.REPLAY, "hold_lost", NOW_MS + 300_000, FINGERPRINT)])
    gate.records[KEY] = "hold_lost"
    holds = FakeHolds()

    hold = await service(gate, holds).hold_seats(request())

    assert hold.id == "hold_lost"
    assert holds.rows["hold_lost"].seat_ids == tuple(sorted(SEATS))
    assert hold.expires_at == datetime.fromtimestamp((NOW_MS + 300_000) / 1000, UTC)
    assert gate.released == []  # adopted, not undone


async def test_a_replay_of_a_hold_that_lapsed_unwritten_is_undone_and_made_afresh() -> None:
    gate = FakeGate(
        [
            GateResult(Outcome.REPLAY, "hold_lost", NOW_MS - 1, FINGERPRINT),
            GateResult(Outcome.OK, expires_at_ms=NOW_MS + 600_000),
        ]
    )
    gate.records[KEY] = "hold_lost"
    holds = FakeHolds()

    hold = await service(gate, holds).hold_seats(request())

    assert gate.released == [("hold_lost", KEY)]  # the lapsed one let go, key forgotten
    assert hold.id != "hold_lost"
    assert hold.id == gate.holds_asked[-1]
    assert set(holds.rows) == {hold.id}


async def test_a_replay_whose_first_request_was_undone_starts_afresh() -> None:
    # The record is gone: the first request failed and undid itself.
    gate = FakeGate(
        [
            GateResult(Outcome.REPLAY, "hold_undone", NOW_MS + 300_000, FINGERPRINT),
            GateResult(Outcome.OK, expires_at_ms=NOW_MS + 600_000),
        ]
    )
    holds = FakeHolds()

    hold = await service(gate, holds).hold_seats(request())

    assert hold.id == gate.holds_asked[-1] != "hold_undone"
    assert "hold_undone" not in holds.rows


async def test_a_replay_with_another_body_is_an_idempotency_conflict() -> None:
    gate = FakeGate([GateResult(Outcome.REPLAY, "hold_x", NOW_MS + 300_000, "another-fingerprint")])

    with pytest.raises(IdempotencyConflict):
        await service(gate, FakeHolds()).hold_seats(request())


async def test_a_key_redis_forgot_but_postgres_owns_answers_the_earlier_hold() -> None:
    # Redis lost its records (rebuilt state) and said OK; the commit finds the key taken.
    holds = FakeHolds()
    earlier = earlier_hold()
    holds.rows[earlier.id], holds.by_key[(USER, KEY)] = earlier, earlier.id
    gate = FakeGate([GateResult(Outcome.OK, expires_at_ms=NOW_MS + 600_000)])

    hold = await service(gate, holds).hold_seats(request())

    assert hold == earlier
    assert gate.released == [(gate.holds_asked[0], KEY)]  # the new Redis hold undone
    assert set(holds.rows) == {earlier.id}


async def test_a_taken_key_with_another_body_is_a_conflict_and_nothing_stays_held() -> None:
    holds = FakeHolds()
    other = earlier_hold(fingerprint="another-fingerprint")
    holds.rows[other.id], holds.by_key[(USER, KEY)] = other, other.id
    gate = FakeGate([GateResult(Outcome.OK, expires_at_ms=NOW_MS + 600_000)])

    with pytest.raises(IdempotencyConflict):
        await service(gate, holds).hold_seats(request())
    assert gate.released == [(gate.holds_asked[0], KEY)]


async def test_a_refusal_with_incomplete_records_answers_the_earlier_hold_of_the_key() -> None:
    holds = FakeHolds()
    earlier = earlier_hold()
    holds.rows[earlier.id], holds.by_key[(USER, KEY)] = earlier, earlier.id
    gate = FakeGate([GateResult(Outcome.UNAVAILABLE, unavailable=("A-1-1",), records_complete=False)])

    assert await service(gate, holds).hold_seats(request()) == earlier


async def test_a_refusal_with_complete_records_is_final() -> None:
    holds = FakeHolds()
    earlier = earlier_hold()
    holds.rows[earlier.id], holds.by_key[(USER, KEY)] = earlier, earlier.id  # must not be asked
    gate = FakeGate([GateResult(Outcome.UNAVAILABLE, unavailable=("A-1-1",), records_complete=True)])

    with pytest.raises(SeatsUnavailable) as refused:
        await service(gate, holds).hold_seats(request())
    assert refused.value.extra["seatIds"] == ["A-1-1"]


@pytest.mark.parametrize("committed", [True, False])
async def test_a_commit_in_doubt_keeps_the_seats_until_postgres_tells(committed: bool) -> None:
    gate = FakeGate([GateResult(Outcome.OK, expires_at_ms=NOW_MS + 600_000)])
    holds = FakeHolds(down=2)  # PostgreSQL is still away for the resolver's first two tries
    holds_service = service(gate, holds, FakeWriter(holds, in_doubt=[committed]))

    with pytest.raises(Unavailable):
        await holds_service.hold_seats(request())
    hold_id = gate.holds_asked[0]
    assert gate.released == []  # not undone: the row may exist
    await holds_service.doubts.resolved()

    assert holds.down == 0
    assert len(holds_service.doubts) == 0
    if committed:  # a real hold: Redis keeps it, the row is untouched
        assert gate.released == []
        assert holds.rows[hold_id].status is HoldStatus.ACTIVE
        assert gate.records[KEY] == hold_id
    else:  # never made: voided in PostgreSQL first, then released with its key forgotten
        assert holds.rows[hold_id].is_void
        assert gate.released == [(hold_id, KEY)]
        assert KEY not in gate.records


async def test_a_retry_of_a_hold_in_doubt_that_was_committed_is_given_that_hold() -> None:
    gate = FakeGate(
        [
            GateResult(Outcome.OK, expires_at_ms=NOW_MS + 600_000),
            GateResult(Outcome.REPLAY, "placeholder", NOW_MS + 600_000, FINGERPRINT),
        ]
    )
    holds = FakeHolds(down=10**6)  # the resolver never gets an answer in this test
    holds_service = service(gate, holds, FakeWriter(holds, in_doubt=[True]))
    with pytest.raises(Unavailable):
        await holds_service.hold_seats(request())
    first = gate.holds_asked[0]
    gate.replies[0] = GateResult(Outcome.REPLAY, first, NOW_MS + 600_000, FINGERPRINT)

    hold = await holds_service.hold_seats(request())

    assert hold.id == first
    assert gate.released == []
    await holds_service.close()


def replaying(hold_id: str) -> FakeGate:
    """A gate whose record of the key points at ``hold_id``, then says OK to a fresh hold."""
    gate = FakeGate(
        [
            GateResult(Outcome.REPLAY, hold_id, NOW_MS + 300_000, FINGERPRINT),
            GateResult(Outcome.OK, expires_at_ms=NOW_MS + 600_000),
        ]
    )
    gate.records[KEY] = hold_id
    return gate


async def test_a_replay_that_finds_its_hold_voided_starts_afresh() -> None:
    # Another process voided hold_doubt (its commit was in doubt and never happened), but
    # Redis still answers the key with it: the replay must not return the void row.
    gate = replaying("hold_doubt")
    holds = FakeHolds()
    await holds.void_unless_present([earlier_hold("hold_doubt")])

    hold = await service(gate, holds).hold_seats(request())

    assert hold.id == gate.holds_asked[-1] != "hold_doubt"
    assert holds.rows[hold.id].status is HoldStatus.ACTIVE
    assert holds.rows["hold_doubt"].is_void
    assert gate.released == [("hold_doubt", KEY)]  # the void hold's Redis state let go


async def test_an_adoption_that_meets_a_void_row_is_not_answered_with_it() -> None:
    # The replay waited for a row, none came, so it adopts; meanwhile the hold was voided.
    gate = replaying("hold_doubt")
    holds = FakeHolds()

    class VoidedMeanwhile(FakeWriter):
        async def write_hold(self, hold: Hold, idempotency_key: str, generation: int = 0) -> WriteOutcome:
            if hold.id == "hold_doubt":
                await self.holds.void_unless_present([hold])
                return WriteOutcome.PRESENT
            return await super().write_hold(hold, idempotency_key)

    hold = await service(gate, holds, VoidedMeanwhile(holds)).hold_seats(request())

    assert hold.id == gate.holds_asked[-1] != "hold_doubt"
    assert holds.rows["hold_doubt"].is_void
    assert ("hold_doubt", KEY) in gate.released


async def test_a_hold_in_doubt_past_its_expiry_is_left_to_redis() -> None:
    gate = FakeGate([GateResult(Outcome.OK, expires_at_ms=NOW_MS - 1)])
    holds = FakeHolds()
    holds_service = service(gate, holds, FakeWriter(holds, in_doubt=[False]))

    with pytest.raises(Unavailable):
        await holds_service.hold_seats(request())
    await holds_service.doubts.resolved()

    assert holds.rows == {}
    assert gate.released == []
