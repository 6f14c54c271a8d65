"""Screenshots of the portal's main pages for the README and docs, at a desktop's width (1280) and a phone's
(390), in English, of the demo (`partner-portal serve --demo`: months of commission, customers, payouts).

Taken only when `PORTAL_SCREENSHOTS` names a folder, so that a test run never rewrites them by accident:

    PORTAL_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/test_portal_screenshots.py
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from partner_portal.resolvers.demo import CUSTOMERS, PARTNER_ADMIN_EMAIL, STAFF, seed_demo
from tests.browser import SLOW, browser, skip_without_chromium
from tests.conftest import Api
from tests.portal_world import START_SESSION, ok, served, signed_in
from tests.servers import Server
from tests.support import Person, session_of

__all__ = ["browser"]  # a fixture
FOLDER = os.environ.get("PORTAL_SCREENSHOTS", "")
pytestmark = [
    SLOW,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not FOLDER, reason="PORTAL_SCREENSHOTS=docs/screenshots takes the docs' screenshots"),
]
skip_without_chromium()

WIDTHS = {"desktop": 1280, "phone": 390}
CONTOSO_ADMIN = next(email for email, (name, _) in CUSTOMERS.items() if name == "Contoso Ltd")
STAFF_EMAIL = next(email for email, (_, permission) in STAFF.items() if permission.value == "ADMINISTER_CUSTOMERS")
ORGANIZATIONS = "{ viewer { memberships { organization { id name } } } }"


@pytest.fixture
async def server(api) -> AsyncIterator[Server]:
    running = served(api.settings.database_url)
    await running.start()
    try:
        yield running
    finally:
        await running.kill()


async def person(api: Api, email: str) -> Person:
    return Person(email, await session_of(api, email), "")


async def test_screenshots_of_the_main_pages(api, server, browser):
    await seed_demo(api.settings)
    partner = await person(api, PARTNER_ADMIN_EMAIL)
    staff = await person(api, STAFF_EMAIL)
    customer = await person(api, CONTOSO_ADMIN)
    memberships = (await api.data(ORGANIZATIONS, token=customer.token))["viewer"]["memberships"]
    contoso = memberships[0]["organization"]["id"]
    await ok(api, START_SESSION, {"id": contoso}, token=staff.token)
    pages = [
        ("sign-in", "/sign-in", None),
        ("dashboard", "/partner/dashboard", partner),
        ("my-customers", "/partner/customers", partner),
        ("commissions", "/partner/commissions", partner),
        ("management-session", f"/manage/{contoso}", staff),
        ("service-provider", "/organization/service-provider", customer),
        ("payouts", "/partner/payouts", partner),
    ]
    folder = Path(FOLDER)
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 — once, before the browser starts
    missing = []
    for device, width in WIDTHS.items():
        for name, path, who in pages:
            context = await signed_in(browser, server.url, who, width=width)
            try:
                page = await context.new_page()
                response = await page.goto(server.url + path)
                if response is None or response.status >= 400 or page.url.split("?")[0] != server.url + path:
                    missing.append(f"{path}: {response.status if response else 'no answer'} at {page.url}")
                    continue
                await page.screenshot(path=folder / f"{name}-{device}.png", full_page=True)
            finally:
                await context.close()
    assert not missing, f"pages not shown: {missing}"
