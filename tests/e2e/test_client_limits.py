"""Per-client-address token buckets over real HTTP (issue 12, point 5): guest sign-ins and
queue joins from one address are limited (429 ``rate_limited`` with Retry-After), shared by
the process's requests; each address behind a trusted proxy has its own bucket; loopback
clients are exempt by default; a rate or burst of 0 switches the limits off.

The limited server allows a burst of 3 at 0.2/s, exempts nobody and trusts 127.0.0.1 as a
proxy, so each ``X-Forwarded-For`` below is a client of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests import factories
from tests.conftest import ServerProcess, engine_env, own_server, server_with_settings
from tests.e2e.buyers import new_buyers
from tests.fleet import LEAN_POOL

BURST = 3
LIMITS = {
    "TICKETMASTER_CLIENT_RATE_LIMIT_PER_SECOND": "0.2",
    "TICKETMASTER_CLIENT_RATE_LIMIT_BURST": str(BURST),
    "TICKETMASTER_CLIENT_LIMIT_EXEMPT": "none",
    "TICKETMASTER_TRUSTED_PROXIES": "127.0.0.1",
}


settings_server, client = server_with_settings("cli", LEAN_POOL | LIMITS)


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert int(response.headers["retry-after"]) >= 1


async def test_guest_sign_ins_are_limited_per_client_address(client: httpx.AsyncClient) -> None:
    burst = await asyncio.gather(
        *(client.post("/auth/guest", headers=from_address("198.51.100.1")) for _ in range(BURST + 2))
    )
    assert sorted(r.status_code for r in burst) == [201] * BURST + [429] * 2
    assert_rate_limited(next(r for r in burst if r.status_code == 429))
    # Another address (the peer's own view of it: a trusted proxy forwarded it) has its own bucket.
    assert (await client.post("/auth/guest", headers=from_address("198.51.100.2"))).status_code == 201
    # What a client writes left of the proxy's entry does not make it someone else.
    spoofed = from_address("203.0.113.77, 198.51.100.1")
    assert_rate_limited(await client.post("/auth/guest", headers=spoofed))
    metrics = (await client.get("/metrics")).text
    assert 'ticketmaster_shed_requests_total{reason="client_rate_limited"}' in metrics


async def test_queue_joins_are_limited_per_client_address(
    clean: None, pool: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    v = factories.venue(sections=1, rows=1, seats=10)
    e = factories.event(v, waiting_room=True)
    await factories.load(pool, {"venues": [v], "events": [e]})
    buyers = []
    for address in ("198.51.100.10", "198.51.100.11"):  # guests from two addresses: room for joins
        for _ in range(2):
            response = await client.post("/auth/guest", headers=from_address(address))
            buyers.append(response.json()["token"])
    joins = [
        await client.post(
            f"/events/{e['id']}/queue",
            headers={"Authorization": f"Bearer {token}"} | from_address("198.51.100.20"),
        )
        for token in buyers
    ]
    assert [r.status_code for r in joins] == [201] * BURST + [429]
    assert_rate_limited(joins[-1])
    other = await client.post(
        f"/events/{e['id']}/queue",
        headers={"Authorization": f"Bearer {buyers[-1]}"} | from_address("198.51.100.21"),
    )
    assert other.status_code == 201


async def test_clients_on_this_host_are_exempt_by_default(http: httpx.AsyncClient) -> None:
    # The session's server has the default limits (a burst of 20) and the default exempt list.
    await new_buyers(http, 40)


@pytest.fixture(params=["CLIENT_RATE_LIMIT_PER_SECOND", "CLIENT_RATE_LIMIT_BURST"])
def limits_off(
    request: pytest.FixtureRequest, database_url: str, redis_url: str, namespace: str, tmp_path: Path
) -> Iterator[ServerProcess]:
    """The limited server's settings with one of the two set to 0."""
    env = engine_env(database_url, redis_url, f"{namespace}clioff", tmp_path)
    with own_server(env | LEAN_POOL | LIMITS | {f"TICKETMASTER_{request.param}": "0"}) as server:
        yield server


async def test_a_zero_rate_or_burst_switches_the_client_limits_off(
    clean: None, pool: asyncpg.Pool, limits_off: ServerProcess
) -> None:
    v = factories.venue(sections=1, rows=1, seats=10)
    e = factories.event(v, waiting_room=True)
    await factories.load(pool, {"venues": [v], "events": [e]})
    one_address = from_address("198.51.100.30")
    async with httpx.AsyncClient(base_url=limits_off.url, timeout=10) as http:
        guests = [await http.post("/auth/guest", headers=one_address) for _ in range(3 * BURST)]
        assert [r.status_code for r in guests] == [201] * 3 * BURST
        joins = [
            await http.post(
                f"/events/{e['id']}/queue",
                headers={"Authorization": f"Bearer {r.json()['token']}"} | one_address,
            )
            for r in guests
        ]
        assert [r.status_code for r in joins] == [201] * 3 * BURST
