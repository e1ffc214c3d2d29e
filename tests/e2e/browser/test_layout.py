"""Every page at a phone's 375 px and a desktop's 1440 px (the waiting room too): nothing
wider than the window, the key controls on screen, focus visible, and no console errors
(the fixture checks)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.e2e.browser.conftest import DESKTOP, PHONE, Opener
from tests.e2e.browser.shopping import hold, no_horizontal_overflow, pick, small_show
from tests.e2e.buyers import new_buyers

Shot = Callable[..., Awaitable[Path]]


async def _within_width(page: Page, control: Locator) -> None:
    await expect(control).to_be_visible()
    await control.scroll_into_view_if_needed()
    box = await control.bounding_box()
    assert box is not None
    width = await page.evaluate("window.innerWidth")
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= width, (box, width)


@pytest.mark.parametrize("size", ["phone", "desktop"])
async def test_every_page_fits_the_window_with_its_controls_on_screen(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool, size: str
) -> None:
    viewport = PHONE if size == "phone" else DESKTOP
    event = await small_show(pool, title="Layout Live")
    page = await open_page("/", viewport=viewport)
    result = page.get_by_role("link", name=re.compile("Layout Live"))
    await expect(result).to_be_visible()
    await no_horizontal_overflow(page)
    for control in (page.get_by_label("Search events"), page.get_by_label("City"), result):
        await _within_width(page, control)
    await shot(page, f"search-{size}", full_page=True)

    await page.goto(f"/e/{event['id']}")
    await expect(page.get_by_role("button", name="Floor A — 30 available")).to_be_visible()
    await no_horizontal_overflow(page)
    for control in (
        page.locator("canvas#seatmap"),
        page.get_by_role("button", name="Zoom in"),
        page.get_by_role("button", name="Floor A — 30 available"),
        page.locator('[data-seat-id="sec0-A-10"]'),
        page.get_by_role("button", name="Hold seats"),
        page.get_by_role("button", name="Best available"),
    ):
        await _within_width(page, control)
    await page.keyboard.press("Tab")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "focus is not visible"
    await shot(page, f"event-{size}", full_page=True)
    await pick(page, "Floor A", "sec0-A-10")
    await hold(page)
    await no_horizontal_overflow(page)
    for control in (
        page.get_by_role("timer"),
        page.get_by_label("Payment token"),
        page.get_by_role("button", name="Pay"),
    ):
        await _within_width(page, control)
    await shot(page, f"held-{size}", full_page=True)

    await page.goto("/my/bookings")
    await expect(page.get_by_role("heading", name="My bookings")).to_be_visible()
    await no_horizontal_overflow(page)
    await shot(page, f"bookings-{size}")


@pytest.mark.parametrize("size", ["phone", "desktop"])
async def test_the_waiting_room_fits_the_window(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool, api: httpx.AsyncClient, size: str
) -> None:
    # One admission a minute and two buyers ahead: the page stays in the waiting room.
    event = await small_show(pool, waiting_room=True, admissionRatePerMinute=1)
    for buyer in await new_buyers(api, 2):
        joined = await api.post(f"/events/{event['id']}/queue", headers=buyer.auth)
        assert joined.status_code == 201, joined.text
    page = await open_page(f"/e/{event['id']}", viewport=PHONE if size == "phone" else DESKTOP)
    await expect(page.get_by_text(re.compile(r"Position \d+"))).to_be_visible()
    await no_horizontal_overflow(page)
    for control in (
        page.get_by_role("progressbar"),
        page.locator("#wr-position"),
        page.locator("#wr-ahead"),
        page.locator("#wr-eta"),
    ):
        await _within_width(page, control)
    await shot(page, f"waiting-room-{size}", full_page=True)
