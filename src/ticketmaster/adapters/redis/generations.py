"""Generation floors: how the gate notices that an event's Redis state lacks changes it
acknowledged, and so must be rebuilt from PostgreSQL before anything is decided about it.

A promoted replica can miss the last writes of the primary it replaces (replication is
asynchronous); a Redis restarted from an old snapshot misses everything since. Both keep
the event's "loaded" marker, so without this they would go on granting seats already held
or sold.

Contract (SPEC §3 "Scale-out", I1, I2):
- Redis keeps a generation per event (RedisKeys.generation), bumped by every script whose
  change must survive: a hold granted (hold.lua, hold_best.lua), a purchase started
  (retime.lua, to PURCHASING) and a sale (sell.lua); each returns it. Releases and expiries
  leave it alone: losing one only leaves a seat held until its hold lapses, which the gate
  already treats as free, and it keeps a stale Redis from counting its way back up to a
  floor unchecked.
- PostgreSQL records the generation of each acknowledged change: the hold row carries the
  one its grant reached, in the commit that precedes the 201; a purchase start and a sale
  record theirs (``GenerationSource.record_generation``) once their script has answered.
- Each process keeps a floor per event: the highest generation it has seen a script return
  or read from PostgreSQL. It reads PostgreSQL before its first decision on an event and
  again in the background once the last read is FLOOR_REFRESH_S old, while the event is in
  use. Every generation-bumping script gets the floor and answers STALE, changing nothing,
  when the event's generation is below it; a seat-map read below it also counts as stale.
- STALE: the loader rebuilds the event under its load lock, merging PostgreSQL's live state
  over what Redis has (holds granted since, whose commits are in flight, are kept), and
  leaves the generation above the floor; then the call is made again.
- Why a refreshed floor covers other processes' writes: a replica is promoted only after
  the cluster node timeout (seconds) has passed without its primary, and every change
  acknowledged before the primary died was in PostgreSQL before its acknowledgement, so
  each process serving the event has read it into its floor (FLOOR_REFRESH_S is well below
  the node timeout) before the promoted replica takes its first write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

FLOOR_REFRESH_S = 0.5
FLOOR_EVENTS = 10_000  # events a process keeps floors for (least recently used dropped)


class GenerationSource(Protocol):
    async def acknowledged_generation(self, event_id: str) -> int:
        """The highest generation PostgreSQL recorded for an acknowledged change of the
        event (0 when none)."""
        ...

    async def record_generation(self, event_id: str, generation: int) -> None:
        """Record that a change of the event was acknowledged at ``generation``."""
        ...


@dataclass
class _Floor:
    value: int
    read_at: float


class GenerationFloors:
    """This process's floor per event (see the module's contract)."""

    def __init__(
        self,
        source: GenerationSource,
        *,
        refresh_s: float = FLOOR_REFRESH_S,
        capacity: int = FLOOR_EVENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._refresh_s = refresh_s
        self._capacity = capacity
        self._clock = clock
        self._floors: OrderedDict[str, _Floor] = OrderedDict()
        self._reading: dict[str, asyncio.Task[None]] = {}
        self._recording: set[asyncio.Task[None]] = set()

    async def floor(self, event_id: str) -> int:
        """The event's floor: read from PostgreSQL first if this process has none, refreshed
        in the background once it is older than the refresh period."""
        entry = self._floors.get(event_id)
        if entry is None:
            await asyncio.shield(self._read(event_id))
            entry = self._floors.get(event_id)
            return 0 if entry is None else entry.value
        self._floors.move_to_end(event_id)
        if self._clock() - entry.read_at >= self._refresh_s:
            self._read(event_id)
        return entry.value

    def known(self, event_id: str) -> int:
        """The floor this process has for the event, without asking PostgreSQL (0: none),
        for calls made inside a PostgreSQL transaction, which must not wait for a second
        connection of the same pool."""
        entry = self._floors.get(event_id)
        return 0 if entry is None else entry.value

    def saw(self, event_id: str, generation: int) -> None:
        """A script returned ``generation`` for the event: the floor is at least that."""
        entry = self._floors.get(event_id)
        if entry is not None and generation > entry.value:
            entry.value = generation

    async def record(self, event_id: str, generation: int) -> None:
        """A change the service acknowledges reached ``generation``: raise the floor at once
        (the process's own calls see it whatever happens next), then record it durably."""
        self.saw(event_id, generation)
        await self._source.record_generation(event_id, generation)

    def record_soon(self, event_id: str, generation: int) -> None:
        """``record`` without waiting for PostgreSQL (for a caller inside a transaction): the
        floor is raised at once, the record written by a task of its own."""
        self.saw(event_id, generation)
        task = asyncio.create_task(self._record(event_id, generation), name=f"generation-record-{event_id}")
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def _record(self, event_id: str, generation: int) -> None:
        try:
            await self._source.record_generation(event_id, generation)
        except Exception:
            log.warning("generation %d of %s not recorded", generation, event_id, exc_info=True)

    def _read(self, event_id: str) -> asyncio.Task[None]:
        """The read of the event's floor from PostgreSQL under way, started if none is."""
        task = self._reading.get(event_id)
        if task is None:
            task = asyncio.create_task(self._fetch(event_id), name=f"generation-floor-{event_id}")
            self._reading[event_id] = task
            task.add_done_callback(lambda _t: self._reading.pop(event_id, None))
        return task

    async def _fetch(self, event_id: str) -> None:
        started = self._clock()
        entry = self._floors.get(event_id)
        try:
            value = await self._source.acknowledged_generation(event_id)
        except Exception:
            if entry is None:
                raise  # a first read: the caller cannot decide without it
            log.warning("generation floor of %s not refreshed; kept the last one", event_id, exc_info=True)
            entry.read_at = started  # try again after another period
            return
        entry = self._floors.get(event_id)  # saw() may have raised it meanwhile
        if entry is None:
            self._floors[event_id] = _Floor(value, started)
            while len(self._floors) > self._capacity:
                self._floors.popitem(last=False)
        else:
            entry.value = max(entry.value, value)
            entry.read_at = started
