"""The world the portal's browser tests walk through (accessibility, other origins, screenshots, journeys),
built through the API as its people would: an operator with a billing API key and commission rules; an
approved partner in every program, with its payout settings, an affiliate link, an open invitation and
commission; partner staff with only ADMINISTER_CUSTOMERS; a customer that chose the partner, granted
everything but ORDER_LICENSES and is in a management session of the partner's staff.

And the browser side: a signed-in context (the API's session token in the portal's cookie, as signing in
sets it), the axe-core check."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from partner_portal.resolvers.jobs import run_job
from tests.browser import CHROMIUM
from tests.conftest import POSTGRES_URL, Api, running, test_settings
from tests.documents import (
    CREATE_PLAN,
    CREATE_PRODUCT,
    CREATE_RULE,
    INVITE_CUSTOMER,
    REQUEST_PAYOUT,
    SET_DELEGATED_PERMISSIONS,
    SET_EXCHANGE_RATE,
)
from tests.servers import Server
from tests.support import (
    Partner,
    Person,
    _mailed_token,
    add_member,
    create_api_key,
    create_organization,
    make_partner,
    operator,
    register,
)

ALL_PROGRAMS = ["SERVICE_PARTNER", "AFFILIATE", "EXPERT", "RESELLER"]
EVERYTHING_BUT_ORDERS = ["MANAGE_MEMBERS", "MANAGE_SETTINGS", "VIEW_BILLING"]
# The default payout threshold is 150.00 USD; with 1 USD = 0.90 EUR that is 135.00 EUR, which a 20 %
# commission on a payment of 675.00 EUR reaches exactly.
THRESHOLD_PAYMENT = "675.00"

SET_SERVICE_PARTNER = """
mutation Choose($id: ID!, $code: String!) {
  setServicePartner(input: {organizationId: $id, partnerCode: $code}) { errors { code message } }
}"""
START_SESSION = """
mutation Start($id: ID!) { startManagementSession(input: {customerId: $id}) { session { id } errors { code } } }"""
CREATE_AFFILIATE_LINK = """
mutation Link($input: CreateAffiliateLinkInput!) {
  createAffiliateLink(input: $input) { link { code url } errors { field code message } }
}"""
SET_PAYOUT_SETTINGS = """
mutation Settings($input: SetPayoutSettingsInput!) { setPayoutSettings(input: $input) { errors { field code } } }"""
CREATE_COUPONS = """
mutation Coupons($input: CreateCouponsInput!) {
  createCoupons(input: $input) { coupons { code } errors { field code } }
}"""
RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) {
  recordPayment(input: $input) { commission { status } errors { field code message } }
}"""

AXE = Path(__file__).parent / "accessibility" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa"]


@dataclass
class World:
    api: Api
    operator: Person
    key: str  # billing:write, as the vendor's billing system holds it
    partner: Partner  # every program, MANAGE_PARTNER_PORTAL through its administrator
    staff: Person  # the partner's staff with only ADMINISTER_CUSTOMERS
    customer: Person  # the administrator of the customer organization
    customer_id: str
    customer_name: str
    affiliate_code: str
    invitation_token: str  # an open invitation of the partner, as mailed
    payments: int = 0

    async def pay(self, organization_id: str, amount: str, currency: str = "EUR") -> None:
        """A payment of `organization_id` arrives from the billing system; commission lines follow."""
        self.payments += 1
        paid_at = datetime.now(UTC).isoformat()  # not before the customer became one (no commission then)
        variables = {
            "input": {
                "externalId": f"portal-payment-{self.payments}",
                "organizationId": organization_id,
                "amount": {"amount": amount, "currency": currency},
                "paidAt": paid_at,
            }
        }
        payload = (await self.api.data(RECORD_PAYMENT, variables, api_key=self.key))["recordPayment"]
        assert payload["errors"] == [], payload["errors"]

    async def release(self) -> None:
        """The commissions job: lines past their hold (here: none) become approved."""
        await run_job("commissions", self.api.settings)


async def ok(api: Api, document: str, variables: dict[str, Any], **auth: Any) -> dict:
    """The payload of a mutation that must succeed."""
    payload = next(iter((await api.data(document, variables, **auth)).values()))
    assert payload["errors"] == [], payload["errors"]
    return payload


