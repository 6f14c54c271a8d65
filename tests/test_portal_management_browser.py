"""The management session in real Chromium (the seed's journey, REDDCRYPT's "Management Session"):
partner staff press the button on My customers, the session opens in a new tab that says plainly whose
organization it is, they change a setting, are refused a license order with the reason, and end the
session. No request leaves the portal's origin, no script or policy error; the page fits a phone."""

from __future__ import annotations

import re

from tests.browser import SLOW, Watched, browser, server, skip_without_chromium
from tests.management_world import EVERYTHING_BUT_LICENSES, build_world, grant
from tests.portal_world import signed_in

pytestmark = SLOW
skip_without_chromium()
__all__ = ["browser", "server"]  # fixtures

ORGANIZATION = "query Organization($id: ID!) { node(id: $id) { ... on Organization { name } } }"
REFUSED_ORDER = "The customer has not granted “Order licenses” to you: only the customer can change that."


async def test_staff_open_a_session_in_a_new_tab_change_a_setting_and_are_refused_an_order(api, server, browser):
    world = await build_world(api)
    await grant(api, world, EVERYTHING_BUT_LICENSES)
    context = await signed_in(browser, server.url, world.staff)
    customers = Watched(await context.new_page(), server.url)
    await customers.page.goto(f"{server.url}/partner/customers")

    async with context.expect_page() as opened:
        await customers.page.get_by_role("button", name=re.compile("Start management session")).click()
    tab = Watched(await opened.value, server.url)
    page = tab.page
    await page.wait_for_load_state()
    banner = await page.get_by_role("heading", level=1).text_content()

    await page.get_by_label("Name", exact=True).fill("Contoso Limited")
    await page.get_by_role("button", name="Save settings").click()
    await page.wait_for_url(re.compile(r"notice=settings-saved"))
    await page.get_by_label("Coupon code").fill("ABCD-EFGH")
    await page.get_by_role("button", name="Order license").click()
    await page.wait_for_load_state()
    refusal = await page.get_by_role("alert").text_content()
    renamed = (await api.data(ORGANIZATION, {"id": world.customer_id}, token=world.customer_admin.token))["node"]
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm asks before the session ends
    await page.get_by_role("button", name="End session").click()
    await page.wait_for_url(re.compile(r"/partner/customers\?notice=management-ended"))

    assert banner == "You are managing Contoso Ltd for Northwind Partners"
    assert renamed["name"] == "Contoso Limited"
    assert REFUSED_ORDER in refusal
    assert customers.foreign == tab.foreign == []
    assert customers.console_errors == []
    # the refused order answers 400 (the form again, with the reason), which Chromium logs; nothing else
    assert [error for error in tab.console_errors if "status of 400" not in error] == []


async def test_the_session_page_fits_a_phone_in_german(api, server, browser):
    world = await build_world(api)
    await grant(api, world, EVERYTHING_BUT_LICENSES)
    context = await signed_in(browser, server.url, world.staff, locale="de-DE", width=390)
    page = Watched(await context.new_page(), server.url)
    await page.page.goto(f"{server.url}/partner/customers")
    async with context.expect_page() as opened:
        await page.page.get_by_role("button", name=re.compile("Management.Session")).click()
    tab = await opened.value
    await tab.wait_for_load_state()

    banner = await tab.get_by_role("heading", level=1).text_content()
    overflow = await tab.evaluate("document.documentElement.scrollWidth > window.innerWidth")

    assert banner == "Sie verwalten Contoso Ltd für Northwind Partners"
    assert overflow is False
    assert page.console_errors == []
