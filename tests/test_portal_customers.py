"""The partner staff's customer pages over HTTP (issue 17): My customers (filters, search, order,
pages, the management-session button), Invitations (invite, resend, withdraw; the mail arrives),
Staff (partner permissions per member, inviting a colleague) and Coupons (price table, ordering,
orders, invoices and codes), each with who may and who may not, as the partner programs' help pages
describe: staff with only "administer customers" see My customers and start sessions, nothing else."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from partner_portal.resolvers.jobs import run_job
from tests.conftest import START, Api, start_api, test_settings
from tests.customer_invitations import accept
from tests.documents import CREATE_PLAN, CREATE_PRODUCT, SET_DELEGATED_PERMISSIONS, SET_SERVICE_PARTNER
from tests.portal_forms import csrf_of, sign_in
from tests.support import (
    Partner,
    Person,
    _mailed_token,
    add_member,
    create_organization,
    make_partner,
    operator,
    register,
)

SET_LICENSE = """
mutation License($input: SetLicenseInput!) { setLicense(input: $input) { errors { field code } } }"""
MEMBERS = """
query Members($id: ID!) {
  node(id: $id) { ... on Organization {
    members(first: 50) { edges { node { id partnerPermissions user { email } } } }
  } }
}"""
INVITATION_LINK = r"/invitations/accept\?token=(ppi_[\w-]+)"
MEMBERSHIP_LINK = r"/memberships/accept\?token=(ppm_[\w-]+)"


@dataclass(frozen=True)
class World:
    operator: Person
    partner: Partner  # Northwind: service partner and affiliate, its administrator Avery
    casey: Person  # Northwind staff with ADMINISTER_CUSTOMERS only
    contoso: dict  # chose Northwind; ACTIVE license; grants MANAGE_SETTINGS and VIEW_BILLING for 30 days
    fabrikam: dict  # chose Northwind; TRIAL license; no grant
    customer_admin: Person


async def choose(api: Api, who: Person, organization_id: str, code: str) -> None:
    payload = (await api.data(SET_SERVICE_PARTNER, {"id": organization_id, "code": code}, token=who.token))[
        "setServicePartner"
    ]
    assert payload["errors"] == [], payload["errors"]


async def license_for(api: Api, reviewer: Person, organization_id: str, status: str, plan: str, seats: int) -> None:
    variables = {
        "input": {
            "organizationId": organization_id,
            "status": status,
            "plan": plan,
            "seats": seats,
            "mrr": {"amount": "49.90", "currency": "EUR"},
        }
    }
    assert (await api.data(SET_LICENSE, variables, token=reviewer.token))["setLicense"]["errors"] == []


@pytest.fixture
async def world(api: Api, clock) -> World:
    reviewer = await operator(api)
    partner = await make_partner(api, reviewer)
    casey = await register(api, "casey@northwind.example", "Casey Customers")
    await add_member(api, partner.admin, partner.id, casey.email, partner_permissions=["ADMINISTER_CUSTOMERS"])
    chris = await register(api, "chris@contoso.example", "Chris Contoso")
    contoso = await create_organization(api, chris, "Contoso Ltd")
    fabrikam = await create_organization(api, chris, "Fabrikam Inc")
    for organization in (contoso, fabrikam):
        await choose(api, chris, organization["id"], partner.code)
    grant = {
        "organizationId": contoso["id"],
        "permissions": ["MANAGE_SETTINGS", "VIEW_BILLING"],
        "expiresAt": (START + timedelta(days=30)).isoformat(),
    }
    assert (await api.data(SET_DELEGATED_PERMISSIONS, {"input": grant}, token=chris.token))["setDelegatedPermissions"][
        "errors"
    ] == []
    await license_for(api, reviewer, contoso["id"], "ACTIVE", "Business", 5)
    await license_for(api, reviewer, fabrikam["id"], "TRIAL", "Starter", 2)
    return World(reviewer, partner, casey, contoso, fabrikam, chris)


async def as_person(api: Api, person: Person) -> None:
    """The browser signs in as `person` (a new cookie jar: nobody else is signed in)."""
    api.client.cookies.clear()
    status, body = await sign_in(api, person.email)
    assert status == 303, body


def menu_of(page: str) -> list[str]:
    menu = re.search(r'<nav class="menu".*?</nav>', page, re.DOTALL)
    assert menu, "the page has no menu"
    return re.findall(r'<li><a href="([^"]+)"', menu.group(0))


def rows_of(page: str) -> list[str]:
    """The row headings (`<th scope="row">`) of the page's tables, as text."""
    return [
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
        for cell in re.findall(r'<th scope="row">(.*?)</th>', page, re.DOTALL)
    ]