async def build_world(api: Api, *, session: bool = True, paid: bool = True, filled: bool = False) -> World:
    """The world above; `session`: the partner's staff is in a management session of the customer;
    `paid`: the customer paid THRESHOLD_PAYMENT and the commission is approved; `filled`: also what fills
    the rest of the partner's pages: an order of reseller coupons and a requested payout."""
    olivia = await operator(api)
    rate = {"currency": "EUR", "rate": "0.90", "validFrom": "2026-01-01"}
    await ok(api, SET_EXCHANGE_RATE, {"input": rate}, token=olivia.token)
    key = await create_api_key(api, olivia, ["BILLING_WRITE"], "Billing")
    for program in ("SERVICE_PARTNER", "AFFILIATE"):
        rule = {"program": program, "kind": "PERCENT", "rate": "20.00", "recurrence": "LIFETIME", "holdDays": 0}
        await ok(api, CREATE_RULE, {"input": rule}, token=olivia.token)
    partner = await make_partner(api, olivia, programs=ALL_PROGRAMS)
    await ok(
        api,
        SET_PAYOUT_SETTINGS,
        {"input": {"partnerId": partner.id, "method": "PAYPAL", "paypalEmail": "payouts@northwind.example"}},
        token=partner.admin.token,
    )
    link = await ok(
        api, CREATE_AFFILIATE_LINK, {"input": {"partnerId": partner.id, "code": "northwind"}}, token=partner.admin.token
    )
    staff = await register(api, "casey@northwind.example", "Casey Customers")
    await add_member(api, partner.admin, partner.id, staff.email, partner_permissions=["ADMINISTER_CUSTOMERS"])

    invited = {"email": "admin@wingtip.example", "organizationName": "Wingtip Toys", "partnerId": partner.id}
    await ok(api, INVITE_CUSTOMER, {"input": invited}, token=partner.admin.token)
    invitation_token = await _mailed_token(invited["email"], r"/invitations/accept\?token=(ppi_[\w-]+)")

    customer = await register(api, "admin@contoso.example", "Chris Contoso")
    organization = await create_organization(api, customer, "Contoso Ltd")
    await ok(api, SET_SERVICE_PARTNER, {"id": organization["id"], "code": partner.code}, token=customer.token)
    grant = {"organizationId": organization["id"], "permissions": EVERYTHING_BUT_ORDERS}
    await ok(api, SET_DELEGATED_PERMISSIONS, {"input": grant}, token=customer.token)
    world = World(
        api,
        olivia,
        key,
        partner,
        staff,
        customer,
        organization["id"],
        organization["name"],
        link["link"]["code"],
        invitation_token,
    )
    if session:
        await ok(api, START_SESSION, {"id": world.customer_id}, token=staff.token)
    if paid:
        await world.pay(world.customer_id, THRESHOLD_PAYMENT)
        await world.release()
    if filled:
        product = await ok(api, CREATE_PRODUCT, {"input": {"code": "TASKS", "name": "Tasks"}}, token=olivia.token)
        prices = [{"amount": "19.99", "currency": "EUR"}]
        plan = {"productId": product["product"]["id"], "code": "PRO", "name": "Tasks Pro", "prices": prices}
        created = await ok(api, CREATE_PLAN, {"input": plan}, token=olivia.token)
        order = {"partnerId": partner.id, "planId": created["plan"]["id"], "count": 2, "months": 12, "currency": "EUR"}
        await ok(api, CREATE_COUPONS, {"input": order}, token=partner.admin.token)
        if paid:
            await ok(api, REQUEST_PAYOUT, {"input": {"partnerId": partner.id}}, token=partner.admin.token)
    return world


async def signed_in(
    browser: Browser,
    origin: str,
    person: Person | None,
    *,
    locale: str = "en-US",
    width: int = 1280,
    bypass_csp: bool = False,
) -> BrowserContext:
    """A browser context in which `person` is signed in (None: an anonymous visitor): the API session
    token in the portal's session cookie, exactly as signing in sets it."""
    context = await browser.new_context(locale=locale, viewport={"width": width, "height": 900}, bypass_csp=bypass_csp)
    if person is not None:
        await context.add_cookies([{"name": "pp_session", "value": person.token, "url": origin}])
    return context


async def axe_violations(page: Page) -> list[dict]:
    """axe-core's WCAG 2 A and AA violations of the page as it is now."""
    await page.add_script_tag(path=str(AXE))
    results = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", AXE_TAGS
    )
    return results["violations"]


def readable(violations: list[dict]) -> str:
    """One paragraph per violation: the rule, what it asks, and each offending element."""
    lines = []
    for violation in violations:
        lines.append(f"  [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"][:8]:
            lines.append(f"      {' '.join(node['target'])}: {node['html'][:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"        {summary[:300]}")
    return "\n".join(lines)


# --- one world, server and browser for a whole module ------------------------------------------------


@dataclass
class Site:
    api: Api
    world: World
    server: Server
    browser: Browser


@asynccontextmanager
async def site_of(database_url: str, smtp_url: str | None = None, **world: bool) -> AsyncIterator[Site]:
    """The world built in `database_url`, the server on it in a child process, and Chromium. The test
    process's API (it builds the world and runs jobs such as the outbox, to `smtp_url`) has the server's
    PUBLIC_URL, so that affiliate links land and mailed links lead on the server."""
    assert CHROMIUM, "Chromium is missing: `apt-get install chromium`"
    server = served(database_url)
    async with running(test_settings(database_url, public_url=server.url, smtp_url=smtp_url)) as api:
        built = await build_world(api, **world)
        await server.start()
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                try:
                    yield Site(api, built, server, browser)
                finally:
                    await browser.close()
        finally:
            await server.kill()


def served(database_url: str) -> Server:
    """The server for `database_url` (not started) whose PUBLIC_URL is its own address: mailed links and the
    affiliate link's redirect lead back to it."""
    server = Server(database_url)
    server.environment["PUBLIC_URL"] = server.url
    return server


def module_database(template_database: str, folder: Path) -> str:
    """A database for one module's tests: a copy of the SQLite template, or the PostgreSQL one (its tables
    are emptied when the API starts)."""
    if POSTGRES_URL:
        return POSTGRES_URL
    path = folder / "portal.sqlite3"
    shutil.copyfile(template_database, path)
    return f"sqlite://{path}"
