"""Waiting-room rules (pure): defaults, the pre-queue shuffle, positions, ETAs, and the
join/status use cases and admission tokens over a fake queue store."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ticketmaster.adapters.tokens import TokenSigner
from ticketmaster.domain.errors import AdmissionRequired, Forbidden, InvalidRequest, MalformedRequest
from ticketmaster.domain.layout import EventInfo
from ticketmaster.domain.waiting_room import (
    MAX_ADMITTED_CEILING,
    MAX_ESTIMATE_SECONDS,
    Admission,
    Passed,
    QueueView,
    admission_of,
    admission_policy,
    estimate_wait_seconds,
    heartbeat_bucket_ms,
    position_of,
    prequeue_position,
    prequeue_wait_seconds,
    whole_seconds,
)
from ticketmaster.services.waiting_room import AdmissionVerifier, WaitingRoomService

SECRET = "unit-test-secret-" + "w" * 40
signer = TokenSigner(SECRET)


def info(seats: int = 1000, **overrides: Any) -> EventInfo:
    base = EventInfo(
        event_id="evt_1",
        venue_id="ven_1",
        on_sale_at=datetime(2026, 1, 1, tzinfo=UTC),
        waiting_room=True,
        seat_count=seats,
    )
    return replace(base, **overrides)


# --- sale settings ---------------------------------------------------------------------


def test_defaults_follow_the_seat_count_and_the_hold_ttl() -> None:
    policy = admission_policy(info(seats=600), hold_ttl_seconds=600)

    assert policy.rate_per_minute == 6000  # 10 x seats per minute
    assert policy.max_admitted == 1200  # 2 x seats
    assert policy.window_seconds == 600  # the hold TTL
    assert policy.rate_per_second == 100


def test_the_default_cap_has_a_ceiling_and_explicit_settings_win() -> None:
    stadium = admission_policy(info(seats=52_000), hold_ttl_seconds=300)
    assert stadium.max_admitted == MAX_ADMITTED_CEILING
    assert stadium.rate_per_minute == 520_000

    custom = admission_policy(
        info(admission_rate_per_minute=90, max_admitted=7, admission_window_seconds=45), hold_ttl_seconds=600
    )
    assert (custom.rate_per_minute, custom.max_admitted, custom.window_seconds) == (90, 7, 45)


def test_an_event_without_seats_still_gets_a_positive_policy() -> None:
    policy = admission_policy(info(seats=0), hold_ttl_seconds=60)
    assert policy.rate_per_minute >= 1
    assert policy.max_admitted >= 1


# --- the pre-queue shuffle ---------------------------------------------------------------


@pytest.mark.parametrize("size", [*range(1, 70), 255, 256, 257, 1000, 4097])
def test_the_shuffle_is_a_permutation_of_every_size(size: int) -> None:
    positions = [prequeue_position(t, size, "seed-a") for t in range(1, size + 1)]
    assert sorted(positions) == list(range(1, size + 1))


def test_the_shuffle_is_deterministic_per_seed_and_differs_between_seeds() -> None:
    first = [prequeue_position(t, 500, "seed-a") for t in range(1, 501)]
    again = [prequeue_position(t, 500, "seed-a") for t in range(1, 501)]
    other = [prequeue_position(t, 500, "seed-b") for t in range(1, 501)]

    assert first == again
    assert first != other
    assert first != list(range(1, 501)), "the join order must not survive the shuffle"
    # Early joiners gain nothing: the first tenth of the tickets is spread over the queue.
    early = [p for p in first[:50]]
    assert max(early) > 400
    assert min(early) < 100


def test_every_ticket_is_equally_likely_to_land_anywhere() -> None:
    size, seeds = 8, 4000
    landing = collections.Counter(prequeue_position(1, size, f"seed-{i}") for i in range(seeds))
    assert set(landing) == set(range(1, size + 1))
    expected = seeds / size
    assert all(abs(n - expected) < 0.25 * expected for n in landing.values()), landing


def test_a_ticket_outside_the_pre_queue_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        prequeue_position(0, 5, "s")
    with pytest.raises(ValueError, match="outside"):
        prequeue_position(6, 5, "s")


def test_positions_before_the_freeze_after_it_and_behind_the_pre_queue() -> None:
    assert position_of(3, None, "") is None  # the sale has not opened: no position yet
    assert position_of(3, 10, "s") == prequeue_position(3, 10, "s")
    assert position_of(11, 10, "s") == 11  # after the opening: FIFO behind the pre-queue
    assert position_of(1, 0, "s") == 1  # nobody joined early


# --- ETAs --------------------------------------------------------------------------------


def test_the_estimate_uses_the_measured_rate_once_there_is_one() -> None:
    assert estimate_wait_seconds(100, None, configured_per_minute=600) == 10  # 10/s configured
    assert estimate_wait_seconds(100, 4.0, configured_per_minute=600) == 25  # measured 4/s
    assert estimate_wait_seconds(3, 4.0, configured_per_minute=600) == 0.75  # not rounded ...
    assert whole_seconds(0.75) == 1  # ... until shown
    assert whole_seconds(0.49) == 0
    assert estimate_wait_seconds(0, 4.0, configured_per_minute=600) == 0
    assert estimate_wait_seconds(-3, None, configured_per_minute=600) == 0


def test_a_stalled_counter_gives_a_long_but_finite_estimate() -> None:
    stalled = estimate_wait_seconds(100, 0.0, configured_per_minute=600)
    assert stalled == 1000  # floored at 1 % of the configured rate
    assert estimate_wait_seconds(10**12, 0.0, configured_per_minute=1) == MAX_ESTIMATE_SECONDS


def test_a_pre_queue_estimate_adds_the_time_to_open() -> None:
    assert prequeue_wait_seconds(30.5, ticket=199, configured_per_minute=600) == 30.5 + 10
    assert prequeue_wait_seconds(-5, ticket=1, configured_per_minute=60) == 1


def test_heartbeat_buckets_cover_the_timeout_in_quarters() -> None:
    assert heartbeat_bucket_ms(30) == 7500
    assert heartbeat_bucket_ms(0.1) == 50


def test_the_view_knows_when_each_admitted_position_was_passed() -> None:
    view = QueueView(
        admitted_up_to=30,
        issued=50,
        expired_up_to=5,
        log_up_to=(10, 20, 30),
        log_at_ms=(1_000, 2_000, 3_000),
    )
    assert view.waiting == 20
    assert view.admitted_at_ms(5) is None  # lapsed: older than the window
    assert view.admitted_at_ms(6) == 1_000
    assert view.admitted_at_ms(10) == 1_000
    assert view.admitted_at_ms(11) == 2_000
    assert view.admitted_at_ms(30) == 3_000
    assert view.admitted_at_ms(31) is None  # not admitted yet


def test_only_the_ticker_admits_a_skipped_position() -> None:
    view = QueueView(admitted_up_to=30, expired_up_to=5, log_up_to=(10, 30), log_at_ms=(1_000, 2_000))
    window, now = 5_000, 4_000

    assert admission_of(view, Passed(), 12, window, now) == Admission(2_000)
    assert admission_of(view, Passed(), 4, window, now).lapsed
    skipped = Passed(skipped=True)
    assert admission_of(view, skipped, 12, window, now) == Admission(returning=True), "no admission"
    assert admission_of(view, skipped, 12, window, 7_000).lapsed, "back after the window it would have had"
    waiting = Passed(skipped=True, returning=True)
    assert admission_of(view, waiting, 12, window, 7_000) == Admission(returning=True), "already back"
    readmitted = Passed(skipped=True, readmitted_at_ms=6_000)
    assert admission_of(view, readmitted, 12, window, 7_000) == Admission(6_000, readmitted=True)
    assert admission_of(view, readmitted, 12, window, 11_000).lapsed


# --- the status use case over a fake store -------------------------------------------------


@dataclass
class FakeJoin:
    number: int
    prequeue_size: int | None
    seed: str
    epoch: str


@dataclass
class FakeQueues:
    view_now: QueueView = field(default_factory=QueueView)
    numbers: dict[str, int] = field(default_factory=dict)
    beats: list[int] = field(default_factory=list)
    prequeue_size: int | None = 0
    passed_now: dict[int, Passed] = field(default_factory=dict)
    reads: list[int] = field(default_factory=list)
    returns: list[int] = field(default_factory=list)
    epoch: str = "epoch-1"
    """The queue's epoch, unless ``view_now`` names its own."""

    async def join(
        self, event_id: str, user_id: str, on_sale_at_ms: int, *, requeue_from: int | None = None
    ) -> FakeJoin:
        if user_id not in self.numbers or self.numbers[user_id] == requeue_from:
            self.numbers[user_id] = max(self.numbers.values(), default=0) + 1
        return FakeJoin(self.numbers[user_id], self.prequeue_size, "seed", self.epoch)

    async def view(self, event_id: str, *, fresh: bool = False) -> QueueView:
        return self.view_now if self.view_now.epoch else replace(self.view_now, epoch=self.epoch)

    async def passed(self, event_id: str, position: int) -> Passed:
        self.reads.append(position)
        return self.passed_now.get(position, Passed())

    def heartbeat(self, event_id: str, position: int) -> None:
        self.beats.append(position)

    def returned(self, event_id: str, position: int) -> None:
        self.returns.append(position)


