"""ScriptBatcher: concurrent calls of one Lua script share pipelined round trips.

Like the group commit of hold rows, this turns N concurrent hold attempts into one write
and one read instead of N of each (see :mod:`.pipe`). Atomicity is unchanged: each
EVALSHA in the pipeline is still its own script run; a pipeline is not a transaction and
does not need to be.

Commands are encoded by hiredis's C packer: redis-py's generic packer spent more CPU on the
arguments than the scripts cost Redis to run, and a Python one still showed on the profile.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio as redis
from redis.exceptions import NoScriptError

from ticketmaster.adapters.redis.pipe import pipe_for


def pack_evalsha(sha: str, keys: Sequence[str], args: Sequence[str | int | float]) -> bytes:
    """``EVALSHA sha numkeys key... arg...`` as RESP (hiredis's C packer; numbers are sent
    as redis-py sends them, floats by repr)."""
    command = ("EVALSHA", sha, len(keys), *keys, *args)
    packed: bytes = hiredis.pack_command(command)  # type: ignore[arg-type]  # the stub says a 1-tuple
    return packed


class ScriptBatcher:
    """One Lua script, called by SHA on the client's shared :class:`CommandPipe`."""

    def __init__(self, client: redis.Redis, source: str) -> None:
        self._client = client
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()
        self._pipe = pipe_for(client)
        self._loading: asyncio.Future[str] | None = None

    async def __call__(self, *, keys: list[str], args: Sequence[str | int | float]) -> Any:
        """The script's reply; its error reply, a lost connection (``ConnectionError``) or
        no answer within the pipe's timeout (``TimeoutError``) raises."""
        packed = pack_evalsha(self._sha, keys, args)
        try:
            return await self._pipe.call(packed)
        except NoScriptError:  # the server lost its script cache (restart, SCRIPT FLUSH)
            if self._loading is None or self._loading.done():
                # One load for every caller refused in the same burst, not one each.
                self._loading = asyncio.ensure_future(self._client.script_load(self._source))
            await asyncio.shield(self._loading)
            return await self._pipe.call(packed)
