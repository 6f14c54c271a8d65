"""My customers in real Chromium on a phone: nothing wider than the screen (the table scrolls in its
box), no request to another origin, no script or policy error, and the management-session button
opens the session in a new tab, as the partner programs' help pages describe."""

from __future__ import annotations

import re

from tests.browser import SLOW, browser, open_page, server, skip_without_chromium
from tests.conftest import PASSWORD
from tests.documents import SET_SERVICE_PARTNER
from tests.support import create_organization, make_partner, operator, register

pytestmark = SLOW
skip_without_chromium()
__all__ = ["browser", "server"]  # fixtures


async def test_my_customers_fits_a_phone_and_opens_the_session_in_a_new_tab(api, server, browser):
    partner = await make_partner(api, await operator(api))
    chris = await register(api, "chris@contoso.example", "Chris Contoso")
    contoso = await create_organization(api, chris, "Contoso Ltd")
    chosen = await api.data(SET_SERVICE_PARTNER, {"id": contoso["id"], "code": partner.code}, token=chris.token)
    assert chosen["setServicePartner"]["errors"] == []
    watched = await open_page(browser, server, width=390)
    page = watched.page

    await page.goto(f"{server.url}/sign-in?next=/partner/customers")
    await page.get_by_label("Email address").fill(partner.admin.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.url}/partner/customers")
    heading = await page.get_by_role("heading", level=1).text_content()
    row = page.get_by_role("row", name=re.compile("Contoso Ltd"))
    overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    async with page.context.expect_page() as opened:
        await row.get_by_role("button", name=re.compile("Start management session")).click()
    session = await opened.value
    await session.wait_for_load_state()

    assert heading == "My customers"
    assert overflow is False
    assert session.url.startswith(f"{server.url}/manage/")
    assert page.url == f"{server.url}/partner/customers"  # My customers stays open in its tab
    assert watched.foreign == []
    assert watched.console_errors == []
