"""RedisWaitingRoom: an event's queue in Redis (counter, freeze, admission log, heartbeats,
skipped waiters who return).

The Lua scripts (``scripts/queue_*.lua``) state the atomic contracts. This module adds
what makes the status path cheap: each process keeps a :class:`QueueView` per event,
refreshed from Redis at most every ``VIEW_TTL_S`` by one request (the others wait for
it), and buffers heartbeats and returns so that many polls cost one script call of each
per event per ``HEARTBEAT_FLUSH_S``. The one per-waiter read, :meth:`RedisWaitingRoom.passed`,
is for positions the counter has passed only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.lua import load_script
from ticketmaster.domain.waiting_room import (
    HEARTBEAT_BUCKETS,
    AdmissionPolicy,
    Passed,
    QueueView,
    heartbeat_bucket_ms,
)

log = logging.getLogger(__name__)

VIEW_TTL_S = 0.25
HEARTBEAT_FLUSH_S = 0.25
# Slots of the heartbeat ring (scripts/heartbeats.lua): more than the buckets a timeout
# covers (HEARTBEAT_BUCKETS + 1), so a slot is reused only after no reader needs it.
HEARTBEAT_SLOTS = HEARTBEAT_BUCKETS + 2
QUEUE_KEYS_TTL_MS = 7 * 24 * 3600 * 1000  # outlives every queue token (24 h) by far
REGISTER_EVERY_S = 30.0
MAX_VIEWS = 1024
MAX_SCAN_PER_STEP = 20_000
RATE_TIME_CONSTANT_MS = 10_000
MAX_STEP_CREDIT_MS = 1_000


@dataclass(frozen=True, slots=True)
class JoinReply:
    number: int
    fresh: bool
    prequeue_size: int | None
    """None while the sale has not opened (the number is a pre-queue ticket)."""
    seed: str
    epoch: str
    """The queue's incarnation (queue_join.lua): numbers of another epoch are not in this line."""


@dataclass(frozen=True, slots=True)
class StepResult:
    """One ticker step; ``closed`` when the sale had not opened by the Redis clock."""

    closed: bool
    admitted_up_to: int = 0
    admitted: int = 0
    skipped: int = 0
    active: int = 0
    issued: int = 0
    measured_per_second: float = 0.0
    readmitted: int = 0
    """Skipped waiters who came back and were admitted this step (counted in ``active``)."""


@dataclass
class _Cached:
    view: QueueView = field(default_factory=QueueView)
    fresh_until: float = 0.0
    refreshing: asyncio.Future[QueueView] | None = None
    loaded: bool = False


