"""Expiry jobs: the keyspace-notification listener (primary, sub-second), the Redis sweeper
over each event's expiry sorted set (catches notifications lost in a disconnect), and the
PostgreSQL sweeper (the durable safety net, e.g. after Redis lost everything)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ResponseError

from ticketmaster.adapters.postgres.holds import PostgresExpiryRepository
from ticketmaster.adapters.redis.client import REDIS_DOWN, RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.services.expiry import ExpireHolds

log = logging.getLogger(__name__)

# Keyspace (not keyevent) notifications, so Redis itself filters what reaches us: the events
# of our hold keys in our database only, not every key expiring on the server (rate-limit
# buckets, other deployments' keys), which at times cost the listener more than its work.
KEYSPACE_FLAGS = {"K", "x"}
NOTIFY_RECHECK_S = 5.0  # how often a listening worker makes sure notifications are still on
TOPOLOGY_RECHECK_S = 1.0  # on a Cluster: how often the listener looks for new primaries
EMPTY_GRACE_S = 10.0
LIST_RETRY_S = 1.0  # on a Cluster: a sweeper work list whose node failed is retried this much later


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def enable_notifications(client: RedisClient) -> bool:
    """Turn on keyspace events for expired keys (keeping other flags); False where CONFIG
    is refused. On a Cluster, on every node: notifications are per node, and a replica
    promoted by a failover must already send them."""
    try:
        if isinstance(client, Redis):
            await _enable_on(client, None)
            return True
        await client.initialize()
        for node in client.get_nodes():
            await _enable_on(client, node)
        return True
    except ResponseError:
        return False


async def _enable_on(client: RedisClient, node: ClusterNode | None) -> None:
    where: dict[str, Any] = {} if node is None else {"target_nodes": node}
    current = (await client.config_get("notify-keyspace-events", **where)).get("notify-keyspace-events")
    flags = set(str(current or ""))
    if "K" in flags and ("x" in flags or "A" in flags):
        return
    await client.config_set("notify-keyspace-events", "".join(sorted(flags | KEYSPACE_FLAGS)), **where)


def expired_holds_channel(client: RedisClient, keys: RedisKeys) -> str:
    """The keyspace channel pattern of this namespace's hold keys in the client's database."""
    # A Redis Cluster has database 0 only.
    db = client.connection_pool.connection_kwargs.get("db", 0) if isinstance(client, Redis) else 0
    return f"__keyspace@{db}__:{keys.hold_key_pattern()}"


@dataclass
class ExpiryListener:
    """Turns Redis's expired-key events into releases. When the Redis sweeper of this
    process already watches the hold's event, a notification only wakes it (one path does
    the work, in batches, with no contention between the two); otherwise (e.g. an event
    the sweeper has not seen since a Redis restart) the listener releases the hold itself."""

    client: RedisClient
    keys: RedisKeys
    expire: ExpireHolds
    sweeper: RedisSweeper | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                # On every (re)connection: a restarted Redis has forgotten the CONFIG SET.
                if not await enable_notifications(self.client):
                    log.warning(
                        "Redis refused CONFIG SET notify-keyspace-events (managed Redis?); "
                        "expired holds are released by the sweepers only"
                    )
                    await stop.wait()
                    return
                await self._listen(stop)
            except REDIS_DOWN:
                log.warning("expiry listener lost Redis; reconnecting (sweepers cover the gap)")
                await _pause(stop, 1.0)

    async def _listen(self, stop: asyncio.Event) -> None:
        if isinstance(self.client, RedisCluster):
            await self._listen_to_cluster(self.client, stop)
            return
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await pubsub.psubscribe(expired_holds_channel(self.client, self.keys))
        pending: set[asyncio.Task[bool]] = set()
        checked = time.monotonic()
        try:
            while not stop.is_set():
                if time.monotonic() - checked > NOTIFY_RECHECK_S:
                    # The pub/sub connection may have been re-established under us (redis-py
                    # retries) to a Redis that restarted with notifications off.
                    await enable_notifications(self.client)
                    checked = time.monotonic()
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message["data"] != "expired":
                    continue
                self._on_expired(str(message["channel"]).partition("__:")[2], pending)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.gather(*pending, return_exceptions=True)

    async def _listen_to_cluster(self, client: RedisCluster, stop: asyncio.Event) -> None:
        """The same on every primary of a Cluster (redis-py's cluster keyspace notifications,
        one subscription per primary), following the client's view of the topology: every
        TOPOLOGY_RECHECK_S it subscribes primaries that appeared (a failover, a new shard)
        and drops nodes that are no longer primaries."""
        notes = client.keyspace_notifications(ignore_subscribe_messages=True)
        await notes.subscribe(expired_holds_channel(client, self.keys))
        pending: set[asyncio.Task[bool]] = set()
        checked = refreshed = time.monotonic()
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now - refreshed > TOPOLOGY_RECHECK_S:
                    refreshed = now
                    try:
                        await notes.refresh_subscriptions()  # type: ignore[no-untyped-call]
                    except REDIS_DOWN:  # a primary is down: the others stay subscribed
                        log.info("expiry listener: a cluster node cannot be subscribed yet")
                if now - checked > NOTIFY_RECHECK_S:
                    checked = now
                    await enable_notifications(client)
                note = await notes.get_message(timeout=TOPOLOGY_RECHECK_S)
                if note is not None and note.event_type == "expired":
                    self._on_expired(note.key, pending)
        finally:
            await notes.aclose()  # type: ignore[no-untyped-call]
            await asyncio.gather(*pending, return_exceptions=True)

    def _on_expired(self, key: str, pending: set[asyncio.Task[bool]]) -> None:
        parsed = self.keys.parse_hold_key(key)
        if parsed is None:
            return
        if self.sweeper is not None and parsed[0] in self.sweeper.watched:
            self.sweeper.wake()  # the sweeper releases it with the others due
            return
        task = asyncio.create_task(self._expire(*parsed))
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def _expire(self, event_id: str, hold_id: str) -> bool:
        try:
            return await self.expire.expire(hold_id, "notification", event_id=event_id)
        except Exception:
            log.warning("releasing expired hold %s failed; a sweeper will retry", hold_id, exc_info=True)
            return False


@dataclass(frozen=True)
class _Swept:
    """What one sweep of one work list did."""

    released: int
    next_due_ms: int | None
    backlog: bool
    events: frozenset[str]


@dataclass
class RedisSweeper:
    """Every ``interval`` s: holds whose expiry score has passed, in every event with holds.

    Woken early when the next hold lapses or a notification arrives, but sweeps start at
    least ``min_gap`` s apart (unless a batch came back full): at an on-sale holds lapse
    every fraction of a millisecond, and one sweep per lapse would spend a core on round
    trips that each release one hold. The gap adds at most ``min_gap`` to expiry lag.

    On a Cluster the events are listed per slot range (RedisKeys.events_with_holds), and
    each list is swept on its own: a sweep waits at most ``list_wait`` s for a list whose
    primary is down or failing over, then goes on with the others (that list's sweep
    finishes, or fails, in the background and is collected by a later sweep; a failed
    list is retried LIST_RETRY_S later).
    """

    client: RedisClient
    keys: RedisKeys
    expire: ExpireHolds
    interval: float = 0.1
    batch: int = 200
    min_gap: float = 0.01
    list_wait: float = 0.5
    _empty_since: dict[str, float] = field(default_factory=dict)
    _nudge: asyncio.Event = field(default_factory=asyncio.Event)
    _sweeping: dict[str, asyncio.Task[_Swept]] = field(default_factory=dict)
    _events_by_list: dict[str, frozenset[str]] = field(default_factory=dict)
    _failed_at: dict[str, float] = field(default_factory=dict)
    watched: set[str] = field(default_factory=set)  # events seen in the last sweep

    def wake(self) -> None:
        """Sweep now (an expiry notification arrived) instead of at the planned time."""
        self._nudge.set()

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._nudge.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._nudge.clear()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self._run(stop)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Cancel the sweeps of work lists still in flight (their nodes did not answer)."""
        for task in self._sweeping.values():
            task.cancel()
        await asyncio.gather(*self._sweeping.values(), return_exceptions=True)
        self._sweeping.clear()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            wait, gap = self.interval, min(self.min_gap, self.interval)
            started = time.monotonic()
            try:
                _, next_due_ms, backlog = await self.sweep()
                if next_due_ms is not None:
                    # Wake up right when the next hold lapses, not up to an interval later.
                    wait = min(wait, max(0.0, next_due_ms / 1000 - time.time()) + 0.002)
                if backlog:
                    wait = gap = 0.0
            except REDIS_DOWN:
                log.warning("Redis sweeper cannot reach Redis; retrying")
                wait = 1.0
            except Exception:
                log.exception("Redis sweep failed")
            await self._sleep(stop, wait)
            rest = started + gap - time.monotonic()
            if rest > 0:
                await _pause(stop, rest)

    async def sweep(self) -> tuple[int, int | None, bool]:
        """Release due holds; returns (holds released, earliest expiry still ahead in ms,
        whether a batch came back full so more are due already). Raises when no list could
        be swept (Redis down); on a Cluster a list that failed is logged and retried."""
        lists = self.keys.sweep_lists(cluster=isinstance(self.client, RedisCluster))
        now = time.monotonic()
        for key in lists:
            if key in self._sweeping or now - self._failed_at.get(key, -math.inf) < LIST_RETRY_S:
                continue
            self._sweeping[key] = asyncio.create_task(self._sweep_list(key))
        if not self._sweeping:
            return 0, None, False  # every list failed less than LIST_RETRY_S ago
        # One Redis: wait as long as the sweep takes (its commands have their timeouts).
        done, _ = await asyncio.wait(
            self._sweeping.values(), timeout=None if len(lists) == 1 else self.list_wait
        )
        released, next_due, backlog = 0, None, False
        failures: list[BaseException] = []
        for key, task in list(self._sweeping.items()):
            if task not in done:
                continue
            del self._sweeping[key]
            error = task.exception()
            if error is not None:
                failures.append(error)
                if len(lists) > 1:  # one Redis: run() waits before the next sweep
                    self._failed_at[key] = now
                self._events_by_list.pop(key, None)
                continue
            self._failed_at.pop(key, None)
            swept = task.result()
            released += swept.released
            backlog = backlog or swept.backlog
            if swept.next_due_ms is not None:
                next_due = swept.next_due_ms if next_due is None else min(next_due, swept.next_due_ms)
            self._events_by_list[key] = swept.events
        self.watched = set().union(*self._events_by_list.values())
        if failures and len(failures) == len(lists):
            raise failures[0]
        if failures:
            log.warning(
                "Redis sweeper: %d of %d work lists failed (%r), retried in %s s; the others were swept",
                len(failures),
                len(lists),
                failures[0],
                LIST_RETRY_S,
            )
        return released, next_due, backlog

    async def _sweep_list(self, key: str) -> _Swept:
        released = 0
        next_due: int | None = None
        backlog = False
        members = {str(member) for member in await self.client.smembers(key)}
        for event_id in members:
            # One round trip per event: every lapsed hold released in one script run.
            freed, looked_at, ahead = await self.expire.expire_due(event_id, "redis_sweeper", self.batch)
            released += freed
            backlog = backlog or looked_at >= self.batch
            if ahead is not None:
                next_due = ahead if next_due is None else min(next_due, ahead)
                self._empty_since.pop(event_id, None)
            elif not looked_at:
                # Drop an event only after it stayed empty a while: the hold path re-adds an
                # event at most once a second per process (see RedisSeatGate._note_holds).
                since = self._empty_since.setdefault(event_id, time.monotonic())
                if time.monotonic() - since < EMPTY_GRACE_S:
                    continue
                await self.client.srem(key, event_id)
                self._empty_since.pop(event_id, None)
                # A hold made between the check and the SREM must not drop out of the list.
                if await self.client.zcard(self.keys.expiries(event_id)):
                    await self.client.sadd(key, event_id)
        return _Swept(released, next_due, backlog, frozenset(members))


@dataclass
class PostgresSweeper:
    """Every ``interval`` s: ACTIVE holds past expiry in PostgreSQL (survives Redis loss)."""

    repo: PostgresExpiryRepository
    expire: ExpireHolds
    interval: float = 2.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                for hold_id, _event_id in await self.repo.overdue():
                    await self.expire.expire(hold_id, "postgres_sweeper")
            except Exception:
                log.warning("PostgreSQL sweep failed; retrying", exc_info=True)
            await _pause(stop, self.interval)
