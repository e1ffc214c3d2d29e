"""Two buyers in two browser contexts: what one does shows on the other's page without a
reload, through the live seat stream (on the server whose holds last a few seconds when
the test waits for an expiry); after an ``event: reset`` the page reads the map again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import Route, expect

from tests.e2e.browser.conftest import SHORT_TTL_S, Opener
from tests.e2e.browser.shopping import hold, pick, seat, section_button, small_show
from tests.e2e.buyers import hold as api_hold
from tests.e2e.buyers import new_buyer

Shot = Callable[..., Awaitable[Path]]


async def test_a_seat_held_by_a_shows_held_to_b_within_a_second_and_free_again_after_expiry(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool
) -> None:
    event = await small_show(pool)
    a = await open_page(f"/e/{event['id']}", short=True)
    b = await open_page(f"/e/{event['id']}", short=True)
    await section_button(b, "Floor A").click()
    refetches: list[str] = []  # changes arrive as deltas: B never reads the whole map again
    b.on("request", lambda r: refetches.append(r.url) if r.url.endswith("/seats") else None)
    watched = seat(b, "sec0-A-7")
    await expect(watched).to_have_attribute("data-status", "AVAILABLE")
    await expect(section_button(b, "Floor A")).to_have_accessible_name("Floor A — 30 available")

    await pick(a, "Floor A", "sec0-A-7")
    await hold(a)
    await expect(watched).to_have_attribute("data-status", "HELD", timeout=1000)
    await expect(section_button(b, "Floor A")).to_have_accessible_name("Floor A — 29 available")
    await shot(b, "b-sees-held")

    # A's hold lapses: A is told, and B sees the seat free again, still without a reload.
    await expect(a.get_by_role("alert")).to_contain_text("expired", timeout=(SHORT_TTL_S + 5) * 1000)
    await expect(watched).to_have_attribute("data-status", "AVAILABLE", timeout=(SHORT_TTL_S + 2) * 1000)
    await expect(section_button(b, "Floor A")).to_have_accessible_name("Floor A — 30 available")
    await expect(seat(a, "sec0-A-7")).to_have_attribute("data-status", "AVAILABLE")
    await shot(a, "a-expired")
    await shot(b, "b-sees-free")
    assert refetches == []


async def test_a_seat_in_bs_selection_taken_by_a_leaves_it_with_a_note(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool
) -> None:
    event = await small_show(pool)
    a = await open_page(f"/e/{event['id']}")
    b = await open_page(f"/e/{event['id']}")
    await pick(b, "Balcony", "sec1-C-3", "sec1-C-4")
    await expect(b.get_by_text("2 seats · $130.00")).to_be_visible()

    await pick(a, "Balcony", "sec1-C-4")
    await hold(a)
    await expect(seat(b, "sec1-C-4")).to_have_attribute("data-status", "HELD")
    alert = b.get_by_role("alert")
    await expect(alert).to_contain_text("Balcony, row C, seat 4")
    await expect(alert).to_contain_text("taken by someone else")
    await expect(seat(b, "sec1-C-3")).to_have_attribute("data-status", "SELECTED")
    await expect(b.get_by_text("1 seat · $65.00")).to_be_visible()
    await shot(b, "b-told")

    # B's hold of what is left works; asking for the taken seat is refused in words.
    await seat(b, "sec1-C-4").click(force=True)  # aria-disabled: a click changes nothing
    await expect(seat(b, "sec1-C-4")).to_have_attribute("data-status", "HELD")
    await hold(b)
    await expect(seat(b, "sec1-C-3")).to_have_attribute("data-status", "MINE")


async def test_on_event_reset_the_page_reads_the_map_again_and_shows_what_it_missed(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    """WEB.md: on ``event: reset`` refetch the map. The page's first stream says nothing,
    a seat is held meanwhile, the next stream opens with a reset: the page reads the map
    again, shows the seat HELD, and then follows the real stream."""
    event = await small_show(pool)
    held = asyncio.Event()
    opened = 0

    async def stream(route: Route) -> None:
        nonlocal opened
        opened += 1
        if opened == 1:  # quiet; the browser reconnects after 200 ms
            await route.fulfill(status=200, content_type="text/event-stream", body="retry: 200\n: quiet\n\n")
        elif opened == 2:
            await held.wait()
            reset = json.dumps({"version": 10**12, "changes": []})
            await route.fulfill(
                status=200,
                content_type="text/event-stream",
                body=f"retry: 200\nevent: reset\ndata: {reset}\n\n",
            )
        else:
            await route.continue_()

    page = await open_page("/")
    await page.route("**/seats/stream", stream)
    await page.goto(f"/e/{event['id']}")
    await section_button(page, "Floor A").click()
    await expect(seat(page, "sec0-A-3")).to_have_attribute("data-status", "AVAILABLE")
    maps: list[str] = []
    page.on("request", lambda r: maps.append(r.url) if r.url.endswith("/seats") else None)

    rival = await new_buyer(api)
    assert (await api_hold(api, rival, event["id"], ["sec0-A-3"])).status_code == 201
    held.set()
    await expect(seat(page, "sec0-A-3")).to_have_attribute("data-status", "HELD")
    assert len(maps) == 1, maps  # read again once, for the reset
    await expect(section_button(page, "Floor A")).to_have_accessible_name("Floor A — 29 available")
    await shot(page, "after-reset")

    # Back on the real stream: a later change arrives as a delta, with no further read.
    assert (await api_hold(api, rival, event["id"], ["sec0-A-4"])).status_code == 201
    await expect(seat(page, "sec0-A-4")).to_have_attribute("data-status", "HELD")
    assert len(maps) == 1, maps
