"""The search page in Chromium: the city and date filters narrow the results, the results
page through `nextCursor`, and the filters live in the URL so a reload keeps them."""

from __future__ import annotations

import re

import asyncpg
from playwright.async_api import expect

from tests import factories
from tests.e2e.browser.conftest import Opener

PAGE_SIZE = 12  # web/static/js/search.js


async def _shows_in_a_city_of_their_own(pool: asyncpg.Pool, count: int) -> str:
    """``count`` events on 1..count March 2027 in a city no other test uses; returns it."""
    city = f"Searchville {factories.uid()}"
    venue = factories.venue(city=city, sections=1, rows=1, seats=4)
    events = [
        factories.event(venue, title=f"Night {day:02d}", when=f"2027-03-{day:02d}T20:00:00Z")
        for day in range(1, count + 1)
    ]
    await factories.load(pool, {"venues": [venue], "events": events})
    return city


async def test_the_city_and_date_filters_narrow_the_results_which_page_and_survive_a_reload(
    open_page: Opener, pool: asyncpg.Pool
) -> None:
    city = await _shows_in_a_city_of_their_own(pool, PAGE_SIZE + 2)
    page = await open_page("/")
    results = page.locator("#results").get_by_role("link")

    await page.get_by_label("City").fill(city)
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(results).to_have_count(PAGE_SIZE)
    more = page.get_by_role("button", name="Show more events")
    await expect(more).to_be_visible()
    await more.click()
    await expect(results).to_have_count(PAGE_SIZE + 2)
    await expect(more).to_be_hidden()
    titles = [re.search(r"Night \d\d", text) for text in await results.all_inner_texts()]
    assert [m.group(0) if m else None for m in titles] == [f"Night {d:02d}" for d in range(1, PAGE_SIZE + 3)]

    await page.get_by_label("From").fill("2027-03-10")
    await page.get_by_label("To").fill("2027-03-12")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(results).to_have_count(3)
    await expect(results.first).to_contain_text("Night 10")
    await expect(page).to_have_url(re.compile(r"dateFrom=2027-03-10.*dateTo=2027-03-12"))

    await page.reload()
    await expect(page.get_by_label("City")).to_have_value(city)
    await expect(results).to_have_count(3)
    await expect(results.last).to_contain_text("Night 12")
