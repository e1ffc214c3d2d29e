"""One buyer's journey, as a coroutine (thousands run at once; the client bounds how many
requests are in flight).

State machine (each arrow one or more requests; any state may end in GAVE_UP when the sale
is over, or after too many failed requests)::

    ARRIVE -> SIGNED_UP -> QUEUED --(polls until admitted)--> ADMITTED
    ADMITTED -> MAP -> HOLD --201--> PAY | ABANDON        (409: other seats, up to k times)
    PAY --(declined, a share)--> PAY again --SUCCEEDED--> BOUGHT
    ABANDON: the hold is left to expire (its seats come back after the hold TTL)

Requests answered 429/503 are retried after their Retry-After; transport failures (a fault
being injected) after a short pause. Times are seconds on the journal's clock.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from bench.onsale.client import Client, Journal, Reply
from bench.onsale.config import OnSaleConfig
from bench.onsale.seats import SeatView

RETRY_STATUSES = (0, 429, 503)
MAX_TRIES = 60
QUEUE_ROUNDS = 100
MAP_READS = 2
MAX_POLL_S = 15.0
# Parsing a 5,000-seat map costs the harness ~5 ms of CPU, and thousands of admitted buyers
# read it within seconds: a response within this long of the last parsed one reuses that
# parse (each buyer still makes its request, so the server's load is real; its view is at
# most this much staler, as a person's look at a page is).
MAP_REUSE_S = 0.25
SETTLE_S = 120.0
COUNTS = (1, 2, 2, 2, 3, 4, 4)  # seats per buyer: mostly pairs, some groups


@dataclass
class Sale:
    """What every buyer shares: the client, the event and what the harness observes."""

    config: OnSaleConfig
    client: Client
    journal: Journal
    event_id: str
    open_at: float
    """Journal time of onSaleAt."""
    best_supported: bool
    waiting_room: bool = True
    over: asyncio.Event = field(default_factory=asyncio.Event)
    buyers: list[BuyerRecord] = field(default_factory=list)
    last_map: tuple[float, SeatView] | None = None
    """The last map parsed, and when: reused for MAP_REUSE_S (see ``read_map``)."""
    observer: Client | None = None
    """The harness's own connection for watching the sale (the monitor's map reads): an
    observer does not queue behind the buyers for one of theirs, so what it sees (every seat
    taken, sold out) is timed to its half-second samples, not to the buyers' connection waits."""


@dataclass
class BuyerRecord:
    index: int
    arrive_at: float
    token: str = ""
    joined_at: float | None = None
    position: int | None = None
    admitted_at: float | None = None
    done_at: float | None = None
    bought_at: float | None = None
    outcome: str = "unfinished"
    refusal: str | None = None  # the error code and message of the answer that ended the buyer
    seats: list[str] = field(default_factory=list)
    holds: int = 0
    conflicts: int = 0
    abandoned_hold: str | None = None
    purchases: list[str] = field(default_factory=list)


class GaveUp(Exception):
    """The buyer stops: the sale is over, or the system kept failing this buyer."""


class NoSeats(Exception):
    """The map showed fewer seats than the buyer wants, several reads apart."""


class AdmissionLapsed(Exception):
    """The admission window passed before the buyer held seats."""


async def call(
    sale: Sale,
    method: str,
    path: str,
    endpoint: str,
    *,
    headers: dict[str, str],
    body: Any = None,
    client: Client | None = None,
) -> Reply:
    """One request (on the buyers' client unless another is given), retried while it is shed
    (429/503) or unanswered (status 0)."""
    for _ in range(MAX_TRIES):
        reply = await (client or sale.client).request(method, path, endpoint, headers=headers, body=body)
        if reply.status not in RETRY_STATUSES:
            return reply
        if sale.over.is_set():
            raise GaveUp("sale over")
        await asyncio.sleep(min(reply.retry_after, 2.0) if reply.status else random.uniform(0.2, 0.5))
    raise GaveUp(f"{endpoint}: no answer after {MAX_TRIES} tries")


