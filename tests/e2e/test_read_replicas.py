"""Browse through a real PostgreSQL streaming replica (``TICKETMASTER_DATABASE_REPLICA_URLS``).

The replica is the suite's server copied with ``pg_basebackup -R`` and run as a hot
standby (tests/replica.py), started once per session. With its replay paused it shows an
older view than the primary: browse answers from that view, while holds, purchases and a
buyer's own bookings come from the primary. Stopped, browse falls back to the primary at
once and a dead replica costs at most the query in flight; started again, it serves again.
Cut off from the primary (its ``primary_conninfo`` pointed at a closed port) it still
answers, and its lag metric shows it falling behind instead of reporting 0.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from tests import factories
from tests.conftest import free_port
from tests.e2e.api_pool import metric
from tests.e2e.buyers import hold, new_buyer
from tests.fleet import Fleet, eventually, fleet_http, own_fleet
from tests.replica import StreamingReplica, server_major
from ticketmaster.adapters.postgres.replicas import replica_label


@pytest.fixture(scope="session")
def replica(engine_urls: tuple[str, str], database_url: str) -> Iterator[StreamingReplica]:
    directory = Path(tempfile.mkdtemp(prefix="tm-test-replica-"))  # outside pytest's 0700 tree
    standby = StreamingReplica(engine_urls[0], directory)
    try:
        standby.create(asyncio.run(server_major(engine_urls[0])))
        standby.start()
        yield standby
    finally:
        standby.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def fleet(
    replica: StreamingReplica,
    server_env: dict[str, str],
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Fleet]:
    """An API process browsing through the replica, and a worker and sandbox for purchases."""
    database = urlsplit(database_url).path.lstrip("/")
    settings = {"TICKETMASTER_DATABASE_REPLICA_URLS": replica.url(database)}
    with own_fleet(
        server_env, tmp_path_factory.mktemp("replica"), settings, sandbox_latency="5:20"
    ) as running:
        yield running


http = fleet_http()


@pytest.fixture
async def standby(replica: StreamingReplica, database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the replica's copy of the test database (replay resumed afterwards)."""
    conn = await asyncpg.connect(replica.url(urlsplit(database_url).path.lstrip("/")))
    try:
        yield conn
    finally:
        await conn.execute("SELECT pg_wal_replay_resume()")
        await conn.close()


def label(replica: StreamingReplica) -> dict[str, str]:
    return {"replica": replica_label(replica.url("x"))}


async def replicated(standby: asyncpg.Connection, event_id: str, title: str) -> bool | None:
    return (
        True if await standby.fetchval("SELECT title FROM events WHERE id = $1", event_id) == title else None
    )


