"""The partner's money pages over HTTP, as a browser without JavaScript uses them: the dashboard
(figures, the chart of commission by month, the tier), the commission table (filters, totals,
pages, the CSV file), payouts (settings, the threshold, the request, the history), the affiliate
links and the expert code; who sees them and who is refused (with the reason); one page in German.

The world is made through the API (tests/commission_world.py): Northwind (service partner,
affiliate and expert, paid in EUR), a 20 % lifetime rule held 30 days, customers that chose
Northwind and pay through a billing:write API key, and 1 USD = 0.90 EUR, so the default threshold
of 150.00 USD is 135.00 EUR. The clock is frozen at START (2 March 2026) and moved past the hold."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest

from partner_portal.models.clock import now
from partner_portal.resolvers.jobs import run_job
from tests.commission_world import World, commission_world, customer, rule
from tests.conftest import PASSWORD, Api, start_api, test_settings
from tests.documents import SET_EXCHANGE_RATE
from tests.portal_forms import csrf_of
from tests.support import add_member, register
from tests.tier_world import create_tier

RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) {
  recordPayment(input: $input) { commission { status amount { amount currency } } errors { field code message } }
}"""
NORTHWIND = "admin@northwind.example"


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """Sessions last a year here: the tests move the clock past hold periods of 30 days."""
    async for running in start_api(test_settings(database_url, session_ttl_hours=24 * 365)):
        yield running


@dataclass
class Money:
    """The world with Northwind's customers and a way to pay."""

    api: Api
    world: World
    acme: str  # a customer organization's id
    globex: str
    paid: int = 0

    async def pay(self, customer_id: str, amount: str) -> None:
        self.paid += 1
        data = await self.api.data(
            RECORD_PAYMENT,
            {
                "input": {
                    "externalId": f"pay-{self.paid}",
                    "organizationId": customer_id,
                    "amount": {"amount": amount, "currency": "EUR"},
                    "paidAt": now().isoformat(),
                }
            },
            api_key=self.world.key,
        )
        assert data["recordPayment"]["errors"] == [], data["recordPayment"]["errors"]

    async def release(self, clock) -> None:
        """Past the 30 days' hold on the frozen clock, then the job that approves held lines."""
        clock.shift(timedelta(days=31))
        await run_job("commissions", self.api.settings)


@pytest.fixture
async def money(api: Api, clock) -> Money:
    world = await commission_world(api)
    rate = await api.data(
        SET_EXCHANGE_RATE,
        {"input": {"currency": "EUR", "rate": "0.90", "validFrom": "2026-01-01"}},
        token=world.operator.token,
    )
    assert rate["setExchangeRate"]["errors"] == []
    await rule(api, world, program="SERVICE_PARTNER")
    _, acme = await customer(api, "Acme", choose=world.northwind)
    _, globex = await customer(api, "Globex", choose=world.northwind)
    return Money(api, world, acme, globex)


