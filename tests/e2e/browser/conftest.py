"""Browser tests: the machine's Chromium (Playwright) against real server processes.

One stack for the session: the payment sandbox, a worker (purchases, expiry sweeps, the
admission ticker at a fast tick), an API server with the default hold TTL and one whose
holds last ``SHORT_TTL_S``, all on the test database and Redis namespace (each test
starts from empty tables, tests/e2e/conftest.py). Every page a test opens is watched:
an uncaught exception or a console error fails the test, except the browser's own
"Failed to load resource" line for an API refusal (which the page shows in words).
Each test saves a screenshot per step under the run's temporary folder.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from bench.browser import launch
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from tests.conftest import ServerProcess
from tests.fleet import Sandbox

SHORT_TTL_S = 3
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 740}
# The browser's line for a response with an error status; the page says what it means.
_REFUSAL = re.compile(r"^Failed to load resource: the server responded with a status of [45]\d\d\b")

expect.set_options(timeout=10_000)


@dataclass
class WebStack:
    url: str  # hold TTL: the default (10 minutes)
    short_url: str  # holds last SHORT_TTL_S


# Package scope: its worker pays for purchases in the shared test database, so it must be
# gone before the other end-to-end tests, which run workers of their own on that database.
@pytest.fixture(scope="package")
def web_stack(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    sandbox = Sandbox(tmp_path_factory.mktemp("web-sandbox"), latency="20:60")
    env = {
        **server_env,
        "TICKETMASTER_SANDBOX_URL": sandbox.url,
        "TICKETMASTER_QUEUE_TICK_SECONDS": "0.05",
        "TICKETMASTER_DB_POOL_SIZE": "6",
    }
    api = ServerProcess(env)
    short = ServerProcess({**env, "TICKETMASTER_HOLD_TTL_SECONDS": str(SHORT_TTL_S)})
    worker = ServerProcess(env, command="worker")
    try:
        sandbox.wait_ready()
        api.wait_ready()
        short.wait_ready()
        yield WebStack(api.url, short.url)
    finally:
        for process in (worker, short, api):
            process.stop()
        sandbox.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await launch(p)
        yield launched
        await launched.close()


@dataclass
class Watch:
    """Console errors and uncaught exceptions of every page of a test."""

    problems: list[str] = field(default_factory=list)

    def page(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not _REFUSAL.match(message.text):
            self.problems.append(f"console error: {message.text} ({message.location})")


Opener = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_page(browser: Browser, web_stack: WebStack) -> AsyncIterator[Opener]:
    """``await open_page(path, short=False, viewport=DESKTOP)``: a page in a new browser
    context (a buyer of its own, fresh storage) at ``path``. Fails the test on console errors."""
    watch = Watch()
    contexts: list[BrowserContext] = []

    async def opener(path: str, *, short: bool = False, viewport: ViewportSize | None = None) -> Page:
        context = await browser.new_context(
            base_url=web_stack.short_url if short else web_stack.url, viewport=viewport or DESKTOP
        )
        contexts.append(context)
        page = watch.page(await context.new_page())
        await page.goto(path)
        return page

    yield opener
    for context in contexts:
        await context.close()
    assert watch.problems == []


@pytest.fixture
def shot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Awaitable[Path]]:
    """``await shot(page, "step")``: a screenshot under <basetemp>/screenshots/<test>/."""
    folder = tmp_path_factory.getbasetemp() / "screenshots" / str(request.node.name).replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    taken = 0

    async def take(page: Page, step: str, *, full_page: bool = False) -> Path:
        nonlocal taken
        taken += 1
        path = folder / f"{taken:02d}-{step}.png"
        await page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture
async def api(web_stack: WebStack) -> AsyncIterator[httpx.AsyncClient]:
    """The default-TTL server's JSON API, for what another buyer does outside the browser."""
    async with httpx.AsyncClient(base_url=web_stack.url, timeout=30) as client:
        yield client
