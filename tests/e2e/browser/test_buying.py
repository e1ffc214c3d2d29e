"""A buyer in Chromium: search, pick, hold, pay, see the booking; a decline then a retry;
cancelling a hold; a reload that keeps the buyer, the hold and the countdown; keyboard only."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import Page, expect

from tests.e2e.browser.conftest import Opener
from tests.e2e.browser.shopping import hold, pay, pick, remembered, seat, section_button, small_show

Shot = Callable[..., Awaitable[Path]]


async def test_the_whole_journey_from_search_to_the_booking_in_my_bookings(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool
) -> None:
    event = await small_show(pool, title="Lumen Orchestra Live")
    await small_show(pool, title="Other Show")
    page = await open_page("/")
    await page.get_by_label("Search events").fill("lumen orchestr")
    result = page.get_by_role("link", name=re.compile("Lumen Orchestra Live"))
    await expect(result).to_have_count(1)
    await expect(page.get_by_role("link", name=re.compile("Other Show"))).to_have_count(0)
    await shot(page, "search")
    await result.click()
    await expect(page).to_have_url(re.compile(f"/e/{event['id']}$"))
    await expect(page.get_by_role("heading", name="Lumen Orchestra Live")).to_be_visible()
    await expect(page.get_by_text("$120.00").first).to_be_visible()
    await shot(page, "event")

    await pick(page, "Floor A", "sec0-B-4", "sec0-B-5")
    await expect(page.get_by_text("2 seats · $240.00")).to_be_visible()
    await shot(page, "selected")
    await hold(page)
    await expect(seat(page, "sec0-B-4")).to_have_attribute("data-status", "MINE")
    await shot(page, "held")

    outcome = await pay(page, "tok_visa")
    await expect(outcome).to_have_attribute("data-outcome", "succeeded")
    booking = outcome.locator("[data-booking-id]")
    booking_id = await booking.get_attribute("data-booking-id")
    assert booking_id
    assert booking_id in await booking.inner_text()
    await expect(seat(page, "sec0-B-4")).to_have_attribute("data-status", "SOLD")
    await shot(page, "booked")

    await page.get_by_role("link", name="See my bookings").click()
    await expect(page).to_have_url(re.compile("/my/bookings$"))
    listed = page.locator(f'[data-booking-id="{booking_id}"]')
    await expect(listed).to_contain_text("Lumen Orchestra Live")
    await expect(listed).to_contain_text("Floor A, row B, seat 4")
    await expect(listed).to_contain_text("$240.00")
    await shot(page, "my-bookings")


async def test_a_declined_card_keeps_the_hold_and_a_second_card_pays(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool
) -> None:
    event = await small_show(pool)
    page = await open_page(f"/e/{event['id']}")
    await pick(page, "Balcony", "sec1-A-1")
    await hold(page)
    outcome = await pay(page, "tok_chargeDeclined")
    await expect(outcome).to_have_attribute("data-outcome", "failed")
    await expect(outcome).to_contain_text("declined")
    await expect(seat(page, "sec1-A-1")).to_have_attribute("data-status", "MINE")
    await expect(page.get_by_role("timer")).to_be_visible()
    await shot(page, "declined")
    outcome = await pay(page, "tok_visa")
    await expect(outcome).to_have_attribute("data-outcome", "succeeded")
    await expect(outcome.locator("[data-booking-id]")).to_have_count(1)
    await shot(page, "paid-on-retry")


async def test_cancel_hold_gives_the_seats_back_at_once_and_returns_to_picking(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    event = await small_show(pool)
    page = await open_page(f"/e/{event['id']}")
    other = await open_page(f"/e/{event['id']}")
    await pick(page, "Floor A", "sec0-B-7", "sec0-B-8")
    await hold(page)
    guest, memory = await remembered(page, event["id"])
    hold_id = memory["hold"]["holdId"]
    await section_button(other, "Floor A").click()
    await expect(seat(other, "sec0-B-7")).to_have_attribute("data-status", "HELD")

    await page.get_by_role("button", name="Cancel hold").click()
    await expect(page.get_by_role("timer")).to_be_hidden()
    await expect(page.get_by_role("button", name="Hold seats")).to_be_visible()
    for seat_id in ("sec0-B-7", "sec0-B-8"):
        await expect(seat(page, seat_id)).to_have_attribute("data-status", "AVAILABLE")
        await expect(seat(other, seat_id)).to_have_attribute("data-status", "AVAILABLE")
    await expect(section_button(page, "Floor A")).to_have_accessible_name("Floor A — 30 available")
    _, memory = await remembered(page, event["id"])
    assert "hold" not in memory, "a reload would bring the cancelled hold back"
    await shot(page, "cancelled")
    auth = {"Authorization": f"Bearer {guest['token']}"}
    cancelled = await api.get(f"/holds/{hold_id}", headers=auth)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"


async def test_a_reload_keeps_the_buyer_the_hold_and_the_countdown(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    event = await small_show(pool)
    page = await open_page(f"/e/{event['id']}")
    await pick(page, "Floor A", "sec0-C-9", "sec0-C-10")
    await hold(page)
    guest, _ = await remembered(page, event["id"])
    before = await page.get_by_role("timer").inner_text()
    await shot(page, "held")

    await page.reload()
    await expect(page.get_by_role("timer")).to_contain_text(re.compile(r"\d+:\d\d"))
    same_guest, memory = await remembered(page, event["id"])
    assert same_guest == guest
    for seat_id in ("sec0-C-9", "sec0-C-10"):
        await expect(seat(page, seat_id)).to_have_attribute("data-status", "MINE")
    after = await page.get_by_role("timer").inner_text()
    left = [int(m) * 60 + int(s) for m, s in (re.findall(r"(\d+):(\d\d)", t)[0] for t in (before, after))]
    assert 0 < left[1] <= left[0], (before, after)  # the same expiry, not a fresh 10 minutes
    await shot(page, "reloaded")
    # The server agrees: the remembered hold is this buyer's, still active, with those seats.
    auth = {"Authorization": f"Bearer {guest['token']}"}
    held = await api.get(f"/holds/{memory['hold']['holdId']}", headers=auth)
    assert held.status_code == 200, held.text
    assert held.json()["status"] == "ACTIVE"
    assert sorted(held.json()["seatIds"]) == ["sec0-C-10", "sec0-C-9"]


async def _tab_to(page: Page, selector: str, key: str = "Tab", limit: int = 80) -> None:
    """Press Tab (or ``key``) until the focused element matches ``selector``."""
    for _ in range(limit):
        if await page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
        await page.keyboard.press(key)
    raise AssertionError(f"Tab never reached {selector}")


async def test_seats_can_be_chosen_and_held_with_the_keyboard_alone(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool
) -> None:
    event = await small_show(pool)
    page = await open_page(f"/e/{event['id']}")
    await expect(section_button(page, "Balcony")).to_be_visible()
    await _tab_to(page, ".section-chip")
    while not await page.evaluate("document.activeElement.textContent.startsWith('Balcony')"):
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(section_button(page, "Balcony")).to_have_attribute("aria-pressed", "true")
    await _tab_to(page, "[data-seat-id]")
    assert await page.evaluate("document.activeElement.dataset.seatId") == "sec1-A-1"
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("Space")
    await expect(seat(page, "sec1-B-2")).to_have_attribute("data-status", "SELECTED")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("Enter")
    await expect(seat(page, "sec1-B-3")).to_have_attribute("data-status", "SELECTED")
    await page.keyboard.press("Enter")  # toggles back
    await expect(seat(page, "sec1-B-3")).to_have_attribute("data-status", "AVAILABLE")
    await page.keyboard.press("Enter")
    await shot(page, "keyboard-selection")
    await _tab_to(page, "#hold", key="Shift+Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("timer")).to_be_visible()
    for seat_id in ("sec1-B-2", "sec1-B-3"):
        await expect(seat(page, seat_id)).to_have_attribute("data-status", "MINE")
    await shot(page, "keyboard-held")


async def _spacing(page: Page, a: str, b: str) -> float:
    """Screen distance between two seats' centres on the drawing."""
    (ax, ay), (bx, by) = [(await page.evaluate(f"window.__seatmap.locate('{s}')"))["point"] for s in (a, b)]
    return float(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5)


