"""The seed's journeys through the portal in real Chromium (Playwright), against the server in a child
process, on the database the suite runs with (SQLite or PostgreSQL). People find what they use by its role
and label, as they would; each page also must load nothing from another origin and raise no script or
policy error.

- a partner invites a customer; the customer accepts from the mail a real SMTP server received; grants
  everything but ordering licenses; the partner's staff (with only ADMINISTER_CUSTOMERS: only My customers
  in the menu, the session button, no invite button) opens a management session in a new tab, changes a
  setting, is refused an order with the reason, ends the session; the customer sees that activity;
- an affiliate visitor signs up through the link and creates an organization; a payment arrives; the
  partner sees the commission;
- a partner at the payout threshold requests a payout."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from partner_portal.resolvers.jobs import run_job
from tests.browser import SLOW, Watched, skip_without_chromium
from tests.conftest import PASSWORD, SmtpServer, free_port
from tests.portal_world import Site, module_database, signed_in, site_of
from tests.support import Person, session_of

pytestmark = SLOW
skip_without_chromium()

PARTNER_NAME = "Northwind Partners"  # make_partner's
VIEWER_ORGANIZATIONS = "{ viewer { memberships { organization { id name } } } }"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) for the module's journeys."""
    from aiosmtpd.controller import Controller

    port = free_port()
    received = SmtpServer(url=f"smtp://127.0.0.1:{port}")
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield received
    finally:
        controller.stop()


@pytest.fixture(scope="module")
async def site(template_database, tmp_path_factory, smtp) -> AsyncIterator[Site]:
    """One world, server and browser for the journeys, which do not get in each other's way: the invited
    customer is a new one, the affiliate's commission stays in its hold, the payout is the partner's only."""
    database_url = module_database(template_database, tmp_path_factory.mktemp("portal-journeys"))
    async with site_of(database_url, smtp.url, session=False, paid=True) as running:
        yield running


async def person_page(browser: Browser, origin: str, person: Person | None) -> Watched:
    """A page of `person`'s own browser (None: a visitor), which accepts the portal's confirmations."""
    context = await signed_in(browser, origin, person)
    page = await context.new_page()
    page.on("dialog", _accept)
    return Watched(page, origin)


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


# A refused form is answered 400 with the page again (the reason beside the form); Chromium logs that status.
REFUSED_FORM = "Failed to load resource: the server responded with a status of 400 (Bad Request)"


def clean(*pages: Watched, refused_forms: int = 0) -> None:
    """Nothing from another origin; no console or policy error but the `refused_forms` the journey provoked."""
    errors = [error for watched in pages for error in watched.console_errors]
    assert [watched.foreign for watched in pages] == [[] for _ in pages]
    assert errors.count(REFUSED_FORM) == refused_forms, errors
    assert [error for error in errors if error != REFUSED_FORM] == []


def menu(page: Page):
    return page.get_by_role("navigation", name="Main").get_by_role("link")


