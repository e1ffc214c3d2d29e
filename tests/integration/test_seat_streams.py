"""SeatStreams against the real gate: one watcher per event whatever the subscribers, and
no subscription left behind, even by a response that never started."""

from __future__ import annotations

import gc

from tests.integration.seat_world import World
from ticketmaster.services.seat_streams import SeatStreams


async def test_subscribers_share_one_watcher_and_get_the_same_batch(world: World) -> None:
    streams = SeatStreams(world.gate, poll_s=0.01)
    first = await streams.open(world.event_id, None)
    second = await streams.open(world.event_id, None)
    hello = [await anext(first), await anext(second)]
    assert hello[0] == hello[1]
    assert streams.watched_events == 1

    assert (await world.hold(world.seats[:2])).outcome == "OK"
    frames = [await anext(first), await anext(second)]

    assert frames[0] == frames[1]
    assert b'"status":"HELD"' in frames[0]
    await first.aclose()
    await second.aclose()
    await streams.close()


async def test_a_stream_that_never_started_does_not_stay_subscribed(world: World) -> None:
    streams = SeatStreams(world.gate, poll_s=0.01)
    started = await streams.open(world.event_id, None)
    await anext(started)

    never = await streams.open(world.event_id, None)  # its response was never sent
    assert streams.subscribers(world.event_id) == 2
    del never
    gc.collect()

    assert streams.subscribers(world.event_id) == 1
    await started.aclose()
    assert streams.subscribers(world.event_id) == 0
    await streams.close()
