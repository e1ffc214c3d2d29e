"""Waiting-room rules (pure): sale defaults, queue positions, the pre-queue shuffle, ETAs.

Contract of a queue (one per event with ``waitingRoom`` on):

* **Numbers.** Every join takes a number from one counter (INCR); a buyer keeps the
  number of their first join. The sale opening *freezes* the pre-queue: its size ``M`` is
  the count handed out before ``onSaleAt`` (by the Redis clock), and a random seed is
  drawn once, atomically, by whichever of the join script or the ticker sees the sale
  open first.
* **Positions.** Numbers ``1..M`` (pre-queue) get positions by a keyed pseudo-random
  permutation of ``1..M`` (:func:`prequeue_position`); numbers above ``M`` keep their
  number as their position (FIFO behind the pre-queue). Any process can compute a
  waiter's position from the number in their token plus ``(M, seed)``: no per-waiter
  lookup.
* **Admission.** The ticker raises "admitted up to" ``A`` position by position; a
  waiter is admitted when ``position <= A`` and the ticker did not pass it over. Its
  admission lasts ``window`` from the moment the counter passed it (the admission log), so
  the cap on concurrently admitted buyers counts exactly the admissions younger than the
  window.
* **Returners.** A waiter silent for the heartbeat timeout when the counter reaches it is
  *skipped*: passed over without an admission. If it polls again within the window it had
  (or while already waiting as a returner) it is a *returner*: it waits, ahead of
  everybody behind the counter, until the ticker readmits it within the same rate and
  cap, and its admission then lasts ``window`` from the readmission. A skipped waiter who
  comes back later than that has lapsed, like an admission (join again at the back).
* **Epoch.** The queue lives in Redis only. A Redis that lost it (restarted empty, or from
  an older snapshot) starts a new line with a new epoch: queue tokens of the old epoch are
  refused (403 ``forbidden``; the buyer joins again and gets a place at the back of the new
  line), while admission tokens already handed out stay valid until they expire, because
  the hold path checks only their signature. The new line's ticker counts only its own
  admissions against the cap, so for one window after such a loss the old admissions can
  come on top of it (at most one cap more).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from hashlib import blake2b

from ticketmaster.domain.layout import EventInfo

DEFAULT_RATE_PER_SEAT_PER_MINUTE = 10
"""SPEC §3: by default an event admits ten times its seat count per minute."""
MAX_ADMITTED_PER_SEAT = 2
"""Default cap: two shoppers per seat, enough to sell out without a stampede at the gate."""
MAX_ADMITTED_CEILING = 10_000
"""...but never more than this many at once by default: 10,000 admitted buyers making a
hold or seat-map call every ~10 s is ~1,000 req/s, what one 2-core API host serves well
within the hold p99 target. Set ``maxAdmitted`` per event to go beyond it."""
SHUFFLE_ROUNDS = 4
MAX_ESTIMATE_SECONDS = 24 * 3600
HEARTBEAT_BUCKETS = 4
"""A heartbeat timeout is covered by this many time buckets (plus the current one), so a
waiter counts as silent after between 1 and 1.25 timeouts without a poll."""


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """The sale settings of one event with the defaults filled in."""

    rate_per_minute: int
    max_admitted: int
    window_seconds: int

    @property
    def rate_per_second(self) -> float:
        return self.rate_per_minute / 60


def admission_policy(info: EventInfo, hold_ttl_seconds: int) -> AdmissionPolicy:
    """Defaults: rate 10 x seats per minute, cap 2 x seats (at most 10,000), window = hold TTL."""
    seats = max(1, info.seat_count)
    rate = info.admission_rate_per_minute
    cap = info.max_admitted
    window = info.admission_window_seconds
    return AdmissionPolicy(
        rate_per_minute=rate if rate is not None else DEFAULT_RATE_PER_SEAT_PER_MINUTE * seats,
        max_admitted=cap if cap is not None else min(MAX_ADMITTED_PER_SEAT * seats, MAX_ADMITTED_CEILING),
        window_seconds=window if window is not None else hold_ttl_seconds,
    )


def prequeue_position(ticket: int, size: int, seed: str) -> int:
    """The position (1..size) of pre-queue ticket ``ticket`` (1..size) under ``seed``.

    A keyed Feistel network (blake2b rounds) is a permutation of ``[0, 2**bits)``;
    cycle-walking restricts it to ``[0, size)`` and stays a permutation. So every ticket
    gets a distinct position, the same seed always gives the same order, and nobody can
    predict the order before the seed is drawn at the opening.
    """
    if not 1 <= ticket <= size:
        raise ValueError(f"ticket {ticket} is outside the pre-queue 1..{size}")
    if size == 1:
        return 1
    bits = max(2, (size - 1).bit_length())
    bits += bits % 2
    half = bits // 2
    mask = (1 << half) - 1
    key = seed.encode()[:64]
    x = ticket - 1
    while True:
        left, right = x >> half, x & mask
        for round_ in range(SHUFFLE_ROUNDS):
            digest = blake2b(bytes((round_,)) + right.to_bytes(8, "big"), key=key, digest_size=8).digest()
            left, right = right, left ^ (int.from_bytes(digest, "big") & mask)
        x = (left << half) | right
        if x < size:
            return x + 1


def position_of(number: int, prequeue_size: int | None, seed: str) -> int | None:
    """A waiter's position from their number; None while the pre-queue is not frozen."""
    if prequeue_size is None:
        return None
    if number > prequeue_size:
        return number
    return prequeue_position(number, prequeue_size, seed)