async def test_invite_accept_grant_manage_and_see_the_activity(site, smtp):
    world, api, chromium, origin = site.world, site.api, site.browser, site.server.url

    # a: the partner invites a customer on Invitations.
    partner = await person_page(chromium, origin, world.partner.admin)
    await partner.page.goto(f"{origin}/partner/invitations")
    await partner.page.get_by_label("Email address").fill("chris@fabrikam.example")
    await partner.page.get_by_label("Organization name").fill("Fabrikam Inc")
    await partner.page.get_by_label("Personal message (optional)").fill("Welcome aboard!")
    await partner.page.get_by_role("button", name="Send invitation").click()
    await expect(partner.page.get_by_role("row", name=re.compile("chris@fabrikam.example"))).to_be_visible()

    # The outbox delivers the mail to the SMTP server; the customer opens its link.
    await run_job("outbox", api.settings)
    mails = [m for m in smtp.messages if m["To"] == "chris@fabrikam.example"]
    assert len(mails) == 1
    body = mails[0].get_body(("plain",)).get_content()
    assert "Welcome aboard!" in body
    link = re.search(r"/invitations/accept\?token=ppi_[\w-]+", body)
    assert link, body

    customer = await person_page(chromium, origin, None)
    await customer.page.goto(origin + link.group(0))
    await expect(customer.page.get_by_label("Organization name")).to_have_value("Fabrikam Inc")
    await customer.page.get_by_label("Your name").fill("Chris Fabrikam")
    await customer.page.get_by_label("Choose a password").fill(PASSWORD)
    await customer.page.get_by_role("button", name="Accept the invitation").click()
    await customer.page.wait_for_url(f"{origin}/")

    # b: the customer grants everything but ordering licenses, under My service provider.
    await menu(customer.page).filter(has_text="My service provider").click()
    await expect(customer.page.get_by_role("heading", name=PARTNER_NAME)).to_be_visible()
    for permission in ("Change settings", "Manage members", "View billing"):
        await customer.page.get_by_label(permission).check()
    await expect(customer.page.get_by_label("Order licenses")).not_to_be_checked()
    await customer.page.get_by_role("button", name="Save permissions").click()
    await expect(customer.page.get_by_text("The permissions of your service provider are saved.")).to_be_visible()

    # e: staff with only ADMINISTER_CUSTOMERS see My customers alone, the session button, no invitations.
    staff = await person_page(chromium, origin, world.staff)
    await staff.page.goto(f"{origin}/")
    assert await menu(staff.page).all_text_contents() == ["My customers"]
    await menu(staff.page).filter(has_text="My customers").click()
    row = staff.page.get_by_role("row", name=re.compile("Fabrikam Inc"))
    await expect(row).to_contain_text("Change settings")
    await expect(staff.page.get_by_role("link", name="Invite a customer")).to_have_count(0)

    # c: the session opens in a new tab; a setting is changed; an order is refused with the reason.
    async with staff.page.context.expect_page() as opened:
        await row.get_by_role("button", name=re.compile("Start management session")).click()
    session = Watched(await opened.value, origin)
    session.page.on("dialog", _accept)
    await session.page.wait_for_url(re.compile(r"/manage/"))
    await expect(session.page.get_by_role("heading", level=1)).to_have_text(
        f"You are managing Fabrikam Inc for {PARTNER_NAME}"
    )
    await session.page.get_by_label("Website").fill("https://fabrikam.example")
    await session.page.get_by_role("button", name="Save settings").click()
    await expect(session.page.get_by_text("The customer's settings are saved.")).to_be_visible()
    await expect(session.page.get_by_label("Website")).to_have_value("https://fabrikam.example")

    await session.page.get_by_label("Coupon code").fill("SPRING-2026")
    await session.page.get_by_role("button", name="Order license").click()
    refusal = session.page.get_by_role("alert").filter(has_text="Order licenses")
    await expect(refusal).to_contain_text("The customer has not granted “Order licenses” to you")

    here = session.page.url
    await session.page.get_by_role("button", name="End session").click()
    await session.page.wait_for_url(re.compile(r"/partner/customers"))  # back to My customers
    await expect(session.page.get_by_text("The management session has ended.")).to_be_visible()
    await session.page.goto(here)
    await expect(session.page.get_by_role("heading", name="This session has ended")).to_be_visible()

    # d: the customer sees what the staff did, by whom.
    await customer.page.goto(f"{origin}/")
    await menu(customer.page).filter(has_text="Partner activity").click()
    change = customer.page.get_by_role("row", name=re.compile("organization.update"))
    await expect(change).to_contain_text("Casey Customers")
    await expect(change).to_contain_text("https://fabrikam.example")

    clean(partner, customer, staff, session, refused_forms=1)  # the order


async def test_an_affiliate_visitor_signs_up_and_the_partner_sees_the_commission(site):
    world, api, chromium, origin = site.world, site.api, site.browser, site.server.url

    # f: the visitor follows the affiliate link, registers and creates an organization.
    visitor = await person_page(chromium, origin, None)
    await visitor.page.goto(f"{origin}/r/{world.affiliate_code}")
    await visitor.page.get_by_role("link", name="No account yet? Create one").click()
    await visitor.page.get_by_label("Your name").fill("Robin Referred")
    await visitor.page.get_by_label("Email address").fill("robin@adatum.example")
    await visitor.page.get_by_label("Password").fill(PASSWORD)
    await visitor.page.get_by_role("button", name="Create account").click()
    await visitor.page.get_by_role("link", name="Create an organization").click()
    await visitor.page.get_by_label("Name of the organization").fill("Adatum Corp")
    await visitor.page.get_by_role("button", name="Create organization").click()
    credited = visitor.page.get_by_text("You came through a partner's link: the partner is credited.")
    await expect(credited).to_be_visible()

    # The billing system reports the new customer's first payment: 20 % affiliate commission.
    robin = await session_of(api, "robin@adatum.example")
    memberships = (await api.data(VIEWER_ORGANIZATIONS, token=robin))["viewer"]["memberships"]
    (adatum,) = [m["organization"]["id"] for m in memberships if m["organization"]["name"] == "Adatum Corp"]
    await world.pay(adatum, "100.00")

    partner = await person_page(chromium, origin, world.partner.admin)
    await partner.page.goto(f"{origin}/")
    await menu(partner.page).filter(has_text="Commission").click()
    line = partner.page.get_by_role("row", name=re.compile("Affiliate"))
    await expect(line).to_have_count(1)
    await expect(line).to_contain_text(re.compile(r"20[.,]00"))

    clean(visitor, partner)


async def test_a_partner_at_the_threshold_requests_a_payout(site):
    world, chromium, origin = site.world, site.browser, site.server.url  # 135.00 EUR approved: the threshold

    # g: the balance reaches the threshold; the partner requests the payout.
    partner = await person_page(chromium, origin, world.partner.admin)
    await partner.page.goto(f"{origin}/")
    await menu(partner.page).filter(has_text="Payouts").click()
    await expect(partner.page.get_by_text("Your balance reaches the threshold")).to_be_visible()
    await partner.page.get_by_role("button", name="Request payout").click()
    await expect(partner.page.get_by_text("Your payout is requested.")).to_be_visible()
    await expect(partner.page.get_by_role("button", name="Request payout")).to_be_disabled()

    clean(partner)