@dataclass
class FakeCatalog:
    event: EventInfo | None

    async def event_info(self, event_id: str) -> EventInfo | None:
        return self.event


def now_ms() -> int:
    return int(time.time() * 1000)  # the real clock: the signer stamps tokens with it


def service(queues: FakeQueues, event: EventInfo | None = None) -> WaitingRoomService:
    policy_event = event or info(admission_rate_per_minute=600, admission_window_seconds=60)
    return WaitingRoomService(FakeCatalog(policy_event), queues, signer, 600, 3600, clock_ms=now_ms)


async def test_join_then_poll_while_waiting_records_a_heartbeat_and_an_eta() -> None:
    queues = FakeQueues(view_now=QueueView(admitted_up_to=0, issued=0, measured_per_second=2.0))
    room = service(queues)
    joined = await room.join("usr_a", "evt_1")
    assert joined.position == 1
    queues.view_now = QueueView(admitted_up_to=0, issued=1, prequeue_size=0, measured_per_second=2.0)

    status = await room.status("usr_a", "evt_1", joined.queue_token)

    assert (status.position, status.ahead, status.admitted) == (1, 0, False)
    assert status.estimated_wait_seconds == 1  # one position at the measured 2/s
    assert queues.beats == [1]
    assert queues.reads == [], "no per-waiter read behind the counter"


