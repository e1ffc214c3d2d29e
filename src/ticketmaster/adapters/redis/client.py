"""The shared redis.asyncio client and the errors that mean "Redis is unreachable"."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal, TypeAlias, overload
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.driver_info import DriverInfo
from redis.exceptions import ClusterError, RedisClusterException, ResponseError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

RedisClient: TypeAlias = redis.asyncio.Redis | RedisCluster
"""What the adapters talk to: one Redis node, or a Redis Cluster (TICKETMASTER_REDIS_CLUSTER)."""

# A Redis Cluster between two slot maps (a failover or resharding under way) is as down as
# an unreachable node, and the command was not run: redis-py raises ClusterError (CLUSTERDOWN,
# MASTERDOWN, "TTL exhausted" after redirects), TryAgainError, or RedisClusterException (a slot
# not covered, or no node that agrees on the map while it reloads it). RedisClusterException
# also covers misuse (keys of two slots in one command), which tests/unit/test_redis_keys.py rules out.
REDIS_DOWN: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    ClusterError,
    TryAgainError,
    RedisClusterException,
)


# The one bound on a Redis operation. Ordinary commands get it from redis-py itself
# (socket_timeout: every read and write); the hot-path scripts, pipelined on one
# connection by adapters/redis/pipe.py, from the pipe's watchdog over their replies.
OPERATION_TIMEOUT_S = 2.0


# Built once: by default every new connection builds its own, and looking up redis-py's version
# in the installed packages' metadata took ~40 ms of CPU per connection (profile of an on-sale's
# first second, when a burst opens connections).
_DRIVER_INFO = DriverInfo(lib_version=redis.__version__)


_REDIS_PY = str(Path(redis.__file__).parent)


def connection_broke(exc: BaseException) -> bool:
    """Whether ``exc`` is a Redis connection breaking inside redis-py rather than a bug of ours,
    for the callers to answer 503 as for a ConnectionError:

    - uvloop's RuntimeError for a write on a connection the server closed (MagicStack/uvloop#506;
      the standard loop drops such a write and the read fails instead);
    - an AttributeError or TypeError raised in redis-py's own code when a failing Cluster node's
      connections are disconnected under a command in flight (redis/redis-py#3835 and kin:
      ``_writer`` is None), seen in the failover drills.

    The single-node client turns the first into a ConnectionError itself (below); the
    Cluster client's connection class is fixed by redis-py."""
    if isinstance(exc, RuntimeError):
        return "handler is closed" in str(exc)
    if isinstance(exc, AttributeError | TypeError):
        frame = exc.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        return frame is not None and frame.tb_frame.f_code.co_filename.startswith(_REDIS_PY)
    return False


class _ClosedTransportIsConnectionError:
    """A write on a connection the server closed raises ConnectionError (see connection_broke)."""

    async def send_packed_command(
        self, command: str | bytes | Iterable[bytes], check_health: bool = True
    ) -> None:
        try:
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except RuntimeError as exc:
            if not connection_broke(exc):
                raise
            raise RedisConnectionError(f"the connection is closed: {exc}") from exc


class _Connection(_ClosedTransportIsConnectionError, redis.asyncio.Connection):
    pass


class _SSLConnection(_ClosedTransportIsConnectionError, redis.asyncio.SSLConnection):
    pass


class _UnixConnection(_ClosedTransportIsConnectionError, redis.asyncio.UnixDomainSocketConnection):
    pass


_CONNECTIONS: dict[str, type[redis.asyncio.Connection] | type[redis.asyncio.UnixDomainSocketConnection]] = {
    "redis": _Connection,
    "rediss": _SSLConnection,
    "unix": _UnixConnection,
}


@overload
def create_client(
    url: str, *, cluster: Literal[False] = False, max_connections: int = 256
) -> redis.asyncio.Redis: ...
@overload
def create_client(url: str, *, cluster: bool, max_connections: int = 256) -> RedisClient: ...
def create_client(url: str, *, cluster: bool = False, max_connections: int = 256) -> RedisClient:
    """A client that fails fast on a dead Redis (connect timeout, refused connections).

    The pool blocks (up to the operation timeout) when all connections are busy rather
    than failing at once: a burst of requests queues briefly instead of getting 503s.
    With ``cluster``, ``url`` is a seed node: redis-py's RedisCluster discovers the other
    nodes, routes each command by its key's slot and follows MOVED/ASK and failovers.
    """
    if cluster:
        return RedisCluster.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=1.0,
            socket_timeout=OPERATION_TIMEOUT_S,
            health_check_interval=10,
            max_connections=max_connections,  # per node
            driver_info=_DRIVER_INFO,
        )
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        connection_class=_CONNECTIONS.get(urlsplit(url).scheme, _Connection),
        decode_responses=True,
        socket_connect_timeout=1.0,
        socket_timeout=OPERATION_TIMEOUT_S,
        health_check_interval=10,
        max_connections=max_connections,
        timeout=OPERATION_TIMEOUT_S,
        driver_info=_DRIVER_INFO,
    )
    return redis.asyncio.Redis.from_pool(pool)  # the client owns the pool and closes it


REQUIRED_EVICTION_POLICY = "noeviction"
_UNREADABLE: tuple[type[Exception], ...] = (*REDIS_DOWN, ResponseError)


async def eviction_policies(url: str, *, cluster: bool = False) -> dict[str, str | None]:
    """Each node's ``maxmemory-policy`` by "host:port", None where it cannot be read (CONFIG
    renamed or not permitted, as on some managed services; the node unreachable). A single
    Redis is one node; a Cluster is every node its CLUSTER NODES lists, replicas too (a
    failover makes one a primary; CLUSTER SLOTS, redis-py's map, omits fresh replicas)."""
    if not cluster:
        return {_address(url): await _policy(url)}
    seed = RedisCluster.from_url(url, decode_responses=True, socket_connect_timeout=2.0, socket_timeout=2.0)
    try:
        nodes = await seed.cluster_nodes()
    except _UNREADABLE:
        return {f"{_address(url)} (no cluster found there)": None}
    finally:
        await seed.aclose()
    addresses = sorted(address for address, node in nodes.items() if "noaddr" not in str(node["flags"]))
    return {address: await _policy(_at(url, address)) for address in addresses}


def _address(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"


def _at(url: str, address: str) -> str:
    """``url`` (scheme, credentials, options) pointed at another node's "host:port"."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{address}" if credentials else address))


async def _policy(url: str) -> str | None:
    client = redis.asyncio.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=2.0, socket_timeout=2.0
    )
    try:
        reply = await client.config_get("maxmemory-policy")
    except _UNREADABLE:
        return None
    finally:
        await client.aclose()
    policy = reply.get("maxmemory-policy")
    return str(policy) if policy is not None else None
