"""I8 over real HTTP: a flood far beyond a server's in-flight limit is shed with fast 503s
and Retry-After, the requests let in keep a bounded latency, and the server recovers by
itself once the flood stops.

The server under test has TICKETMASTER_MAX_IN_FLIGHT=8; the flood is 25 times that
(200 closed-loop keep-alive clients) on ``POST /auth/guest`` (one PostgreSQL insert per
request, so requests genuinely overlap). Latency bounds are relative to the same
server's calm latency in the same run, never absolute wall-clock targets.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, engine_env, own_server
from tests.e2e.crowd import Crowd, Reply

LIMIT = 8
FLOOD = 25 * LIMIT


@pytest.fixture(scope="module")
def small_server(
    database_url: str, redis_url: str, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = engine_env(database_url, redis_url, f"{namespace}shed", Path(tmp_path_factory.mktemp("shed")))
    with own_server(env | {"TICKETMASTER_MAX_IN_FLIGHT": str(LIMIT)}) as server:
        yield server


@dataclass
class Run:
    replies: list[Reply] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def seconds(self, status: int) -> list[float]:
        return sorted(r.seconds for r in self.replies if r.status_code == status)

    def statuses(self) -> Counter[int]:
        return Counter(r.status_code for r in self.replies)


def p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


async def drive(url: str, clients: int, duration_s: float) -> Run:
    """``clients`` closed-loop clients, each on its own connection, for ``duration_s``."""
    run = Run()
    deadline = time.monotonic() + duration_s
    async with Crowd(url, connections=clients, timeout_s=10) as crowd:

        async def client() -> None:
            while time.monotonic() < deadline:
                try:
                    run.replies.append(await crowd.post("/auth/guest"))
                except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                    run.failures[type(exc).__name__] += 1

        await asyncio.gather(*(client() for _ in range(clients)))
    return run


async def test_a_flood_is_shed_fast_and_the_server_recovers(small_server: ServerProcess) -> None:
    calm = await drive(small_server.url, clients=4, duration_s=1.5)
    assert calm.statuses().keys() == {201}, calm.statuses()
    calm_p99 = p(calm.seconds(201), 0.99)
    calm_rate = len(calm.replies) / 1.5

    flood = await drive(small_server.url, clients=FLOOD, duration_s=2.5)

    statuses = flood.statuses()
    assert not flood.failures, flood.failures  # answered, never timed out or reset
    assert set(statuses) == {201, 503}, statuses
    assert statuses[503] > statuses[201], statuses  # far beyond capacity: most are shed
    shed = [r for r in flood.replies if r.status_code == 503]
    assert all(r.headers.get("retry-after") == "1" for r in shed)
    assert {r.json()["error"] for r in shed} == {"overloaded"}
    admitted, refused = flood.seconds(201), flood.seconds(503)
    # Shedding is cheaper than serving: refusals come back faster than admitted requests.
    assert statistics.median(refused) < statistics.median(admitted)
    assert p(refused, 0.99) < p(admitted, 0.99)
    # Admitted requests do not queue behind each other: on a CPU shared with 200 flooding
    # clients they take a few event-loop turns more than a refusal, within a constant
    # factor of a refusal in the same flood (a queue of 200 unshed requests would grow with it).
    # p95, not p99: an admitted request commits to PostgreSQL, and a disk flush stall (~100 ms
    # on the CI machine's disk, once or twice a run) holds all eight in-flight commits at once,
    # 1-2 % of them; that is the disk, not a queue, and refusals never wait for it.
    assert p(admitted, 0.95) < 6 * p(refused, 0.95), (p(admitted, 0.95), p(refused, 0.95))
    assert statuses[201] > 0.05 * calm_rate * 2.5, "admitted work keeps flowing during the flood"

    after = await drive(small_server.url, clients=4, duration_s=1.5)
    assert after.statuses().keys() == {201}, after.statuses()
    assert p(after.seconds(201), 0.99) < 3 * calm_p99 + 0.005
    async with Crowd(small_server.url, connections=1) as crowd:
        metrics = (await crowd.get("/metrics")).text
    assert "ticketmaster_http_in_flight 0.0" in metrics
    assert 'ticketmaster_shed_requests_total{reason="overloaded"}' in metrics
