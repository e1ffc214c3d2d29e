"""``/docs`` and ``/redoc`` render in Chromium with every other host unreachable, and with
no console errors (the fixture checks): the docs work offline, not just name no CDN."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, Route, expect

from tests.e2e.browser.conftest import Opener


async def _offline(page: Page, origin: str) -> list[str]:
    """Abort every request to another origin; returns the URLs that tried."""
    tried: list[str] = []

    async def elsewhere(route: Route) -> None:
        tried.append(route.request.url)
        await route.abort("internetdisconnected")

    await page.context.route(lambda url: urlsplit(url).netloc not in ("", origin), elsewhere)
    return tried


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_api_docs_render_with_no_network(open_page: Opener, path: str) -> None:
    page = await open_page("/")
    tried = await _offline(page, urlsplit(page.url).netloc)
    await page.goto(path)
    if path == "/docs":
        await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Ticketmaster")
        operations = page.locator(".swagger-ui .opblock")
    else:
        await expect(page.locator(".api-info h1")).to_contain_text("Ticketmaster")
        operations = page.locator("[data-section-id^='operation/']")
    await expect(operations.first).to_be_visible()
    assert await operations.count() >= 10
    assert tried == [], f"the docs reached for another host: {tried}"
