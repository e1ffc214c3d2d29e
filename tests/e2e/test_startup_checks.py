"""Start-up refuses a Redis that may evict keys (the gate relies on its idempotency
records and hold keys surviving until they expire): ``serve``, ``worker`` and ``run``
exit with a message naming ``maxmemory-policy`` instead of serving."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.fleet import RedisServer


@pytest.fixture
def evicting_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("command", ["serve", "worker", "run"])
def test_a_redis_that_may_evict_keys_is_refused_at_start_up(
    command: str, evicting_redis: RedisServer, server_env: dict[str, str]
) -> None:
    env = {
        **os.environ,
        **server_env,
        "TICKETMASTER_REDIS_URL": evicting_redis.url,
        "TICKETMASTER_PORT": str(free_port()),
        "TICKETMASTER_SANDBOX_URL": f"http://127.0.0.1:{free_port()}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ticketmaster.entrypoints.cli.main", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0, done.stdout + done.stderr
    assert "maxmemory-policy" in done.stderr, done.stderr
    assert "allkeys-lru" in done.stderr, done.stderr
    assert "noeviction" in done.stderr, done.stderr
