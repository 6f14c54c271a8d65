"""The portal in a real browser: Debian's Chromium, driven by Playwright, against the server in a
child process (`uvicorn`), as people use it. Without Chromium these tests are skipped with how to get
it (`apt-get install chromium`); under CI (`CI=true`) a missing browser fails them instead.

Each journey also watches the browser: no request leaves the portal's origin, and nothing breaks the
Content-Security-Policy or the page's scripts."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import PASSWORD
from tests.servers import Server
from tests.support import register

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.slow  # a server process and a browser

if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip("no Chromium: `sudo apt-get install chromium` (Debian) runs the browser tests", allow_module_level=True)


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


async def test_a_person_signs_in_and_out(api, server, browser):
    await register(api, "ada@partner.example", "Ada Lovelace")
    watched = await open_page(browser, server)
    page = watched.page

    await page.goto(f"{server.url}/")
    await page.get_by_label("Email address").fill("ada@partner.example")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.url}/")
    welcome = await page.get_by_role("heading", level=1).text_content()
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{server.url}/sign-in")

    assert welcome == "Welcome, Ada Lovelace"
    assert watched.foreign == []
    assert watched.console_errors == []


async def test_a_german_browser_on_a_phone_gets_the_german_portal(api, server, browser):
    watched = await open_page(browser, server, locale="de-DE", width=390)
    page = watched.page

    await page.goto(f"{server.url}/sign-in")
    heading = await page.get_by_role("heading", level=1).text_content()
    overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")

    assert heading == "Anmelden"
    assert overflow is False  # nothing wider than the phone
    assert watched.foreign == []
    assert watched.console_errors == []
