"""What a buyer does on the event page, through the hooks WEB.md fixes (the same ones an
outside test would use), and catalogs for browser tests."""

from __future__ import annotations

import json
import re
from typing import Any

import asyncpg
from playwright.async_api import Locator, Page, expect

from tests import factories


async def small_show(
    pool: asyncpg.Pool, *, title: str | None = None, waiting_room: bool = False, **extra: Any
) -> dict[str, Any]:
    """An on-sale event at a venue of two sections ("Floor A", "Balcony"), three rows of
    ten seats each, two price tiers; returns the event's import dict."""
    venue = factories.venue(sections=2, rows=3, seats=10, name="Harbor Hall", city="Boston")
    venue["sections"][0]["name"] = "Floor A"
    venue["sections"][1]["name"] = "Balcony"
    event = factories.event(
        venue, title=title or f"Browser Band {factories.uid()}", waiting_room=waiting_room, **extra
    )
    event["priceTiers"] = [
        {"id": "pt_floor", "name": "Floor", "priceCents": 12000, "currency": "USD", "sections": ["sec0"]},
        {"id": "pt_balcony", "name": "Balcony", "priceCents": 6500, "currency": "USD", "sections": ["sec1"]},
    ]
    await factories.load(pool, {"venues": [venue], "events": [event]})
    return event


def seat(page: Page, seat_id: str) -> Locator:
    return page.locator(f'[data-seat-id="{seat_id}"]')


def section_button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=re.compile(rf"^{re.escape(name)} — \d+ available$"))


async def pick(page: Page, section: str, *seat_ids: str) -> None:
    await section_button(page, section).click()
    for seat_id in seat_ids:
        await seat(page, seat_id).click()
        await expect(seat(page, seat_id)).to_have_attribute("data-status", "SELECTED")


async def hold(page: Page) -> None:
    await page.get_by_role("button", name="Hold seats").click()
    await expect(page.get_by_role("timer")).to_contain_text(re.compile(r"\d+:\d\d"))


async def pay(page: Page, token: str) -> Locator:
    """Pay with a sandbox token; the outcome element once it left "pending"."""
    await page.get_by_label("Payment token").select_option(token)
    await page.get_by_role("button", name="Pay").click()
    outcome = page.get_by_role("status")
    await expect(outcome).to_have_attribute("data-outcome", re.compile("succeeded|failed"), timeout=20_000)
    return outcome


async def remembered(page: Page, event_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page's stored guest {token, userId} and what it remembers of the event (store.js)."""
    guest: dict[str, Any] = json.loads(await page.evaluate("localStorage.getItem('tm.guest')") or "null")
    assert guest, "no guest stored"
    key = f"tm.event.{event_id}.{guest['userId']}"
    memory: dict[str, Any] = json.loads(await page.evaluate("(k) => localStorage.getItem(k)", key) or "{}")
    return guest, memory


async def no_horizontal_overflow(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    inner = await page.evaluate("window.innerWidth")
    assert width <= inner, f"the page is {width}px wide in a {inner}px window"