# --- My customers ------------------------------------------------------------------------------------


async def test_my_customers_shows_license_grant_source_and_a_session_button_per_customer(api, world):
    await as_person(api, world.partner.admin)

    page = await api.client.get("/partner/customers")

    assert page.status_code == 200
    text = page.text
    assert rows_of(text) == ["Contoso Ltd", "Fabrikam Inc"]
    assert "Active" in text and "Business" in text and "Seats: 5" in text
    assert "Trial" in text and "Starter" in text
    assert "Change settings" in text and "View billing" in text and "until Apr 1, 2026" in text
    assert "None yet: the customer decides what you may do." in text  # Fabrikam granted nothing
    assert text.count("<td>Chosen by the customer</td>") == 2
    session = r'<form method="post" action="/manage/([^"]+)/start" target="_blank">(.*?)</form>'
    session_forms = re.findall(session, text, re.DOTALL)
    assert len(session_forms) == 2
    contoso_form = session_forms[0][1]
    assert f'name="customer" value="{world.contoso["id"]}"' in contoso_form
    assert 'name="csrf"' in contoso_form
    assert 'href="/partner/invitations#invite"' in text  # the administrator may invite


async def test_my_customers_filters_searches_orders_and_ignores_values_it_does_not_know(api, world):
    await as_person(api, world.partner.admin)

    searched = await api.client.get("/partner/customers", params={"search": "conto"})
    trials = await api.client.get("/partner/customers", params={"status": "TRIAL"})
    selected = await api.client.get("/partner/customers", params={"source": "SELECTED"})
    invited = await api.client.get("/partner/customers", params={"source": "INVITATION"})
    backwards = await api.client.get("/partner/customers", params={"order": "NAME", "descending": "1"})
    nonsense = await api.client.get(
        "/partner/customers", params={"status": "BOGUS", "order": "x", "source": "<b>", "after": "é" * 300}
    )

    assert rows_of(searched.text) == ["Contoso Ltd"]
    assert 'value="conto"' in searched.text  # the search stays in its field
    assert rows_of(trials.text) == ["Fabrikam Inc"]
    assert rows_of(selected.text) == ["Contoso Ltd", "Fabrikam Inc"]
    assert rows_of(invited.text) == [] and "No customers match." in invited.text
    assert rows_of(backwards.text) == ["Fabrikam Inc", "Contoso Ltd"]
    assert nonsense.status_code == 200 and rows_of(nonsense.text) == ["Contoso Ltd", "Fabrikam Inc"]


async def test_my_customers_pages_with_a_cursor_and_keeps_the_filters(api, world, clock):
    for number in range(20):  # 22 customers: a page of 20 and one of 2
        if number % 8 == 0:
            clock.shift(timedelta(hours=1))  # a person creates at most 10 organizations an hour
        organization = await create_organization(api, world.customer_admin, f"Customer {number:02}")
        await choose(api, world.customer_admin, organization["id"], world.partner.code)
    await as_person(api, world.partner.admin)

    first = await api.client.get("/partner/customers", params={"source": "SELECTED"})
    following = re.search(r'<a href="(/partner/customers\?[^"]+)">Next page</a>', first.text)
    assert following, "the first page links to the next"
    second = await api.client.get(html.unescape(following.group(1)))

    assert len(rows_of(first.text)) == 20 and "Customers found: 22" in first.text
    assert "source=SELECTED" in following.group(1)
    assert rows_of(second.text) == ["Customer 19", "Fabrikam Inc"]
    assert "Next page" not in second.text and "First page" in second.text