async def replicated_show(
    pool: asyncpg.Pool, standby: asyncpg.Connection, title: str, seats: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A venue of ``seats`` seats and an event there, loaded on the primary, once the
    replica shows the event."""
    venue = factories.venue(sections=1, rows=1, seats=seats)
    show = factories.event(venue, title=title)
    await factories.load(pool, {"venues": [venue], "events": [show]})
    await eventually(lambda: replicated(standby, show["id"], show["title"]), within=30, what="replication")
    return venue, show


async def paused(standby: asyncpg.Connection) -> bool | None:
    return True if await standby.fetchval("SELECT pg_get_wal_replay_pause_state()") == "paused" else None


async def test_browse_reads_the_replica_while_holds_purchases_and_bookings_read_the_primary(
    http: httpx.AsyncClient, pool: asyncpg.Pool, standby: asyncpg.Connection, replica: StreamingReplica
) -> None:
    venue, known = await replicated_show(pool, standby, "Before The Pause", seats=10)
    await standby.execute("SELECT pg_wal_replay_pause()")
    await eventually(lambda: paused(standby), within=10, what="replay to pause")
    reads = await metric(http, "ticketmaster_browse_reads_total", {"target": "replica"})

    # The primary moves on: a new title, and an event the replica has not seen.
    unseen = factories.event(venue, title="After The Pause")
    await factories.load(pool, {"venues": [], "events": [{**known, "title": "Renamed"}, unseen]})

    for _ in range(5):
        detail = await http.get(f"/events/{known['id']}")
        assert detail.status_code == 200, detail.text
        assert detail.json()["title"] == "Before The Pause"  # the replica's (older) view
        assert (await http.get(f"/events/{unseen['id']}")).status_code == 404
    listing = await http.get("/events", params={"q": "pause"})
    assert [e["title"] for e in listing.json()["events"]] == ["Before The Pause"]
    assert await metric(http, "ticketmaster_browse_reads_total", {"target": "replica"}) >= reads + 11
    lag = await eventually(
        lambda: behind(http, replica), within=15, what="the replica's lag to show in /metrics"
    )
    assert lag > 0

    # Deciding reads go to the primary: the unseen event sells, and the booking is listed.
    buyer = await new_buyer(http)
    held = await hold(http, buyer, unseen["id"], ["sec0-A-1"])
    assert held.status_code == 201, held.text
    paid = await http.post(
        f"/holds/{held.json()['holdId']}/purchase", json={"paymentToken": "tok_visa"}, headers=buyer.auth
    )
    assert paid.status_code == 202, paid.text
    purchase = await eventually(
        lambda: settled(http, buyer.auth, paid.json()["purchaseId"]), within=30, what="the purchase"
    )
    assert purchase["status"] == "SUCCEEDED", purchase
    bookings = (await http.get("/bookings", headers=buyer.auth)).json()["bookings"]
    assert [(b["bookingId"], b["eventId"]) for b in bookings] == [(purchase["bookingId"], unseen["id"])]
    assert await standby.fetchval("SELECT count(*) FROM bookings WHERE id = $1", purchase["bookingId"]) == 0

    await standby.execute("SELECT pg_wal_replay_resume()")
    await eventually(lambda: titled(http, known["id"], "Renamed"), within=30, what="browse to catch up")


async def behind(http: httpx.AsyncClient, replica: StreamingReplica) -> float | None:
    lag = await metric(http, "ticketmaster_replica_lag_seconds", label(replica))
    return lag if lag > 0 else None


async def settled(http: httpx.AsyncClient, auth: dict[str, str], purchase_id: str) -> dict[str, Any] | None:
    body: dict[str, Any] = (await http.get(f"/purchases/{purchase_id}", headers=auth)).json()
    return body if body["status"] != "PENDING" else None


async def titled(http: httpx.AsyncClient, event_id: str, title: str) -> bool | None:
    return True if (await http.get(f"/events/{event_id}")).json().get("title") == title else None


async def test_browse_falls_back_to_the_primary_while_the_replica_is_down(
    http: httpx.AsyncClient, pool: asyncpg.Pool, replica: StreamingReplica
) -> None:
    venue = factories.venue(sections=1, rows=1, seats=5)
    show = factories.event(venue, title="Fallback Show")
    await factories.load(pool, {"venues": [venue], "events": [show]})
    await eventually(lambda: up(http, replica, 1), within=15, what="the replica to be up")
    failures = await metric(http, "ticketmaster_replica_failures_total", label(replica))
    primary = await metric(http, "ticketmaster_browse_reads_total", {"target": "primary"})

    await asyncio.to_thread(replica.stop)
    try:
        for _ in range(20):
            detail = await http.get(f"/events/{show['id']}")
            assert detail.status_code == 200, detail.text
            assert detail.json()["title"] == "Fallback Show"

        # One query may have been on its way to the replica; after it, none is sent there.
        assert await metric(http, "ticketmaster_replica_failures_total", label(replica)) <= failures + 1
        assert await metric(http, "ticketmaster_browse_reads_total", {"target": "primary"}) >= primary + 20
        await eventually(lambda: up(http, replica, 0), within=15, what="the probe to mark it down")
    finally:
        await asyncio.to_thread(replica.start)

    await eventually(lambda: up(http, replica, 1), within=30, what="the probe to see it back")
    reads = await metric(http, "ticketmaster_browse_reads_total", {"target": "replica"})
    assert (await http.get(f"/events/{show['id']}")).status_code == 200
    assert await metric(http, "ticketmaster_browse_reads_total", {"target": "replica"}) == reads + 1


async def up(http: httpx.AsyncClient, replica: StreamingReplica, value: int) -> bool | None:
    return True if await metric(http, "ticketmaster_replica_up", label(replica)) == value else None


async def test_a_replica_cut_off_from_the_primary_shows_a_growing_lag(
    http: httpx.AsyncClient, pool: asyncpg.Pool, standby: asyncpg.Connection, replica: StreamingReplica
) -> None:
    await replicated_show(pool, standby, "Cut Off Show", seats=5)
    await eventually(lambda: caught_up(http, replica), within=15, what="the lag to read 0")

    conninfo = await standby.fetchval("SHOW primary_conninfo")
    assert conninfo, "pg_basebackup -R wrote the primary's connection"
    await standby.execute(
        f"ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port={free_port()} user=postgres'"
    )
    await standby.execute("SELECT pg_reload_conf()")  # the WAL receiver restarts, and fails
    try:
        await eventually(lambda: streaming(standby, False), within=30, what="the WAL receiver to stop")
        # It has replayed all it received, yet is behind: the metric says so, and grows.
        first = await eventually(lambda: behind(http, replica), within=15, what="the lag to show")
        await eventually(
            lambda: above(http, replica, first), within=15, what="the lag of a cut-off replica to grow"
        )
        assert await metric(http, "ticketmaster_replica_up", label(replica)) == 1  # it still answers
    finally:
        await standby.execute(
            f"ALTER SYSTEM SET primary_conninfo = '{conninfo.replace(chr(39), chr(39) * 2)}'"
        )
        await standby.execute("SELECT pg_reload_conf()")
    await eventually(lambda: streaming(standby, True), within=30, what="streaming to resume")
    await eventually(lambda: caught_up(http, replica), within=15, what="the lag to read 0 again")


async def streaming(standby: asyncpg.Connection, wanted: bool) -> bool | None:
    status = await standby.fetchval("SELECT status FROM pg_stat_wal_receiver")
    return True if (status == "streaming") == wanted else None


async def caught_up(http: httpx.AsyncClient, replica: StreamingReplica) -> bool | None:
    return True if await metric(http, "ticketmaster_replica_lag_seconds", label(replica)) == 0 else None


async def above(http: httpx.AsyncClient, replica: StreamingReplica, floor: float) -> bool | None:
    return True if await metric(http, "ticketmaster_replica_lag_seconds", label(replica)) > floor else None
