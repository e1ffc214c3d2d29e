"""Random small venues driven through best-available holds, specific holds, cancels,
expiries, sales and Redis losing the event, against the real gate, repository and
HoldService: every best-available answer is the choice the reference rule
(domain/best_available.choose) makes at that moment, every 409 comes when nothing fits,
and after every step the availability index matches the seat states.

"That moment" is known up to the call's round trip: the seat states cannot change during
a call but by the call itself (nothing else runs), yet holds lapse with time. So the
reference is worked out at every instant the answer could have been decided at that
changes anything (the start of the call and each expiry falling within it), and the
answer must be one of those. Holds live 200-400 ms; "time passes" really waits.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from tests import factories
from tests.integration.engines import Engines, close_engines, ms, open_engines
from tests.integration.seat_world import at_ms, sell
from ticketmaster.adapters.postgres.users import PostgresUserRepository
from ticketmaster.domain.best_available import SeatSearch, choose, parse_best
from ticketmaster.domain.errors import HoldLimitExceeded, SeatsUnavailable
from ticketmaster.domain.holds import Hold, HoldStatus
from ticketmaster.domain.ids import new_id
from ticketmaster.domain.layout import RankedRow, SectionLayout, VenueLayout
from ticketmaster.domain.seats import SeatState
from ticketmaster.services.holds import HoldSeats

USERS = 3
SEATS_PER_USER = 8
TTLS_S = (0.2, 0.3, 0.4)
SLACK_MS = 20  # the service's clock is aligned to Redis TIME; this absorbs a call in flight

venues = st.lists(
    st.lists(st.integers(1, 7), min_size=1, max_size=3),  # a section: its rows' seat counts
    min_size=1,
    max_size=3,
)


@dataclass
class Granted:
    hold_id: str
    user: str
    seats: frozenset[str]
    exp_ms: int
    cancelled: bool = False
    sold: bool = False


class BestAvailableMachine(RuleBasedStateMachine):
    engines: ClassVar[Engines]

    def __init__(self) -> None:
        super().__init__()
        self.holds: dict[str, Granted] = {}
        self.keys_issued = itertools.count()
        self.event_id = ""
        self.rows: tuple[RankedRow, ...] = ()
        self.tier_of: dict[str, str] = {}
        self.users: list[str] = []

    @initialize(shape=venues)
    def a_venue(self, shape: list[list[int]]) -> None:
        e = self.engines
        vid = f"ven_{factories.uid()}"
        sections = [
            {
                "id": f"s{i}",
                "name": f"Section {i}",
                "rows": [{"id": chr(ord("A") + r), "seats": n} for r, n in enumerate(rows)],
            }
            for i, rows in enumerate(shape)
        ]
        venue = {"id": vid, "name": "Hall", "city": "NYC", "sections": sections}
        self.tier_of = {s["id"]: f"pt_{i % 2}" for i, s in enumerate(sections)}
        event = factories.event(venue)
        event["priceTiers"] = [
            {
                "id": tier,
                "name": tier,
                "priceCents": 100,
                "currency": "USD",
                "sections": [s for s, t in self.tier_of.items() if t == tier],
            }
            for tier in sorted(set(self.tier_of.values()))
        ]
        e.run(factories.load(e.pool, {"venues": [venue], "events": [event]}))
        self.event_id = event["id"]
        self.rows = VenueLayout(
            vid,
            tuple(
                SectionLayout(s["id"], s["name"], tuple((r["id"], r["seats"]) for r in s["rows"]))
                for s in sections
            ),
        ).ranked_rows
        self.users = [new_id("usr") for _ in range(USERS)]
        for user in self.users:
            e.run(PostgresUserRepository(e.pool).add_guest(user))

    # --- helpers -------------------------------------------------------------------------

    @property
    def seat_ids(self) -> list[str]:
        return [r.seat(n) for r in self.rows for n in range(1, r.seats + 1)]

    def states(self) -> dict[str, str]:
        e = self.engines
        return dict(e.run(e.gate.snapshot(self.event_id)).states)

    def answers(
        self, states: dict[str, str], search: SeatSearch, since_ms: int, until_ms: int
    ) -> set[frozenset[str] | None]:
        """The reference's choice at every instant in [since, until] at which it can change."""
        parsed = {seat: SeatState.parse(raw) for seat, raw in states.items()}
        lapses = {s.expires_at_ms for s in parsed.values() if since_ms < s.expires_at_ms <= until_ms}
        found: set[frozenset[str] | None] = set()
        for instant in {since_ms, *lapses}:
            free = {
                row.index: [
                    not parsed.get(row.seat(n), SeatState()).blocks_at(instant)
                    for n in range(1, row.seats + 1)
                ]
                for row in self.rows
            }
            choice = choose(self.rows, free, search)
            found.add(None if choice is None else frozenset(choice))
        return found

    def seats_of(self, user: str, *, surely: bool, now_ms: int) -> int:
        """Seats the user holds or bought: surely (live past any doubt) or possibly."""
        total = 0
        for h in self.holds.values():
            if h.user != user or h.cancelled:
                continue
            live = h.sold or (h.exp_ms > now_ms + SLACK_MS if surely else h.exp_ms > now_ms - SLACK_MS)
            total += len(h.seats) if live else 0
        return total

    def pick(self, index: int) -> Granted | None:
        holds = [h for h in self.holds.values() if not h.cancelled and not h.sold]
        return holds[index % len(holds)] if holds else None

    def _hold(self, user: str, seat_ids: list[str], body: dict[str, Any] | None, ttl: float) -> object:
        e = self.engines
        e.service.hold_ttl_seconds = ttl  # type: ignore[assignment]  # sub-second holds
        best = None if body is None else parse_best(body)
        cmd = HoldSeats(self.event_id, user, seat_ids, f"k{next(self.keys_issued)}", best=best)
        try:
            return e.run(e.service.hold_seats(cmd))
        except (SeatsUnavailable, HoldLimitExceeded) as exc:
            return exc

    def _grant(self, hold: Hold) -> None:
        assert hold.id not in self.holds
        self.holds[hold.id] = Granted(hold.id, hold.user_id, frozenset(hold.seat_ids), ms(hold.expires_at))

    # --- rules ---------------------------------------------------------------------------

    @rule(
        user=st.integers(0, USERS - 1),
        count=st.integers(1, 4),
        adjacent=st.booleans(),
        sections=st.none() | st.sets(st.integers(0, 2), min_size=1),
        tiers=st.none() | st.sets(st.sampled_from(["pt_0", "pt_1"]), min_size=1),
        ttl=st.sampled_from(TTLS_S),
    )
    def best_available(
        self,
        user: int,
        count: int,
        adjacent: bool,
        sections: set[int] | None,
        tiers: set[str] | None,
        ttl: float,
    ) -> None:
        e = self.engines
        known = [s for s in self.tier_of if sections is None or int(s[1:]) in sections]
        body: dict[str, Any] = {"count": count, "adjacent": adjacent}
        if sections is not None:
            if not known:
                return  # an unknown section id is a 422 (tested through HTTP)
            body["sectionIds"] = known
        tiers = (tiers or set()) & set(self.tier_of.values()) or None  # unknown ids: a 422
        if tiers is not None:
            body["priceTierIds"] = sorted(tiers)
        allowed = {s for s in known if tiers is None or self.tier_of[s] in tiers}
        search = SeatSearch(
            count, adjacent, tuple((r.index, r.index) for r in self.rows if r.section_id in allowed)
        )
        user_id = self.users[user]
        states = self.states()
        before = e.clock.now_ms() - SLACK_MS
        result = self._hold(user_id, [], body, ttl)
        after = e.clock.now_ms() + SLACK_MS

        answers = self.answers(states, search, before, after)
        if isinstance(result, SeatsUnavailable):
            assert result.extra["seatIds"] == []
            assert None in answers, f"409 although {answers} fitted"
            return
        assert answers != {None}, f"nothing fitted, yet {result!r}"
        if isinstance(result, HoldLimitExceeded):
            assert self.seats_of(user_id, surely=False, now_ms=before) + count > SEATS_PER_USER
            return
        assert isinstance(result, Hold), result
        assert frozenset(result.seat_ids) in answers, (sorted(result.seat_ids), answers)
        assert self.seats_of(user_id, surely=True, now_ms=after) + count <= SEATS_PER_USER
        self._grant(result)

    @rule(
        user=st.integers(0, USERS - 1),
        picks=st.lists(st.integers(0, 1000), min_size=1, max_size=3, unique=True),
        ttl=st.sampled_from(TTLS_S),
    )
    def specific_hold(self, user: int, picks: list[int], ttl: float) -> None:
        seats = self.seat_ids
        chosen = sorted({seats[p % len(seats)] for p in picks})
        result = self._hold(self.users[user], chosen, None, ttl)
        if isinstance(result, Hold):
            assert sorted(result.seat_ids) == chosen
            self._grant(result)

    @rule(index=st.integers(0, 1000))
    def cancel(self, index: int) -> None:
        e = self.engines
        h = self.pick(index)
        if h is None:
            return
        e.run(e.service.cancel_hold(h.user, h.hold_id))
        status = e.run(e.pool.fetchval("SELECT status FROM holds WHERE id = $1", h.hold_id))
        h.cancelled = status == "CANCELLED"

    @rule(index=st.integers(0, 1000))
    def sale(self, index: int) -> None:
        """A live hold is paid: its booking is committed, then the gate marks its seats SOLD."""
        e = self.engines
        h = self.pick(index)
        if h is None or h.exp_ms <= e.clock.now_ms() + 200:
            return
        hold = Hold(
            h.hold_id,
            self.event_id,
            h.user,
            tuple(sorted(h.seats)),
            HoldStatus.PURCHASED,
            at_ms(h.exp_ms),
            "",
        )
        e.run(sell(e.pool, hold, live=True))
        e.run(e.pool.execute("UPDATE holds SET status = 'PURCHASED' WHERE id = $1", h.hold_id))
        e.run(e.gate.sell(self.event_id, h.hold_id, h.user, hold.seat_ids))
        h.sold = True

    @rule()
    def time_passes(self) -> None:
        """Really wait, until Redis TIME is past the earliest expiry of a live hold (if any)."""
        e = self.engines
        now = e.clock.now_ms()
        pending = [h.exp_ms for h in self.holds.values() if not h.sold and not h.cancelled and h.exp_ms > now]
        if not pending:
            return
        e.wait_until_past(min(pending))

    @rule()
    def sweeper_runs(self) -> None:
        """The Redis sweeper's script frees whatever has lapsed (the index follows)."""
        e = self.engines
        e.run(e.gate.expire_due(self.event_id, 100))

    @rule(rebuild_now=st.booleans())
    def redis_loses_the_event(self, rebuild_now: bool) -> None:
        self.engines.lose_event(self.event_id, rebuild_now=rebuild_now)

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def the_index_matches_the_seat_states(self) -> None:
        e = self.engines
        if not self.event_id or not e.run(e.gate.is_loaded(self.event_id)):
            return
        assert e.run(e.gate.index_problems(self.event_id)) == {}

    @invariant()
    def sold_seats_stay_sold_and_no_seat_is_held_twice(self) -> None:
        if not self.event_id:
            return
        e = self.engines
        if not e.run(e.gate.is_loaded(self.event_id)):
            return
        states = self.states()
        for h in self.holds.values():
            if h.sold:
                assert all(states.get(s) == "SOLD" for s in h.seats), h
        now = e.clock.now_ms()
        live = [
            h for h in self.holds.values() if not h.sold and not h.cancelled and h.exp_ms > now + SLACK_MS
        ]
        for a, b in itertools.combinations(live, 2):
            assert not a.seats & b.seats, (a, b)


def test_best_available_answers_match_the_reference_and_the_index_the_seats(
    database_url: str, redis_url: str, namespace: str
) -> None:
    engines = open_engines(database_url, redis_url, namespace, seats_per_user=SEATS_PER_USER)
    BestAvailableMachine.engines = engines
    try:
        run_state_machine_as_test(
            BestAvailableMachine,
            settings=settings(max_examples=15, stateful_step_count=30, deadline=None),
        )
    finally:
        close_engines(engines)
