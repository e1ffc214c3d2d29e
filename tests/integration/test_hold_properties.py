"""Random hold histories against the real gate, repository and HoldService keep the hold
invariants: I2 (never two unexpired holds on one seat) and I4 (expired or cancelled means
free), with Redis agreeing with PostgreSQL even after Redis lost the event's state.

Holds live 200-400 ms. Expiry in Redis is decided by Redis TIME and key TTLs, so "time
passes" really waits (polling Redis TIME until the earliest expiry is behind it). The
machine drives its own event loop with its own pool and Redis client; the session
fixtures belong to pytest-asyncio's loop and are not shared with it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests import factories
from tests.integration.engines import Engines, close_engines, ms, open_engines
from ticketmaster.adapters.postgres.users import PostgresUserRepository
from ticketmaster.domain.errors import HoldLimitExceeded, IdempotencyConflict, NotFound, SeatsUnavailable
from ticketmaster.domain.holds import Hold, HoldStatus
from ticketmaster.domain.ids import new_id
from ticketmaster.services.holds import HoldSeats

SEATS = [f"sec0-{row}-{n}" for row in ("A", "B") for n in range(1, 7)]
USERS = 3
TTLS_S = (0.2, 0.3, 0.4)
# The gate's per-user limit is a constructor argument; a small one makes LIMIT reachable
# with 12 seats and three buyers (the service maps it to HoldLimitExceeded either way).
SEATS_PER_USER = 4
# Redis TIME, PostgreSQL now() and this process read the same host clock; the slack only
# absorbs the time a call spends in flight.
SLACK_MS = 20


@dataclass
class Granted:
    """A hold the service granted, as the model knows it."""

    hold_id: str
    user: str
    key: str
    seats: tuple[str, ...]  # in the order requested
    exp_ms: int
    ttl_ms: int
    cancelled_at_ms: int | None = None

    @property
    def start_ms(self) -> int:
        return self.exp_ms - self.ttl_ms

    @property
    def end_ms(self) -> int:
        return self.exp_ms if self.cancelled_at_ms is None else min(self.exp_ms, self.cancelled_at_ms)


@dataclass(frozen=True)
class Row:
    id: str
    user_id: str
    status: str
    expires_ms: int
    updated_ms: int
    seats: frozenset[str]


class HoldMachine(RuleBasedStateMachine):
    """Every rule is always enabled and draws the same shapes whatever happened before:
    outcomes depend on real time, so rule choice must not, or replays would diverge."""

    engines: ClassVar[Engines]

    def __init__(self) -> None:
        super().__init__()
        e = self.engines
        venue = factories.venue(sections=1, rows=2, seats=6)
        event = factories.event(venue)
        e.run(factories.load(e.pool, {"venues": [venue], "events": [event]}))
        self.event_id: str = event["id"]
        self.users = [new_id("usr") for _ in range(USERS)]
        for user in self.users:
            e.run(PostgresUserRepository(e.pool).add_guest(user))
        self.holds: dict[str, Granted] = {}
        self.keys_issued = itertools.count()
        self.last_version = 0

    # --- helpers -------------------------------------------------------------------------

    def live_for_sure(self, h: Granted, until_ms: int) -> bool:
        """Not cancelled and unexpired at every instant up to ``until_ms``."""
        return h.cancelled_at_ms is None and h.exp_ms > until_ms + SLACK_MS

    def dead_for_sure(self, h: Granted, since_ms: int) -> bool:
        """Cancelled, or expired at every instant from ``since_ms`` on."""
        return h.cancelled_at_ms is not None or h.exp_ms <= since_ms - SLACK_MS

    def is_loaded(self) -> bool:
        e = self.engines
        return bool(e.run(e.redis.exists(e.keys.loaded(self.event_id))))

    async def _try_hold(self, user: str, seats: list[str], key: str) -> Hold | Exception:
        try:
            return await self.engines.service.hold_seats(HoldSeats(self.event_id, user, seats, key))
        except (SeatsUnavailable, HoldLimitExceeded, IdempotencyConflict) as exc:
            return exc

    async def _rows(self) -> list[Row]:
        rows = await self.engines.pool.fetch(
            """
            SELECT h.id, h.user_id, h.status, h.expires_at, h.updated_at,
                   array(SELECT s.seat_id FROM hold_seats s WHERE s.hold_id = h.id) AS seats
            FROM holds h WHERE h.event_id = $1
            """,
            self.event_id,
        )
        return [
            Row(
                r["id"],
                r["user_id"],
                r["status"],
                ms(r["expires_at"]),
                ms(r["updated_at"]),
                frozenset(r["seats"]),
            )
            for r in rows
        ]

    # --- rules -----------------------------------------------------------------------------

    def pick(self, index: int) -> Granted | None:
        holds = list(self.holds.values())
        return holds[index % len(holds)] if holds else None

    @rule(
        user=st.integers(0, USERS - 1),
        seats=st.lists(st.sampled_from(SEATS), min_size=1, max_size=3, unique=True),
        ttl=st.sampled_from(TTLS_S),
    )
    def hold(self, user: int, seats: list[str], ttl: float) -> None:
        e = self.engines
        user_id = self.users[user]
        key = f"k{next(self.keys_issued)}"
        e.service.hold_ttl_seconds = ttl  # type: ignore[assignment]  # sub-second holds
        before = e.clock.now_ms()
        result = e.run(self._try_hold(user_id, seats, key))
        after = e.clock.now_ms()

        others = [h for h in self.holds.values() if set(h.seats) & set(seats)]
        surely_taken = {s for h in others if self.live_for_sure(h, after) for s in h.seats if s in seats}
        maybe_taken = {s for h in others if not self.dead_for_sure(h, before) for s in h.seats if s in seats}
        mine = [h for h in self.holds.values() if h.user == user_id]
        surely_mine = sum(len(h.seats) for h in mine if self.live_for_sure(h, after))
        maybe_mine = sum(len(h.seats) for h in mine if not self.dead_for_sure(h, before))

        if isinstance(result, SeatsUnavailable):
            named = set(result.extra["seatIds"])
            assert named, "a refusal names at least one seat"
            assert surely_taken <= named <= maybe_taken, (named, surely_taken, maybe_taken)
            return
        assert not surely_taken, f"{sorted(surely_taken)} were held, yet the hold got {result!r}"
        if isinstance(result, HoldLimitExceeded):
            assert maybe_mine + len(seats) > SEATS_PER_USER
            assert surely_mine <= result.extra["seatsHeld"] <= maybe_mine
            return
        assert not isinstance(result, Exception), result
        assert surely_mine + len(seats) <= SEATS_PER_USER, "the per-user limit was exceeded"
        assert result.user_id == user_id
        assert result.event_id == self.event_id
        assert sorted(result.seat_ids) == sorted(seats)
        assert result.status is HoldStatus.ACTIVE
        assert result.id not in self.holds
        ttl_ms = round(ttl * 1000)
        exp_ms = ms(result.expires_at)
        assert before - SLACK_MS <= exp_ms - ttl_ms <= after + SLACK_MS
        self.holds[result.id] = Granted(result.id, user_id, key, tuple(seats), exp_ms, ttl_ms)

    @rule(index=st.integers(0, 1000), same_body=st.booleans(), swap=st.sampled_from(SEATS))
    def replay(self, index: int, same_body: bool, swap: str) -> None:
        """Repeat an earlier request's Idempotency-Key: its hold, or a conflict; nothing new."""
        req = self.pick(index)
        if req is None:
            return
        if same_body:
            seats = list(reversed(req.seats))
        elif swap in req.seats:
            seats = [s for s in req.seats if s != swap] or [SEATS[(SEATS.index(swap) + 1) % len(SEATS)]]
        else:
            seats = [*req.seats, swap]
        result = self.engines.run(self._try_hold(req.user, seats, req.key))
        if same_body:
            assert isinstance(result, Hold), result
            assert result.id == req.hold_id
            assert sorted(result.seat_ids) == sorted(req.seats)
        else:
            assert isinstance(result, IdempotencyConflict), result

    @rule(index=st.integers(0, 1000), by_owner=st.booleans(), stranger=st.integers(1, USERS - 1))
    def cancel(self, index: int, by_owner: bool, stranger: int) -> None:
        e = self.engines
        req = self.pick(index)
        if req is None:
            return
        if not by_owner:
            intruder = self.users[(self.users.index(req.user) + stranger) % USERS]
            with pytest.raises(NotFound):
                e.run(e.service.cancel_hold(intruder, req.hold_id))
            return
        before = e.clock.now_ms()
        e.run(e.service.cancel_hold(req.user, req.hold_id))
        after = e.clock.now_ms()
        (row,) = [r for r in e.run(self._rows()) if r.id == req.hold_id]
        if req.cancelled_at_ms is not None:
            assert row.status == "CANCELLED"
            assert row.updated_ms == req.cancelled_at_ms, "a repeated cancel rewrote the hold"
            return
        if self.live_for_sure(req, after):
            assert row.status == "CANCELLED", "a live hold must be cancelled"
        elif self.dead_for_sure(req, before):
            assert row.status != "CANCELLED", "an expired hold cannot be cancelled any more"
        if row.status == "CANCELLED":
            req.cancelled_at_ms = row.updated_ms

    @rule()
    def time_passes(self) -> None:
        """Really wait, until Redis TIME is past the earliest expiry of a live hold (if any)."""
        e = self.engines
        now = e.clock.now_ms()
        pending = [h.exp_ms for h in self.holds.values() if h.end_ms > now]
        if not pending:
            return
        e.wait_until_past(min(pending))

    @rule(rebuild_now=st.booleans())
    def redis_loses_the_event(self, rebuild_now: bool) -> None:
        """Every Redis key of the event vanishes; the next touch rebuilds it from PostgreSQL."""
        self.engines.lose_event(self.event_id, rebuild_now=rebuild_now)

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def postgres_holds_match_and_no_seat_is_ever_double_held(self) -> None:
        e = self.engines
        now = e.clock.now_ms()
        rows = e.run(self._rows())
        assert {r.id for r in rows} == set(self.holds), "PostgreSQL rows differ from the granted holds"
        for r in rows:
            h = self.holds[r.id]
            assert (r.user_id, r.seats, r.expires_ms) == (h.user, frozenset(h.seats), h.exp_ms)
            assert r.status == ("CANCELLED" if h.cancelled_at_ms is not None else "ACTIVE"), (r, h)
        # I2 now: at most one unexpired, non-cancelled hold per seat (from the rows).
        live = [r for r in rows if r.status == "ACTIVE" and r.expires_ms > now + SLACK_MS]
        for seat in SEATS:
            covering = [r.id for r in live if seat in r.seats]
            assert len(covering) <= 1, f"{seat} is held by {covering}"
        # I2 over the whole history: holds sharing a seat never overlapped in time.
        for a, b in itertools.combinations(self.holds.values(), 2):
            if set(a.seats) & set(b.seats):
                assert a.end_ms <= b.start_ms + SLACK_MS or b.end_ms <= a.start_ms + SLACK_MS, (a, b)

    @invariant()
    def redis_agrees_and_expired_or_cancelled_holds_free_their_seats(self) -> None:
        e = self.engines
        if not self.is_loaded():
            return  # lost and not rebuilt yet: the next hold or snapshot rebuilds it
        snap = e.run(e.gate.snapshot(self.event_id))
        now = snap.taken_at_ms
        assert snap.version >= self.last_version, "the seat-map version went back"
        self.last_version = snap.version
        held_by: dict[str, str] = {}  # seat -> hold, as the seat map computes HELD
        for seat, raw in snap.states.items():
            hold_id, _, exp = raw.partition("|")
            assert exp.isdigit(), raw
            if int(exp) > now:
                held_by[seat] = hold_id
        for h in self.holds.values():
            state = f"{h.hold_id}|{h.exp_ms}"
            if self.live_for_sure(h, now):
                for seat in h.seats:
                    assert snap.states.get(seat) == state, (seat, snap.states.get(seat), h)
            if self.dead_for_sure(h, now):  # I4
                for seat in h.seats:
                    assert held_by.get(seat) != h.hold_id, f"{seat} still HELD by ended hold {h}"
            if h.cancelled_at_ms is not None:
                assert not any(raw.startswith(h.hold_id + "|") for raw in snap.states.values()), h
        for seat, hold_id in held_by.items():
            h = self.holds.get(hold_id)
            assert h is not None, f"{seat} HELD by {hold_id}, which was never granted"
            assert seat in h.seats
            assert h.cancelled_at_ms is None

    @invariant()
    def the_service_reports_each_hold_as_it_is(self) -> None:
        e = self.engines
        for h in self.holds.values():
            before = e.clock.now_ms()
            hold, status = e.run(e.service.get_hold(h.user, h.hold_id))
            after = e.clock.now_ms()
            assert hold.id == h.hold_id
            if h.cancelled_at_ms is not None:
                assert status is HoldStatus.CANCELLED
            elif h.exp_ms > after + SLACK_MS:
                assert status is HoldStatus.ACTIVE
            elif h.exp_ms <= before - SLACK_MS:
                assert status is HoldStatus.EXPIRED


@pytest.mark.parametrize("topology", ["single", "cluster"])
def test_random_hold_histories_keep_i2_and_i4(
    database_url: str, namespace: str, topology: str, request: pytest.FixtureRequest
) -> None:
    cluster = topology == "cluster"
    redis_url = str(request.getfixturevalue("redis_cluster_url" if cluster else "redis_url"))
    engines = open_engines(database_url, redis_url, namespace, seats_per_user=SEATS_PER_USER, cluster=cluster)
    HoldMachine.engines = engines
    try:
        run_state_machine_as_test(
            HoldMachine,
            settings=settings(max_examples=20, stateful_step_count=30, deadline=None),
        )
    finally:
        close_engines(engines)