async def test_the_drawing_zooms_with_the_wheel_and_a_click_on_a_seat_picks_it(
    open_page: Opener, shot: Shot, pool: asyncpg.Pool
) -> None:
    event = await small_show(pool)
    page = await open_page(f"/e/{event['id']}")
    canvas = page.locator("canvas#seatmap")
    await expect(section_button(page, "Balcony")).to_be_visible()
    box = await canvas.bounding_box()
    assert box is not None
    spread = await _spacing(page, "sec0-A-1", "sec0-A-2")
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.wheel(0, -300)  # zoom in around the pointer
    await page.wait_for_function(
        "(d) => { const [a, b] = ['sec0-A-1', 'sec0-A-2'].map((s) => window.__seatmap.locate(s).point);"
        " return Math.hypot(a[0] - b[0], a[1] - b[1]) > d * 1.5; }",
        arg=spread,
    )
    zoomed = await _spacing(page, "sec0-A-1", "sec0-A-2")
    await page.get_by_role("button", name="Zoom out").click()
    assert await _spacing(page, "sec0-A-1", "sec0-A-2") < zoomed

    await section_button(page, "Balcony").click()  # zooms the drawing onto that section
    await canvas.scroll_into_view_if_needed()
    box = await canvas.bounding_box()  # the click on the chip scrolled the page
    assert box is not None
    located = await page.evaluate("window.__seatmap.locate('sec1-B-6')")
    assert located["seatMode"], "zoomed onto a section, seats are drawn one by one"
    x, y = located["point"]
    assert 0 <= x <= box["width"]
    assert 0 <= y <= box["height"]
    await page.mouse.click(box["x"] + x, box["y"] + y)
    await expect(seat(page, "sec1-B-6")).to_have_attribute("data-status", "SELECTED")
    await shot(page, "picked-on-the-drawing")
    await page.mouse.click(box["x"] + x, box["y"] + y)  # again: put back
    await expect(seat(page, "sec1-B-6")).to_have_attribute("data-status", "AVAILABLE")
