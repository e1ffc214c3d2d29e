"""The seat-map renderer keeps per-event state only for events that exist, and for a
bounded number of them: event ids come from clients."""

from __future__ import annotations

import pytest

from tests import factories
from tests.integration.seat_world import World
from ticketmaster.adapters.redis.catalog_cache import CatalogCache
from ticketmaster.domain.errors import NotFound
from ticketmaster.services.seat_map import SeatMapRenderer


async def test_unknown_event_ids_leave_no_render_state(world: World) -> None:
    renderer = SeatMapRenderer(world.gate, CatalogCache(world.redis, world.keys, world.repo))
    for n in range(500):
        with pytest.raises(NotFound):
            await renderer.seat_map(f"evt_missing_{n}")
    assert renderer.rendered_events() == 0

    rendered = await renderer.seat_map(world.event_id)
    assert rendered.version >= 0
    assert renderer.rendered_events() == 1


async def test_render_state_is_an_lru_of_bounded_size(world: World) -> None:
    venue = factories.venue(sections=1, rows=1, seats=3)
    events = [factories.event(venue) for _ in range(6)]
    await factories.load(world.pool, {"venues": [venue], "events": events})
    renderer = SeatMapRenderer(world.gate, CatalogCache(world.redis, world.keys, world.repo), max_events=4)
    for e in events:
        await renderer.seat_map(e["id"])
        assert renderer.rendered_events() <= 4
    again = await renderer.seat_map(events[0]["id"])  # evicted: rendered anew, same answer
    assert again.version == (await renderer.seat_map(events[0]["id"])).version
    assert renderer.rendered_events() == 4