async def test_a_queue_token_of_a_lost_line_is_refused_and_joining_again_gives_a_new_place() -> None:
    queues = FakeQueues(view_now=QueueView(admitted_up_to=0, issued=3, prequeue_size=0))
    room = service(queues)
    queues.numbers = {"usr_x": 1, "usr_y": 2}
    joined = await room.join("usr_a", "evt_1")
    assert joined.position == 3
    # Redis restarted empty: its queue is gone, then a first joiner starts a new epoch.
    queues.epoch, queues.numbers = "epoch-2", {}
    queues.view_now = QueueView(admitted_up_to=0, issued=0, prequeue_size=0)

    with pytest.raises(Forbidden, match="join the queue again"):
        await room.status("usr_a", "evt_1", joined.queue_token)
    assert queues.beats == [], "no heartbeat for a place of the lost line"

    again = await room.join("usr_a", "evt_1")
    assert again.position == 1, "a place in the new line"
    status = await room.status("usr_a", "evt_1", again.queue_token)
    assert (status.position, status.admitted) == (1, False)
    assert queues.beats == [1]


async def test_a_queue_token_from_before_epochs_is_still_read() -> None:
    queues = FakeQueues(view_now=QueueView(admitted_up_to=0, issued=1, prequeue_size=0))
    room = service(queues)
    legacy, _ = signer.sign("queue", "usr_a", 600, evt="evt_1", n=1, pos=1, sale=0, r=600, w=60)

    status = await room.status("usr_a", "evt_1", legacy)

    assert (status.position, status.admitted) == (1, False)


async def test_an_admitted_waiter_gets_a_token_expiring_one_window_after_admission() -> None:
    queues = FakeQueues()
    room = service(queues)
    joined = await room.join("usr_a", "evt_1")
    admitted_at = now_ms() - 10_000
    queues.view_now = QueueView(
        admitted_up_to=1,
        issued=1,
        prequeue_size=0,
        window_ms=60_000,
        log_up_to=(1,),
        log_at_ms=(admitted_at,),
    )

    status = await room.status("usr_a", "evt_1", joined.queue_token)

    assert status.admitted
    assert status.admitted_at_ms == admitted_at
    assert status.admission_token is not None
    claims = signer.verify(status.admission_token, "admission")
    assert (claims["sub"], claims["evt"], claims["pos"]) == ("usr_a", "evt_1", 1)
    assert abs(claims["exp"] - (admitted_at + 60_000) / 1000) <= 2
    assert status.eta_error_seconds is not None  # reported once ...
    again = await room.status("usr_a", "evt_1", joined.queue_token)
    assert again.admitted
    assert again.eta_error_seconds is None  # ... not on every poll
    assert queues.beats == []  # admitted waiters need no heartbeat


