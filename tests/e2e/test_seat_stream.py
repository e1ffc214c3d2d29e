"""Live seat updates over real HTTP (API.md "Live seat updates"): a Server-Sent Events
stream per event that starts at the current seat-map version, carries every hold, cancel
and sale as {"version", "changes": [{"seatId", "status"}]}, resumes from Last-Event-ID,
and tells a client it cannot catch up to refetch the map."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from tests.e2e.buyers import hold, new_buyer, new_buyers, seat_map
from tests.e2e.test_hold_api import cancel, one_event
from tests.fleet import eventually

WAIT_S = 5.0  # bound on waiting for an expected event (they arrive within ~0.2 s)


@dataclass
class Event:
    kind: str
    id: str | None
    data: dict[str, Any]

    @property
    def statuses(self) -> dict[str, str]:
        return {c["seatId"]: c["status"] for c in self.data["changes"]}


class Stream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self) -> Event:
        """The next event (comments skipped), or a failure after WAIT_S."""
        kind, ident, data = "message", None, []
        async with asyncio.timeout(WAIT_S):
            async for line in self._lines:
                if not line:
                    if data:
                        return Event(kind, ident, json.loads("\n".join(data)))
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    kind = value
                elif name == "id":
                    ident = value
                elif name == "data":
                    data.append(value)
        raise AssertionError("the stream ended")

    async def until(self, want: dict[str, str]) -> list[Event]:
        """Events up to the one after which every seat in ``want`` has that status."""
        seen: dict[str, str] = {}
        events: list[Event] = []
        while any(seen.get(s) != status for s, status in want.items()):
            events.append(await self.next())
            seen |= events[-1].statuses
        return events


@asynccontextmanager
async def stream(http: httpx.AsyncClient, event_id: str, **headers: str) -> AsyncIterator[Stream]:
    async with http.stream("GET", f"/events/{event_id}/seats/stream", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)


async def test_a_stream_starts_at_the_map_version_and_carries_holds_and_cancels_in_order(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)
    version = (await seat_map(http, event_id))["version"]

    async with stream(http, event_id) as live:
        first = await live.next()
        assert first.kind == "message"
        assert first.data == {"version": version, "changes": []}
        assert first.id == str(version)

        made = await hold(http, buyer, event_id, [seats[0], seats[1]])
        assert made.status_code == 201, made.text
        held = await live.until({seats[0]: "HELD", seats[1]: "HELD"})
        assert (await cancel(http, buyer, made.json()["holdId"])).status_code == 204
        freed = await live.until({seats[0]: "AVAILABLE", seats[1]: "AVAILABLE"})

    events = held + freed
    versions = [e.data["version"] for e in events]
    assert versions == sorted(set(versions)), versions  # each batch moves forward
    assert all(e.id == str(e.data["version"]) for e in events)
    assert all(set(e.statuses) <= {seats[0], seats[1]} for e in events)  # nothing else changed
    assert versions[-1] == (await seat_map(http, event_id))["version"]


async def test_last_event_id_replays_what_happened_since(http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    event_id, seats = await one_event(pool)
    alice, bob = await new_buyers(http, 2)
    before = (await seat_map(http, event_id))["version"]
    assert (await hold(http, alice, event_id, [seats[2]])).status_code == 201
    assert (await hold(http, bob, event_id, [seats[3], seats[4]])).status_code == 201
    after = (await seat_map(http, event_id))["version"]

    async with stream(http, event_id, **{"Last-Event-ID": str(before)}) as live:
        replay = await live.next()

    assert replay.kind == "message"
    assert replay.data["version"] == after
    assert replay.statuses == {seats[2]: "HELD", seats[3]: "HELD", seats[4]: "HELD"}


async def test_a_client_that_cannot_be_caught_up_is_told_to_refetch(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, _ = await one_event(pool)
    current = (await seat_map(http, event_id))["version"]

    # A version this event never reached (e.g. from before Redis was rebuilt).
    async with stream(http, event_id, **{"Last-Event-ID": str(current + 1000)}) as live:
        reset = await live.next()

    assert reset.kind == "reset"
    assert reset.data == {"version": current, "changes": []}


async def test_many_subscribers_each_get_every_change_and_leave_nothing_behind(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    event_id, seats = await one_event(pool)
    buyer = await new_buyer(http)

    async def subscriber(ready: asyncio.Event, opened: list[int]) -> dict[str, str]:
        async with (
            httpx.AsyncClient(base_url=str(http.base_url), timeout=30) as own,
            stream(own, event_id) as live,
        ):
            await live.next()
            opened.append(1)
            if len(opened) == 50:
                ready.set()
            events = await live.until({s: "HELD" for s in seats[5:8]})
        return {s: st for e in events for s, st in e.statuses.items()}

    ready, opened = asyncio.Event(), []
    listeners = [asyncio.create_task(subscriber(ready, opened)) for _ in range(50)]
    await ready.wait()
    assert (await hold(http, buyer, event_id, seats[5:8])).status_code == 201
    seen = await asyncio.gather(*listeners)

    assert all(s == {seat: "HELD" for seat in seats[5:8]} for s in seen)

    async def streams_closed() -> bool | None:
        return "ticketmaster_seat_streams 0.0" in (await http.get("/metrics")).text or None

    await eventually(streams_closed, within=WAIT_S, what="the server to let every closed stream go")


async def test_an_unknown_event_or_a_bad_last_event_id_is_refused(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    missing = await http.get("/events/evt_nope/seats/stream")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"

    event_id, _ = await one_event(pool)
    for version in ("soon", "-1", "²", "9" * 40):  # not a version, or beyond any there can be
        header = {"Last-Event-ID": version.encode("latin-1")}  # as sent on the wire
        bad = await http.get(f"/events/{event_id}/seats/stream", headers=header)
        assert bad.status_code == 422, version
        assert bad.json()["error"] == "invalid_request"
