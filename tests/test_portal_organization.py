"""The customer administrator's pages of the portal over HTTP (settings, members, my service provider
with its grant dialog, the partner's activity), the public partner directory and the application for
partner status, with who may and who may not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

import pytest

from tests.conftest import Api
from tests.portal_forms import csrf_of, sign_in
from tests.support import (
    Partner,
    Person,
    add_member,
    create_organization,
    invite_member,
    make_partner,
    operator,
    register,
)

ORGANIZATION = """
query Organization($id: ID!) {
  node(id: $id) { ... on Organization {
    name website country language
    servicePartner { source partner { code } grant { permissions expiresAt } }
    members(first: 50) { edges { node { id role organizationPermissions user { email } } } }
    membershipInvitations(first: 50) { edges { node { id email status } } }
  } }
}"""
LIST_IN_DIRECTORY = """
mutation List($id: ID!) {
  updatePartnerProfile(input: {partnerId: $id, listedInDirectory: true}) { errors { code } }
}"""
CHOOSE = """
mutation Choose($id: ID!, $code: String!) {
  setServicePartner(input: {organizationId: $id, partnerCode: $code}) { errors { code } }
}"""
GRANT = """
mutation Grant($input: SetDelegatedPermissionsInput!) { setDelegatedPermissions(input: $input) { errors { code } } }"""
START_SESSION = """
mutation Start($id: ID!) { startManagementSession(input: {customerId: $id}) { session { id } errors { code } } }"""
RENAME = """
mutation Rename($id: ID!, $name: String!) {
  updateOrganization(input: {organizationId: $id, name: $name}) { organization { name } errors { code } }
}"""
SET_COUNTRY = """
mutation Country($id: ID!) { updateOrganization(input: {organizationId: $id, country: "DE"}) { errors { code } } }"""
ADMIN_MENU = ('href="/organization"', 'href="/organization/members"', 'href="/organization/service-provider"')


@dataclass
class World:
    partner: Partner  # Northwind, a listed service partner
    staff: Person  # Northwind staff with ADMINISTER_CUSTOMERS
    admin: Person  # Contoso's administrator
    member: Person  # a plain member of Contoso
    customer_id: str  # Contoso


@pytest.fixture
async def world(api) -> World:
    reviewer = await operator(api)
    partner = await make_partner(api, reviewer)
    listed = await api.data(LIST_IN_DIRECTORY, {"id": partner.id}, token=partner.admin.token)
    assert listed["updatePartnerProfile"]["errors"] == []
    located = await api.data(SET_COUNTRY, {"id": partner.id}, token=partner.admin.token)
    assert located["updateOrganization"]["errors"] == []
    staff = await register(api, "casey@northwind.example", "Casey Customers")
    await add_member(api, partner.admin, partner.id, staff.email, partner_permissions=["ADMINISTER_CUSTOMERS"])
    admin = await register(api, "chris@contoso.example", "Chris Contoso")
    customer = await create_organization(api, admin, "Contoso Ltd")
    member = await register(api, "mia@contoso.example", "Mia Member")
    await add_member(api, admin, customer["id"], member.email)
    return World(partner, staff, admin, member, customer["id"])


async def as_person(api: Api, person: Person) -> None:
    api.client.cookies.clear()
    status, _ = await sign_in(api, person.email)
    assert status == 303


async def organization(api: Api, world: World) -> dict:
    return (await api.data(ORGANIZATION, {"id": world.customer_id}, token=world.admin.token))["node"]


async def post(api: Api, path: str, page: str, **fields) -> object:
    """Posts a form of the page at `page` (its CSRF token) to `path`."""
    shown = await api.client.get(page)
    return await api.client.post(path, data={"csrf": csrf_of(shown.text), **fields})


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


# --- settings ------------------------------------------------------------------------------------


async def test_the_administrator_changes_the_settings(api, world):
    await as_person(api, world.admin)
    page = await api.client.get("/organization")
    assert page.status_code == 200
    assert 'value="Contoso Ltd"' in page.text and 'href="/organization" aria-current="page"' in page.text
    response = await post(
        api,
        "/organization",
        "/organization",
        organization=world.customer_id,
        name="Contoso Group",
        website="https://contoso.example",
        country="de",
        language="de",
    )
    assert response.status_code == 303 and response.headers["location"] == "/organization?notice=saved"
    settings = await organization(api, world)
    assert (settings["name"], settings["website"], settings["country"], settings["language"]) == (
        "Contoso Group",
        "https://contoso.example",
        "DE",
        "de",
    )
    assert "The settings are saved." in (await api.client.get("/organization?notice=saved")).text


async def test_a_refused_setting_keeps_what_was_typed(api, world):
    await as_person(api, world.admin)
    response = await post(
        api, "/organization", "/organization", organization=world.customer_id, name="", website="x", country="ZZ"
    )
    assert response.status_code == 400
    assert 'role="alert"' in response.text and 'value="x"' in response.text
    assert (await organization(api, world))["name"] == "Contoso Ltd"


async def test_a_form_without_csrf_changes_nothing(api, world):
    await as_person(api, world.admin)
    response = await api.client.post("/organization", data={"organization": world.customer_id, "name": "Evil"})
    assert response.status_code == 403
    assert (await organization(api, world))["name"] == "Contoso Ltd"


async def test_a_plain_member_sees_no_admin_menu_and_each_page_says_why(api, world):
    await as_person(api, world.member)
    home = await api.client.get("/")
    for entry in (*ADMIN_MENU, 'href="/organization/activity"'):
        assert entry not in home.text
    expected = {
        "/organization": "You need the permission “Change settings” in this organization.",
        "/organization/members": "You need the permission “Manage members” in this organization.",
        "/organization/service-provider": "You need the permission “Choose the service provider” in this organization.",
        "/organization/activity": "Only the organization's administrators may do this.",
    }
    for path, reason in expected.items():
        page = await api.client.get(path)
        assert page.status_code == 200, path
        assert reason in text_of(page.text), path
        assert '<form method="post" action="/organization' not in page.text, path
    # and posting anyway is refused by the API, shown on the page
    response = await post(api, "/organization", "/", organization=world.customer_id, name="Mine now")
    assert response.status_code == 400
    assert (await organization(api, world))["name"] == "Contoso Ltd"


async def test_an_anonymous_visitor_is_sent_to_sign_in(api):
    for path in ("/organization", "/organization/members", "/organization/service-provider", "/apply"):
        response = await api.client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/sign-in?next="), path


# --- members -------------------------------------------------------------------------------------


async def test_the_members_page_lists_members_and_changes_them(api, world):
    await as_person(api, world.admin)
    page = await api.client.get("/organization/members")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "chris@contoso.example" in shown and "mia@contoso.example" in shown and "Members: 2" in shown
    members = {e["node"]["user"]["email"]: e["node"] for e in (await organization(api, world))["members"]["edges"]}
    mia = members["mia@contoso.example"]["id"]

    response = await post(
        api,
        "/organization/members/permissions",
        "/organization/members",
        membership=mia,
        permissions=["VIEW_BILLING", "MANAGE_SETTINGS", "NOT_A_PERMISSION"],
    )
    assert response.status_code == 303
    members = {e["node"]["user"]["email"]: e["node"] for e in (await organization(api, world))["members"]["edges"]}
    assert members["mia@contoso.example"]["organizationPermissions"] == ["MANAGE_SETTINGS", "VIEW_BILLING"]

    response = await post(
        api, "/organization/members/role", "/organization/members", membership=mia, role="ADMINISTRATOR"
    )
    assert response.status_code == 303 and "notice=role" in response.headers["location"]
    members = {e["node"]["user"]["email"]: e["node"] for e in (await organization(api, world))["members"]["edges"]}
    assert members["mia@contoso.example"]["role"] == "ADMINISTRATOR"

    response = await post(api, "/organization/members/remove", "/organization/members", membership=mia)
    assert response.status_code == 303
    members = {e["node"]["user"]["email"] for e in (await organization(api, world))["members"]["edges"]}
    assert members == {"chris@contoso.example"}


async def test_the_last_administrator_cannot_step_down_and_the_page_says_so(api, world):
    await as_person(api, world.admin)
    members = {e["node"]["user"]["email"]: e["node"] for e in (await organization(api, world))["members"]["edges"]}
    response = await post(
        api,
        "/organization/members/role",
        "/organization/members",
        membership=members["chris@contoso.example"]["id"],
        role="MEMBER",
    )
    assert response.status_code == 400 and 'role="alert"' in response.text


async def test_inviting_a_member_and_withdrawing_the_invitation(api, world):
    await as_person(api, world.admin)
    response = await post(
        api,
        "/organization/members/invite",
        "/organization/members",
        organization=world.customer_id,
        email="new@contoso.example",
        role="MEMBER",
        permissions=["VIEW_BILLING"],
    )
    assert response.status_code == 303 and "notice=invited" in response.headers["location"]
    page = await api.client.get("/organization/members?notice=invited")
    assert "new@contoso.example" in page.text and "The invitation is on its way." in page.text
    invitations = (await organization(api, world))["membershipInvitations"]["edges"]
    invitation = next(e["node"] for e in invitations if e["node"]["email"] == "new@contoso.example")
    assert invitation["status"] == "OPEN"

    response = await post(api, "/organization/members/revoke", "/organization/members", invitation=invitation["id"])
    assert response.status_code == 303
    invitations = (await organization(api, world))["membershipInvitations"]["edges"]
    assert [e["node"]["status"] for e in invitations if e["node"]["email"] == "new@contoso.example"] == ["REVOKED"]
    assert "new@contoso.example" not in (await api.client.get("/organization/members")).text


async def test_an_invalid_invitation_address_is_shown_on_the_form(api, world):
    await as_person(api, world.admin)
    response = await post(
        api,
        "/organization/members/invite",
        "/organization/members",
        organization=world.customer_id,
        email="not-an-address",
        role="MEMBER",
    )
    assert response.status_code == 400
    assert "The email address is not valid." in text_of(response.text) and 'value="not-an-address"' in response.text


async def test_a_member_invited_through_the_grant_is_marked(api, world):
    await api.data(CHOOSE, {"id": world.customer_id, "code": world.partner.code}, token=world.admin.token)
    grant = {"organizationId": world.customer_id, "permissions": ["MANAGE_MEMBERS"]}
    assert (await api.data(GRANT, {"input": grant}, token=world.admin.token))["setDelegatedPermissions"]["errors"] == []
    started = await api.data(START_SESSION, {"id": world.customer_id}, token=world.staff.token)
    assert started["startManagementSession"]["errors"] == []
    await register(api, "helper@contoso.example", "Hal Helper")
    await invite_member(api, world.staff, world.customer_id, "helper@contoso.example")
    from tests.support import accept_membership

    await accept_membership(api, "helper@contoso.example")
    await as_person(api, world.admin)
    page = text_of((await api.client.get("/organization/members")).text)
    assert "Hal Helper helper@contoso.example through the service provider" in page
    assert "Chris Contoso chris@contoso.example through the service provider" not in page


# --- my service provider -------------------------------------------------------------------------


async def test_choosing_granting_and_removing_the_service_provider(api, world):
    await as_person(api, world.admin)
    page = await api.client.get("/organization/service-provider")
    assert "You have no service provider." in text_of(page.text)

    response = await post(
        api,
        "/organization/service-provider/choose",
        "/organization/service-provider",
        organization=world.customer_id,
        code=world.partner.code.lower(),
    )
    assert response.status_code == 303 and "notice=chosen" in response.headers["location"]
    page = text_of((await api.client.get("/organization/service-provider")).text)
    assert "Northwind Partners" in page and world.partner.code in page and "Chosen by the customer" in page

    # the grant dialog: everything but ordering licenses, until a day
    response = await post(
        api,
        "/organization/service-provider/grant",
        "/organization/service-provider",
        organization=world.customer_id,
        permissions=["MANAGE_MEMBERS", "MANAGE_SETTINGS", "VIEW_BILLING"],
        expires="2099-06-30",
    )
    assert response.status_code == 303 and "notice=granted" in response.headers["location"]
    grant = (await organization(api, world))["servicePartner"]["grant"]
    assert grant["permissions"] == ["MANAGE_MEMBERS", "MANAGE_SETTINGS", "VIEW_BILLING"]
    assert grant["expiresAt"].startswith("2099-06-30T23:59:59")
    page = await api.client.get("/organization/service-provider")
    assert 'id="grant-MANAGE_SETTINGS" name="permissions" value="MANAGE_SETTINGS" checked' in page.text
    assert 'id="grant-ORDER_LICENSES" name="permissions" value="ORDER_LICENSES" >' in page.text
    assert 'value="2099-06-30"' in page.text and "Order licenses" in page.text

    response = await post(
        api, "/organization/service-provider/revoke", "/organization/service-provider", organization=world.customer_id
    )
    assert response.status_code == 303
    assert (await organization(api, world))["servicePartner"]["grant"]["permissions"] == []

    response = await post(
        api, "/organization/service-provider/remove", "/organization/service-provider", organization=world.customer_id
    )
    assert response.status_code == 303 and "notice=removed" in response.headers["location"]
    assert (await organization(api, world))["servicePartner"] is None
    page = text_of((await api.client.get("/organization/service-provider")).text)
    assert "You have no service provider." in page and "History" in page and "Northwind Partners" in page


async def test_a_wrong_partner_code_or_date_is_shown_on_the_page(api, world):
    await as_person(api, world.admin)
    response = await post(
        api,
        "/organization/service-provider/choose",
        "/organization/service-provider",
        organization=world.customer_id,
        code="NOPE1234",
    )
    assert response.status_code == 400 and 'role="alert"' in response.text and 'value="NOPE1234"' in response.text
    await api.data(CHOOSE, {"id": world.customer_id, "code": world.partner.code}, token=world.admin.token)
    response = await post(
        api,
        "/organization/service-provider/grant",
        "/organization/service-provider",
        organization=world.customer_id,
        permissions=["MANAGE_SETTINGS"],
        expires="30.06.2099",
    )
    assert response.status_code == 400 and "YYYY-MM-DD" in response.text
    assert (await organization(api, world))["servicePartner"]["grant"]["permissions"] == []


# --- the partner's activity ----------------------------------------------------------------------


async def test_the_activity_page_shows_what_the_partner_did_in_a_management_session(api, world):
    await api.data(CHOOSE, {"id": world.customer_id, "code": world.partner.code}, token=world.admin.token)
    grant = {"organizationId": world.customer_id, "permissions": ["MANAGE_SETTINGS"]}
    await api.data(GRANT, {"input": grant}, token=world.admin.token)
    started = await api.data(START_SESSION, {"id": world.customer_id}, token=world.staff.token)
    session = started["startManagementSession"]["session"]
    renamed = await api.data(RENAME, {"id": world.customer_id, "name": "Contoso (managed)"}, token=world.staff.token)
    assert renamed["updateOrganization"]["errors"] == []

    await as_person(api, world.admin)
    page = await api.client.get("/organization/activity")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "Casey Customers" in shown and "casey@northwind.example" in shown
    assert "organization.update" in shown and "Contoso Ltd → Contoso (managed)" in shown
    from tests.support import pk

    assert f"Session {pk(session['id'])}" in shown
    assert "management_session.start" in shown and "Actions in all: 2" in shown


# --- the partner directory -----------------------------------------------------------------------


async def test_the_directory_is_public_and_filters(api, world):
    page = await api.client.get("/partners")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "Northwind Partners" in shown and world.partner.code in shown
    assert "Choose as my service provider" not in shown and "Sign in to choose" in shown
    assert "Northwind Partners" in text_of((await api.client.get("/partners?country=de&program=SERVICE_PARTNER")).text)
    assert "No partner matches." in text_of((await api.client.get("/partners?country=FR")).text)
    assert "No partner matches." in text_of((await api.client.get("/partners?program=RESELLER")).text)
    odd = await api.client.get("/partners?program=<script>&country=%00%00&after=x")
    assert odd.status_code == 200 and "Enter the country as two letters, e.g. DE." in odd.text


async def test_an_administrator_chooses_a_partner_from_the_directory(api, world):
    await as_person(api, world.admin)
    page = await api.client.get("/partners")
    assert "Choose as my service provider" in page.text
    response = await api.client.post(
        "/organization/service-provider/choose",
        data={"csrf": csrf_of(page.text), "organization": world.customer_id, "code": world.partner.code},
    )
    assert response.status_code == 303
    assert (await organization(api, world))["servicePartner"]["partner"]["code"] == world.partner.code


async def test_a_plain_member_gets_no_choose_button(api, world):
    await as_person(api, world.member)
    page = await api.client.get("/partners")
    assert "Northwind Partners" in page.text and "Choose as my service provider" not in page.text


# --- applying for partner status -----------------------------------------------------------------


async def test_apply_without_an_organization_links_to_creating_one(api):
    person = await register(api, "solo@example.com", "Solo")
    await as_person(api, person)
    page = await api.client.get("/apply")
    shown = text_of(page.text)
    assert "Your account is not in an organization yet" in shown and 'href="/organization/new"' in page.text
    assert 'action="/apply"' not in page.text
    for path in ("/organization", "/organization/members", "/organization/service-provider", "/organization/activity"):
        page = await api.client.get(path)
        assert page.status_code == 200 and "Your account is not in an organization yet." in text_of(page.text), path


async def test_apply_without_the_permission_says_to_ask_the_administrator(api, world):
    await as_person(api, world.member)
    page = await api.client.get("/apply")
    shown = text_of(page.text)
    assert "You do not have the permission to apply" in shown and "ask your administrator" in shown
    assert 'action="/apply"' not in page.text


async def test_apply_with_an_unverified_address_asks_to_verify_it(api):
    from tests.conftest import PASSWORD
    from tests.documents import REGISTER

    data = await api.data(REGISTER, {"input": {"email": "new@example.com", "password": PASSWORD, "name": "New"}})
    person = Person("new@example.com", data["register"]["token"], data["register"]["user"]["id"])
    await create_organization(api, person, "Newco")
    await as_person(api, person)
    page = await api.client.get("/apply")
    assert "Verify your email address first: we sent you a link." in text_of(page.text)
    assert 'action="/apply"' not in page.text


async def test_applying_sends_the_application_and_then_shows_its_status(api, world):
    await as_person(api, world.admin)
    home = await api.client.get("/")
    assert 'href="/apply"' in home.text and 'href="/partners"' in home.text
    page = await api.client.get("/apply")
    assert 'action="/apply"' in page.text and 'value="chris@contoso.example"' in page.text
    fields = {
        "organization": world.customer_id,
        "legal_name": "Contoso Ltd",
        "website": "https://contoso.example",
        "country": "de",
        "vat_id": "DE136695976",
        "contact_name": "Chris Contoso",
        "contact_email": "chris@contoso.example",
        "programs": ["AFFILIATE", "BOGUS"],
        "message": "We recommend you.",
    }
    missing_vat = await api.client.post("/apply", data={"csrf": csrf_of(page.text), **fields, "vat_id": ""})
    assert missing_vat.status_code == 400 and 'value="Contoso Ltd"' in missing_vat.text
    assert 'id="apply-AFFILIATE" name="programs" value="AFFILIATE" checked' in missing_vat.text
    response = await api.client.post("/apply", data={"csrf": csrf_of(page.text), **fields})
    assert response.status_code == 303 and response.headers["location"] == "/apply?notice=applied"
    page = text_of((await api.client.get("/apply?notice=applied")).text)
    assert "your application is sent" in page and "the application is being reviewed" in page
    assert "Contoso Ltd applied on" in page
    assert 'action="/apply"' not in (await api.client.get("/apply")).text


async def test_an_approved_partner_is_told_so(api, world):
    await as_person(api, world.partner.admin)
    page = text_of((await api.client.get("/apply")).text)
    assert "Northwind Partners is a partner already." in page


# --- German ----------------------------------------------------------------------------------------


async def test_the_service_provider_page_in_german(api, world):
    await api.data(CHOOSE, {"id": world.customer_id, "code": world.partner.code}, token=world.admin.token)
    await as_person(api, world.admin)
    api.client.cookies.set("pp_lang", "de")
    page = text_of((await api.client.get("/organization/service-provider")).text)
    assert "Mein Dienstleister" in page and "Lizenzen bestellen" in page and "Berechtigungen speichern" in page
    apply = text_of((await api.client.get("/apply")).text)
    assert "Partnerstatus" in apply and "Anfrage senden" in apply and "USt-IdNr." in apply


# --- the API fields these pages added ------------------------------------------------------------

API_VIEW = """
query View($id: ID!) {
  node(id: $id) { ... on Organization {
    members(first: 50) { edges { node { throughServicePartner user { email } } } }
    serviceProviderActivity(first: 50) { edges { node { action managementSessionId } } }
  } }
  auditEvents(organizationId: $id, first: 50) { edges { node { action managementSessionId } } }
}"""


async def test_the_api_tells_members_bound_to_the_grant_and_the_session_of_an_action(api, world):
    from tests.support import accept_membership

    await api.data(CHOOSE, {"id": world.customer_id, "code": world.partner.code}, token=world.admin.token)
    grant = {"organizationId": world.customer_id, "permissions": ["MANAGE_MEMBERS"]}
    await api.data(GRANT, {"input": grant}, token=world.admin.token)
    session = (await api.data(START_SESSION, {"id": world.customer_id}, token=world.staff.token))[
        "startManagementSession"
    ]["session"]
    await register(api, "helper@contoso.example", "Hal Helper")
    await invite_member(api, world.staff, world.customer_id, "helper@contoso.example")
    await accept_membership(api, "helper@contoso.example")

    view = await api.data(API_VIEW, {"id": world.customer_id}, token=world.admin.token)
    bound = {e["node"]["user"]["email"]: e["node"]["throughServicePartner"] for e in view["node"]["members"]["edges"]}
    assert bound == {"chris@contoso.example": False, "mia@contoso.example": False, "helper@contoso.example": True}
    activity = view["node"]["serviceProviderActivity"]["edges"]
    assert activity and {e["node"]["managementSessionId"] for e in activity} == {session["id"]}
    outside = [e["node"] for e in view["auditEvents"]["edges"] if e["node"]["action"] == "organization.create"]
    assert outside and outside[0]["managementSessionId"] is None
