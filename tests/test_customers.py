"""A customer and its service partner: choosing and changing the partner, the delegated grant
(set, expired, revoked), management sessions and what the customer sees of them, the partner's
"my customers", and licenses.

Everything goes through the public GraphQL API; mails are read from the outbox as an operator;
time is the frozen `clock`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from unittest.mock import ANY

import pytest

from partner_portal.models.compiled import ShapedValues
from partner_portal.resolvers import customers
from partner_portal.resolvers.jobs import run_job
from tests.conftest import PASSWORD, START, start_api, test_settings
from tests.documents import ACCEPT_MEMBERSHIP, ADD_MEMBER, OUTBOX, REVOKE_DELEGATED_PERMISSIONS
from tests.support import (
    Partner,
    Person,
    accept_membership,
    add_member,
    create_organization,
    invite_member,
    make_operator,
    make_partner,
    membership_link_token,
    operator,
    register,
)

SET_PARTNER = """
mutation Set($id: ID!, $code: String!) {
  setServicePartner(input: {organizationId: $id, partnerCode: $code}) {
    relationship {
      id source startedAt endedAt grant { permissions expiresAt } customer { id name } partner { name code }
    }
    errors { field code message }
  }
}"""
REMOVE_PARTNER = """
mutation Remove($id: ID!) {
  removeServicePartner(input: {organizationId: $id}) { relationship { id } errors { field code } }
}"""
GRANT = """
mutation Grant($input: SetDelegatedPermissionsInput!) {
  setDelegatedPermissions(input: $input) {
    relationship { grant { permissions expiresAt } } errors { field code }
  }
}"""
START_SESSION = """
mutation Start($id: ID!) {
  startManagementSession(input: {customerId: $id}) {
    session { id isOpen permissions startedAt lastActivityAt endedAt customer { name } } errors { code }
  }
}"""
END_SESSION = """
mutation End($id: ID!) {
  endManagementSession(input: {sessionId: $id}) { session { id isOpen endedAt } errors { code } }
}"""
SESSION = """
query Session($id: ID!) {
  node(id: $id) { ... on ManagementSession { isOpen permissions lastActivityAt endedAt } }
}"""
RENAME = """
mutation Rename($id: ID!, $name: String!) {
  updateOrganization(input: {organizationId: $id, name: $name}) { organization { name } errors { code } }
}"""
SERVICE_PARTNER = """
query Current($id: ID!) {
  node(id: $id) { ... on Organization {
    name servicePartner { id source endedAt grant { permissions expiresAt } partner { name code } }
  } }
}"""
HISTORY = """
query History($id: ID!) {
  node(id: $id) { ... on Organization {
    servicePartnerHistory { id source startedAt endedAt partner { name } grant { permissions } }
  } }
}"""
ACTIVITY = """
query Activity($id: ID!) {
  node(id: $id) { ... on Organization { serviceProviderActivity(first: 50) {
    totalCount edges { node { action via changes actor { email } } }
  } } }
}"""
MEMBERS = """
query Members($id: ID!) {
  node(id: $id) { ... on Organization { members(first: 50) {
    totalCount edges { node { role organizationPermissions user { email } } }
  } } }
}"""
MY_CUSTOMERS = """
query Customers($licenseStatus: LicenseStatus, $source: RelationshipSource, $search: String,
                $orderBy: CustomerOrder! = NAME, $descending: Boolean! = false, $first: Int, $after: String) {
  myCustomers(licenseStatus: $licenseStatus, source: $source, search: $search, orderBy: $orderBy,
              descending: $descending, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id source startedAt
      grant { permissions expiresAt }
      partner { name code }
      customer { id name license { status } }
      license { status plan seats monthlyRecurringRevenue { amount currency } }
    } }
  }
}"""
RELATIONSHIP = """
query Relationship($id: ID!) {
  node(id: $id) { id ... on CustomerRelationship {
    source endedAt customer { name } partner { name } grant { permissions } license { status }
  } }
}"""
SET_LICENSE = """
mutation License($input: SetLicenseInput!) {
  setLicense(input: $input) {
    license { status plan seats trialEndsAt monthlyRecurringRevenue { amount currency } } errors { field code }
  }
}"""
ORGANIZATION_LICENSE = """
query License($id: ID!) {
  node(id: $id) { ... on Organization { license { status plan seats monthlyRecurringRevenue { amount currency } } } }
}"""
INVITE = """
mutation Invite($input: InviteCustomerInput!) { inviteCustomer(input: $input) { errors { code } } }"""
ACCEPT = """
mutation Accept($input: AcceptInvitationInput!) {
  acceptInvitation(input: $input) { organization { id } errors { code } }
}"""


# --- the world of these tests ------------------------------------------------------------------


@dataclass
class World:
    operator: Person
    partner: Partner  # Northwind, a service partner
    staff: Person  # Northwind staff with ADMINISTER_CUSTOMERS
    customer_id: str  # Contoso
    admin: Person  # Contoso's administrator
    member: Person  # a plain member of Contoso
    overseer: Person  # a Contoso member holding MANAGE_SERVICE_PROVIDER


@pytest.fixture
async def world(api) -> World:
    reviewer = await operator(api)
    partner = await make_partner(api, reviewer)
    staff = await register(api, "casey@northwind.example", "Casey Customers")
    await add_member(api, partner.admin, partner.id, staff.email, partner_permissions=["ADMINISTER_CUSTOMERS"])
    admin = await register(api, "chris@contoso.example", "Chris Contoso")
    customer = await create_organization(api, admin, "Contoso Ltd")
    member = await register(api, "mia@contoso.example", "Mia Member")
    await add_member(api, admin, customer["id"], member.email)
    overseer = await register(api, "sam@contoso.example", "Sam Service")
    await add_member(api, admin, customer["id"], overseer.email, organization_permissions=["MANAGE_SERVICE_PROVIDER"])
    return World(reviewer, partner, staff, customer["id"], admin, member, overseer)


@pytest.fixture
async def linked(api, world) -> World:
    """Contoso has chosen Northwind."""
    await chosen(api, world.admin, world.customer_id, world.partner.code)
    return world


async def choose(api, who: Person, organization_id: str, code: str) -> dict:
    return (await api.data(SET_PARTNER, {"id": organization_id, "code": code}, token=who.token))["setServicePartner"]


async def chosen(api, who: Person, organization_id: str, code: str) -> dict:
    payload = await choose(api, who, organization_id, code)
    assert payload["errors"] == [], payload["errors"]
    return payload["relationship"]


async def grant(
    api,
    who: Person,
    organization_id: str,
    permissions: list[str],
    expires_at: datetime | None = None,
) -> dict:
    variables = {
        "input": {
            "organizationId": organization_id,
            "permissions": permissions,
            "expiresAt": expires_at.isoformat() if expires_at else None,
        }
    }
    return (await api.data(GRANT, variables, token=who.token))["setDelegatedPermissions"]


async def start_session(api, who: Person, customer_id: str) -> dict:
    payload = (await api.data(START_SESSION, {"id": customer_id}, token=who.token))["startManagementSession"]
    assert payload["errors"] == [], payload["errors"]
    return payload["session"]


async def rename(api, who: Person, organization_id: str, name: str) -> str:
    """The new name, or the error code of a refusal."""
    body = await api.post(RENAME, {"id": organization_id, "name": name}, token=who.token)
    if body.get("errors"):
        return body["errors"][0]["extensions"]["code"]
    payload = body["data"]["updateOrganization"]
    assert payload["errors"] == [], payload["errors"]
    return payload["organization"]["name"]


async def my_customers(api, who: Person, **arguments) -> dict:
    return (await api.data(MY_CUSTOMERS, {"first": 100, **arguments}, token=who.token))["myCustomers"]


async def customer_names(api, who: Person, **arguments) -> list[str]:
    return [edge["node"]["customer"]["name"] for edge in (await my_customers(api, who, **arguments))["edges"]]


async def subjects_to(api, reviewer: Person, email: str) -> list[str]:
    """Subjects of the mails queued to `email`, newest first."""
    data = await api.data(OUTBOX, token=reviewer.token)
    return [e["node"]["subject"] for e in data["outboxMessages"]["edges"] if e["node"]["recipient"] == email]


async def new_customer(api, email: str, name: str, code: str | None = None) -> tuple[Person, str]:
    """A registered administrator with a new organization, linked to the partner with `code`."""
    admin = await register(api, email, name)
    organization = await create_organization(api, admin, name)
    if code is not None:
        await chosen(api, admin, organization["id"], code)
    return admin, organization["id"]


async def invited_customer(api, world, partner: Partner, email: str, organization_name: str) -> str:
    """An organization created by accepting the partner's invitation (the link read from the mail); its id."""
    invited = await api.data(
        INVITE, {"input": {"email": email, "organizationName": organization_name}}, token=partner.admin.token
    )
    assert invited["inviteCustomer"]["errors"] == []
    mails = (await api.data(OUTBOX, token=world.operator.token))["outboxMessages"]["edges"]
    body = next(e["node"]["textBody"] for e in mails if e["node"]["recipient"] == email)
    token = re.search(r"token=(ppi_[A-Za-z0-9_-]+)", body).group(1)
    accepted = (await api.data(ACCEPT, {"input": {"token": token, "name": "Invited Admin", "password": PASSWORD}}))[
        "acceptInvitation"
    ]
    assert accepted["errors"] == []
    return accepted["organization"]["id"]


