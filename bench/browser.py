"""Headless Chromium as this machine runs it, for the web benchmark and the browser tests:
the Debian package's binary (``apt-get install chromium``), driven by Playwright."""

from __future__ import annotations

from playwright.async_api import Browser, Playwright

CHROMIUM = "/usr/bin/chromium"
# No sandbox (containers run as root); nothing in the background that could use the
# network or the CPU while a page is measured.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def launch(playwright: Playwright, executable: str = CHROMIUM) -> Browser:
    return await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
