"""The waiting room in the browser: position, people ahead, estimated wait and a progress
bar; once the worker's ticker admits the buyer the page continues to the seat map by
itself, and holds carry the admission token."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import expect

from tests.e2e.browser.conftest import Opener
from tests.e2e.browser.shopping import hold, pick, seat, small_show
from tests.e2e.buyers import new_buyers

Shot = Callable[..., Awaitable[Path]]
AHEAD = 3


async def test_the_waiting_room_admits_the_buyer_to_the_map_and_the_hold(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    # One admission a second: the buyer behind AHEAD others waits a few seconds.
    event = await small_show(pool, waiting_room=True, admissionRatePerMinute=60)
    for buyer in await new_buyers(api, AHEAD):
        joined = await api.post(f"/events/{event['id']}/queue", headers=buyer.auth)
        assert joined.status_code == 201, joined.text

    page = await open_page(f"/e/{event['id']}")
    bar = page.get_by_role("progressbar")
    await expect(bar).to_be_visible()
    await expect(page.get_by_text(re.compile(r"Position \d+"))).to_be_visible()
    position = int(re.findall(r"Position (\d+)", await page.locator("#wr-position").inner_text())[0])
    assert position > 1
    await expect(page.locator("#wr-eta")).not_to_have_text("—")
    await expect(page.locator("#wr-ahead")).to_have_text(re.compile(r"^\d+ (person|people)$|you're next"))
    await shot(page, "waiting")
    assert await page.locator("[data-seat-id]").count() == 0  # no map while waiting
    # Every value the bar takes from here on, to check it only moves forward, to the end.
    await bar.evaluate(
        "(bar) => { window.__bar = [Number(bar.getAttribute('aria-valuenow'))];"
        " new MutationObserver(() => window.__bar.push(Number(bar.getAttribute('aria-valuenow'))))"
        ".observe(bar, { attributes: true, attributeFilter: ['aria-valuenow'] }); }"
    )

    # Admitted by the ticker: the map opens by itself.
    await expect(bar).to_be_hidden(timeout=30_000)
    values: list[int] = await page.evaluate("window.__bar")
    assert values == sorted(values), f"the progress bar went back: {values}"
    assert values[-1] == 100, values
    await expect(page.get_by_role("button", name=re.compile(r"^Floor A — \d+ available$"))).to_be_visible()
    await shot(page, "admitted")
    await pick(page, "Floor A", "sec0-A-1")
    await hold(page)  # refused with 403 admission_required without the token
    await expect(seat(page, "sec0-A-1")).to_have_attribute("data-status", "MINE")
    await shot(page, "held-after-admission")