async def test_a_skipped_waiter_who_polls_again_waits_for_the_ticker() -> None:
    queues = FakeQueues()
    room = service(queues)
    joined = await room.join("usr_a", "evt_1")
    passed_at = now_ms() - 10_000
    queues.view_now = QueueView(
        admitted_up_to=1,
        issued=1,
        prequeue_size=0,
        window_ms=60_000,
        measured_per_second=2.0,
        log_up_to=(1,),
        log_at_ms=(passed_at,),
    )
    queues.passed_now[1] = Passed(skipped=True)

    back = await room.status("usr_a", "evt_1", joined.queue_token)

    assert (back.admitted, back.lapsed, back.ahead, back.estimated_wait_seconds) == (False, False, 0, 1)
    assert (queues.returns, queues.beats, queues.reads) == ([1], [], [1])
    assert (await room.join("usr_a", "evt_1")).position == 1, "a returner keeps its place"

    readmitted_at = now_ms() - 1_000
    queues.passed_now[1] = Passed(skipped=True, readmitted_at_ms=readmitted_at)
    admitted = await room.status("usr_a", "evt_1", joined.queue_token)
    assert admitted.admission_token is not None
    assert admitted.admitted_at_ms == readmitted_at
    claims = signer.verify(admitted.admission_token, "admission")
    assert (claims["adm"], claims["pos"]) == (readmitted_at, 1)
    assert abs(claims["exp"] - (readmitted_at + 60_000) / 1000) <= 2, "one window from the readmission"
    assert admitted.eta_error_seconds is None  # its wait was its own absence
    assert queues.returns == [1]

    queues.passed_now[1] = Passed(skipped=True, readmitted_at_ms=now_ms() - 60_000)
    assert (await room.status("usr_a", "evt_1", joined.queue_token)).lapsed
    assert (await room.join("usr_a", "evt_1")).position == 2, "a lapsed returner goes to the back"


async def test_a_lapsed_admission_sends_a_rejoining_buyer_to_the_back() -> None:
    queues = FakeQueues()
    room = service(queues)
    first = await room.join("usr_a", "evt_1")
    await room.join("usr_b", "evt_1")
    queues.view_now = QueueView(
        admitted_up_to=2,
        issued=2,
        prequeue_size=0,
        window_ms=60_000,
        expired_up_to=1,
        log_up_to=(2,),
        log_at_ms=(now_ms(),),
    )

    assert (await room.status("usr_a", "evt_1", first.queue_token)).lapsed
    rejoined = await room.join("usr_a", "evt_1")
    assert rejoined.position == 3
    assert (await room.join("usr_b", "evt_1")).position == 2  # b is admitted, not lapsed: same place


async def test_a_pre_queue_ticket_has_no_position_until_the_opening() -> None:
    queues = FakeQueues(prequeue_size=None)
    sale_ms = now_ms() + 60_000
    sale = datetime.fromtimestamp(sale_ms / 1000, UTC)
    room = service(queues, info(on_sale_at=sale, admission_rate_per_minute=600))
    joined = await room.join("usr_a", "evt_1")
    assert joined.position is None
    assert joined.estimated_wait_seconds >= 60

    before = await room.status("usr_a", "evt_1", joined.queue_token)
    assert before.position is None
    assert before.on_sale_at_ms == sale_ms

    queues.view_now = QueueView(prequeue_size=1, seed="seed", issued=1)
    after = await room.status("usr_a", "evt_1", joined.queue_token)
    assert after.position == 1


async def test_queue_tokens_are_bound_to_their_user_and_event() -> None:
    queues = FakeQueues()
    room = service(queues)
    joined = await room.join("usr_a", "evt_1")
    admission, _ = signer.sign("admission", "usr_a", 60, evt="evt_1")
    forged = TokenSigner("another-secret-" + "z" * 40).sign("queue", "usr_a", 60, evt="evt_1", n=1)[0]

    with pytest.raises(Forbidden):
        await room.status("usr_b", "evt_1", joined.queue_token)
    with pytest.raises(Forbidden):
        await room.status("usr_a", "evt_2", joined.queue_token)
    with pytest.raises(Forbidden):
        await room.status("usr_a", "evt_1", admission)
    with pytest.raises(Forbidden):
        await room.status("usr_a", "evt_1", forged)
    with pytest.raises(MalformedRequest):
        await room.status("usr_a", "evt_1", None)


async def test_joining_an_event_without_a_waiting_room_is_refused() -> None:
    room = service(FakeQueues(), info(waiting_room=False))
    with pytest.raises(InvalidRequest):
        await room.join("usr_a", "evt_1")


def test_an_admission_token_admits_exactly_its_user_to_exactly_its_event() -> None:
    verifier = AdmissionVerifier(signer)
    good, _ = signer.sign("admission", "usr_a", 60, evt="evt_1")
    queue, _ = signer.sign("queue", "usr_a", 60, evt="evt_1", n=1)
    expired, _ = signer.sign("admission", "usr_a", -5, evt="evt_1")
    forged = TokenSigner("another-secret-" + "z" * 40).sign("admission", "usr_a", 60, evt="evt_1")[0]

    verifier.verify(good, "usr_a", "evt_1")
    for token, user, event in [
        (None, "usr_a", "evt_1"),
        (good, "usr_b", "evt_1"),
        (good, "usr_a", "evt_2"),
        (queue, "usr_a", "evt_1"),
        (expired, "usr_a", "evt_1"),
        (forged, "usr_a", "evt_1"),
        (good[:-3] + "abc", "usr_a", "evt_1"),
    ]:
        with pytest.raises(AdmissionRequired):
            verifier.verify(token, user, event)