async def set_license(
    api,
    who: Person,
    organization_id: str,
    status: str = "ACTIVE",
    amount: str = "49.90",
    currency: str = "EUR",
    **extra,
) -> dict:
    variables = {
        "input": {
            "organizationId": organization_id,
            "status": status,
            "plan": "Business",
            "seats": 5,
            "mrr": {"amount": amount, "currency": currency},
            **extra,
        }
    }
    return (await api.data(SET_LICENSE, variables, token=who.token))["setLicense"]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- choosing the service partner ------------------------------------------------------------------


async def test_an_administrator_chooses_the_partner_by_its_code(clock, api, world):
    partner_mails_before = len(await subjects_to(api, world.operator, world.partner.admin.email))

    # When Contoso's administrator enters Northwind's code (as typed by a person)
    relationship = await chosen(api, world.admin, world.customer_id, f"  {world.partner.code.lower()} ")

    # Then Northwind is Contoso's service partner, SELECTED, from now on, without any grant
    assert relationship["source"] == "SELECTED"
    assert relationship["partner"] == {"name": "Northwind Partners", "code": world.partner.code}
    assert relationship["customer"] == {"id": world.customer_id, "name": "Contoso Ltd"}
    assert instant(relationship["startedAt"]) == START and relationship["endedAt"] is None
    assert relationship["grant"] == {"permissions": [], "expiresAt": None}
    current = (await api.data(SERVICE_PARTNER, {"id": world.customer_id}, token=world.member.token))["node"]
    assert current["servicePartner"]["id"] == relationship["id"]

    # And the partner's staff see Contoso among their customers
    assert await customer_names(api, world.staff) == ["Contoso Ltd"]
    # And both administrators were told
    assert await subjects_to(api, world.operator, world.admin.email) == [
        "Northwind Partners is now the service partner of Contoso Ltd"
    ]
    partner_mails = await subjects_to(api, world.operator, world.partner.admin.email)
    assert partner_mails[0] == "Contoso Ltd is now your customer"
    assert len(partner_mails) == partner_mails_before + 1

    # And choosing the same partner again changes nothing
    again = await chosen(api, world.admin, world.customer_id, world.partner.code)
    assert again["id"] == relationship["id"]
    history = (await api.data(HISTORY, {"id": world.customer_id}, token=world.admin.token))["node"]
    assert len(history["servicePartnerHistory"]) == 1


async def test_who_may_choose_the_partner(api, world):
    outsider = await register(api, "olaf@outside.example", "Olaf Outside")
    await create_organization(api, outsider, "Outside AG")
    variables = {"id": world.customer_id, "code": world.partner.code}

    # A plain member may not; outsiders do not see the organization; anonymous callers must sign in
    assert await api.error_code(SET_PARTNER, variables, token=world.member.token) == "FORBIDDEN"
    assert await api.error_code(SET_PARTNER, variables, token=outsider.token) == "NOT_FOUND"
    assert await api.error_code(SET_PARTNER, variables, token=world.partner.admin.token) == "NOT_FOUND"
    assert await api.error_code(SET_PARTNER, variables) == "UNAUTHENTICATED"
    assert (await api.data(SERVICE_PARTNER, {"id": world.customer_id}, token=world.admin.token))["node"][
        "servicePartner"
    ] is None

    # A MANAGE_SERVICE_PROVIDER holder may
    relationship = await chosen(api, world.overseer, world.customer_id, world.partner.code)
    assert relationship["source"] == "SELECTED"


async def test_unknown_codes_other_programs_and_itself_are_refused(api, world):
    affiliate = await make_partner(
        api, world.operator, "admin@affiliates.example", "Affiliates Only", programs=["AFFILIATE"]
    )

    # An unknown code and a partner outside SERVICE_PARTNER are the same: no such service partner
    for code in ("ZZZZZZZZ", "", affiliate.code):
        payload = await choose(api, world.admin, world.customer_id, code)
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("partnerCode", "PARTNER_NOT_FOUND")], code
        assert payload["relationship"] is None
    # A partner cannot be its own service partner
    itself = await choose(api, world.partner.admin, world.partner.id, world.partner.code)
    assert [(e["field"], e["code"]) for e in itself["errors"]] == [("partnerCode", "SELF_REFERRAL")]

    # And nothing was linked
    for organization_id, who in ((world.customer_id, world.admin), (world.partner.id, world.partner.admin)):
        node = (await api.data(SERVICE_PARTNER, {"id": organization_id}, token=who.token))["node"]
        assert node["servicePartner"] is None
    assert (await my_customers(api, world.partner.admin))["totalCount"] == 0