async def test_staff_who_administer_customers_only_see_my_customers_and_the_session_button(api, world):
    await as_person(api, world.casey)

    customers = await api.client.get("/partner/customers")
    invitations = await api.client.get("/partner/invitations")
    invite = await api.client.post(
        "/partner/invitations",
        data={"csrf": csrf_of(customers.text), "email": "new@customer.example", "organization_name": "New"},
    )
    staff = await api.client.get("/partner/staff")

    assert menu_of(customers.text) == ["/partner/customers"]  # no Dashboard, no Invitations
    assert rows_of(customers.text)[:2] == ["Contoso Ltd", "Fabrikam Inc"]
    assert "Start management session" in customers.text
    assert "/partner/invitations" not in customers.text  # neither the menu entry nor the invite button
    assert invitations.status_code == 403
    assert "You need the partner permission “Create customer organizations”" in invitations.text
    assert "Send invitation" not in invitations.text
    assert invite.status_code == 400 and "Create customer organizations" in invite.text
    assert staff.status_code == 200 and "/partner/staff/" not in staff.text  # read only, and why
    assert "You need the partner permission “Manage the partner portal”" in staff.text


async def test_staff_who_create_customer_organizations_also_see_invitations_and_the_invite_button(api, world):
    dana = await register(api, "dana@northwind.example", "Dana Creates")
    await add_member(
        api, world.partner.admin, world.partner.id, dana.email, partner_permissions=["CREATE_CUSTOMER_ORGANIZATIONS"]
    )
    await as_person(api, dana)

    customers = await api.client.get("/partner/customers")
    invitations = await api.client.get("/partner/invitations")

    assert menu_of(customers.text) == ["/partner/customers", "/partner/invitations"]
    assert 'href="/partner/invitations#invite"' in customers.text
    assert invitations.status_code == 200 and 'id="invite"' in invitations.text


async def test_a_person_outside_any_partner_is_refused_with_the_reason(api, world):
    await as_person(api, world.customer_admin)

    page = await api.client.get("/partner/customers")

    assert page.status_code == 403
    assert "Only approved partners may do this." in page.text or "You need the partner permission" in page.text
    assert "/partner/customers" not in menu_of(page.text)


async def test_my_customers_reads_in_german(api, world):
    await as_person(api, world.partner.admin)

    page = await api.client.get("/partner/customers", headers={"accept-language": "de"})

    assert '<html lang="de">' in page.text
    assert ">Meine Kunden</h1>" in page.text
    assert "Management-Session starten" in page.text and "Organisation erstellen" in page.text
    assert "Vom Kunden gewählt" in page.text and "Einstellungen ändern" in page.text
    assert "bis 01.04.2026" in page.text


# --- Invitations ---------------------------------------------------------------------------------------


async def test_inviting_a_customer_mails_the_link_and_lists_the_invitation(api, world):
    await as_person(api, world.partner.admin)
    page = await api.client.get("/partner/invitations")
    form = {
        "csrf": csrf_of(page.text),
        "email": "erin@example.org",
        "organization_name": "Erin's Bakery",
        "message": "Welcome aboard!",
        "language": "de",
    }

    sent = await api.client.post("/partner/invitations", data=form)
    token = await _mailed_token("erin@example.org", INVITATION_LINK)
    listed = await api.client.get(sent.headers["location"])
    forged = await api.client.post("/partner/invitations", data={**form, "csrf": "forged"})

    assert sent.status_code == 303 and sent.headers["location"] == "/partner/invitations?notice=invited"
    assert token.startswith("ppi_")
    assert "The invitation is on its way." in listed.text
    assert rows_of(listed.text) == ["erin@example.org"]
    assert "Erin&#39;s Bakery" in listed.text and "Open" in listed.text
    assert forged.status_code == 403


