"""Two buyers in two browser contexts: what one does shows on the other's page without a
reload, through the live seat stream (on the server whose holds last a few seconds when
the test waits for an expiry)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from playwright.async_api import expect

from tests.e2e.browser.conftest import SHORT_TTL_S, Opener
from tests.e2e.browser.shopping import hold, pick, seat, section_button, small_show

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