async def journey(sale: Sale, me: BuyerRecord, rng: random.Random) -> None:
    await asyncio.sleep(max(0.0, me.arrive_at - sale.journal.now()))
    auth = {"Authorization": f"Bearer {me.token}"}
    try:
        for _ in range(QUEUE_ROUNDS):
            admission: dict[str, str] = {}
            if sale.waiting_room:
                admission = await _queue(sale, me, rng, auth)
            me.admitted_at = me.admitted_at or sale.journal.now()
            try:
                await _shop(sale, me, rng, {**auth, **admission})
                return
            except AdmissionLapsed:
                continue  # back to the queue: joining again keeps the buyer's place
            except NoSeats:
                # Every seat is held or sold: a fan waits for holds to lapse, then tries again
                # through the waiting room (joining again keeps the place).
                await asyncio.sleep(rng.uniform(2.0, 6.0))
        raise GaveUp("kept finding no seats")
    except GaveUp as stop:
        if me.outcome == "unfinished":
            me.outcome = "sold_out" if sale.over.is_set() else f"gave_up: {stop}"
    finally:
        me.done_at = sale.journal.now()


async def _queue(sale: Sale, me: BuyerRecord, rng: random.Random, auth: dict[str, str]) -> dict[str, str]:
    while True:
        admission = await _wait_in_line(sale, me, rng, auth)
        if admission is not None:
            return admission
        # The server lost the line (Redis reset: 403 on the ticket): join again, as the web app does.


async def _wait_in_line(
    sale: Sale, me: BuyerRecord, rng: random.Random, auth: dict[str, str]
) -> dict[str, str] | None:
    """Join and poll until admitted (the admission header), or None when the ticket is refused."""
    ev = sale.event_id
    joined = await call(sale, "POST", f"/events/{ev}/queue", "queue_join", headers=auth)
    if joined.status != 201:
        raise GaveUp(f"join answered {joined.status}")
    if me.joined_at is None:  # joining again (after a lapse) keeps the first join's time
        me.joined_at = sale.journal.now()
    body = joined.json()
    headers = {**auth, "X-Queue-Token": body["queueToken"]}
    estimate = float(body.get("estimatedWaitSeconds") or 0)
    while True:
        if sale.over.is_set():
            raise GaveUp("sale over")
        # Before the opening nobody is admitted: wait for it (plus the poll's jitter). Far back
        # in the line a waiting page polls less often (a third of the estimated wait), but
        # well within the heartbeat timeout (30 s) after which the ticker passes a waiter over.
        wait = rng.uniform(0.5, 1.5) * min(max(sale.config.poll_s, estimate / 3), MAX_POLL_S)
        now = sale.journal.now()
        if now < sale.open_at:
            wait = sale.open_at - now + rng.uniform(0.0, sale.config.poll_s)
        await asyncio.sleep(wait)
        status = await call(sale, "GET", f"/events/{ev}/queue/status", "queue_status", headers=headers)
        if status.status == 403 and (status.json() or {}).get("error") == "forbidden":
            return None
        if status.status != 200:
            raise GaveUp(f"status answered {status.status}")
        body = status.json()
        me.position = body.get("position", me.position)
        estimate = float(body.get("estimatedWaitSeconds") or 0)
        if body.get("admitted"):
            if me.admitted_at is None:
                me.admitted_at = sale.journal.now()
            return {"X-Admission-Token": body["admissionToken"]}