@pytest.fixture
async def mail_api(database_url, smtp_server) -> AsyncIterator[Api]:
    settings = test_settings(database_url, smtp_url=smtp_server.url, public_url="https://partners.vendor.test/")
    async for running in start_api(settings):
        yield running


async def test_the_invitation_sent_from_the_portal_reaches_the_smtp_server(mail_api, smtp_server, clock):
    api = mail_api
    partner = await make_partner(api, await operator(api))
    await as_person(api, partner.admin)
    page = await api.client.get("/partner/invitations")

    sent = await api.client.post(
        "/partner/invitations",
        data={
            "csrf": csrf_of(page.text),
            "email": "erin@example.org",
            "organization_name": "Erin Bakery",
            "message": "Willkommen an Bord!",
            "language": "de",
        },
    )
    await run_job("outbox", api.settings)

    assert sent.status_code == 303
    [mail] = [m for m in smtp_server.messages if m["To"] == "erin@example.org"]
    body = mail.get_body(("plain",)).get_content()
    assert "Willkommen an Bord!" in body
    assert re.search(r"https://partners\.vendor\.test/invitations/accept\?token=ppi_[\w-]+", body)


async def test_a_wrong_invitation_is_shown_on_the_form_with_what_was_typed(api, world):
    await as_person(api, world.partner.admin)
    page = await api.client.get("/partner/invitations")

    refused = await api.client.post(
        "/partner/invitations",
        data={"csrf": csrf_of(page.text), "email": "not an address", "organization_name": "Typed Name GmbH"},
    )
    own_staff = await api.client.post(
        "/partner/invitations",
        data={"csrf": csrf_of(page.text), "email": world.casey.email, "organization_name": "Self"},
    )

    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert "The email address is not valid." in refused.text
    assert 'value="Typed Name GmbH"' in refused.text and 'value="not an address"' in refused.text
    assert own_staff.status_code == 400 and 'role="alert"' in own_staff.text


async def test_an_invitation_is_resent_with_a_new_link_and_withdrawn(api, world):
    await as_person(api, world.partner.admin)
    page = await api.client.get("/partner/invitations")
    csrf = csrf_of(page.text)
    await api.client.post(
        "/partner/invitations", data={"csrf": csrf, "email": "erin@example.org", "organization_name": "Erin"}
    )
    first_token = await _mailed_token("erin@example.org", INVITATION_LINK)
    listed = await api.client.get("/partner/invitations")
    invitation_id = re.search(r'name="invitation" value="([^"]+)"', listed.text).group(1)

    resent = await api.client.post("/partner/invitations/resend", data={"csrf": csrf, "invitation": invitation_id})
    second_token = await _mailed_token("erin@example.org", INVITATION_LINK)
    revoked = await api.client.post("/partner/invitations/revoke", data={"csrf": csrf, "invitation": invitation_id})
    after = await api.client.get("/partner/invitations")
    only_revoked = await api.client.get("/partner/invitations", params={"status": "REVOKED"})
    only_open = await api.client.get("/partner/invitations", params={"status": "OPEN"})
    again = await api.client.post("/partner/invitations/revoke", data={"csrf": csrf, "invitation": invitation_id})
    unknown = await api.client.post("/partner/invitations/revoke", data={"csrf": csrf, "invitation": "nonsense"})

    assert 'data-confirm="Withdraw the invitation to erin@example.org?' in listed.text
    assert resent.headers["location"] == "/partner/invitations?notice=resent"
    assert second_token != first_token
    assert revoked.headers["location"] == "/partner/invitations?notice=revoked"
    assert "Revoked" in after.text and "/partner/invitations/revoke" not in after.text
    assert rows_of(only_revoked.text) == ["erin@example.org"]
    assert rows_of(only_open.text) == [] and "No invitations." in only_open.text
    assert again.status_code == 400 and 'role="alert"' in again.text
    assert unknown.status_code == 400 and 'role="alert"' in unknown.text