async def test_changing_the_partner_ends_the_old_relationship(clock, api, linked):
    world = linked
    # Given Northwind holds a grant and its staff member is in a management session
    assert (await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS"]))["errors"] == []
    await start_session(api, world.staff, world.customer_id)
    fabrikam = await make_partner(api, world.operator, "admin@fabrikam.example", "Fabrikam Services")
    fabrikam_staff = await register(api, "finn@fabrikam.example", "Finn Fabrikam")
    await add_member(
        api, fabrikam.admin, fabrikam.id, fabrikam_staff.email, partner_permissions=["ADMINISTER_CUSTOMERS"]
    )
    old_relationship = (await api.data(SERVICE_PARTNER, {"id": world.customer_id}, token=world.admin.token))["node"][
        "servicePartner"
    ]["id"]

    # When Contoso switches to Fabrikam a day later
    clock.shift(timedelta(days=1))
    relationship = await chosen(api, world.admin, world.customer_id, fabrikam.code)

    # Then the new relationship starts now, without any grant
    assert relationship["partner"]["name"] == "Fabrikam Services" and relationship["source"] == "SELECTED"
    assert relationship["grant"]["permissions"] == [] and relationship["id"] != old_relationship
    # And the history shows both, newest first, the old one ended at the switch
    history = (await api.data(HISTORY, {"id": world.customer_id}, token=world.admin.token))["node"][
        "servicePartnerHistory"
    ]
    assert [
        (h["partner"]["name"], h["startedAt"] and instant(h["startedAt"]), h["endedAt"] and instant(h["endedAt"]))
        for h in history
    ] == [
        ("Fabrikam Services", START + timedelta(days=1), None),
        ("Northwind Partners", START, START + timedelta(days=1)),
    ]
    # And Northwind lost the customer, its session and every access
    assert await customer_names(api, world.staff) == []
    assert await rename(api, world.staff, world.customer_id, "Hijacked") == "NOT_FOUND"
    assert await api.error_code(START_SESSION, {"id": world.customer_id}, token=world.staff.token) == "NOT_FOUND"
    assert await api.error_code(SERVICE_PARTNER, {"id": world.customer_id}, token=world.staff.token) == "NOT_FOUND"
    # While Fabrikam has it, with no grant
    fabrikam_customers = (await my_customers(api, fabrikam_staff))["edges"]
    assert [(e["node"]["customer"]["name"], e["node"]["grant"]["permissions"]) for e in fabrikam_customers] == [
        ("Contoso Ltd", [])
    ]
    # And both old and new partner were told
    assert (await subjects_to(api, world.operator, world.partner.admin.email))[0] == (
        "Contoso Ltd is no longer your customer"
    )
    assert (await subjects_to(api, world.operator, fabrikam.admin.email))[0] == "Contoso Ltd is now your customer"


async def test_a_former_partner_cannot_read_the_ended_relationship(api, linked):
    world = linked
    # Given Northwind was Contoso's partner, with a license on Contoso
    relationship_id = (await api.data(SERVICE_PARTNER, {"id": world.customer_id}, token=world.admin.token))["node"][
        "servicePartner"
    ]["id"]
    assert (await api.data(RELATIONSHIP, {"id": relationship_id}, token=world.staff.token))["node"]["id"]

    # When Contoso removes Northwind and then buys a license
    assert (await api.data(REMOVE_PARTNER, {"id": world.customer_id}, token=world.admin.token))["removeServicePartner"][
        "errors"
    ] == []
    await set_license(api, world.operator, world.customer_id, "ACTIVE")

    # Then Northwind no longer reads the relationship (nor Contoso's current license through it)
    assert await api.error_code(RELATIONSHIP, {"id": relationship_id}, token=world.staff.token) == "NOT_FOUND"
    assert await api.error_code(RELATIONSHIP, {"id": relationship_id}, token=world.partner.admin.token) == "NOT_FOUND"
    # While Contoso still does
    node = (await api.data(RELATIONSHIP, {"id": relationship_id}, token=world.admin.token))["node"]
    assert node["partner"]["name"] == "Northwind Partners" and node["endedAt"] is not None


async def test_removing_the_partner(clock, api, linked):
    world = linked
    # A plain member may not remove it
    assert await api.error_code(REMOVE_PARTNER, {"id": world.customer_id}, token=world.member.token) == "FORBIDDEN"
    assert await customer_names(api, world.staff) == ["Contoso Ltd"]

    # When the administrator removes it an hour later
    clock.shift(timedelta(hours=1))
    removed = (await api.data(REMOVE_PARTNER, {"id": world.customer_id}, token=world.admin.token))[
        "removeServicePartner"
    ]

    # Then Contoso has no partner, the history keeps the ended one, Northwind lost the customer
    assert removed == {"relationship": None, "errors": []}
    node = (await api.data(SERVICE_PARTNER, {"id": world.customer_id}, token=world.admin.token))["node"]
    assert node["servicePartner"] is None
    history = (await api.data(HISTORY, {"id": world.customer_id}, token=world.admin.token))["node"][
        "servicePartnerHistory"
    ]
    assert [(h["partner"]["name"], instant(h["endedAt"])) for h in history] == [
        ("Northwind Partners", START + timedelta(hours=1))
    ]
    assert await customer_names(api, world.staff) == []

    # And removing again says there is none
    again = (await api.data(REMOVE_PARTNER, {"id": world.customer_id}, token=world.overseer.token))[
        "removeServicePartner"
    ]
    assert [e["code"] for e in again["errors"]] == ["NO_SERVICE_PARTNER"]


async def test_choosing_and_removing_the_partner_over_and_over_mails_each_notice_once_an_hour(clock, api, world):
    partner_admin = world.partner.admin.email

    # When the customer chooses and removes the partner three times within the hour
    for _ in range(3):
        await chosen(api, world.admin, world.customer_id, world.partner.code)
        await api.data(REMOVE_PARTNER, {"id": world.customer_id}, token=world.admin.token)

    # Then each side got each notice once
    assert (await subjects_to(api, world.operator, partner_admin))[:3] == [
        "Contoso Ltd is no longer your customer",
        "Contoso Ltd is now your customer",
        "Welcome to the partner program, Northwind Partners",
    ]
    assert len(await subjects_to(api, world.operator, world.admin.email)) == 2
    # And the same notice goes out again after the hour
    clock.shift(timedelta(minutes=61))
    await chosen(api, world.admin, world.customer_id, world.partner.code)
    assert (await subjects_to(api, world.operator, partner_admin))[:2] == [
        "Contoso Ltd is now your customer",
        "Contoso Ltd is no longer your customer",
    ]


async def test_an_organization_causes_a_limited_number_of_notices(database_url):
    async for api in start_api(test_settings(database_url, mail_notice_rate="6/hour")):
        reviewer = await operator(api)
        partners = [await make_partner(api, reviewer, f"admin@p{i}.example", f"Partner {i}") for i in range(3)]
        admin = await register(api, "chris@contoso.example", "Chris Contoso")
        customer = await create_organization(api, admin, "Contoso Ltd")

        # Each choice notifies the customer's and the partner's administrators (and a change the old partner's)
        for partner in partners:
            await chosen(api, admin, customer["id"], partner.code)

        # The choices were made, but past 6 notices none was sent
        told = [
            [subject for subject in await subjects_to(api, reviewer, partner.admin.email) if "Contoso" in subject]
            for partner in partners
        ]
        assert told == [
            ["Contoso Ltd is no longer your customer", "Contoso Ltd is now your customer"],
            ["Contoso Ltd is now your customer"],
            [],
        ]
        assert len(await subjects_to(api, reviewer, admin.email)) == 3
        current = (await api.data(SERVICE_PARTNER, {"id": customer["id"]}, token=admin.token))["node"]
        assert current["servicePartner"]["partner"]["name"] == "Partner 2"


# --- the delegated grant ---------------------------------------------------------------------------


async def test_only_the_customer_sets_and_revokes_the_grant(api, linked):
    world = linked
    # The administrator and a MANAGE_SERVICE_PROVIDER holder may set the grant
    by_admin = await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS", "MANAGE_MEMBERS"])
    assert by_admin["errors"] == []
    assert by_admin["relationship"]["grant"] == {
        "permissions": ["MANAGE_MEMBERS", "MANAGE_SETTINGS"],
        "expiresAt": None,
    }
    by_overseer = await grant(
        api, world.overseer, world.customer_id, ["MANAGE_MEMBERS", "MANAGE_SETTINGS", "VIEW_BILLING"]
    )
    assert by_overseer["errors"] == []

    # Partner staff may not, even in a management session holding every delegated permission
    await start_session(api, world.staff, world.customer_id)
    variables = {"input": {"organizationId": world.customer_id, "permissions": ["ORDER_LICENSES"]}}
    assert await api.error_code(GRANT, variables, token=world.staff.token) == "FORBIDDEN"
    assert (
        await api.error_code(REVOKE_DELEGATED_PERMISSIONS, {"id": world.customer_id}, token=world.staff.token)
        == "FORBIDDEN"
    )
    assert (
        await api.error_code(
            SET_PARTNER, {"id": world.customer_id, "code": world.partner.code}, token=world.staff.token
        )
        == "FORBIDDEN"
    )
    assert await api.error_code(REMOVE_PARTNER, {"id": world.customer_id}, token=world.staff.token) == "FORBIDDEN"
    # The partner's administrator (no session) sees the customer but does not act in it
    assert await api.error_code(GRANT, variables, token=world.partner.admin.token) == "FORBIDDEN"
    # Nor does a plain member of the customer decide
    assert await api.error_code(GRANT, variables, token=world.member.token) == "FORBIDDEN"
    assert (
        await api.error_code(REVOKE_DELEGATED_PERMISSIONS, {"id": world.customer_id}, token=world.member.token)
        == "FORBIDDEN"
    )

    # And the grant is unchanged by all of this
    current = (await api.data(SERVICE_PARTNER, {"id": world.customer_id}, token=world.admin.token))["node"]
    assert current["servicePartner"]["grant"]["permissions"] == ["MANAGE_MEMBERS", "MANAGE_SETTINGS", "VIEW_BILLING"]

    # While the customer revokes it
    revoked = (await api.data(REVOKE_DELEGATED_PERMISSIONS, {"id": world.customer_id}, token=world.overseer.token))[
        "revokeDelegatedPermissions"
    ]
    assert revoked == {"relationship": {"grant": {"permissions": []}}, "errors": []}


async def test_a_grant_needs_a_partner_and_a_future_expiry(clock, api, world):
    # Without a service partner there is nothing to grant or revoke
    alone = await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS"])
    assert [e["code"] for e in alone["errors"]] == ["NO_SERVICE_PARTNER"]
    revoked = (await api.data(REVOKE_DELEGATED_PERMISSIONS, {"id": world.customer_id}, token=world.admin.token))[
        "revokeDelegatedPermissions"
    ]
    assert [e["code"] for e in revoked["errors"]] == ["NO_SERVICE_PARTNER"]

    # With one, an expiry now or in the past is refused and changes nothing
    await chosen(api, world.admin, world.customer_id, world.partner.code)
    for expiry in (START - timedelta(seconds=1), START):
        past = await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS"], expiry)
        assert [(e["field"], e["code"]) for e in past["errors"]] == [("expiresAt", "INVALID_VALUE")]
    current = (await api.data(SERVICE_PARTNER, {"id": world.customer_id}, token=world.admin.token))["node"]
    assert current["servicePartner"]["grant"] == {"permissions": [], "expiresAt": None}

    # A future one is kept
    future = await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS"], START + timedelta(seconds=1))
    assert instant(future["relationship"]["grant"]["expiresAt"]) == START + timedelta(seconds=1)


async def test_both_sides_administrators_are_told_about_grant_changes(api, linked):
    world = linked
    # Given a second administrator at the customer
    deputy = await register(api, "dora@contoso.example", "Dora Deputy")
    await add_member(api, world.admin, world.customer_id, deputy.email, role="ADMINISTRATOR")
    people = (world.admin, deputy, world.partner.admin, world.staff, world.member, world.overseer)
    before = {p.email: len(await subjects_to(api, world.operator, p.email)) for p in people}

    # When the grant is set, then revoked
    assert (await grant(api, world.overseer, world.customer_id, ["MANAGE_SETTINGS"]))["errors"] == []
    await api.data(REVOKE_DELEGATED_PERMISSIONS, {"id": world.customer_id}, token=world.admin.token)

    # Then every administrator on both sides got one mail for each, and nobody else any
    for person in (world.admin, deputy):
        subjects = await subjects_to(api, world.operator, person.email)
        assert subjects[:2] == [
            "Northwind Partners no longer has access to Contoso Ltd",
            "Permissions of Northwind Partners in Contoso Ltd changed",
        ]
        assert len(subjects) == before[person.email] + 2
    partner_subjects = await subjects_to(api, world.operator, world.partner.admin.email)
    assert partner_subjects[:2] == ["Contoso Ltd revoked your access", "Contoso Ltd changed your permissions"]
    assert len(partner_subjects) == before[world.partner.admin.email] + 2
    for person in (world.staff, world.member, world.overseer):
        assert len(await subjects_to(api, world.operator, person.email)) == before[person.email]


async def test_a_grant_ends_at_its_expiry_to_the_second(clock, api, linked):
    world = linked
    # Given MANAGE_SETTINGS granted until T, 45 minutes from now, and a session started now
    expiry = START + timedelta(minutes=45)
    assert (await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS"], expiry))["errors"] == []
    session = await start_session(api, world.staff, world.customer_id)
    assert session["permissions"] == ["MANAGE_SETTINGS"]

    # When the staff member renames Contoso 20 minutes later and again one second before T
    clock.shift(timedelta(minutes=20))
    assert await rename(api, world.staff, world.customer_id, "Contoso One") == "Contoso One"
    clock.move_to(expiry - timedelta(seconds=1))
    assert await rename(api, world.staff, world.customer_id, "Contoso Two") == "Contoso Two"

    # Then one second after T the same change is refused, in the still open session
    clock.move_to(expiry + timedelta(seconds=1))
    assert await rename(api, world.staff, world.customer_id, "Contoso Three") == "FORBIDDEN"
    now_session = (await api.data(SESSION, {"id": session["id"]}, token=world.staff.token))["node"]
    assert now_session["isOpen"] is True and now_session["permissions"] == []
    # And both sides see the grant as empty, with its expiry
    [edge] = (await my_customers(api, world.staff))["edges"]
    assert edge["node"]["grant"]["permissions"] == [] and instant(edge["node"]["grant"]["expiresAt"]) == expiry
    node = (await api.data(SERVICE_PARTNER, {"id": world.customer_id}, token=world.admin.token))["node"]
    assert node["name"] == "Contoso Two" and node["servicePartner"]["grant"]["permissions"] == []


async def test_a_revoked_grant_is_refused_on_the_next_request(api, linked):
    world = linked
    # Given a grant and a staff member using it in a session
    await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS"])
    await start_session(api, world.staff, world.customer_id)
    assert await rename(api, world.staff, world.customer_id, "Contoso Managed") == "Contoso Managed"

    # When the customer revokes it
    await api.data(REVOKE_DELEGATED_PERMISSIONS, {"id": world.customer_id}, token=world.admin.token)

    # Then the staff member's next request is refused
    assert await rename(api, world.staff, world.customer_id, "Contoso Again") == "FORBIDDEN"
    # And granting again works just as fast
    await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS"])
    assert await rename(api, world.staff, world.customer_id, "Contoso Again") == "Contoso Again"


# --- management sessions ------------------------------------------------------------------------------


async def test_only_administer_customers_staff_of_the_current_partner_start_sessions(clock, api, linked):
    world = linked
    plain = await register(api, "pat@northwind.example", "Pat Plain")
    await add_member(api, world.partner.admin, world.partner.id, plain.email)
    inviter = await register(api, "ivy@northwind.example", "Ivy Inviter")
    await add_member(
        api, world.partner.admin, world.partner.id, inviter.email, partner_permissions=["CREATE_CUSTOMER_ORGANIZATIONS"]
    )
    fabrikam = await make_partner(api, world.operator, "admin@fabrikam.example", "Fabrikam Services")
    _, other_customer = await new_customer(api, "olga@other.example", "Other Customer")
    variables = {"id": world.customer_id}

    # Refused: another partner's staff, a partner member without the permission, the customer itself,
    # anonymous callers, and an organization that is not Northwind's customer
    assert await api.error_code(START_SESSION, variables, token=fabrikam.admin.token) == "NOT_FOUND"
    assert await api.error_code(START_SESSION, variables, token=plain.token) == "FORBIDDEN"
    assert await api.error_code(START_SESSION, variables, token=world.admin.token) == "NOT_FOUND"
    assert await api.error_code(START_SESSION, variables) == "UNAUTHENTICATED"
    assert await api.error_code(START_SESSION, {"id": other_customer}, token=world.staff.token) == "NOT_FOUND"

    # Allowed: ADMINISTER_CUSTOMERS, and the permissions that include it
    for person in (world.staff, inviter, world.partner.admin):
        session = await start_session(api, person, world.customer_id)
        assert session["isOpen"] is True and session["customer"]["name"] == "Contoso Ltd"
        assert instant(session["startedAt"]) == instant(session["lastActivityAt"]) == START


async def test_a_session_idles_out_after_30_minutes_without_actions(clock, api, linked):
    world = linked
    await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS"])
    session = await start_session(api, world.staff, world.customer_id)

    # An action 29 minutes in keeps the session going for another 30
    clock.shift(timedelta(minutes=29))
    assert await rename(api, world.staff, world.customer_id, "Contoso Busy") == "Contoso Busy"
    clock.shift(timedelta(minutes=29, seconds=59))
    state = (await api.data(SESSION, {"id": session["id"]}, token=world.staff.token))["node"]
    assert state["isOpen"] is True and state["permissions"] == ["MANAGE_SETTINGS"]
    assert instant(state["lastActivityAt"]) == START + timedelta(minutes=29)

    # Reading does not count as an action: 30 minutes after the last action the session is over
    clock.shift(timedelta(seconds=2))
    state = (await api.data(SESSION, {"id": session["id"]}, token=world.staff.token))["node"]
    assert state["isOpen"] is False and state["permissions"] == []
    # And actions are refused: the staff still sees its customer, but no longer acts in it
    assert await rename(api, world.staff, world.customer_id, "Contoso Late") == "FORBIDDEN"

    # A new session works again
    restarted = await start_session(api, world.staff, world.customer_id)
    assert restarted["id"] != session["id"] and restarted["isOpen"] is True
    assert await rename(api, world.staff, world.customer_id, "Contoso Late") == "Contoso Late"


async def test_ending_a_session(clock, api, linked):
    world = linked
    await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS"])
    session = await start_session(api, world.staff, world.customer_id)
    colleague = await register(api, "cole@northwind.example", "Cole Colleague")
    await add_member(
        api, world.partner.admin, world.partner.id, colleague.email, partner_permissions=["ADMINISTER_CUSTOMERS"]
    )

    # Nobody ends another person's session
    assert await api.error_code(END_SESSION, {"id": session["id"]}, token=colleague.token) == "NOT_FOUND"
    assert await api.error_code(END_SESSION, {"id": session["id"]}, token=world.admin.token) == "NOT_FOUND"
    assert await rename(api, world.staff, world.customer_id, "Contoso Open") == "Contoso Open"

    # When its owner ends it
    clock.shift(timedelta(minutes=5))
    ended = (await api.data(END_SESSION, {"id": session["id"]}, token=world.staff.token))["endManagementSession"]

    # Then it is closed, and actions in the customer are refused
    assert ended["errors"] == [] and ended["session"]["isOpen"] is False
    assert instant(ended["session"]["endedAt"]) == START + timedelta(minutes=5)
    assert await rename(api, world.staff, world.customer_id, "Contoso Closed") == "FORBIDDEN"
    # And ending it again keeps it as it was
    again = (await api.data(END_SESSION, {"id": session["id"]}, token=world.staff.token))["endManagementSession"]
    assert instant(again["session"]["endedAt"]) == START + timedelta(minutes=5)


VIEWER_SESSIONS = "{ viewerManagementSessions { id isOpen customer { name } } }"


async def test_the_viewer_sees_only_the_own_open_sessions(clock, api, linked):
    world = linked
    session = await start_session(api, world.staff, world.customer_id)
    colleague = await register(api, "cole@northwind.example", "Cole Colleague")
    await add_member(
        api, world.partner.admin, world.partner.id, colleague.email, partner_permissions=["ADMINISTER_CUSTOMERS"]
    )

    # Its owner sees the open session
    sessions = (await api.data(VIEWER_SESSIONS, token=world.staff.token))["viewerManagementSessions"]
    assert sessions == [{"id": session["id"], "isOpen": True, "customer": {"name": "Contoso Ltd"}}]
    # Nobody else does: a colleague, the customer's administrator; anonymous callers are refused
    for other in (colleague, world.admin, world.partner.admin):
        assert (await api.data(VIEWER_SESSIONS, token=other.token))["viewerManagementSessions"] == []
    assert await api.error_code(VIEWER_SESSIONS) == "UNAUTHENTICATED"

    # An ended session is gone, and so is one idled out
    await api.data(END_SESSION, {"id": session["id"]}, token=world.staff.token)
    assert (await api.data(VIEWER_SESSIONS, token=world.staff.token))["viewerManagementSessions"] == []
    await start_session(api, world.staff, world.customer_id)
    clock.shift(timedelta(minutes=30))
    assert (await api.data(VIEWER_SESSIONS, token=world.staff.token))["viewerManagementSessions"] == []


async def test_members_within_a_session_stay_within_the_grant(api, linked):
    world = linked
    await register(api, "newbie@contoso.example", "Nick Newbie")
    await register(api, "other@contoso.example", "Otto Other")

    # Without a session the partner's staff do not see the customer's members
    assert (await api.data(MEMBERS, {"id": world.customer_id}, token=world.staff.token))["node"]["members"][
        "totalCount"
    ] == 0

    # Given MANAGE_MEMBERS granted and a session
    await grant(api, world.admin, world.customer_id, ["MANAGE_MEMBERS"])
    await start_session(api, world.staff, world.customer_id)

    # Then the staff member sees the members
    members = (await api.data(MEMBERS, {"id": world.customer_id}, token=world.staff.token))["node"]["members"]
    assert sorted(e["node"]["user"]["email"] for e in members["edges"]) == [
        "chris@contoso.example",
        "mia@contoso.example",
        "sam@contoso.example",
    ]

    # And adds a member with a delegated permission it holds
    added = await add_member(
        api, world.staff, world.customer_id, "newbie@contoso.example", organization_permissions=["MANAGE_MEMBERS"]
    )
    assert added["role"] == "MEMBER" and added["organizationPermissions"] == ["MANAGE_MEMBERS"]

    # But makes no administrator, grants no partner permission and nothing beyond the grant
    def adding(**changes) -> dict:
        return {
            "input": {
                "organizationId": world.customer_id,
                "email": "other@contoso.example",
                "role": "MEMBER",
                "organizationPermissions": [],
                "partnerPermissions": [],
                **changes,
            }
        }

    for refused in (
        adding(role="ADMINISTRATOR"),
        adding(partnerPermissions=["ADMINISTER_CUSTOMERS"]),
        adding(organizationPermissions=["MANAGE_SETTINGS"]),
        adding(organizationPermissions=["MANAGE_SERVICE_PROVIDER"]),
    ):
        assert await api.error_code(ADD_MEMBER, refused, token=world.staff.token) == "FORBIDDEN", refused
    members = (await api.data(MEMBERS, {"id": world.customer_id}, token=world.admin.token))["node"]["members"]
    assert members["totalCount"] == 4


async def test_partner_staff_cannot_turn_a_grant_into_their_own_membership(api, linked):
    world = linked
    # Given MANAGE_MEMBERS and MANAGE_SETTINGS granted, and a session
    await grant(api, world.admin, world.customer_id, ["MANAGE_MEMBERS", "MANAGE_SETTINGS"])
    await start_session(api, world.staff, world.customer_id)

    # When the staff member adds themselves to the customer
    variables = {
        "input": {
            "organizationId": world.customer_id,
            "email": world.staff.email,
            "role": "MEMBER",
            "organizationPermissions": ["MANAGE_SETTINGS"],
            "partnerPermissions": [],
        }
    }
    body = await api.post(ADD_MEMBER, variables, token=world.staff.token)

    # Then it is refused, and once the grant is revoked nothing is left of the access
    assert body.get("errors") and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await api.data(REVOKE_DELEGATED_PERMISSIONS, {"id": world.customer_id}, token=world.admin.token)
    assert await rename(api, world.staff, world.customer_id, "Still Ours") == "FORBIDDEN"


async def test_the_customer_sees_every_session_action_and_only_those(api, linked):
    world = linked
    # Given the customer's own administrator changes things itself
    await grant(api, world.admin, world.customer_id, ["MANAGE_MEMBERS", "MANAGE_SETTINGS"])
    assert await rename(api, world.admin, world.customer_id, "Contoso Own") == "Contoso Own"
    await register(api, "newbie@contoso.example", "Nick Newbie")

    # When the partner's staff member works in a session
    session = await start_session(api, world.staff, world.customer_id)
    assert await rename(api, world.staff, world.customer_id, "Contoso Managed") == "Contoso Managed"
    await add_member(api, world.staff, world.customer_id, "newbie@contoso.example")
    await api.data(END_SESSION, {"id": session["id"]}, token=world.staff.token)

    # Then the customer's administrator and MANAGE_SERVICE_PROVIDER holder see exactly those actions, by whom
    for viewer in (world.admin, world.overseer):
        activity = (await api.data(ACTIVITY, {"id": world.customer_id}, token=viewer.token))["node"][
            "serviceProviderActivity"
        ]
        assert [(e["node"]["action"], e["node"]["actor"]["email"]) for e in activity["edges"]] == [
            ("management_session.end", world.staff.email),
            ("membership_invitation.create", world.staff.email),
            ("organization.update", world.staff.email),
            ("management_session.start", world.staff.email),
        ]
        assert activity["totalCount"] == 4
        assert activity["edges"][2]["node"]["changes"] == {"name": {"from": "Contoso Own", "to": "Contoso Managed"}}

    # And a plain member may not look
    assert await api.error_code(ACTIVITY, {"id": world.customer_id}, token=world.member.token) == "FORBIDDEN"


AUDIT = """
query Audit($id: ID!) {
  auditEvents(organizationId: $id, first: 50) { edges { node { action targetId actor { email } changes } } }
}"""
SET_ROLE = """
mutation Role($id: ID!) { setMemberRole(input: {membershipId: $id, role: ADMINISTRATOR}) { errors { code } } }"""
ORGANIZATION_COUNT = "{ organizations { totalCount } }"


async def member_emails(api, world: World) -> list[str]:
    members = (await api.data(MEMBERS, {"id": world.customer_id}, token=world.admin.token))["node"]["members"]
    return sorted(e["node"]["user"]["email"] for e in members["edges"])


async def invited_in_session(api, world: World, email: str) -> dict:
    """Someone the staff member invites in its session, who accepts: the membership."""
    await register(api, email, "Bernie Burner")
    invitation = await invite_member(api, world.staff, world.customer_id, email)
    assert invitation["throughServicePartner"] is True
    return await accept_membership(api, email)


async def test_members_invited_in_a_session_end_when_the_customer_revokes_the_grant(api, linked):
    world = linked
    # Given MANAGE_MEMBERS granted, and in a session the staff member invites a throw-away account,
    # which accepts, and another address, which has not answered yet
    await grant(api, world.admin, world.customer_id, ["MANAGE_MEMBERS", "VIEW_BILLING"])
    await start_session(api, world.staff, world.customer_id)
    burner = await invited_in_session(api, world, "burner@mail.example")
    pending = await register(api, "pending@mail.example", "Pat Pending")
    await invite_member(api, world.staff, world.customer_id, pending.email)
    # and one the customer's administrator adopted by making it administrator
    adopted = await invited_in_session(api, world, "adopted@mail.example")
    assert (await api.data(SET_ROLE, {"id": adopted["id"]}, token=world.admin.token))["setMemberRole"]["errors"] == []
    assert "burner@mail.example" in await member_emails(api, world)

    # When the customer revokes the grant
    await api.data(REVOKE_DELEGATED_PERMISSIONS, {"id": world.customer_id}, token=world.admin.token)

    # Then the throw-away account is no member any more, and the unanswered invitation cannot be accepted
    assert await member_emails(api, world) == [
        "adopted@mail.example",
        "chris@contoso.example",
        "mia@contoso.example",
        "sam@contoso.example",
    ]
    link = await membership_link_token(pending.email)
    refused = (await api.data(ACCEPT_MEMBERSHIP, {"token": link}, token=pending.token))["acceptMembershipInvitation"]
    assert [e["code"] for e in refused["errors"]] == ["INVITATION_REVOKED"]
    assert (await api.data(ORGANIZATION_COUNT, token=pending.token))["organizations"]["totalCount"] == 0
    # And the customer's log tells what ended with the grant, in the revocation
    events = [
        e["node"]
        for e in (await api.data(AUDIT, {"id": world.customer_id}, token=world.admin.token))["auditEvents"]["edges"]
    ]
    ended = [(e["action"], e["actor"]["email"]) for e in events[:3]]
    assert sorted(ended) == [
        ("delegated_grant.revoke", world.admin.email),
        ("membership.end_with_grant", world.admin.email),
        ("membership_invitation.end_with_grant", world.admin.email),
    ]
    assert next(e for e in events if e["action"] == "membership.end_with_grant")["targetId"] == burner["id"]


@pytest.mark.parametrize("ending", ["grant_without_manage_members", "partner_removed"])
async def test_members_invited_in_a_session_end_when_the_partner_may_no_longer_manage_members(api, linked, ending):
    world = linked
    await grant(api, world.admin, world.customer_id, ["MANAGE_MEMBERS", "MANAGE_SETTINGS"])
    await start_session(api, world.staff, world.customer_id)
    await invited_in_session(api, world, "burner@mail.example")

    # A changed grant that still lets the partner manage members keeps them
    await grant(api, world.admin, world.customer_id, ["MANAGE_MEMBERS"])
    assert "burner@mail.example" in await member_emails(api, world)

    if ending == "grant_without_manage_members":
        await grant(api, world.admin, world.customer_id, ["MANAGE_SETTINGS"])
    else:
        await api.data(REMOVE_PARTNER, {"id": world.customer_id}, token=world.admin.token)

    assert "burner@mail.example" not in await member_emails(api, world)


async def test_members_invited_in_a_session_end_with_an_expired_grant_by_the_invitations_job(clock, api, linked):
    world = linked
    await grant(api, world.admin, world.customer_id, ["MANAGE_MEMBERS"], expires_at=START + timedelta(days=1))
    await start_session(api, world.staff, world.customer_id)
    await invited_in_session(api, world, "burner@mail.example")
    assert await run_job("invitations", api.settings) == "0 invitation(s) expired"

    clock.shift(timedelta(days=1))

    assert (
        await run_job("invitations", api.settings) == "0 invitation(s) expired, 1 membership(s) ended with their grant"
    )
    assert "burner@mail.example" not in await member_emails(api, world)


# --- my customers ----------------------------------------------------------------------------------


async def test_my_customers_lists_current_customers_only_with_filters_search_and_order(clock, api, world):
    partner, staff = world.partner, world.staff
    fabrikam = await make_partner(api, world.operator, "admin@fabrikam.example", "Fabrikam Services")
    # Given, in this order: Charlie (SELECTED, no license), Alpha (SELECTED, ACTIVE),
    # Bravo (by invitation, TRIAL); Contoso chose Northwind and left it again
    await new_customer(api, "c@charlie.example", "Charlie Cafe", partner.code)
    clock.shift(timedelta(hours=1))
    _, alpha = await new_customer(api, "a@alpha.example", "Alpha Consulting", partner.code)
    await set_license(api, world.operator, alpha, "ACTIVE")
    clock.shift(timedelta(hours=1))
    bravo = await invited_customer(api, world, partner, "b@bravo.example", "Bravo Bakery")
    await set_license(api, world.operator, bravo, "TRIAL")
    await chosen(api, world.admin, world.customer_id, partner.code)
    await api.data(REMOVE_PARTNER, {"id": world.customer_id}, token=world.admin.token)
    # And organizations that are no customers of Northwind: unlinked with a license, another partner's
    _, delta = await new_customer(api, "d@delta.example", "Delta Dental")
    await set_license(api, world.operator, delta, "ACTIVE")
    _, echo = await new_customer(api, "e@echo.example", "Echo Events", fabrikam.code)
    await set_license(api, world.operator, echo, "ACTIVE")

    # Then only the three current customers are listed, by name by default
    everything = await my_customers(api, staff)
    assert everything["totalCount"] == 3
    assert [e["node"]["customer"]["name"] for e in everything["edges"]] == [
        "Alpha Consulting",
        "Bravo Bakery",
        "Charlie Cafe",
    ]
    alpha_node = everything["edges"][0]["node"]
    assert alpha_node["license"] == {
        "status": "ACTIVE",
        "plan": "Business",
        "seats": 5,
        "monthlyRecurringRevenue": {"amount": "49.90", "currency": "EUR"},
    }
    assert alpha_node["customer"]["license"] == {"status": "ACTIVE"}
    assert everything["edges"][2]["node"]["license"] is None
    assert {e["node"]["partner"]["name"] for e in everything["edges"]} == {"Northwind Partners"}
    # Filters
    assert await customer_names(api, staff, licenseStatus="ACTIVE") == ["Alpha Consulting"]
    assert await customer_names(api, staff, licenseStatus="TRIAL") == ["Bravo Bakery"]
    assert await customer_names(api, staff, licenseStatus="CANCELED") == []
    assert await customer_names(api, staff, source="INVITATION") == ["Bravo Bakery"]
    assert await customer_names(api, staff, source="SELECTED") == ["Alpha Consulting", "Charlie Cafe"]
    assert await customer_names(api, staff, source="SELECTED", licenseStatus="ACTIVE") == ["Alpha Consulting"]
    # Search by a part of the name, whatever the case
    assert await customer_names(api, staff, search="BAKER") == ["Bravo Bakery"]
    assert await customer_names(api, staff, search="  cafe ") == ["Charlie Cafe"]
    assert await customer_names(api, staff, search="sULt") == ["Alpha Consulting"]
    assert await customer_names(api, staff, search="dental") == []
    assert await customer_names(api, staff, search="   ") == ["Alpha Consulting", "Bravo Bakery", "Charlie Cafe"]
    # Order
    assert await customer_names(api, staff, descending=True) == ["Charlie Cafe", "Bravo Bakery", "Alpha Consulting"]
    assert await customer_names(api, staff, orderBy="STARTED_AT") == [
        "Charlie Cafe",
        "Alpha Consulting",
        "Bravo Bakery",
    ]
    assert await customer_names(api, staff, orderBy="STARTED_AT", descending=True) == [
        "Bravo Bakery",
        "Alpha Consulting",
        "Charlie Cafe",
    ]
    # And the other partner sees its own customer only
    assert await customer_names(api, fabrikam.admin) == ["Echo Events"]


async def test_my_customers_shows_sorts_and_finds_a_renamed_customer_by_its_new_name(clock, api, world):
    # Given Alpha (selected) and Bravo (by invitation), listed as Alpha, Bravo
    alpha_admin, alpha = await new_customer(api, "a@alpha.example", "Alpha Consulting", world.partner.code)
    await invited_customer(api, world, world.partner, "b@bravo.example", "Bravo Bakery")
    assert await customer_names(api, world.staff) == ["Alpha Consulting", "Bravo Bakery"]

    # When Alpha renames itself (with a name whose case folds beyond ASCII)
    assert await rename(api, alpha_admin, alpha, "Zürich Straße AG") == "Zürich Straße AG"

    # Then the partner's list shows and sorts it by the new name, and search finds the new name only
    assert await customer_names(api, world.staff) == ["Bravo Bakery", "Zürich Straße AG"]
    assert await customer_names(api, world.staff, descending=True) == ["Zürich Straße AG", "Bravo Bakery"]
    assert await customer_names(api, world.staff, search="STRASSE") == ["Zürich Straße AG"]
    assert await customer_names(api, world.staff, search="zürich") == ["Zürich Straße AG"]
    assert await customer_names(api, world.staff, search="alpha") == []
    first = await my_customers(api, world.staff, first=1)
    after = await my_customers(api, world.staff, first=1, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["customer"]["name"] for e in first["edges"] + after["edges"]] == [
        "Bravo Bakery",
        "Zürich Straße AG",
    ]


async def test_my_customers_needs_administer_customers(api, linked):
    world = linked
    plain = await register(api, "pat@northwind.example", "Pat Plain")
    await add_member(api, world.partner.admin, world.partner.id, plain.email)
    affiliate = await make_partner(
        api, world.operator, "admin@affiliates.example", "Affiliates Only", programs=["AFFILIATE"]
    )

    assert await api.error_code(MY_CUSTOMERS, {"first": 10}, token=plain.token) == "FORBIDDEN"
    assert await api.error_code(MY_CUSTOMERS, {"first": 10}, token=world.admin.token) == "FORBIDDEN"
    assert await api.error_code(MY_CUSTOMERS, {"first": 10}) == "UNAUTHENTICATED"
    assert (await my_customers(api, affiliate.admin))["totalCount"] == 0
    assert await customer_names(api, world.staff) == ["Contoso Ltd"]


@pytest.mark.parametrize(
    ("order", "descending"), [("NAME", False), ("NAME", True), ("STARTED_AT", False), ("STARTED_AT", True)]
)
async def test_my_customers_pages_with_cursors(clock, api, world, order, descending):
    # Given six customers, two of them with the same name, started a minute apart
    names = ["Kilo Kft", "Alpha AG", "Echo eG", "Alpha AG", "Golf GmbH", "Bravo BV"]
    ids = []
    for i, name in enumerate(names):
        ids.append((await new_customer(api, f"admin{i}@customer{i}.example", name, world.partner.code))[1])
        clock.shift(timedelta(minutes=1))
    if order == "NAME":
        expected = [
            i
            for _, i in sorted(
                zip(names, ids, strict=True), reverse=descending, key=lambda pair: (pair[0], int(ids.index(pair[1])))
            )
        ]
    else:
        expected = list(reversed(ids)) if descending else ids

    # When the staff member walks through pages of four, then two
    seen, after, pages = [], None, 0
    for size in (4, 2, 2):
        page = await my_customers(api, world.staff, orderBy=order, descending=descending, first=size, after=after)
        seen += [e["node"]["customer"]["id"] for e in page["edges"]]
        assert page["totalCount"] == 6
        assert page["pageInfo"]["endCursor"] == (page["edges"][-1]["cursor"] if page["edges"] else None)
        after, pages = page["pageInfo"]["endCursor"], pages + 1
        if not page["pageInfo"]["hasNextPage"]:
            break

    # Then every customer came once, in order, over two pages
    assert seen == expected
    assert pages == 2


async def test_my_customers_statement_is_built_once_per_shape_and_answers_as_tortoise_does(
    clock, api, world, monkeypatch
):
    # Given customers of several licenses and sources, and a fresh cache of page statements
    for i, (name, status) in enumerate(
        [
            ("Alpha Coffee", "ACTIVE"),
            ("Bravo Cocoa", "ACTIVE"),
            ("Charlie Cola", "ACTIVE"),
            ("Echo Corn", "TRIAL"),
            ("Foxtrot Tea", "ACTIVE"),
            ("Golf Copper", "TRIAL"),
            ("Hotel Cobalt", "TRIAL"),
        ]
    ):
        _, organization = await new_customer(api, f"admin{i}@customer{i}.example", name, world.partner.code)
        await set_license(api, world.operator, organization, status)
    invited = await invited_customer(api, world, world.partner, "d@delta.example", "Delta Cones")
    await set_license(api, world.operator, invited, "ACTIVE")
    pages = ShapedValues()
    monkeypatch.setattr(customers, "CUSTOMER_PAGES", pages)

    async def walk(**filters) -> tuple[list[str], list[dict]]:
        """Every name over pages of two (the first page, then cursor-continued ones), and the pages."""
        names, answers, after = [], [], None
        while True:
            page = await my_customers(api, world.staff, descending=True, first=2, after=after, **filters)
            names += [edge["node"]["customer"]["name"] for edge in page["edges"]]
            answers.append(page)
            if not page["pageInfo"]["hasNextPage"]:
                return names, answers
            after = page["pageInfo"]["endCursor"]

    # When the staff member walks a filtered, searched, descending list
    active, active_pages = await walk(licenseStatus="ACTIVE", source="SELECTED", search="CO")

    # Then the right customers come, through two statements (a first page, a continued one)
    assert active == ["Charlie Cola", "Bravo Cocoa", "Alpha Coffee"]
    assert [page["totalCount"] for page in active_pages] == [3, 3]
    assert len(pages.compiled) == 2 and None not in pages.compiled.values()

    # And the same walk with other values reuses those statements, with its own values
    trial, _ = await walk(licenseStatus="TRIAL", source="SELECTED", search="c")
    assert trial == ["Hotel Cobalt", "Golf Copper", "Echo Corn"]
    assert await walk(licenseStatus="ACTIVE", source="SELECTED", search="_") == ([], [ANY])  # `_` is no wildcard
    assert len(pages.compiled) == 2

    # And the answers are those of the query tortoise builds for each request
    monkeypatch.setattr(customers, "CUSTOMER_PAGES", ShapedValues(max_shapes=0))
    assert await walk(licenseStatus="ACTIVE", source="SELECTED", search="CO") == (active, active_pages)
    assert (await walk(licenseStatus="TRIAL", source="SELECTED", search="c"))[0] == trial


async def test_my_customers_costs_the_same_queries_for_2_or_25_customers(clock, api, world):
    async def add_customers(start: int, end: int) -> None:
        for i in range(start, end):
            _, organization = await new_customer(
                api, f"admin{i}@customer{i}.example", f"Customer {i:02}", world.partner.code
            )
            await set_license(api, world.operator, organization, "ACTIVE" if i % 2 else "TRIAL", f"{i}.50")

    async def queries_for_my_customers() -> tuple[int, int]:
        await my_customers(api, world.staff)  # the session's last use is recorded once; not counted
        with api.count_queries() as counter:
            page = await my_customers(api, world.staff)
        assert all(e["node"]["license"] and e["node"]["customer"]["license"] for e in page["edges"])
        return counter.count, page["totalCount"]

    await add_customers(0, 2)
    small, small_total = await queries_for_my_customers()
    await add_customers(2, 25)
    large, large_total = await queries_for_my_customers()

    assert (small_total, large_total) == (2, 25)
    assert large == small


async def test_a_relationship_by_id_is_for_the_partners_staff_and_the_customer(api, linked):
    world = linked
    relationship_id = (await my_customers(api, world.staff))["edges"][0]["node"]["id"]
    fabrikam = await make_partner(api, world.operator, "admin@fabrikam.example", "Fabrikam Services")
    plain = await register(api, "pat@northwind.example", "Pat Plain")
    await add_member(api, world.partner.admin, world.partner.id, plain.email)

    for allowed in (world.staff, world.partner.admin, world.admin, world.member):
        node = (await api.data(RELATIONSHIP, {"id": relationship_id}, token=allowed.token))["node"]
        assert node["customer"]["name"] == "Contoso Ltd" and node["partner"]["name"] == "Northwind Partners"
    for denied in (fabrikam.admin, plain):
        assert await api.error_code(RELATIONSHIP, {"id": relationship_id}, token=denied.token) == "NOT_FOUND"
    assert await api.error_code(RELATIONSHIP, {"id": relationship_id}) == "NOT_FOUND"


# --- licenses -------------------------------------------------------------------------------------------


async def test_operators_with_manage_programs_set_licenses_as_money(api, world):
    reviewer = await register(api, "rita@vendor.example", "Rita Reviewer")
    await make_operator(api, reviewer, ["REVIEW_PARTNERS", "VIEW_ALL_REPORTS", "MANAGE_PAYOUTS"])
    variables = {
        "input": {
            "organizationId": world.customer_id,
            "status": "ACTIVE",
            "plan": "Business",
            "mrr": {"amount": "10.00", "currency": "EUR"},
        }
    }

    # Others may not
    for person in (reviewer, world.admin, world.partner.admin):
        assert await api.error_code(SET_LICENSE, variables, token=person.token) == "FORBIDDEN"
    assert await api.error_code(SET_LICENSE, variables) == "UNAUTHENTICATED"

    # Bad money is a typed error and writes nothing
    for amount, currency, field in (
        ("10.001", "EUR", "mrr"),
        ("10.5", "JPY", "mrr"),
        ("10.00", "EURO", "currency"),
        ("10.00", "", "currency"),
    ):
        refused = await set_license(api, world.operator, world.customer_id, "ACTIVE", amount, currency)
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [(field, "INVALID_VALUE")], (amount, currency)
        assert refused["license"] is None
    node = (await api.data(ORGANIZATION_LICENSE, {"id": world.customer_id}, token=world.admin.token))["node"]
    assert node["license"] is None

    # An operator with MANAGE_PROGRAMS sets it; the amount is an exact decimal string
    payload = await set_license(api, world.operator, world.customer_id, "ACTIVE", "19.9", "eur")
    assert payload["errors"] == []
    assert payload["license"]["monthlyRecurringRevenue"] == {"amount": "19.90", "currency": "EUR"}
    node = (await api.data(ORGANIZATION_LICENSE, {"id": world.customer_id}, token=world.admin.token))["node"]
    assert node["license"] == {
        "status": "ACTIVE",
        "plan": "Business",
        "seats": 5,
        "monthlyRecurringRevenue": {"amount": "19.90", "currency": "EUR"},
    }

    # And changing it replaces it, in a currency without decimals
    await set_license(api, world.operator, world.customer_id, "PAST_DUE", "1200", "JPY")
    node = (await api.data(ORGANIZATION_LICENSE, {"id": world.customer_id}, token=world.member.token))["node"]
    assert node["license"]["status"] == "PAST_DUE"
    assert node["license"]["monthlyRecurringRevenue"] == {"amount": "1200", "currency": "JPY"}


async def test_search_takes_wildcards_literally(api, linked):
    # Given customers whose names hold SQL wildcard characters
    await new_customer(api, "p@pure.example", "100% Pure", linked.partner.code)
    await new_customer(api, "s@snake.example", "Snake_Case Ltd", linked.partner.code)

    # Then % and _ match themselves only
    assert await customer_names(api, linked.staff, search="%") == ["100% Pure"]
    assert await customer_names(api, linked.staff, search="e_c") == ["Snake_Case Ltd"]
    assert await customer_names(api, linked.staff, search="o_t") == []


async def test_searching_customers_ignores_the_case_of_umlauts_too(api, linked):
    # Given a German customer
    await new_customer(api, "m@mueller.example", "Müller Metall", linked.partner.code)

    # When the partner's staff search in another case
    # Then it is found as with plain letters
    for query in ("müller", "MÜLLER", "üLL", "METALL"):
        assert await customer_names(api, linked.staff, search=query) == ["Müller Metall"], query
