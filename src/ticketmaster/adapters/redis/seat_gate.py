"""RedisSeatGate: the atomic seat gate (Lua scripts) and the per-event state it guards.

The scripts in ``scripts/*.lua`` state their contracts; this module only names keys,
loads an event's state from PostgreSQL once (again when it is found stale: generations.py),
and turns script replies into results.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio.cluster import RedisCluster

from ticketmaster.adapters.redis.batching import ScriptBatcher
from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.generations import GenerationFloors
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.lua import load_script
from ticketmaster.adapters.redis.seat_index import ROWS_PER_CALL, IndexReader
from ticketmaster.adapters.redis.seat_loader import (
    IDEMPOTENCY_TTL_MS,
    EventStateLoader,
    LiveStateSource,
    venue_rows,
)
from ticketmaster.domain.availability import RowProblem
from ticketmaster.domain.best_available import SeatSearch
from ticketmaster.domain.errors import Unavailable
from ticketmaster.domain.gate import (
    DueHolds,
    GateResult,
    Outcome,
    RetimeResult,
    SeatChanges,
    SeatSnapshot,
)
from ticketmaster.domain.holds import HoldStatus
from ticketmaster.domain.reconcile import SeatFix

# Entries the seat change log keeps: every script appends with "XADD MAXLEN ~ 10000" (a
# test keeps them in step). A reader further behind than CHANGES_LIMIT versions takes a
# snapshot: 1,000 entries read in ~2 ms, a 30,000-seat HGETALL in 20-40 ms.
CHANGE_LOG_MAXLEN = 10_000
CHANGES_LIMIT = 1_000
FIXES_PER_CALL = 1_000


def _state_lost(event_id: str) -> Unavailable:
    """Redis lost the event's seat state again after each of three rebuilds (keys flushed
    or a failover under way): the call changed nothing; Redis is as good as down."""
    return Unavailable(
        f"the seat state of event {event_id} keeps disappearing from Redis; nothing was changed"
    )


class RedisSeatGate:
    def __init__(
        self, client: RedisClient, keys: RedisKeys, source: LiveStateSource, *, max_seats_per_user: int
    ) -> None:
        self._redis = client
        self._keys = keys
        self._source = source
        self._max_per_user = max_seats_per_user
        self._hold = ScriptBatcher(client, load_script("hold.lua"))
        self._hold_best = ScriptBatcher(client, load_script("hold_best.lua"))
        self._release = ScriptBatcher(client, load_script("release.lua"))
        self._expire = ScriptBatcher(client, load_script("expire.lua"))
        self._expire_due = client.register_script(load_script("expire_due.lua"))
        self._floors = GenerationFloors(source)
        self._loader = EventStateLoader(
            client, keys, source, load_script("load.lua"), with_holds=self._note_new_holds
        )
        self._retime = client.register_script(load_script("retime.lua"))
        self._sell = client.register_script(load_script("sell.lua"))
        self._reconcile = client.register_script(load_script("reconcile.lua"))
        self._index_rows = client.register_script(load_script("index_rows.lua"))
        self._index = IndexReader(client, keys)
        self._noted: dict[str, float] = {}
        self._cluster = isinstance(client, RedisCluster)

    # --- holds -------------------------------------------------------------------------

    def _index_keys(self, event_id: str) -> list[str]:
        """The availability index, which every script changing a seat keeps in step."""
        k = self._keys
        return [k.seat_rows(event_id), k.row_fits(event_id), k.row_due(event_id)]

    def _new_hold_keys(self, event_id: str, hold_id: str, user_id: str, idempotency_key: str) -> list[str]:
        """The keys of hold.lua and hold_best.lua (see their headers)."""
        k = self._keys
        return [
            k.seats(event_id),
            k.version(event_id),
            k.loaded(event_id),
            k.idempotency(event_id, user_id, idempotency_key),
            k.hold_seats(event_id),
            k.holders(event_id),
            k.expiries(event_id),
            k.hold(event_id, hold_id),
            k.seat_changes(event_id),
            *self._index_keys(event_id),
            k.bought(event_id),
            k.generation(event_id),
        ]

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
        """Hold all seats or none (see hold.lua); loads the event first if needed.
        ``max_seats``: the event's per-buyer limit (default: the gate's)."""
        keys = self._new_hold_keys(event_id, hold_id, user_id, idempotency_key)
        limit = self._max_per_user if max_seats is None else max_seats
        floor = await self._floors.floor(event_id)
        args: list[str | int] = [hold_id, user_id, ttl_ms, fingerprint, limit, IDEMPOTENCY_TTL_MS, floor]
        args += seat_ids
        return await self._new_hold(self._hold, event_id, hold_id, keys, args, floor, best=False)

    async def hold_best(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        search: SeatSearch,
        ttl_ms: int,
        fingerprint: str,
        idempotency_key: str,
        *,
        max_seats: int | None = None,
    ) -> GateResult:
        """Pick the best available seats and hold them (see hold_best.lua)."""
        keys = self._new_hold_keys(event_id, hold_id, user_id, idempotency_key)
        limit = self._max_per_user if max_seats is None else max_seats
        floor = await self._floors.floor(event_id)
        args: list[str | int] = [hold_id, user_id, ttl_ms, fingerprint, limit, IDEMPOTENCY_TTL_MS, floor]
        args += [search.count, "1" if search.adjacent else "0"]
        args += [bound for pair in search.ranges for bound in pair]
        return await self._new_hold(self._hold_best, event_id, hold_id, keys, args, floor, best=True)

    async def _new_hold(
        self,
        script: ScriptBatcher,
        event_id: str,
        hold_id: str,
        keys: list[str],
        args: list[str | int],
        floor: int,
        *,
        best: bool,
    ) -> GateResult:
        for _ in range(3):
            reply = await script(keys=keys, args=args)  # the pipe bounds the wait
            kind = reply[0]
            if kind in ("NOT_LOADED", "STALE"):
                await self._loader.ensure_loaded(event_id, floor)
                continue
            if kind == "OK":
                generation = int(reply[3])
                self._floors.saw(event_id, generation)
                await self._note_holds(event_id)
                return GateResult(
                    Outcome.OK,
                    hold_id=hold_id,
                    expires_at_ms=int(reply[1]),
                    seat_ids=tuple(reply[4:]),
                    generation=generation,
                )
            if kind == "REPLAY":
                return GateResult(
                    Outcome.REPLAY,
                    hold_id=reply[1],
                    fingerprint=reply[2],
                    expires_at_ms=int(reply[3]),
                    seat_ids=tuple(reply[4].split(",")) if reply[4] else (),
                    generation=int(reply[5]),
                )
            if kind == "UNAVAILABLE":
                # hold.lua names the seats taken; hold_best.lua the version it found nothing at.
                return GateResult(
                    Outcome.UNAVAILABLE,
                    unavailable=() if best else tuple(reply[2:]),
                    version=int(reply[2]) if best else 0,
                    records_complete=reply[1] == 1,
                )
            return GateResult(
                Outcome.LIMIT,
                already_held=int(reply[1]),
                already_bought=int(reply[3]),
                records_complete=reply[2] == 1,
            )
        raise _state_lost(event_id)

    async def release(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        seat_ids: tuple[str, ...],
        *,
        forget_idempotency_key: str | None = None,
    ) -> int:
        """Free the seats still held by this hold (see release.lua); returns how many. No
        ``seat_ids``: the seats Redis recorded for the hold."""
        k = self._keys
        keys = [
            k.seats(event_id),
            k.version(event_id),
            k.hold_seats(event_id),
            k.holders(event_id),
            k.expiries(event_id),
            k.hold(event_id, hold_id),
            k.seat_changes(event_id),
            *self._index_keys(event_id),
        ]
        if forget_idempotency_key:
            keys.append(k.idempotency(event_id, user_id, forget_idempotency_key))
        return int(await self._release(keys=keys, args=[hold_id, user_id, *seat_ids]))

    async def _note_holds(self, event_id: str, *, force: bool = False) -> None:
        """Put the event on the Redis sweeper's list (at most once a second per process:
        the sweeper only drops an event whose expiry set is empty, and a later hold or the
        notification listener and PostgreSQL sweeper cover the rare gap)."""
        now = time.monotonic()
        if not force and self._noted.get(event_id, 0.0) > now:
            return
        self._noted[event_id] = now + 1.0
        await self._redis.sadd(self._keys.sweep_list(event_id, cluster=self._cluster), event_id)

    def _hold_keys(self, event_id: str, hold_id: str, *, loaded: bool = False) -> list[str]:
        """The keys of expire, and the first ones of sell and (``loaded``) retime (see their
        headers)."""
        k = self._keys
        return [
            k.seats(event_id),
            k.version(event_id),
            k.hold(event_id, hold_id),
            k.hold_seats(event_id),
            k.holders(event_id),
            k.expiries(event_id),
            *([k.loaded(event_id)] if loaded else []),
            k.seat_changes(event_id),
            *self._index_keys(event_id),
        ]

    async def retime(
        self,
        event_id: str,
        hold_id: str,
        user_id: str,
        seat_ids: tuple[str, ...],
        *,
        status: HoldStatus,
        expires_at_ms: int,
        require_live: bool,
    ) -> RetimeResult:
        """Point the hold's seats at it with a new status/expiry (see retime.lua)."""
        keys = [*self._hold_keys(event_id, hold_id, loaded=True), self._keys.generation(event_id)]
        # A purchase retimes inside its PostgreSQL transaction: no floor read, no record
        # awaited there (each would wait for a second connection of the same pool).
        floor = self._floors.known(event_id)
        args: list[str | int] = [
            hold_id,
            user_id,
            status,
            expires_at_ms,
            "1" if require_live else "0",
            floor,
            *seat_ids,
        ]
        for _ in range(3):
            code, generation = (int(v) for v in await self._retime(keys=keys, args=args))
            if code in (-2, -3):  # not loaded, or stale
                await self._loader.ensure_loaded(event_id, floor)
                continue
            if code == 1:
                # A purchase started (or a hold given back) must survive a failover.
                self._floors.record_soon(event_id, generation)
                await self._note_holds(event_id)
            return RetimeResult(code)
        raise _state_lost(event_id)

    async def sell(self, event_id: str, hold_id: str, user_id: str, seat_ids: tuple[str, ...]) -> int:
        """Mark the booked seats SOLD (see sell.lua); the number of seats that changed."""
        k = self._keys
        keys = [*self._hold_keys(event_id, hold_id), k.bought(event_id), k.generation(event_id)]
        floor = await self._floors.floor(event_id)
        args: list[str | int] = [hold_id, user_id, floor, *seat_ids]
        for _ in range(3):
            changed, generation = (int(v) for v in await self._sell(keys=keys, args=args))
            if changed < 0:  # stale: the rebuild installs the sale too, PostgreSQL has it
                await self._loader.ensure_loaded(event_id, floor)
                continue
            if changed:
                await self._floors.record(event_id, generation)
            return changed
        raise _state_lost(event_id)

    async def hold_exists(self, event_id: str, hold_id: str) -> bool:
        return bool(await self._redis.exists(self._keys.hold(event_id, hold_id)))

    async def expire(self, event_id: str, hold_id: str, user_id: str, seat_ids: tuple[str, ...]) -> int:
        """Free a lapsed hold's seats (see expire.lua): -1 if the hold is still live."""
        keys = self._hold_keys(event_id, hold_id)
        return int(await self._expire(keys=keys, args=[hold_id, user_id, *seat_ids]))

    async def expire_due(self, event_id: str, limit: int) -> DueHolds:
        """Free the seats of every lapsed hold of the event in one call (see expire_due.lua)."""
        k = self._keys
        keys = [
            k.seats(event_id),
            k.version(event_id),
            k.expiries(event_id),
            k.hold_seats(event_id),
            k.holders(event_id),
            k.seat_changes(event_id),
            *self._index_keys(event_id),
        ]
        released, unknown, ahead = await self._expire_due(keys=keys, args=[limit])
        return DueHolds(
            released=[
                (str(released[i]), int(float(released[i + 1])), int(released[i + 2]))
                for i in range(0, len(released), 3)
            ],
            unknown=[str(hold_id) for hold_id in unknown],
            next_due_ms=int(float(ahead)) if ahead else None,
        )

    async def lapsed_hold(self, event_id: str, hold_id: str) -> tuple[str, tuple[str, ...], int] | None:
        """(user, seats, expiry ms) Redis recorded for a hold, or None if it has no record."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._keys.hold_seats(event_id), hold_id)
            pipe.zscore(self._keys.expiries(event_id), hold_id)
            record, score = await pipe.execute()
        if record is None:
            return None
        user_id, _, seats = str(record).partition("|")
        return user_id, tuple(seats.split(",")), int(score or 0)

    async def version(self, event_id: str) -> int | None:
        """The event's seat-map version, None when the event is not loaded."""
        value = await self._redis.get(self._keys.version(event_id))
        return None if value is None else int(value)

    async def idempotency_record(self, event_id: str, user_id: str, key: str) -> str | None:
        value = await self._redis.get(self._keys.idempotency(event_id, user_id, key))
        return None if value is None else str(value)

    # --- reads -------------------------------------------------------------------------

    async def is_loaded(self, event_id: str) -> bool:
        """Whether the event's state is in Redis (else it is rebuilt on first touch)."""
        return bool(await self._redis.exists(self._keys.loaded(event_id)))

    async def apply_seat_fixes(self, event_id: str, fixes: list[SeatFix]) -> set[str]:
        """Compare-and-set each seat's raw state (see reconcile.lua); the seats changed."""
        k = self._keys
        keys = [k.seats(event_id), k.version(event_id), k.seat_changes(event_id), *self._index_keys(event_id)]
        applied: set[str] = set()
        # Chunked: the script copies its arguments with unpack(), bounded by Lua's stack.
        for start in range(0, len(fixes), FIXES_PER_CALL):
            args: list[str] = []
            for fix in fixes[start : start + FIXES_PER_CALL]:
                args += [fix.seat_id, fix.expected, fix.new]
            applied.update(str(seat) for seat in await self._reconcile(keys=keys, args=args))
        return applied

    async def index_problems(self, event_id: str) -> dict[int, RowProblem]:
        """Row index -> what is wrong, for each row of the event's availability index that
        disagrees with the seat states (domain/availability.py)."""
        return await self._index.problems(event_id, await venue_rows(self._source, event_id))

    async def rebuild_index_rows(self, event_id: str, indexes: Iterable[int]) -> int:
        """Rebuild these rows of the availability index from the seat states (index_rows.lua)."""
        wanted = set(indexes)
        rows = [r for r in await venue_rows(self._source, event_id) if r.index in wanted]
        keys = [self._keys.seats(event_id), *self._index_keys(event_id)]
        rebuilt = 0
        for start in range(0, len(rows), ROWS_PER_CALL):
            args: list[str | int] = []
            for row in rows[start : start + ROWS_PER_CALL]:
                args += [row.index, row.seat_prefix, row.seats]
            rebuilt += int(await self._index_rows(keys=keys, args=args))
        return rebuilt

    async def snapshot(self, event_id: str) -> SeatSnapshot:
        """Version and raw seat states read atomically (MULTI), loading the event first if
        needed (or rebuilding it if stale)."""
        k = self._keys
        floor = await self._floors.floor(event_id)
        while True:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.exists(k.loaded(event_id))
                pipe.get(k.generation(event_id))
                pipe.get(k.version(event_id))
                pipe.hgetall(k.seats(event_id))
                loaded, generation, version, states = await pipe.execute()
            if loaded and int(generation or 0) >= floor:
                return SeatSnapshot(int(version or 0), states, int(time.time() * 1000))
            await self._loader.ensure_loaded(event_id, floor)

    async def changes_since(
        self, event_id: str, version: int, *, limit: int = CHANGES_LIMIT
    ) -> SeatChanges | None:
        """The seat changes from ``version`` to the current version, read atomically (MULTI)
        from the change log; None when only a snapshot can tell: the event is not loaded,
        the log lacks an entry (trimmed, lost), was reset (a rebuild), or more than ``limit``
        versions passed. Never loads the event."""
        k = self._keys
        floor = await self._floors.floor(event_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.exists(k.loaded(event_id))
            pipe.get(k.generation(event_id))
            pipe.get(k.version(event_id))
            pipe.xrange(k.seat_changes(event_id), min=f"({version}-0", count=limit)
            loaded, generation, current_text, log = await pipe.execute()
        taken_at_ms = int(time.time() * 1000)
        current = int(current_text or 0)
        if not loaded or int(generation or 0) < floor or not version <= current <= version + limit:
            return None
        entries: list[tuple[int, dict[str, str]]] = []
        expected = version + 1
        for entry_id, fields in log:
            if entry_id != f"{expected}-0" or "*reset" in fields:
                return None
            fields.pop("-", None)  # the placeholder of a version bump that changed no seat
            entries.append((expected, fields))
            expected += 1
        if expected != current + 1:  # an entry is missing (or the log is ahead of the version)
            return None
        return SeatChanges(version, current, tuple(entries), taken_at_ms)

    # --- loading from PostgreSQL ---------------------------------------------------------

    async def ensure_loaded(self, event_id: str) -> None:
        """Rebuild the event's state from PostgreSQL unless present and current (see
        seat_loader.py and generations.py)."""
        await self._loader.ensure_loaded(event_id, await self._floors.floor(event_id))

    async def _note_new_holds(self, event_id: str) -> None:
        await self._note_holds(event_id, force=True)