async def test_a_customer_who_accepts_the_invitation_appears_as_invited(api, world):
    await as_person(api, world.partner.admin)
    page = await api.client.get("/partner/invitations")
    await api.client.post(
        "/partner/invitations",
        data={"csrf": csrf_of(page.text), "email": "erin@example.org", "organization_name": "Erin Bakery"},
    )
    accepted = await accept(api, await _mailed_token("erin@example.org", INVITATION_LINK), name="Erin")
    assert accepted["errors"] == []

    invited = await api.client.get("/partner/customers", params={"source": "INVITATION"})
    invitations = await api.client.get("/partner/invitations")

    assert rows_of(invited.text) == ["Erin Bakery"]
    assert "Invitation" in invited.text and "No license" in invited.text
    assert "Accepted" in invitations.text


# --- Staff -------------------------------------------------------------------------------------------


async def test_the_administrator_sets_a_colleagues_partner_permissions(api, world):
    await as_person(api, world.partner.admin)
    page = await api.client.get("/partner/staff")
    members = (await api.data(MEMBERS, {"id": world.partner.id}, token=world.partner.admin.token))["node"]
    casey = next(e["node"] for e in members["members"]["edges"] if e["node"]["user"]["email"] == world.casey.email)

    saved = await api.client.post(
        "/partner/staff/permissions",
        data={
            "csrf": csrf_of(page.text),
            "membership": casey["id"],
            "partner_permissions": ["ADMINISTER_CUSTOMERS", "CREATE_CUSTOMER_ORGANIZATIONS"],
        },
    )
    after = (await api.data(MEMBERS, {"id": world.partner.id}, token=world.partner.admin.token))["node"]
    now = next(e["node"] for e in after["members"]["edges"] if e["node"]["user"]["email"] == world.casey.email)
    shown = await api.client.get(saved.headers["location"])

    assert page.status_code == 200
    assert sorted(rows_of(page.text)) == [
        "Avery Admin admin@northwind.example",
        "Casey Customers casey@northwind.example",
    ]
    assert "Administrators hold every permission." in page.text
    assert saved.status_code == 303 and saved.headers["location"] == "/partner/staff?notice=saved"
    assert now["partnerPermissions"] == ["ADMINISTER_CUSTOMERS", "CREATE_CUSTOMER_ORGANIZATIONS"]
    assert "The permissions are saved." in shown.text
    assert re.search(r'value="CREATE_CUSTOMER_ORGANIZATIONS" checked', shown.text)


async def test_staff_without_manage_partner_portal_are_refused_with_the_reason(api, world):
    await as_person(api, world.casey)
    page = await api.client.get("/partner/staff")
    members = (await api.data(MEMBERS, {"id": world.partner.id}, token=world.casey.token))["node"]
    mine = next(e["node"] for e in members["members"]["edges"] if e["node"]["user"]["email"] == world.casey.email)

    refused = await api.client.post(
        "/partner/staff/permissions",
        data={"csrf": csrf_of(page.text), "membership": mine["id"], "partner_permissions": "MANAGE_PARTNER_PORTAL"},
    )
    unchanged = (await api.data(MEMBERS, {"id": world.partner.id}, token=world.casey.token))["node"]

    assert "/partner/staff" not in menu_of(page.text)
    assert "/partner/staff/permissions" not in page.text  # no forms to change anything
    assert refused.status_code == 400
    assert "You need the partner permission “Manage the partner portal”" in refused.text
    assert unchanged == members


async def test_inviting_a_colleague_mails_a_membership_link(api, world):
    await as_person(api, world.partner.admin)
    page = await api.client.get("/partner/staff")
    organization = re.search(r'name="organization" value="([^"]+)"', page.text).group(1)

    sent = await api.client.post(
        "/partner/staff/invite",
        data={
            "csrf": csrf_of(page.text),
            "organization": organization,
            "email": "finn@northwind.example",
            "partner_permissions": ["CREATE_CUSTOMER_ORGANIZATIONS"],
        },
    )
    token = await _mailed_token("finn@northwind.example", MEMBERSHIP_LINK)
    shown = await api.client.get(sent.headers["location"])
    twice = await api.client.post(
        "/partner/staff/invite",
        data={"csrf": csrf_of(page.text), "organization": organization, "email": "finn@northwind.example"},
    )

    assert organization == world.partner.id
    assert sent.status_code == 303 and token.startswith("ppm_")
    assert "the colleague becomes a member once they accept" in shown.text
    assert twice.status_code == 400 and 'role="alert"' in twice.text and 'value="finn@northwind.example"' in twice.text