def estimate_wait_seconds(
    positions_to_pass: int, measured_per_second: float | None, configured_per_minute: int
) -> float:
    """Seconds until the counter passes ``positions_to_pass`` more positions.

    Uses the measured speed of the counter (skipped abandoners included) and falls back to
    the configured rate only until a measurement exists. A stalled counter (cap reached)
    gives a long but finite estimate: the speed is floored at 1 % of the configured rate.
    Not rounded: the API shows whole seconds, the ETA-error metric compares the exact value.
    """
    if positions_to_pass <= 0:
        return 0.0
    configured = max(configured_per_minute, 1) / 60
    speed = configured if measured_per_second is None else measured_per_second
    speed = max(speed, configured / 100, 1e-6)
    return min(positions_to_pass / speed, float(MAX_ESTIMATE_SECONDS))


def prequeue_wait_seconds(seconds_to_open: float, ticket: int, configured_per_minute: int) -> float:
    """Before the opening: time to open plus the wait of an average draw among at least
    ``ticket`` pre-queue buyers (their order is not known until the shuffle)."""
    expected_position = (ticket + 1) / 2
    return max(0.0, seconds_to_open) + estimate_wait_seconds(
        math.ceil(expected_position), None, configured_per_minute
    )


def whole_seconds(seconds: float) -> int:
    """What the API shows: the estimate rounded to the nearest second."""
    return int(seconds + 0.5)


def heartbeat_bucket_ms(timeout_seconds: float) -> int:
    """Length of one heartbeat bucket: a quarter of the timeout (at least 50 ms)."""
    return max(50, math.ceil(timeout_seconds * 1000 / HEARTBEAT_BUCKETS))


@dataclass(frozen=True, slots=True)
class Passed:
    """What the ticker did with a position the counter has passed (one Redis read)."""

    skipped: bool = False
    """Passed over as silent (forgotten once a readmission of it has lapsed)."""
    returning: bool = False
    """Skipped, polled again, waiting for the ticker to readmit it."""
    readmitted_at_ms: int | None = None
    """When the ticker readmitted it, while that admission is younger than the window."""


@dataclass(frozen=True, slots=True)
class Admission:
    """A passed position's standing: admitted since ``at_ms``, returning, or (neither) lapsed."""

    at_ms: int | None = None
    returning: bool = False
    readmitted: bool = False

    @property
    def lapsed(self) -> bool:
        return self.at_ms is None and not self.returning


def admission_of(view: QueueView, passed: Passed, position: int, window_ms: int, now_ms: int) -> Admission:
    """The standing of ``position`` (at or below the counter) at ``now_ms``.

    Only the ticker admits: a skipped position gets no admission from the counter having
    passed it, only from its readmission, so every admission a poll reports is one the
    ticker counted against the cap. A skipped waiter is a returner if its return is already
    recorded, or if it comes back within the window it would have had.
    """
    if passed.readmitted_at_ms is not None:
        at = passed.readmitted_at_ms
        return Admission(at, readmitted=True) if at + window_ms > now_ms else Admission()
    at_ms = view.admitted_at_ms(position)
    fresh = at_ms is not None and at_ms + window_ms > now_ms
    if passed.skipped:
        return Admission(returning=passed.returning or fresh)
    return Admission(at_ms) if fresh else Admission()


@dataclass(frozen=True, slots=True)
class QueueView:
    """One event's queue as any process sees it (refreshed from Redis a few times a second).

    ``log_up_to``/``log_at_ms`` is the admission log: entry i says the counter reached
    ``log_up_to[i]`` at ``log_at_ms[i]``; entries older than the window are dropped and
    summarised by ``expired_up_to`` (every position at or below it has lapsed). ``active``
    counts the admissions younger than the window: the counter's plus readmitted returners'.
    """

    admitted_up_to: int = 0
    issued: int = 0
    prequeue_size: int | None = None
    seed: str = ""
    opened_at_ms: int | None = None
    active: int = 0
    measured_per_second: float | None = None
    configured_per_minute: int | None = None
    window_ms: int | None = None
    expired_up_to: int = 0
    log_up_to: tuple[int, ...] = ()
    log_at_ms: tuple[int, ...] = ()
    epoch: str | None = None
    """The queue's incarnation; None when Redis has no queue (nobody joined since it was lost)."""

    @property
    def waiting(self) -> int:
        """Positions handed out and not yet passed by the counter (silent ones included)."""
        return max(0, self.issued - self.admitted_up_to)

    def position(self, number: int) -> int | None:
        return position_of(number, self.prequeue_size, self.seed)

    def admitted_at_ms(self, position: int) -> int | None:
        """When the counter passed ``position``; None if it has not, or the log forgot it."""
        if position > self.admitted_up_to or position <= self.expired_up_to:
            return None
        i = bisect_left(self.log_up_to, position)
        return self.log_at_ms[i] if i < len(self.log_at_ms) else None
