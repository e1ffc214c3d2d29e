"""Which errors count as a Redis connection that broke inside redis-py or a Redis Cluster
between two slot maps (answered 503, like a ConnectionError) and which stay bugs of ours (500)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    MasterDownError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)

from ticketmaster.adapters.redis.client import connection_broke
from ticketmaster.entrypoints.http import errors

UVLOOP_CLOSED = (
    "unable to perform operation on <TCPTransport closed=True reading=False 0x1>; the handler is closed"
)


def _raised_in(filename: str, source: str) -> BaseException:
    """The exception ``source`` raises when run as code of ``filename``."""
    try:
        exec(compile(source, filename, "exec"), {})
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def test_uvloops_write_on_a_closed_connection_broke_it() -> None:
    assert connection_broke(RuntimeError(UVLOOP_CLOSED))


def test_another_runtime_error_is_ours() -> None:
    assert not connection_broke(RuntimeError("event evt_1 state keeps going stale"))


@pytest.mark.parametrize("source", ["None.writelines([b'x'])", "call = None\ncall(1)"])
def test_a_missing_stream_inside_redis_py_broke_the_connection(source: str) -> None:
    inside = str(Path(redis.__file__).parent / "asyncio" / "connection.py")
    assert connection_broke(_raised_in(inside, source))


@pytest.mark.parametrize("source", ["None.writelines([b'x'])", "call = None\ncall(1)"])
def test_the_same_error_in_our_code_is_ours(source: str) -> None:
    assert not connection_broke(_raised_in(__file__, source))


def test_other_errors_are_ours() -> None:
    assert not connection_broke(ValueError(UVLOOP_CLOSED))


def _answer_to(exc: Exception) -> httpx.Response:
    """How the API's error handlers answer a request whose handler raised ``exc``."""
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/boom")

    return asyncio.run(call())


@pytest.mark.parametrize(
    "exc",
    [
        ClusterDownError("CLUSTERDOWN The cluster is down"),
        MasterDownError("MASTERDOWN Link with MASTER is down"),
        ClusterError("TTL exhausted."),
        TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
        SlotNotCoveredError('Slot "42" not covered by the cluster.'),
        RedisClusterException("Redis Cluster cannot be connected: no reachable node"),
    ],
    ids=type,
)
def test_a_cluster_between_two_slot_maps_is_a_dependency_down(exc: Exception) -> None:
    answer = _answer_to(exc)
    assert answer.status_code == 503
    assert answer.json()["error"] == "unavailable"
    assert answer.headers["retry-after"]


def test_an_error_of_ours_is_a_500() -> None:
    answer = _answer_to(KeyError("seat"))
    assert answer.status_code == 500
    assert answer.json()["error"] == "internal"