# --- Coupons -----------------------------------------------------------------------------------------


async def reseller_world(api: Api) -> tuple[Person, Partner]:
    reviewer = await operator(api)
    reseller = await make_partner(
        api, reviewer, "rosa@reseller.example", "Rosa Resells", programs=["RESELLER", "SERVICE_PARTNER"]
    )
    product = (await api.data(CREATE_PRODUCT, {"input": {"code": "TASKS", "name": "Tasks"}}, token=reviewer.token))[
        "createProduct"
    ]["product"]
    prices = [{"amount": "20.00", "currency": "EUR"}]
    plan = {"productId": product["id"], "code": "PRO", "name": "Tasks Pro", "prices": prices}
    assert (await api.data(CREATE_PLAN, {"input": plan}, token=reviewer.token))["createPlan"]["errors"] == []
    return reviewer, reseller


async def test_a_reseller_orders_coupons_and_sees_the_invoice_and_the_codes(api, clock):
    _, reseller = await reseller_world(api)
    await as_person(api, reseller.admin)

    page = await api.client.get("/partner/coupons")
    offer = re.search(r'<option value="([^"]+)"', page.text.split('id="coupons-offer"')[1]).group(1)
    created = await api.client.post(
        "/partner/coupons", data={"csrf": csrf_of(page.text), "offer": offer, "count": "3", "months": "12"}
    )
    shown = await api.client.get(created.headers["location"])

    assert "/partner/coupons" in menu_of(page.text)
    assert "Tasks Pro" in page.text and "€20.00" in page.text and "€18.00" in page.text  # 10 % off
    assert "Your discount: 10 %" in page.text
    assert created.status_code == 303 and created.headers["location"].startswith("/partner/coupons?order=")
    assert "Your coupons are created and invoiced" in shown.text
    assert "€648.00" in shown.text  # 18.00 × 3 coupons × 12 months
    codes = re.findall(r'<code id="(coupon-\d+)">([^<]+)</code>', shown.text)
    assert len(codes) == 3
    assert all(f'data-copy="{element}"' in shown.text for element, _ in codes)
    assert shown.text.count("<td>Unused</td>") == 3


async def test_a_wrong_coupon_order_is_refused_on_the_form(api, clock):
    _, reseller = await reseller_world(api)
    await as_person(api, reseller.admin)
    page = await api.client.get("/partner/coupons")
    offer = re.search(r'<option value="([^"]+)"', page.text.split('id="coupons-offer"')[1]).group(1)

    too_many = await api.client.post(
        "/partner/coupons", data={"csrf": csrf_of(page.text), "offer": offer, "count": "1001", "months": "x"}
    )
    no_plan = await api.client.post(
        "/partner/coupons", data={"csrf": csrf_of(page.text), "offer": "UGxhbjo5OTk= EUR", "count": "1", "months": "1"}
    )

    assert too_many.status_code == 400
    assert "from 1 to 1,000" in too_many.text and "from 1 to 36" in too_many.text
    assert 'value="1001"' in too_many.text
    assert no_plan.status_code == 400 and 'role="alert"' in no_plan.text
    assert "No orders yet." in no_plan.text


async def test_a_partner_outside_the_reseller_program_has_no_coupons(api, world):
    await as_person(api, world.partner.admin)

    home = await api.client.get("/partner/customers")
    coupons = await api.client.get("/partner/coupons")

    assert "/partner/coupons" not in menu_of(home.text)
    assert coupons.status_code == 403
    assert "Your organization is not in the Reseller program." in coupons.text
