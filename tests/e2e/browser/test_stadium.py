"""A big venue in the browser: the map draws, every section is in the picker, and a burst
of holds by other buyers shows in the seat list and the section counts without a reload,
a refetch of the map or a full redraw (only the changed seats are repainted). The long
form (--run-slow) is the 52,000-seat stadium; the default one has a tenth of its sections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, expect

from tests import factories
from tests.e2e.browser.conftest import Opener
from tests.e2e.browser.shopping import seat, section_button
from tests.e2e.buyers import hold, new_buyers

Shot = Callable[..., Awaitable[Path]]
ROWS, SEATS = 26, 50


@pytest.mark.slow
async def test_the_stadium_map_draws_and_follows_a_burst_of_holds(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool, api: httpx.AsyncClient, run_slow: bool
) -> None:
    sections = 40 if run_slow else 8
    venue = factories.venue(sections=sections, rows=ROWS, seats=SEATS, name="Bench Stadium")
    event = factories.event(venue, title="Stadium Night")
    await factories.load(pool, {"venues": [venue], "events": [event]})
    page = await open_page(f"/e/{event['id']}")
    await page.wait_for_function("() => window.__seatmapStats && window.__seatmapStats.firstPaintMs !== null")
    assert await page.evaluate("window.__seatmapStats.seats") == sections * ROWS * SEATS
    await expect(page.locator(".section-picker button")).to_have_count(sections)
    await section_button(page, "Section 7").click()
    await expect(page.locator(".seat-list [data-seat-id]")).to_have_count(ROWS * SEATS)
    refetches: list[str] = []
    page.on("request", lambda r: refetches.append(r.url) if r.url.endswith("/seats") else None)
    await shot(page, "stadium")
    # The drawing at rest (the zoom onto the section has ended): what the burst costs it.
    full = await _settled_full_redraws(page)
    partial = await page.evaluate("window.__seatmapStats.partialRedraws")

    taken = [f"sec7-{chr(ord('A') + r)}-{n}" for r in range(5) for n in range(1, 41)]  # 200 seats
    buyers = await new_buyers(api, len(taken) // 8)
    for k, buyer in enumerate(buyers):
        assert (await hold(api, buyer, event["id"], taken[k * 8 : (k + 1) * 8])).status_code == 201
    for seat_id in (taken[0], taken[-1]):
        await expect(seat(page, seat_id)).to_have_attribute("data-status", "HELD")
    await expect(page.locator('.seat-list [data-status="HELD"]')).to_have_count(len(taken))
    await expect(section_button(page, "Section 7")).to_have_accessible_name(
        f"Section 7 — {ROWS * SEATS - len(taken)} available"
    )
    await shot(page, "stadium-after-burst")
    assert refetches == []
    # Applied as deltas: only the changed seats are repainted, never the whole drawing.
    assert await page.evaluate("window.__seatmapStats.fullRedraws") == full
    assert await page.evaluate("window.__seatmapStats.partialRedraws") > partial


async def _settled_full_redraws(page: Page) -> int:
    """The drawing's count of full redraws once it stays the same for half a second."""
    last = -1
    for _ in range(40):
        now = int(await page.evaluate("window.__seatmapStats.fullRedraws"))
        if now == last:
            return now
        last = now
        await page.wait_for_timeout(500)
    raise AssertionError("the seat map never stopped redrawing in full")
