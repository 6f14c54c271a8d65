"""The portal in a real browser: Debian's Chromium, driven by Playwright, against the server in a
child process (`uvicorn`), as people use it (tests/browser.py). Each journey also watches the browser:
no request leaves the portal's origin, and nothing breaks the Content-Security-Policy or the page's
scripts."""

from __future__ import annotations

from tests.browser import SLOW, browser, open_page, server, skip_without_chromium
from tests.conftest import PASSWORD
from tests.support import register

pytestmark = SLOW
skip_without_chromium()
__all__ = ["browser", "server"]  # fixtures


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
