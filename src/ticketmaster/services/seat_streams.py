"""Live seat updates: ``GET /events/{id}/seats/stream`` as Server-Sent Events.

Per process and event, one watcher polls the event's seat change log (the Redis stream
every seat script appends to, read by ``SeatStateReader.changes_since``) every ``poll_s``
and fans each batch out to that event's subscribers, encoded once. No PostgreSQL, and
Redis work per event, not per subscriber.

Wire contract (API.md "Live seat updates"), one SSE event per batch:

    id: <version>
    data: {"version": <version>, "changes": [{"seatId": ..., "status": "AVAILABLE|HELD|SOLD"}]}

- A batch merges every version since the previous one; a seat's status is its last one.
- The first event has the current version and no changes: a client pairs it with
  ``GET /events/{id}/seats`` (whose ``version`` it compares) and applies later events.
- ``Last-Event-ID: <version>`` (what EventSource sends on reconnect) resumes: the changes
  since that version come first, while the log still has them.
- When changes cannot be replayed (the log was trimmed or rebuilt, or a client is too far
  behind), an ``event: reset`` with the current version and no changes says: refetch the
  seat map. A subscriber that cannot keep up (``max_backlog`` batches waiting) is closed.
- A comment line every ``keepalive_s`` keeps idle connections open through proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson

from ticketmaster.domain.gate import SeatChanges
from ticketmaster.domain.seats import SeatState
from ticketmaster.observability import SEAT_STREAMS
from ticketmaster.services.ports import SeatStateReader

log = logging.getLogger(__name__)

_KEEPALIVE = b": keep-alive\n\n"


@dataclass(frozen=True, slots=True)
class _Batch:
    since: int  # the version the changes apply to
    version: int  # the version they lead to
    frame: bytes  # the SSE event, encoded once for every subscriber


def _frame(version: int, merged: dict[str, str], *, reset: bool = False) -> bytes:
    data = orjson.dumps(
        {
            "version": version,
            "changes": [
                {"seatId": s, "status": SeatState.parse(raw).logged_status} for s, raw in merged.items()
            ],
        }
    )
    kind = b"event: reset\n" if reset else b""
    return kind + b"id: %d\ndata: %b\n\n" % (version, data)


def _merge(changes: SeatChanges) -> dict[str, str]:
    merged: dict[str, str] = {}
    for _, fields in changes.entries:
        merged.update(fields)
    return merged


@dataclass
class _Watch:
    version: int
    subscribers: set[asyncio.Queue[_Batch | None]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class SeatStreams:
    def __init__(
        self,
        gate: SeatStateReader,
        *,
        poll_s: float = 0.2,
        keepalive_s: float = 15.0,
        max_backlog: int = 256,
    ) -> None:
        self._gate = gate
        self._poll_s = poll_s
        self._keepalive_s = keepalive_s
        self._max_backlog = max_backlog
        self._watches: dict[str, _Watch] = {}

    async def open(self, event_id: str, last_version: int | None) -> AsyncIterator[bytes]:
        """Subscribe (raising now if Redis cannot be read) and return the subscriber's SSE
        bytes; the event must exist (the caller checks)."""
        queue: asyncio.Queue[_Batch | None] = asyncio.Queue()
        watch = await self._subscribe(event_id, queue)
        try:
            if last_version is None or last_version == watch.version:
                position, first = watch.version, _frame(watch.version, {})
            else:
                changes = await self._gate.changes_since(event_id, last_version)
                if changes is None:
                    position = await self._gate.version(event_id) or 0
                    first = _frame(position, {}, reset=True)
                else:
                    position, first = changes.version, _frame(changes.version, _merge(changes))
        except BaseException:
            watch.subscribers.discard(queue)
            raise
        stream = self._stream(watch, queue, position, first)
        # If the response never starts (the client left first), the generator's own cleanup
        # never runs; this one does, once the generator is gone.
        weakref.finalize(stream, watch.subscribers.discard, queue)
        return stream

    @property
    def watched_events(self) -> int:
        """Events this process polls for (one watcher each, however many subscribers)."""
        return len(self._watches)

    def subscribers(self, event_id: str) -> int:
        """How many open streams of this process follow the event."""
        watch = self._watches.get(event_id)
        return 0 if watch is None else len(watch.subscribers)

    async def _stream(
        self, watch: _Watch, queue: asyncio.Queue[_Batch | None], position: int, first: bytes
    ) -> AsyncIterator[bytes]:
        SEAT_STREAMS.inc()
        try:
            yield first
            while True:
                try:
                    batch = await asyncio.wait_for(queue.get(), self._keepalive_s)
                except TimeoutError:
                    yield _KEEPALIVE
                    continue
                if batch is None:  # fell too far behind: closed
                    return
                if batch.version <= position:
                    continue  # already covered by the replay
                if batch.since > position:
                    # A gap between what this subscriber has and the batch (a reset batch).
                    position = batch.version
                    yield _frame(position, {}, reset=True)
                    continue
                # since <= position < version: the batch's final states cover (position, version].
                position = batch.version
                yield batch.frame
        finally:
            SEAT_STREAMS.dec()
            watch.subscribers.discard(queue)

    async def _subscribe(self, event_id: str, queue: asyncio.Queue[_Batch | None]) -> _Watch:
        watch = self._watches.get(event_id)
        if watch is None:
            await self._gate.ensure_loaded(event_id)
            version = await self._gate.version(event_id) or 0
            watch = self._watches.get(event_id)  # another subscriber may have started it meanwhile
            if watch is None:
                watch = self._watches[event_id] = _Watch(version)
                watch.task = asyncio.create_task(self._run(event_id, watch), name=f"seat-stream-{event_id}")
        watch.subscribers.add(queue)
        return watch

    async def _run(self, event_id: str, watch: _Watch) -> None:
        """Poll while anyone listens; the watch is forgotten, without an await in between,
        once nobody does, so a new subscriber either joins it or starts a new one."""
        failing = False
        try:
            while True:
                await asyncio.sleep(self._poll_s)  # the poll period, not a wait for an event
                if not watch.subscribers:
                    return
                try:
                    batch = await self._poll(event_id, watch.version)
                except Exception as exc:
                    if not failing:  # once per outage, not every poll
                        log.warning("seat stream of %s cannot read the change log: %r", event_id, exc)
                    failing = True
                    continue
                failing = False
                if batch is not None:
                    watch.version = batch.version
                    self._publish(watch, batch)
        finally:
            if self._watches.get(event_id) is watch:
                del self._watches[event_id]
            for queue in list(watch.subscribers):  # ended for another reason: let them go
                self._close(queue)

    async def _poll(self, event_id: str, version: int) -> _Batch | None:
        changes = await self._gate.changes_since(event_id, version)
        if changes is not None:
            if changes.version == version:
                return None
            return _Batch(version, changes.version, _frame(changes.version, _merge(changes)))
        current = await self._gate.version(event_id)
        if current is None or current == version:
            return None  # not loaded (nothing to tell yet) or unchanged
        # Not replayable: tell everyone to refetch, from the current version on.
        return _Batch(current, current, _frame(current, {}, reset=True))

    def _publish(self, watch: _Watch, batch: _Batch) -> None:
        for queue in list(watch.subscribers):
            if queue.qsize() >= self._max_backlog:
                watch.subscribers.discard(queue)
                self._close(queue)
            else:
                queue.put_nowait(batch)

    @staticmethod
    def _close(queue: asyncio.Queue[_Batch | None]) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                queue.get_nowait()
        queue.put_nowait(None)

    async def close(self) -> None:
        """Stop every watcher (their subscribers' streams end)."""
        tasks = [w.task for w in self._watches.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
