"""What the browser tests share: Debian's Chromium driven by Playwright, the server in a child
process, and a page that records requests to other origins and script or policy errors.

A test module uses them with `from tests.browser import *` names it needs and `pytestmark = SLOW`;
without Chromium the module is skipped with how to get it, under CI (`CI=true`) it fails instead."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.servers import Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SLOW = pytest.mark.slow  # a server process and a browser


def skip_without_chromium() -> None:
    """Call at a browser test module's top."""
    if CHROMIUM is None and os.environ.get("CI") != "true":
        pytest.skip(
            "no Chromium: `sudo apt-get install chromium` (Debian) runs the browser tests", allow_module_level=True
        )


@pytest.fixture
async def server(api) -> AsyncIterator[Server]:
    running = Server(api.settings.database_url)
    await running.start()
    try:
        yield running
    finally:
        await running.kill()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM, "Chromium is missing: `apt-get install chromium`"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


class Watched:
    """A page whose requests to other origins and console errors are collected."""

    def __init__(self, page: Page, origin: str) -> None:
        self.page = page
        self.foreign: list[str] = []
        self.console_errors: list[str] = []
        page.on("request", lambda request: self._request(request.url, origin))
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def _request(self, url: str, origin: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in {"http", "https"} and f"{parts.scheme}://{parts.netloc}" != origin:
            self.foreign.append(url)


async def open_page(browser: Browser, server: Server, locale: str = "en-US", width: int = 1280) -> Watched:
    context = await browser.new_context(locale=locale, viewport={"width": width, "height": 900})
    return Watched(await context.new_page(), server.url)