class RedisWaitingRoom:
    def __init__(
        self,
        client: RedisClient,
        keys: RedisKeys,
        *,
        heartbeat_timeout_seconds: float,
        on_view: Callable[[str, QueueView], None] | None = None,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._timeout_ms = round(heartbeat_timeout_seconds * 1000)
        self._bucket_ms = heartbeat_bucket_ms(heartbeat_timeout_seconds)
        self._bucket_ttl_ms = (HEARTBEAT_BUCKETS + 2) * self._bucket_ms + self._timeout_ms
        self._on_view = on_view
        self._join = client.register_script(load_script("queue_join.lua"))
        self._admit = client.register_script(load_script("queue_admit.lua"))
        self._beat = client.register_script(load_script("queue_heartbeat.lua"))
        self._return = client.register_script(load_script("queue_return.lua"))
        self._views: OrderedDict[str, _Cached] = OrderedDict()
        self._pending: dict[str, set[int]] = {}
        self._returns: dict[str, set[int]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._registered: dict[str, float] = {}

    # --- join ------------------------------------------------------------------------

    async def join(
        self, event_id: str, user_id: str, on_sale_at_ms: int, *, requeue_from: int | None = None
    ) -> JoinReply:
        """The buyer's number (see queue_join.lua); ``requeue_from`` moves a lapsed buyer back."""
        k = self._keys
        reply = await self._join(
            keys=[
                k.queue_issued(event_id),
                k.queue_members(event_id),
                k.queue_state(event_id),
                *k.queue_seen(event_id, HEARTBEAT_SLOTS),
            ],
            args=[
                user_id,
                on_sale_at_ms,
                secrets.token_hex(16),
                self._bucket_ms,
                self._bucket_ttl_ms,
                QUEUE_KEYS_TTL_MS,
                "" if requeue_from is None else requeue_from,
                secrets.token_hex(8),
            ],
        )
        number, fresh, size, seed, _opened, epoch, began = reply
        # A new epoch means Redis had no queue (first join, or its state was lost with the
        # ticker's list of queues): register it now, whatever this process did before.
        await self._register(event_id, force=bool(int(began)))
        return JoinReply(
            int(number), bool(int(fresh)), None if int(size) < 0 else int(size), str(seed), str(epoch)
        )

    async def _register(self, event_id: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and self._registered.get(event_id, 0.0) > now:
            return
        await self._redis.sadd(self._keys.active_queues(), event_id)
        self._registered[event_id] = now + REGISTER_EVERY_S

    async def active_events(self) -> list[str]:
        members = await self._redis.smembers(self._keys.active_queues())
        return sorted(str(m) for m in members)

    async def forget_event(self, event_id: str) -> None:
        """Stop ticking an event (its waiting room was switched off or it is gone)."""
        await self._redis.srem(self._keys.active_queues(), event_id)

    # --- the cached view (status path) ---------------------------------------------------

    async def view(self, event_id: str, *, fresh: bool = False) -> QueueView:
        """The event's queue as of at most ``VIEW_TTL_S`` ago; one refresh in flight per event.
        ``fresh`` reads Redis now (the caller saw an epoch the cached view does not know)."""
        cached = self._views.get(event_id)
        if cached is None:
            cached = self._views[event_id] = _Cached()
            if len(self._views) > MAX_VIEWS:
                self._views.popitem(last=False)
        if not fresh and cached.loaded and cached.fresh_until > time.monotonic():
            return cached.view
        if not fresh and cached.refreshing is not None:
            return await asyncio.shield(cached.refreshing)
        future: asyncio.Future[QueueView] = asyncio.get_running_loop().create_future()
        cached.refreshing = future
        try:
            view = await self._refresh(event_id, cached.view if cached.loaded else None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters get it, nobody else must
            raise
        finally:
            if cached.refreshing is future:
                cached.refreshing = None
        cached.view, cached.loaded = view, True
        cached.fresh_until = time.monotonic() + VIEW_TTL_S
        self._views[event_id] = cached  # (again, if it was evicted meanwhile)
        self._views.move_to_end(event_id)
        future.set_result(view)
        if self._on_view is not None:
            self._on_view(event_id, view)
        return view

    async def _refresh(self, event_id: str, previous: QueueView | None) -> QueueView:
        k = self._keys
        since = previous.log_up_to[-1] if previous is not None and previous.log_up_to else None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hmget(
                k.queue_state(event_id),
                ["m", "seed", "opened", "a", "cum", "xu", "xc", "rate", "rcfg", "win", "ra", "ep"],
            )
            pipe.get(k.queue_issued(event_id))
            pipe.zrangebyscore(k.queue_log(event_id), "-inf" if since is None else f"({since}", "+inf")
            state, issued, entries = await pipe.execute()
        m, seed, opened, a, cum, xu, xc, rate, rcfg, win, ra, epoch = state
        admitted_up_to = int(a or 0)
        expired_up_to = int(xu or 0)
        up_to: list[int] = []
        at_ms: list[int] = []
        if previous is not None and since is not None and (admitted_up_to < since or epoch != previous.epoch):
            # The queue was reset under us (a new epoch): its log is read whole, on its own.
            entries = await self._redis.zrangebyscore(k.queue_log(event_id), "-inf", "+inf")
        elif previous is not None:
            up_to, at_ms = list(previous.log_up_to), list(previous.log_at_ms)
        for entry in entries:
            position, at, _cum = entry.split(":")
            up_to.append(int(position))
            at_ms.append(int(at))
        first_live = next((i for i, p in enumerate(up_to) if p > expired_up_to), len(up_to))
        return QueueView(
            admitted_up_to=admitted_up_to,
            issued=int(issued or 0),
            prequeue_size=None if m is None else int(m),
            seed=seed or "",
            opened_at_ms=None if opened is None else int(opened),
            active=int(cum or 0) - int(xc or 0) + int(ra or 0),
            measured_per_second=None if rate is None else float(rate),
            configured_per_minute=None if rcfg is None else int(rcfg),
            window_ms=None if win is None else int(win),
            expired_up_to=expired_up_to,
            log_up_to=tuple(up_to[first_live:]),
            log_at_ms=tuple(at_ms[first_live:]),
            epoch=epoch,
        )

    # --- passed positions: skipped, returning, readmitted ---------------------------------

    async def passed(self, event_id: str, position: int) -> Passed:
        """What the ticker did with ``position`` (at or below the counter): one atomic read."""
        k = self._keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.getbit(k.queue_skipped(event_id), position)
            pipe.zscore(k.queue_returning(event_id), position)
            pipe.zscore(k.queue_readmitted(event_id), position)
            skipped, returning, readmitted_at = await pipe.execute()
        return Passed(
            skipped=bool(skipped),
            returning=returning is not None,
            readmitted_at_ms=None if readmitted_at is None else int(readmitted_at),
        )

    # --- heartbeats and returns (buffered) -------------------------------------------------

    def heartbeat(self, event_id: str, position: int) -> None:
        """Note that the waiter at ``position`` polled; written in batches (see module doc)."""
        self._pending.setdefault(event_id, set()).add(position)
        self._schedule_flush()

    def returned(self, event_id: str, position: int) -> None:
        """Note that the skipped waiter at ``position`` polled again (see queue_return.lua);
        written in batches, like heartbeats."""
        self._returns.setdefault(event_id, set()).add(position)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(HEARTBEAT_FLUSH_S)
        await self.flush_heartbeats()

    async def flush_heartbeats(self) -> None:
        """Write the buffered heartbeats and returns: one script call per event and kind."""
        pending, self._pending = self._pending, {}
        returns, self._returns = self._returns, {}
        k = self._keys
        for event_id, positions in pending.items():
            try:
                await self._beat(
                    keys=[k.queue_state(event_id), *k.queue_seen(event_id, HEARTBEAT_SLOTS)],
                    args=[self._bucket_ms, self._bucket_ttl_ms, *positions],
                )
            except Exception:  # best effort: a lost batch makes waiters look silent a bit longer
                log.warning("could not record %d queue heartbeats of %s", len(positions), event_id)
        for event_id, positions in returns.items():
            try:
                await self._return(
                    keys=[
                        k.queue_state(event_id),
                        k.queue_skipped(event_id),
                        k.queue_returning(event_id),
                        k.queue_readmitted(event_id),
                        *k.queue_seen(event_id, HEARTBEAT_SLOTS),
                    ],
                    args=[
                        self._bucket_ms,
                        self._bucket_ttl_ms,
                        QUEUE_KEYS_TTL_MS,
                        *positions,
                    ],
                )
            except Exception:  # best effort: the returners' next poll records them again
                log.warning("could not record %d queue returners of %s", len(positions), event_id)

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        with contextlib.suppress(Exception):
            await self.flush_heartbeats()

    # --- the ticker's step ---------------------------------------------------------------

    async def step(self, event_id: str, policy: AdmissionPolicy, on_sale_at_ms: int) -> StepResult:
        """One admission step (see queue_admit.lua); safe to call from several workers."""
        k = self._keys
        reply = await self._admit(
            keys=[
                k.queue_issued(event_id),
                k.queue_state(event_id),
                k.queue_log(event_id),
                k.queue_skipped(event_id),
                k.queue_returning(event_id),
                k.queue_readmitted(event_id),
                *k.queue_seen(event_id, HEARTBEAT_SLOTS),
            ],
            args=[
                on_sale_at_ms,
                secrets.token_hex(16),
                policy.rate_per_minute,
                policy.max_admitted,
                policy.window_seconds * 1000,
                self._timeout_ms,
                self._bucket_ms,
                MAX_SCAN_PER_STEP,
                RATE_TIME_CONSTANT_MS,
                MAX_STEP_CREDIT_MS,
                QUEUE_KEYS_TTL_MS,
                self._bucket_ttl_ms,
                secrets.token_hex(8),
            ],
        )
        if reply[0] == "CLOSED":
            return StepResult(closed=True)
        a, admitted, skipped, active, issued, rate, readmitted = reply
        return StepResult(
            False, int(a), int(admitted), int(skipped), int(active), int(issued), float(rate), int(readmitted)
        )
