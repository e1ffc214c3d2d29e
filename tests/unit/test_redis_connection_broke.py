"""Which errors count as a Redis connection that broke inside redis-py (answered 503, like a
ConnectionError) and which stay bugs of ours (500)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from ticketmaster.adapters.redis.client import connection_broke

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
