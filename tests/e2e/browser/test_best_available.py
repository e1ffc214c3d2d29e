""" "Best available" for N seats and a tier (API.md "Best available"): the page sends the
`best` body and shows what the server answers — the chosen seats held, or, when nothing
fits (409 with no seat ids), "No seats fit" in plain words. The server picks the seats
(domain/best_available.py), so a 422 for the `best` body would be a regression."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import Page, expect

from tests.e2e.browser.conftest import Opener
from tests.e2e.browser.shopping import small_show
from tests.e2e.buyers import hold as api_hold
from tests.e2e.buyers import new_buyers

Shot = Callable[..., Awaitable[Path]]


async def _ask_best(page: Page, count: int, tier_id: str) -> tuple[dict[str, object], int]:
    await page.get_by_label("Seats", exact=True).select_option(str(count))
    await page.get_by_label("Price tier").select_option(tier_id)
    async with page.expect_response(re.compile(r"/events/[^/]+/holds$")) as answer:
        await page.get_by_role("button", name="Best available").click()
    response = await answer.value
    return json.loads(response.request.post_data or "{}"), response.status


async def test_best_available_holds_seats_of_the_tier_or_says_why_not(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool
) -> None:
    event = await small_show(pool)
    page = await open_page(f"/e/{event['id']}")
    body, status = await _ask_best(page, 3, "pt_balcony")
    assert body == {"best": {"count": 3, "priceTierIds": ["pt_balcony"]}}
    assert status == 201
    await expect(page.get_by_role("timer")).to_be_visible()
    mine = page.locator('[data-status="MINE"]')
    await page.get_by_role("button", name=re.compile(r"^Balcony — ")).click()
    await expect(mine).to_have_count(3)
    assert all(
        i.startswith("sec1-") for i in await mine.evaluate_all("els => els.map(e => e.dataset.seatId)")
    )
    await expect(page.get_by_role("button", name="Balcony — 27 available")).to_be_visible()
    await shot(page, "best-available")


async def test_best_available_when_nothing_fits_says_no_seats_fit(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    event = await small_show(pool)
    seats = [f"sec1-{row}-{n}" for row in "ABC" for n in range(1, 11)]
    buyers = await new_buyers(api, 4)
    for k, buyer in enumerate(buyers):  # every Balcony seat held, 8 a buyer at most
        chunk = seats[k * 8 : (k + 1) * 8]
        assert (await api_hold(api, buyer, event["id"], chunk)).status_code == 201
    page = await open_page(f"/e/{event['id']}")
    _, status = await _ask_best(page, 2, "pt_balcony")
    assert status == 409
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("No seats fit")
    assert "{" not in await alert.inner_text()
    await expect(page.get_by_role("timer")).to_be_hidden()
    await shot(page, "no-seats-fit")
