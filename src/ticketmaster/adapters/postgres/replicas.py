"""Browse reads from PostgreSQL streaming replicas, falling back to the primary.

Only browse (event listings and details) reads through this; everything that decides
(holds, purchases, bookings, audit, reconcile) uses the primary's pool directly, since a
replica may be behind.

Contract of :meth:`ReplicaReader.fetch` / ``fetchrow``:

- the query goes to the next replica that is up (round robin), else to the primary;
- a replica that fails to connect or answer (refused, connect timeout of
  ``REPLICA_CONNECT_TIMEOUT_S``, connection lost, shutting down) is marked down at once and
  the same query goes on to the next one: a dead replica costs the requests in flight when
  it died, not every later request;
- a replica marked down gets no requests until the probe (every ``PROBE_INTERVAL_S``, in
  the API process) reaches it again; the probe also records each replica's lag (a replica
  that answers but no longer streams from the primary counts as lagging, see _LAG_SQL);
- a query cancelled by a recovery conflict is retried elsewhere without marking the
  replica down; any other query error is the caller's (it would fail on the primary too).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

from ticketmaster.adapters.postgres.pool import CONNECTION_ERRORS, create_pool
from ticketmaster.observability import BROWSE_READS, REPLICA_FAILURES, REPLICA_LAG, REPLICA_UP

log = logging.getLogger(__name__)
_PROBE_ERRORS: tuple[type[Exception], ...] = (*CONNECTION_ERRORS, asyncpg.PostgresError)
T = TypeVar("T")

REPLICA_CONNECT_TIMEOUT_S = 1.0
PROBE_INTERVAL_S = 2.0
# Seconds the replica's view may be behind the primary: 0 while it streams from the primary
# and has replayed all it received; else the age of the last transaction it replayed (NULL
# before any, reported as NaN). A replica cut off from its primary (unreachable, or the WAL
# it needs already removed there) has replayed all it received, yet falls further behind
# every second: without a WAL receiver it is never "caught up". The receiver's status is
# visible to privileged roles only; others see that a receiver runs, not whether it streams.
_LAG_SQL = """
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN 0
  WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
    AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE coalesce(status, 'streaming') = 'streaming')
    THEN 0
  ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
END
"""


def replica_label(url: str) -> str:
    """host:port of a replica URL, for metrics and logs (never its credentials)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


@dataclass
class _Replica:
    label: str
    pool: asyncpg.Pool
    up: bool = True  # optimistic at start: the first request or probe finds out

    def mark(self, up: bool, reason: str = "") -> None:
        if up != self.up:
            log.warning("read replica %s is %s%s", self.label, "up" if up else "down", reason)
        self.up = up
        REPLICA_UP.labels(self.label).set(1 if up else 0)


class ReplicaReader:
    """``fetch``/``fetchrow`` of browse queries over the replicas, then the primary."""

    def __init__(self, primary: asyncpg.Pool, replicas: Sequence[tuple[str, asyncpg.Pool]]) -> None:
        self._primary = primary
        self._replicas = [_Replica(label, pool) for label, pool in replicas]
        self._turn = itertools.cycle(range(max(1, len(self._replicas))))
        self._probe: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, primary: asyncpg.Pool, urls: Sequence[str], *, max_size: int) -> ReplicaReader:
        """Pools that connect on first use: a replica down at start-up is no start-up error."""
        pools = []
        for url in urls:
            timeout = REPLICA_CONNECT_TIMEOUT_S
            pools.append(
                (
                    replica_label(url),
                    await create_pool(url, max_size=max_size, min_size=0, connect_timeout=timeout),
                )
            )
        return cls(primary, pools)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._read(lambda pool: pool.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self._read(lambda pool: pool.fetchrow(sql, *args))

    async def _read(self, query: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
        start = next(self._turn)
        for replica in self._replicas[start:] + self._replicas[:start]:
            if not replica.up:
                continue
            try:
                result = await query(replica.pool)
            except CONNECTION_ERRORS as exc:
                REPLICA_FAILURES.labels(replica.label).inc()
                replica.mark(False, f": {type(exc).__name__}")
                continue
            except asyncpg.exceptions.SerializationError:  # cancelled by a recovery conflict
                continue
            BROWSE_READS.labels("replica").inc()
            return result
        BROWSE_READS.labels("primary").inc()
        return await query(self._primary)

    def start(self) -> None:
        """Probe the replicas in the background (the API process calls this once)."""
        if self._replicas and self._probe is None:
            self._probe = asyncio.create_task(self._probe_forever())

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.gather(*(self._probe_one(r) for r in self._replicas))
            await asyncio.sleep(PROBE_INTERVAL_S)

    async def _probe_one(self, replica: _Replica) -> None:
        try:
            async with asyncio.timeout(PROBE_INTERVAL_S):
                lag = await replica.pool.fetchval(_LAG_SQL)
        except _PROBE_ERRORS as exc:
            replica.mark(False, f": {type(exc).__name__}")
            return
        REPLICA_LAG.labels(replica.label).set(math.nan if lag is None else float(lag))
        replica.mark(True)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        for replica in self._replicas:
            await replica.pool.close()