async def _shop(sale: Sale, me: BuyerRecord, rng: random.Random, headers: dict[str, str]) -> None:
    cfg, ev = sale.config, sale.event_id
    count = rng.choice(COUNTS)
    view = await _read_map(sale, count)
    await asyncio.sleep(rng.uniform(*cfg.think_s))
    for attempt in range(cfg.max_retries + 1):
        if sale.over.is_set():
            raise GaveUp("sale over")
        best = sale.best_supported and rng.random() < cfg.best_share
        if best:
            body: dict[str, Any] = {"best": {"count": count}}
        else:
            seats = view.pick(count, rng, cfg.front_bias)
            if not seats:
                view = await _read_map(sale, count)
                seats = view.pick(count, rng, cfg.front_bias)
            view.remove(seats)
            body = {"seatIds": seats}
        key = f"b{me.index}-h{attempt}"
        reply = await call(
            sale,
            "POST",
            f"/events/{ev}/holds",
            "hold",
            headers={**headers, "Idempotency-Key": key},
            body=body,
        )
        me.holds += 1
        if reply.status == 201:
            hold = reply.json()
            await _pay_or_abandon(sale, me, rng, headers, hold)
            return
        answer = reply.json() or {}
        if reply.status == 409 and answer.get("error") == "seats_unavailable":
            me.conflicts += 1
            view.remove(list(answer.get("seatIds") or []))
            continue
        if reply.status == 403 and answer.get("error") == "admission_required":
            raise AdmissionLapsed()
        raise GaveUp(f"hold answered {reply.status} {answer.get('error')}: {answer.get('message')}")
    me.outcome = "conflicts"


async def _read_map(sale: Sale, count: int) -> SeatView:
    """The map, read again 2 s later while it shows fewer than ``count`` seats."""
    for _ in range(MAP_READS):
        view = await read_map(sale, "seat_map")
        if view.available >= count:
            return view
        await asyncio.sleep(2.0)
    raise NoSeats()


async def read_map(
    sale: Sale, endpoint: str, *, fresh: bool = False, client: Client | None = None
) -> SeatView:
    """The event's seat map (a copy of its parse the caller may change)."""
    path = f"/events/{sale.event_id}/seats"
    reply = await call(sale, "GET", path, endpoint, headers={"Accept-Encoding": "gzip"}, client=client)
    now = sale.journal.now()
    last = sale.last_map
    if fresh or last is None or now - last[0] > MAP_REUSE_S or reply.status != 200:
        if reply.status != 200:
            raise GaveUp(f"seat map answered {reply.status}")
        last = sale.last_map = (now, SeatView.of(reply.json()))
    return last[1].copy()


async def _pay_or_abandon(
    sale: Sale, me: BuyerRecord, rng: random.Random, headers: dict[str, str], hold: dict[str, Any]
) -> None:
    cfg = sale.config
    hold_id = hold["holdId"]
    if rng.random() < cfg.abandon_share:
        me.outcome, me.abandoned_hold = "abandoned", hold_id
        return
    await asyncio.sleep(rng.uniform(*cfg.think_s))
    tokens = ["tok_chargeDeclined", "tok_visa"] if rng.random() < cfg.decline_share else ["tok_visa"]
    for n, token in enumerate(tokens):
        reply = await call(
            sale,
            "POST",
            f"/holds/{hold_id}/purchase",
            "purchase",
            headers={**headers, "Idempotency-Key": f"p{me.index}-{n}"},
            body={"paymentToken": token},
        )
        if reply.status != 202:
            answer = reply.json() or {}
            me.outcome = f"purchase_{reply.status}"
            me.refusal = f"{answer.get('error')} ({answer.get('message')})"
            return
        purchase_id = reply.json()["purchaseId"]
        me.purchases.append(purchase_id)
        outcome = await _settled(sale, purchase_id, headers)
        if outcome["status"] == "SUCCEEDED":
            me.outcome, me.seats = "bought", list(outcome["seatIds"])
            me.bought_at = sale.journal.now()
            return
    me.outcome = "payment_failed"


async def _settled(sale: Sale, purchase_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = sale.journal.now() + SETTLE_S
    while sale.journal.now() < deadline:
        await asyncio.sleep(0.3)
        reply = await call(sale, "GET", f"/purchases/{purchase_id}", "purchase_status", headers=headers)
        body: dict[str, Any] = reply.json()
        if body.get("status") in ("SUCCEEDED", "FAILED"):
            return body
    raise GaveUp(f"purchase {purchase_id} still pending after {SETTLE_S:.0f} s")
