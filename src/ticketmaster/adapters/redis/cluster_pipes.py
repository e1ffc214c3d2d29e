"""ClusterPipes: the hot path's coalescing pipe on a Redis Cluster, one per primary.

Contract (docs/decisions/0001, which this extends):
- ``call(packed, key)`` sends the command on the :class:`CommandPipe` of the primary that
  owns ``key``'s slot, as redis-py's ``RedisCluster`` maps slots to nodes
  (``get_node_from_key``); each pipe borrows one connection of that ``ClusterNode``
  (``acquire_connection``/``release``). Only public redis-py API is used.
- The slot map is redis-py's: when a command meets a moved slot (MOVED/ASK, a failover,
  resharding) the caller re-runs it through ``RedisCluster`` itself, which follows the
  redirect and updates the map (:class:`~.batching.ScriptBatcher` does). When a pipe's
  connection is lost or times out, the caller gets the error as on a single node (the
  command may or may not have run), and one read through ``RedisCluster`` on that slot
  makes redis-py refresh the topology, so later calls reach the new primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import SlotNotCoveredError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ticketmaster.adapters.redis.client import OPERATION_TIMEOUT_S, RedisClient
from ticketmaster.adapters.redis.pipe import CommandPipe, pipe_for

log = logging.getLogger(__name__)
_LOST: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)


class HotPipe(Protocol):
    """What the script batchers send through: a :class:`CommandPipe` or :class:`ClusterPipes`."""

    async def call(self, packed: bytes, key: str | None = None) -> Any: ...
    async def prime(self) -> None: ...


class _NodeConnections:
    """A pipe's connection source on one Cluster node (its own pool)."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node

    async def get_connection(self) -> AbstractConnection:
        return self.node.acquire_connection()  # it connects on its first command

    async def release(self, connection: AbstractConnection) -> None:
        self.node.release(connection)  # type: ignore[arg-type]  # a node's own Connection


class ClusterPipes:
    def __init__(self, client: RedisCluster, *, timeout: float = OPERATION_TIMEOUT_S) -> None:
        self._client = client
        self._timeout = timeout
        self._pipes: dict[str, tuple[ClusterNode, CommandPipe]] = {}
        self._refreshing: asyncio.Task[None] | None = None

    async def call(self, packed: bytes, key: str | None = None) -> Any:
        if key is None:
            raise ValueError("a command on a Redis Cluster needs a key to be routed by")
        pipe = await self._pipe_for_key(key)
        try:
            return await pipe.call(packed)
        except _LOST:
            self._refresh_topology(key)
            raise

    async def prime(self) -> None:
        """Open a pipe to every primary ahead of need (the on-sale warm-up)."""
        await self._client.initialize()
        await asyncio.gather(*(self._pipe(node).prime() for node in self._client.get_primaries()))

    async def _pipe_for_key(self, key: str) -> CommandPipe:
        try:
            node = self._client.get_node_from_key(key)
        except SlotNotCoveredError:  # not initialised yet, or redis-py dropped its map
            await self._client.initialize()
            node = self._client.get_node_from_key(key)
        if node is None:  # only with replica=True
            raise SlotNotCoveredError(f"no node serves the slot of {key!r}")
        return self._pipe(node)

    def _pipe(self, node: ClusterNode) -> CommandPipe:
        known = self._pipes.get(node.name)
        if known is not None and known[0] is node:
            return known[1]
        if known is not None:  # redis-py rebuilt its node objects: leave the old one's connection
            known[1].drop(f"cluster node {node.name} was replaced in the client's map")
        pipe = CommandPipe(_NodeConnections(node), timeout=self._timeout)
        self._pipes[node.name] = (node, pipe)
        return pipe

    def _refresh_topology(self, key: str) -> None:
        """One read of the slot through RedisCluster (at a time): on a dead node it marks
        the map stale and retries after reloading it from the other nodes."""
        if self._refreshing is not None and not self._refreshing.done():
            return

        async def probe() -> None:
            with contextlib.suppress(Exception):
                await self._client.exists(key)

        self._refreshing = asyncio.ensure_future(probe())


_CLUSTER_PIPES: weakref.WeakKeyDictionary[RedisCluster, ClusterPipes] = weakref.WeakKeyDictionary()


def hot_pipe(client: RedisClient) -> HotPipe:
    """The client's hot-path pipe(s), shared by every script batcher of this process."""
    if isinstance(client, Redis):
        return pipe_for(client)
    pipes = _CLUSTER_PIPES.get(client)
    if pipes is None:
        pipes = _CLUSTER_PIPES[client] = ClusterPipes(client)
    return pipes
