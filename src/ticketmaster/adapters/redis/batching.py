"""ScriptBatcher: concurrent calls of one Lua script share pipelined round trips.

Like the group commit of hold rows, this turns N concurrent hold attempts into one write
and one read instead of N of each (see :mod:`.pipe`). Atomicity is unchanged: each
EVALSHA in the pipeline is still its own script run; a pipeline is not a transaction and
does not need to be.

On a Redis Cluster the call goes to the pipe of the primary owning the script's first key
(every key of a script shares one slot); a moved slot is followed by re-running the call
through redis-py's RedisCluster, which follows the redirect and updates its slot map.

Commands are encoded by hiredis's C packer: redis-py's generic packer spent more CPU on the
arguments than the scripts cost Redis to run, and a Python one still showed on the profile.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.exceptions import AskError, ClusterDownError, NoScriptError, TryAgainError

from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.cluster_pipes import hot_pipe

# Replies that mean "not here, not now" on a Cluster (MovedError is an AskError): the
# command did not run, so it is safe to send again through RedisCluster's own routing.
_REDIRECTED: tuple[type[Exception], ...] = (AskError, TryAgainError, ClusterDownError)


def pack_evalsha(sha: str, keys: Sequence[str], args: Sequence[str | int | float]) -> bytes:
    """``EVALSHA sha numkeys key... arg...`` as RESP (hiredis's C packer; numbers are sent
    as redis-py sends them, floats by repr)."""
    command = ("EVALSHA", sha, len(keys), *keys, *args)
    packed: bytes = hiredis.pack_command(command)  # type: ignore[arg-type]  # the stub says a 1-tuple
    return packed


class ScriptBatcher:
    """One Lua script, called by SHA on the client's shared pipe (one per Cluster primary)."""

    def __init__(self, client: RedisClient, source: str) -> None:
        self._client = client
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()
        self._pipe = hot_pipe(client)
        self._loading: asyncio.Future[str] | None = None

    async def __call__(self, *, keys: list[str], args: Sequence[str | int | float]) -> Any:
        """The script's reply; its error reply, a lost connection (``ConnectionError``) or
        no answer within the pipe's timeout (``TimeoutError``) raises."""
        packed = pack_evalsha(self._sha, keys, args)
        route = keys[0] if keys else None
        redirected = False
        for _ in range(2):
            try:
                if redirected:
                    return await self._client.evalsha(self._sha, len(keys), *keys, *args)
                return await self._pipe.call(packed, route)
            except NoScriptError:  # the server lost its script cache (restart, SCRIPT FLUSH, failover)
                await self._load()
            except _REDIRECTED:  # the slot moved (failover, resharding): redis-py follows it
                redirected = True
        if redirected:
            return await self._client.evalsha(self._sha, len(keys), *keys, *args)
        return await self._pipe.call(packed, route)

    async def _load(self) -> None:
        """SCRIPT LOAD (on every primary of a Cluster), once for every caller refused in
        the same burst, not once each."""
        if self._loading is None or self._loading.done():
            self._loading = asyncio.ensure_future(self._client.script_load(self._source))
        await asyncio.shield(self._loading)