async def as_partner(api: Api, email: str = NORTHWIND) -> None:
    """Signs in to the portal with the sign-in form (a test module does not import another's helpers)."""
    page = await api.client.get("/sign-in")
    response = await api.client.post(
        "/sign-in", data={"csrf": csrf_of(page.text), "email": email, "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 303


async def staff_member(api: Api, money: Money, email: str, permissions: list[str]) -> None:
    """A member of Northwind with these partner permissions, signed in to the portal."""
    await register(api, email, "Sam Staff")
    await add_member(api, money.world.northwind.admin, money.world.northwind.id, email, partner_permissions=permissions)
    await as_partner(api, email)


def menu_of(html: str) -> list[str]:
    nav = html.split('<nav class="menu"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'<li><a href="([^"]+)"', nav)


def plain(html: str) -> str:
    """The page's text without tags, spaces collapsed (amounts are split by tags otherwise)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&nbsp;", " ").replace("\xa0", " ")


# --- the dashboard ------------------------------------------------------------------------------------------


async def test_the_dashboard_shows_the_seven_figures_commission_by_month_and_the_tier(api, money, clock):
    # given: 1,000 EUR paid in March (200 EUR commission, approved in April), 250 EUR paid in April
    # (50 EUR, held), and a Silver tier Northwind does not reach
    await money.pay(money.acme, "1000.00")
    await money.release(clock)
    await money.pay(money.globex, "250.00")
    await create_tier(api, SimpleNamespace(operator=money.world.operator), "Silver", 1, "1125.00", "0.00")
    await as_partner(api)

    # when
    page = await api.client.get("/partner/dashboard")

    # then: the figures of REDDCRYPT's dashboard
    assert page.status_code == 200
    text = plain(page.text)
    assert "2 Your customers" in text and "0 Open invitations" in text
    assert "€250.00 Total commission" in text and "€0.00 Paid commission" in text
    assert "€250.00 Open commission" in text
    # the chart: an accessible SVG, a bar per month, and the same numbers as a table
    svg = page.text.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in svg and 'aria-labelledby="money-chart-title"' in svg
    assert svg.count('class="money-bar"') == 12
    assert "March 2026: €200.00" in svg and "April 2026: €50.00" in svg
    assert re.search(r'<th scope="row">March 2026</th><td class="number">€200.00</td>', page.text)
    assert re.search(r'<th scope="row">February 2026</th><td class="number">€0.00</td>', page.text)
    # the tier: none yet, and what Silver misses
    assert "You do not hold a tier yet." in text
    assert "Next tier: Silver" in text
    assert "Monthly revenue sold:" in text
    # the menu of a partner administrator in all three programs
    assert {"/partner/dashboard", "/partner/commissions", "/partner/payouts", "/partner/affiliate"} <= set(
        menu_of(page.text)
    )
    assert "/partner/expert-code" in menu_of(page.text)


async def test_the_dashboard_in_german(api, money, clock):
    await money.pay(money.acme, "1000.00")
    await as_partner(api)

    page = await api.client.get("/partner/dashboard", headers={"accept-language": "de"})

    text = plain(page.text)
    assert "<h1>Dashboard</h1>" in page.text
    assert "200,00 € Gesamte Provision" in text
    assert "0,00 € Ausgezahlte Provision" in text
    assert "200,00 € Offene Provision" in text
    assert "März 2026: 200,00 €" in plain(page.text)
    assert "Provision nach Monat" in text


# --- the commission table -----------------------------------------------------------------------------------


async def test_the_commission_table_filters_totals_and_pages(api, money, clock):
    # given: Acme's line approved, Globex's held
    await money.pay(money.acme, "1000.00")
    await money.release(clock)
    await money.pay(money.globex, "250.00")
    await as_partner(api)

    # when
    everything = await api.client.get("/partner/commissions")
    approved = await api.client.get("/partner/commissions?status=APPROVED")
    affiliate = await api.client.get("/partner/commissions?type=AFFILIATE")
    april = await api.client.get("/partner/commissions?from=2026-04-01&until=2026-04-30")

    # then
    assert everything.status_code == 200
    text = plain(everything.text)
    assert "€250.00 Earned" in text and "€50.00 Held" in text and "€200.00 Approved" in text
    assert "Acme" in text and "Globex" in text and "Self" in text
    assert "Lines matching the filter: 2" in text
    assert "Acme" in plain(approved.text) and "Globex" not in plain(approved.text)
    assert "€200.00 Earned" in plain(approved.text)
    assert "No commission matches the filter." in plain(affiliate.text)
    assert "Globex" in plain(april.text) and "Acme" not in plain(april.text)
    # the customer's name filters by that customer
    link = re.search(r'href="(/partner/commissions\?customer=[^"]+)">Acme<', everything.text)
    assert link
    only_acme = await api.client.get(link.group(1).replace("&amp;", "&"))
    assert "Only the customer Acme." in plain(only_acme.text) and "Globex" not in plain(only_acme.text)


async def test_the_commission_table_pages_with_a_cursor(api, money, clock, monkeypatch):
    from partner_portal.portal.views import commissions

    monkeypatch.setattr(commissions, "PAGE_SIZE", 1)
    await money.pay(money.acme, "100.00")
    await money.pay(money.globex, "300.00")
    await as_partner(api)

    first = await api.client.get("/partner/commissions")
    following = re.search(r'href="(/partner/commissions\?after=[^"]+)">Next page<', first.text)
    assert following
    second = await api.client.get(following.group(1).replace("&amp;", "&"))

    assert "Globex" in plain(first.text) and "Acme" not in plain(first.text)  # newest first
    assert "Acme" in plain(second.text) and "Globex" not in plain(second.text)
    assert "First page" in second.text and "Next page" not in second.text


@pytest.mark.parametrize(
    "query",
    ["from=2026-13-01", "until=yesterday", "from=2026-04-02&until=2026-04-01", "type=GIFT", "status=%00"],
)
async def test_filters_that_cannot_be_read_are_shown_as_problems(api, money, query):
    await as_partner(api)

    page = await api.client.get(f"/partner/commissions?{query}")

    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert "<h1>Commission</h1>" in page.text  # the table without that filter


async def test_the_csv_download_holds_the_filtered_lines(api, money, clock):
    await money.pay(money.acme, "1000.00")
    await money.pay(money.globex, "250.00")
    await as_partner(api)
    page = await api.client.get("/partner/commissions")
    assert 'href="/partner/commissions.csv?"' in page.text

    everything = await api.client.get("/partner/commissions.csv")
    only_acme = await api.client.get("/partner/commissions.csv", params={"customer": money.acme, "type": "SELF"})
    refused = await api.client.get("/partner/commissions.csv?from=never")

    assert everything.status_code == 200
    assert everything.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = everything.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="commission-lines-\d{8}-\d{6}\.csv"', disposition)
    rows = list(csv.DictReader(io.StringIO(everything.text)))
    assert sorted((r["customer_name"], r["amount"], r["status"]) for r in rows) == [
        ("Acme", "200.00", "PENDING"),
        ("Globex", "50.00", "PENDING"),
    ]
    assert [r["customer_name"] for r in csv.DictReader(io.StringIO(only_acme.text))] == ["Acme"]
    assert refused.status_code == 400


# --- payouts ------------------------------------------------------------------------------------------------


async def test_payout_settings_are_saved_and_the_apis_problems_shown(api, money):
    await as_partner(api)
    page = await api.client.get("/partner/payouts")
    csrf = csrf_of(page.text)

    bad = await api.client.post(
        "/partner/payouts/settings",
        data={
            "csrf": csrf,
            "method": "BANK_TRANSFER",
            "account_holder": "Northwind",
            "iban": "DE89 3704 0044 0532 0130 01",
        },
    )
    saved = await api.client.post(
        "/partner/payouts/settings",
        data={
            "csrf": csrf,
            "method": "BANK_TRANSFER",
            "account_holder": "Northwind Partners",
            "iban": "DE89 3704 0044 0532 0130 00",
            "automatic": "on",
        },
    )
    shown = await api.client.get(saved.headers["location"])
    forged = await api.client.post("/partner/payouts/settings", data={"method": "PAYPAL", "paypal_email": "x@y.z"})

    assert bad.status_code == 400 and "IBAN" in plain(bad.text) and 'role="alert"' in bad.text
    assert 'value="Northwind"' in bad.text  # what the person typed stays
    assert saved.status_code == 303
    assert "Your payout settings are saved." in shown.text
    assert "Northwind Partners, ******************3000 (COBADEFFXXX)" in plain(shown.text)
    assert "Payouts are requested automatically every month." in shown.text
    assert forged.status_code == 403


async def test_a_payout_is_requested_at_the_threshold_and_refused_below(api, money, clock):
    # given: PayPal settings; 100 EUR approved commission (below 135 EUR)
    await money.pay(money.acme, "500.00")
    await money.release(clock)
    await as_partner(api)
    page = await api.client.get("/partner/payouts")
    await api.client.post(
        "/partner/payouts/settings",
        data={"csrf": csrf_of(page.text), "method": "PAYPAL", "paypal_email": "money@northwind.example"},
    )

    # when: below the threshold
    below = await api.client.get("/partner/payouts")
    refused = await api.client.post("/partner/payouts/request", data={"csrf": csrf_of(below.text)})

    # then: the button is disabled, the request refused with why
    assert "€35.00 is missing to the threshold" in plain(below.text)
    assert re.search(r'<button type="submit" disabled[^>]*>Request payout</button>', below.text)
    assert refused.status_code == 400
    assert "Your approved balance does not reach the payout threshold yet." in refused.text

    # when: 200 EUR more approved (300 EUR balance)
    await money.pay(money.globex, "1000.00")
    await money.release(clock)
    ready = await api.client.get("/partner/payouts")
    requested = await api.client.post("/partner/payouts/request", data={"csrf": csrf_of(ready.text)})
    after = await api.client.get(requested.headers["location"])

    # then
    assert 'class="money-request" data-confirm="Request a payout of €300.00?"' in ready.text
    assert re.search(r'<button type="submit" >Request payout</button>', ready.text)
    assert requested.status_code == 303
    assert "Your payout is requested." in after.text
    history = plain(after.text.split('id="money-history"', 1)[1])
    assert "Requested" in history and "PayPal" in history and "money@northwind.example" in history
    assert "€300.00" in history
    assert "€0.00 Approved, not yet paid out" in plain(after.text)


# --- affiliate links and the expert code ----------------------------------------------------------------------


async def test_an_affiliate_link_is_created_shared_and_counted(api, money):
    await as_partner(api)
    empty = await api.client.get("/partner/affiliate")
    assert "You have no affiliate link yet" in empty.text

    taken_code = await api.client.post(
        "/partner/affiliate", data={"csrf": csrf_of(empty.text), "code": "x", "campaign": "Spring"}
    )
    created = await api.client.post(
        "/partner/affiliate", data={"csrf": csrf_of(empty.text), "code": "spring-news", "campaign": "Spring"}
    )
    clicked = await api.client.get("/r/spring-news", follow_redirects=False)
    page = await api.client.get("/partner/affiliate?notice=link-created")

    assert taken_code.status_code == 400 and 'value="Spring"' in taken_code.text
    assert created.status_code == 303
    assert clicked.status_code == 302
    assert "Your new affiliate link is ready to share." in page.text
    url = f"{api.settings.public_url}/r/spring-news"
    assert f'<code id="money-link-1">{url}</code>' in page.text
    assert 'data-copy="money-link-1"' in page.text
    assert "Clicks: 1, sign-ups: 0, paying customers: 0, commission: €0.00." in plain(page.text)
    assert "Campaign: Spring." in page.text


async def test_the_expert_code_shows_how_often_it_was_used_and_what_it_earned(api, money):
    await as_partner(api)

    page = await api.client.get("/partner/expert-code")

    assert page.status_code == 200
    code = re.search(r'<code id="money-expert-code" class="money-code">([A-Z0-9]+)</code>', page.text)
    assert code and len(code.group(1)) == 10
    assert 'data-copy="money-expert-code"' in page.text
    text = plain(page.text)
    assert "0 Times used" in text and "€0.00 Commission earned" in text


# --- who may ----------------------------------------------------------------------------------------------------


async def test_staff_who_only_administer_customers_see_no_money_and_are_told_why(api, money):
    await staff_member(api, money, "sam@northwind.example", ["ADMINISTER_CUSTOMERS"])

    home = await api.client.get("/")
    paths = (
        "/partner/dashboard",
        "/partner/commissions",
        "/partner/payouts",
        "/partner/affiliate",
        "/partner/expert-code",
    )
    pages = {path: await api.client.get(path) for path in paths}
    download = await api.client.get("/partner/commissions.csv")

    assert menu_of(home.text) == ["/partner/customers"]
    why = "You need the partner permission “Manage the partner portal”; ask your partner administrator."
    for path, page in pages.items():
        assert page.status_code == 403, path
        assert why in page.text, path
        assert menu_of(page.text) == ["/partner/customers"], path
    assert download.status_code == 403 and why in download.text
    assert "text/html" in download.headers["content-type"]


async def test_staff_who_manage_the_portal_see_the_money_pages(api, money):
    await money.pay(money.acme, "1000.00")
    await staff_member(api, money, "pat@northwind.example", ["MANAGE_PARTNER_PORTAL"])

    page = await api.client.get("/partner/dashboard")
    download = await api.client.get("/partner/commissions.csv")

    assert "€200.00 Total commission" in plain(page.text)
    assert download.status_code == 200 and "Acme" in download.text


async def test_a_partner_outside_the_expert_program_has_no_expert_code(api, money):
    await as_partner(api, "admin@fabrikam.example")

    home = await api.client.get("/")
    page = await api.client.get("/partner/expert-code")
    affiliate = await api.client.get("/partner/affiliate")

    assert "/partner/expert-code" not in menu_of(home.text)
    assert "/partner/affiliate" in menu_of(home.text)
    assert "Your organization is not in the Expert program." in page.text
    assert affiliate.status_code == 200


async def test_anonymous_visitors_are_sent_to_sign_in(api):
    for path in ("/partner/dashboard", "/partner/commissions.csv", "/partner/payouts"):
        response = await api.client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in?next=")


async def test_the_apis_line_export_takes_a_customer(api, money):
    await money.pay(money.acme, "1000.00")
    await money.pay(money.globex, "250.00")
    token = money.world.northwind.admin.token

    acme = await api.client.get(
        "/reports/commission-lines.csv", params={"customerId": money.acme}, headers={"authorization": f"Bearer {token}"}
    )
    nonsense = await api.client.get(
        "/reports/commission-lines.csv", params={"customerId": "nonsense"}, headers={"authorization": f"Bearer {token}"}
    )

    assert [row["customer_id"] for row in csv.DictReader(io.StringIO(acme.text))] == [money.acme]
    assert nonsense.status_code == 400
