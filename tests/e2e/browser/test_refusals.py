"""API refusals reach the buyer in plain words in role="alert", never as JSON or silence.

409s and the hold that is no longer active come from the real server. 429 and 503 are
the API's own bodies (errors.py, shedding.py) answered to the page's hold request by the
browser, since making this server shed load or lose its database on cue is what the load
and chaos tests do; here it is the page's wording that is under test."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, Route, expect

from tests.e2e.browser.conftest import Opener
from tests.e2e.browser.shopping import hold, pick, remembered, seat, small_show
from tests.e2e.buyers import hold as api_hold
from tests.e2e.buyers import new_buyer

Shot = Callable[..., Awaitable[Path]]
JSONISH = re.compile(r"[{}\[\]]|\"error\"")


async def _plain(alert_text: str) -> None:
    assert alert_text.strip(), "the alert is empty"
    assert not JSONISH.search(alert_text), f"raw JSON shown to the buyer: {alert_text!r}"


async def _silent_stream(page: Page) -> None:
    """This page's seat stream says nothing, so it cannot learn of a change before it holds."""

    async def quiet(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/event-stream", body="retry: 60000\n: quiet\n\n")

    await page.route("**/seats/stream", quiet)


async def test_a_hold_refused_because_a_seat_was_taken_names_it_and_drops_it(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    event = await small_show(pool)
    page = await open_page("/")
    await _silent_stream(page)
    await page.goto(f"/e/{event['id']}")
    await pick(page, "Floor A", "sec0-A-1", "sec0-A-2")
    rival = await new_buyer(api)
    assert (await api_hold(api, rival, event["id"], ["sec0-A-2"])).status_code == 201
    await page.get_by_role("button", name="Hold seats").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("someone else just took Floor A, row A, seat 2")
    await _plain(await alert.inner_text())
    await expect(seat(page, "sec0-A-2")).not_to_have_attribute("data-status", "SELECTED")
    await expect(seat(page, "sec0-A-1")).to_have_attribute("data-status", "SELECTED")
    await expect(page.get_by_role("timer")).to_be_hidden()
    await shot(page, "seats-taken")


async def test_paying_for_a_hold_that_is_no_longer_active_says_so(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    event = await small_show(pool)
    page = await open_page(f"/e/{event['id']}")
    await pick(page, "Balcony", "sec1-B-5")
    await hold(page)
    guest, memory = await remembered(page, event["id"])
    auth = {"Authorization": f"Bearer {guest['token']}"}
    gone = await api.delete(f"/holds/{memory['hold']['holdId']}", headers=auth)
    assert gone.status_code == 204  # cancelled elsewhere (another tab of this buyer)
    await page.get_by_role("button", name="Pay").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("no longer active")
    await _plain(await alert.inner_text())
    await expect(page.get_by_role("button", name="Hold seats")).to_be_visible()
    await shot(page, "hold-not-active")


REFUSALS = {
    "rate_limited": (429, "1", "wait"),
    "overloaded": (503, "1", "busy"),
    "unavailable": (503, "2", "technical problem"),
}


@pytest.mark.parametrize("code", sorted(REFUSALS))
async def test_a_shed_or_failed_hold_is_worded_and_keeps_the_selection(
    open_page: Opener, pool: asyncpg.Pool, code: str
) -> None:
    status, retry_after, words = REFUSALS[code]
    event = await small_show(pool)
    page = await open_page(f"/e/{event['id']}")

    async def refuse(route: Route) -> None:
        body = {"error": code, "message": "the server's own message"}
        await route.fulfill(status=status, json=body, headers={"Retry-After": retry_after})

    await page.route(f"**/events/{event['id']}/holds", refuse)
    await pick(page, "Floor A", "sec0-C-3")
    await page.get_by_role("button", name="Hold seats").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text(words)
    await _plain(await alert.inner_text())
    assert "the server's own message" not in await alert.inner_text()
    await expect(seat(page, "sec0-C-3")).to_have_attribute("data-status", "SELECTED")
    await expect(page.get_by_role("button", name="Hold seats")).to_be_enabled()


@pytest.mark.parametrize(
    ("path", "api_path", "words"),
    [("/", "/events", "search events"), ("/my/bookings", "/bookings", "load your bookings")],
)
async def test_the_search_and_bookings_pages_word_an_api_failure(
    open_page: Opener, path: str, api_path: str, words: str
) -> None:
    page = await open_page("/")

    async def refuse(route: Route) -> None:
        body = {"error": "unavailable", "message": "the server's own message"}
        await route.fulfill(status=503, json=body, headers={"Retry-After": "2"})

    await page.context.route(lambda url: urlsplit(url).path == api_path, refuse)
    await page.goto(path)
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("technical problem")
    await expect(alert).to_contain_text(words)
    await _plain(await alert.inner_text())
    assert "the server's own message" not in await alert.inner_text()
