"""Becoming a partner: the application and who may file it, its validation, the operators'
review and the mails it sends, the partner profile, the public directory and the dashboard."""

from __future__ import annotations

import re

import pytest

from tests.conftest import START, start_api, test_settings
from tests.documents import APPROVE_PARTNER_APPLICATION, REQUEST_PARTNER_STATUS, SET_SERVICE_PARTNER
from tests.support import (
    APPLICATION_FORM,
    add_member,
    create_organization,
    make_operator,
    make_partner,
    operator,
    register,
)

APPLICATIONS = """
query Applications($status: ApplicationStatus) {
  partnerApplications(status: $status, first: 20) {
    totalCount edges { node { id status legalName organization { name } } }
  }
}"""
REJECT = """
mutation Reject($input: RejectPartnerApplicationInput!) {
  rejectPartnerApplication(input: $input) { application { id status decisionNote } errors { field code } }
}"""
APPROVE_IN_FULL = """
mutation Approve($input: ApprovePartnerApplicationInput!) {
  approvePartnerApplication(input: $input) {
    application { id status decidedAt decisionNote approvedPrograms } errors { field code }
  }
}"""
ORGANIZATION_PARTNER = """
query Partner($id: ID!) {
  node(id: $id) { ... on Organization {
    partnerApplication { id status programs vatId decisionNote decidedAt approvedPrograms }
    partnerProfile { code payoutCurrency listedInDirectory approvedAt programs }
  } }
}"""
OUTBOX = "{ outboxMessages(first: 50) { totalCount edges { node { recipient subject } } } }"
UPDATE_PROFILE = """
mutation Profile($input: UpdatePartnerProfileInput!) {
  updatePartnerProfile(input: $input) { profile { code payoutCurrency listedInDirectory } errors { field code } }
}"""
DIRECTORY = """
query Directory($country: String, $program: Program) {
  partnerDirectory(country: $country, program: $program, first: 50) {
    totalCount edges { node { name code country website programs } }
  }
}"""
UPDATE_ORGANIZATION = """
mutation Update($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { errors { code } } }"""
DASHBOARD = """
query Dashboard($partnerId: ID) {
  partnerDashboard(partnerId: $partnerId) {
    customers openInvitations activeCustomers trialCustomers
    totalCommission { amount currency } paidCommission { amount currency } openCommission { amount currency }
  }
}"""
REMOVE_SERVICE_PARTNER = """
mutation Leave($id: ID!) { removeServicePartner(input: {organizationId: $id}) { errors { code } } }"""
SET_LICENSE = """
mutation License($input: SetLicenseInput!) { setLicense(input: $input) { license { status } errors { field code } } }"""
INVITE = """
mutation Invite($input: InviteCustomerInput!) {
  inviteCustomer(input: $input) { invitation { id status } errors { field code } }
}"""
REVOKE_INVITATION = """
mutation Revoke($id: ID!) { revokeInvitation(input: {invitationId: $id}) { errors { code } } }"""

CODE_PATTERN = re.compile(r"^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{8}$")


async def apply(api, person, **changes) -> dict:
    """The application form (valid as given in tests/support.py), with changes; the whole payload."""
    data = await api.data(REQUEST_PARTNER_STATUS, {"input": {**APPLICATION_FORM, **changes}}, token=person.token)
    return data["requestPartnerStatus"]


async def approve(api, reviewer, application_id, programs=("SERVICE_PARTNER", "AFFILIATE"), **extra) -> dict:
    data = await api.data(
        APPROVE_IN_FULL,
        {"input": {"applicationId": application_id, "programs": list(programs), **extra}},
        token=reviewer.token,
    )
    return data["approvePartnerApplication"]


async def reject(api, reviewer, application_id, note="Not a fit for now.") -> dict:
    data = await api.data(REJECT, {"input": {"applicationId": application_id, "note": note}}, token=reviewer.token)
    return data["rejectPartnerApplication"]


async def partner_state(api, person, organization_id) -> dict:
    return (await api.data(ORGANIZATION_PARTNER, {"id": organization_id}, token=person.token))["node"]


def pairs(errors: list[dict]) -> list[tuple[str | None, str]]:
    return [(error["field"], error["code"]) for error in errors]


@pytest.fixture
async def applicant(api, clock):
    """Northwind: an organization with its administrator, not a partner yet."""
    admin = await register(api, "avery@northwind.example", "Avery Admin")
    organization = await create_organization(api, admin, "Northwind Partners")
    return {"admin": admin, "id": organization["id"]}


@pytest.fixture
async def reviewer(api):
    return await operator(api)


# --- requestPartnerStatus: who may apply ---------------------------------------------------------------


async def test_an_administrator_applies_for_its_organization(api, applicant):
    payload = await apply(api, applicant["admin"])

    assert payload["errors"] == []
    assert payload["application"]["status"] == "PENDING"
    assert payload["application"]["programs"] == ["AFFILIATE", "SERVICE_PARTNER"]
    state = await partner_state(api, applicant["admin"], applicant["id"])
    assert state["partnerApplication"]["status"] == "PENDING"
    assert state["partnerProfile"] is None


async def test_a_member_holding_request_partner_status_applies(api, applicant):
    member = await register(api, "mo@northwind.example")
    await add_member(
        api, applicant["admin"], applicant["id"], member.email, organization_permissions=["REQUEST_PARTNER_STATUS"]
    )

    payload = await apply(api, member, organizationId=applicant["id"])

    assert payload["errors"] == []
    assert payload["application"]["status"] == "PENDING"


async def test_a_member_without_request_partner_status_is_forbidden(api, applicant):
    member = await register(api, "mo@northwind.example")
    await add_member(
        api,
        applicant["admin"],
        applicant["id"],
        member.email,
        organization_permissions=["MANAGE_SETTINGS", "MANAGE_MEMBERS"],
    )

    code = await api.error_code(REQUEST_PARTNER_STATUS, {"input": APPLICATION_FORM}, token=member.token)

    assert code == "FORBIDDEN"
    assert (await partner_state(api, applicant["admin"], applicant["id"]))["partnerApplication"] is None


async def test_a_user_without_organization_is_told_to_create_one(api, clock):
    person = await register(api, "solo@example.com")

    body = await api.post(REQUEST_PARTNER_STATUS, {"input": APPLICATION_FORM}, token=person.token)

    assert body["errors"][0]["extensions"]["code"] == "NO_ORGANIZATION"
    assert "create an organization" in body["errors"][0]["message"]


async def test_applying_needs_a_signed_in_user(api, clock):
    assert await api.error_code(REQUEST_PARTNER_STATUS, {"input": APPLICATION_FORM}) == "UNAUTHENTICATED"


async def test_another_organizations_id_looks_like_a_missing_one(api, applicant):
    outsider = await register(api, "gus@globex.example")
    await create_organization(api, outsider, "Globex Inc")

    code = await api.error_code(
        REQUEST_PARTNER_STATUS, {"input": {**APPLICATION_FORM, "organizationId": applicant["id"]}}, token=outsider.token
    )

    assert code == "NOT_FOUND"
    assert (await partner_state(api, applicant["admin"], applicant["id"]))["partnerApplication"] is None


# --- requestPartnerStatus: validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"website": " "}, [("website", "REQUIRED")]),
        ({"website": "not a web address"}, [("website", "INVALID_VALUE")]),
        ({"country": "XX"}, [("country", "INVALID_VALUE")]),
        ({"country": "DE", "vatId": None}, [("vatId", "REQUIRED")]),
        ({"country": "FR", "vatId": " "}, [("vatId", "REQUIRED")]),
        ({"country": "DE", "vatId": "DE123"}, [("vatId", "INVALID_VALUE")]),
        ({"country": "DE", "vatId": "DE136695977"}, [("vatId", "INVALID_VALUE")]),  # checksum
        ({"country": "CH", "vatId": "CHE-116.281.711 MWST"}, [("vatId", "INVALID_VALUE")]),  # checksum
        ({"country": "DE", "vatId": "ATU13585627"}, [("vatId", "INVALID_VALUE")]),  # Austria's, valid there
        ({"contactEmail": "avery@"}, [("contactEmail", "INVALID_EMAIL")]),
        ({"programs": []}, [("programs", "REQUIRED")]),
        ({"message": "x" * 4001}, [("message", "TOO_LONG")]),
        (
            {"legalName": " ", "contactPhone": "call me maybe"},
            [("legalName", "REQUIRED"), ("contactPhone", "INVALID_VALUE")],
        ),
    ],
    ids=[
        "no-website",
        "bad-website",
        "unknown-country",
        "eu-without-vat",
        "eu-blank-vat",
        "short-de-vat",
        "de-vat-checksum",
        "ch-vat-checksum",
        "other-member-state",
        "bad-email",
        "no-programs",
        "long-message",
        "name-and-phone",
    ],
)
async def test_each_bad_field_is_a_typed_error_and_nothing_is_written(api, applicant, reviewer, changes, expected):
    payload = await apply(api, applicant["admin"], **changes)

    assert payload["application"] is None
    assert pairs(payload["errors"]) == expected
    assert (await partner_state(api, applicant["admin"], applicant["id"]))["partnerApplication"] is None
    assert (await api.data(APPLICATIONS, token=reviewer.token))["partnerApplications"]["totalCount"] == 0


async def test_every_bad_field_is_reported_at_once(api, applicant):
    payload = await apply(
        api, applicant["admin"], website="nope", country="DE", vatId=None, contactEmail="no-at-sign", programs=[]
    )

    assert pairs(payload["errors"]) == [
        ("website", "INVALID_VALUE"),
        ("contactEmail", "INVALID_EMAIL"),
        ("programs", "REQUIRED"),
        ("vatId", "REQUIRED"),
    ]


@pytest.mark.parametrize(
    ("country", "vat_id", "stored"),
    [
        ("CH", "CHE-116.281.710 MWST", "CHE116281710MWST"),  # outside the EU, checked with its own rules
        ("DE", "136695976", "DE136695976"),  # the country prefix may be left out
        ("DE", "de 136 695 976", "DE136695976"),
        ("GR", "EL094259216", "EL094259216"),  # Greece's VAT prefix is EL
        ("GR", "094259216", "EL094259216"),
        ("US", None, None),  # no VAT id needed outside the EU
    ],
)
async def test_valid_vat_ids_are_stored_normalized(api, applicant, country, vat_id, stored):
    payload = await apply(api, applicant["admin"], country=country, vatId=vat_id)

    assert payload["errors"] == []
    assert (await partner_state(api, applicant["admin"], applicant["id"]))["partnerApplication"]["vatId"] == stored


async def test_a_message_of_exactly_4000_characters_is_accepted(api, applicant):
    payload = await apply(api, applicant["admin"], message="x" * 4000)

    assert payload["errors"] == []


async def test_one_open_application_per_organization(api, applicant, reviewer):
    first = await apply(api, applicant["admin"])

    second = await apply(api, applicant["admin"], legalName="Northwind Again GmbH")

    assert pairs(second["errors"]) == [(None, "APPLICATION_PENDING")]
    assert second["application"] is None
    listed = (await api.data(APPLICATIONS, token=reviewer.token))["partnerApplications"]
    assert [edge["node"]["id"] for edge in listed["edges"]] == [first["application"]["id"]]


async def test_a_partner_cannot_apply_again(api, applicant, reviewer):
    application = (await apply(api, applicant["admin"]))["application"]
    assert (await approve(api, reviewer, application["id"]))["errors"] == []

    again = await apply(api, applicant["admin"])

    assert pairs(again["errors"]) == [(None, "ALREADY_PARTNER")]


async def test_a_rejected_organization_may_apply_again(api, applicant, reviewer):
    application = (await apply(api, applicant["admin"]))["application"]
    assert (await reject(api, reviewer, application["id"]))["errors"] == []

    again = await apply(api, applicant["admin"])

    assert again["errors"] == []
    assert again["application"]["id"] != application["id"]
    state = await partner_state(api, applicant["admin"], applicant["id"])
    assert state["partnerApplication"]["id"] == again["application"]["id"]  # the newest one
    assert state["partnerApplication"]["status"] == "PENDING"


# --- review ----------------------------------------------------------------------------------------------


async def test_reviewers_list_applications_newest_first_and_by_status(api, applicant, reviewer):
    other = await register(api, "gus@globex.example")
    globex = await create_organization(api, other, "Globex Inc")
    first = (await apply(api, applicant["admin"]))["application"]
    second = (await apply(api, other, organizationId=globex["id"], legalName="Globex Inc"))["application"]
    await approve(api, reviewer, first["id"])

    everything = (await api.data(APPLICATIONS, token=reviewer.token))["partnerApplications"]
    pending = (await api.data(APPLICATIONS, {"status": "PENDING"}, token=reviewer.token))["partnerApplications"]
    approved = (await api.data(APPLICATIONS, {"status": "APPROVED"}, token=reviewer.token))["partnerApplications"]

    assert [e["node"]["id"] for e in everything["edges"]] == [second["id"], first["id"]]
    assert [(e["node"]["legalName"], e["node"]["organization"]["name"]) for e in pending["edges"]] == [
        ("Globex Inc", "Globex Inc")
    ]
    assert [e["node"]["id"] for e in approved["edges"]] == [first["id"]]
    assert (await api.data(APPLICATIONS, {"status": "REJECTED"}, token=reviewer.token))["partnerApplications"][
        "totalCount"
    ] == 0


async def test_only_reviewing_operators_see_applications(api, applicant, reviewer):
    await apply(api, applicant["admin"])
    review_only = await register(api, "rita@vendor.example")
    await make_operator(api, review_only, ["REVIEW_PARTNERS"])
    payouts_only = await register(api, "paula@vendor.example")
    await make_operator(api, payouts_only, ["MANAGE_PAYOUTS"])
    partner = await make_partner(api, reviewer, "admin@southwind.example", "Southwind Partners")

    assert (await api.data(APPLICATIONS, token=review_only.token))["partnerApplications"]["totalCount"] == 2

    assert await api.error_code(APPLICATIONS, token=payouts_only.token) == "FORBIDDEN"
    assert await api.error_code(APPLICATIONS, token=partner.admin.token) == "FORBIDDEN"
    assert await api.error_code(APPLICATIONS, token=applicant["admin"].token) == "FORBIDDEN"
    assert await api.error_code(APPLICATIONS) == "UNAUTHENTICATED"


async def test_only_reviewing_operators_decide(api, applicant):
    application = (await apply(api, applicant["admin"]))["application"]
    payouts_only = await register(api, "paula@vendor.example")
    await make_operator(api, payouts_only, ["MANAGE_PAYOUTS"])
    approve_it = {"input": {"applicationId": application["id"], "programs": ["AFFILIATE"]}}
    reject_it = {"input": {"applicationId": application["id"], "note": "No."}}

    assert await api.error_code(APPROVE_PARTNER_APPLICATION, approve_it, token=payouts_only.token) == "FORBIDDEN"
    assert await api.error_code(REJECT, reject_it, token=payouts_only.token) == "FORBIDDEN"
    assert await api.error_code(APPROVE_PARTNER_APPLICATION, approve_it, token=applicant["admin"].token) == "FORBIDDEN"
    assert await api.error_code(APPROVE_PARTNER_APPLICATION, approve_it) == "UNAUTHENTICATED"
    assert (await partner_state(api, applicant["admin"], applicant["id"]))["partnerApplication"]["status"] == "PENDING"


async def test_approval_creates_the_partner_profile(api, applicant, reviewer):
    application = (await apply(api, applicant["admin"]))["application"]

    decided = await approve(
        api, reviewer, application["id"], programs=["AFFILIATE", "RESELLER"], note="Welcome!", payoutCurrency="chf"
    )

    assert decided["errors"] == []
    assert decided["application"]["status"] == "APPROVED"
    assert decided["application"]["approvedPrograms"] == ["AFFILIATE", "RESELLER"]
    state = await partner_state(api, applicant["admin"], applicant["id"])
    profile = state["partnerProfile"]
    assert CODE_PATTERN.match(profile["code"]), profile["code"]
    assert profile["programs"] == ["AFFILIATE", "RESELLER"]  # the reviewer's choice, not the request
    assert profile["payoutCurrency"] == "CHF"
    assert profile["listedInDirectory"] is False
    assert profile["approvedAt"] == START.isoformat()
    assert state["partnerApplication"]["status"] == "APPROVED"
    assert state["partnerApplication"]["decisionNote"] == "Welcome!"
    assert state["partnerApplication"]["decidedAt"] == START.isoformat()


async def test_partner_codes_differ(api, reviewer, clock):
    first = await make_partner(api, reviewer)
    second = await make_partner(api, reviewer, "admin@southwind.example", "Southwind Partners")

    assert CODE_PATTERN.match(first.code) and CODE_PATTERN.match(second.code)
    assert first.code != second.code


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"programs": []}, [("programs", "REQUIRED")]),
        ({"payoutCurrency": "EURO"}, [("payoutCurrency", "INVALID_VALUE")]),
    ],
)
async def test_bad_approvals_are_typed_errors_and_decide_nothing(api, applicant, reviewer, changes, expected):
    application = (await apply(api, applicant["admin"]))["application"]

    decided = await approve(api, reviewer, application["id"], **changes)

    assert pairs(decided["errors"]) == expected
    state = await partner_state(api, applicant["admin"], applicant["id"])
    assert state["partnerApplication"]["status"] == "PENDING"
    assert state["partnerProfile"] is None


async def test_rejection_needs_a_note_and_is_shown_to_the_applicant(api, applicant, reviewer):
    application = (await apply(api, applicant["admin"]))["application"]

    without_note = await reject(api, reviewer, application["id"], note="  ")
    rejected = await reject(api, reviewer, application["id"], note="Please add references.")

    assert pairs(without_note["errors"]) == [("note", "REQUIRED")]
    assert rejected["errors"] == []
    assert rejected["application"]["status"] == "REJECTED"
    state = await partner_state(api, applicant["admin"], applicant["id"])
    assert state["partnerApplication"]["status"] == "REJECTED"
    assert state["partnerApplication"]["decisionNote"] == "Please add references."
    assert state["partnerApplication"]["approvedPrograms"] == []
    assert state["partnerProfile"] is None


@pytest.mark.parametrize(
    ("first", "then"), [("approve", "approve"), ("approve", "reject"), ("reject", "approve"), ("reject", "reject")]
)
async def test_an_application_is_decided_once(api, applicant, reviewer, first, then):
    application = (await apply(api, applicant["admin"]))["application"]
    decide = {"approve": approve, "reject": reject}
    assert (await decide[first](api, reviewer, application["id"]))["errors"] == []

    again = await decide[then](api, reviewer, application["id"])

    assert pairs(again["errors"]) == [(None, "APPLICATION_DECIDED")]
    expected = "APPROVED" if first == "approve" else "REJECTED"
    assert (await partner_state(api, applicant["admin"], applicant["id"]))["partnerApplication"]["status"] == expected


async def test_other_organizations_do_not_see_the_application(api, applicant):
    await apply(api, applicant["admin"])
    outsider = await register(api, "gus@globex.example")
    await create_organization(api, outsider, "Globex Inc")

    assert await api.error_code(ORGANIZATION_PARTNER, {"id": applicant["id"]}, token=outsider.token) == "NOT_FOUND"


@pytest.mark.parametrize(
    ("decision", "subject"),
    [
        ("approve", "Welcome to the partner program, Northwind Partners"),
        ("reject", "Your partner application for Northwind Partners"),
    ],
)
async def test_the_decision_is_mailed_to_the_applicants_administrators(api, applicant, reviewer, decision, subject):
    second_admin = await register(api, "blake@northwind.example")
    await add_member(api, applicant["admin"], applicant["id"], second_admin.email, role="ADMINISTRATOR")
    member = await register(api, "mo@northwind.example")
    await add_member(
        api, applicant["admin"], applicant["id"], member.email, organization_permissions=["REQUEST_PARTNER_STATUS"]
    )
    application = (await apply(api, member))["application"]

    await {"approve": approve, "reject": reject}[decision](api, reviewer, application["id"])

    messages = (await api.data(OUTBOX, token=reviewer.token))["outboxMessages"]["edges"]
    decisions = [m["node"] for m in messages if not m["node"]["subject"].startswith("An invitation to join")]
    assert sorted((m["recipient"], m["subject"]) for m in decisions) == [
        ("avery@northwind.example", subject),
        ("blake@northwind.example", subject),
    ]


async def test_nothing_is_mailed_for_a_refused_decision(api, applicant, reviewer):
    application = (await apply(api, applicant["admin"]))["application"]

    await reject(api, reviewer, application["id"], note="")

    assert (await api.data(OUTBOX, token=reviewer.token))["outboxMessages"]["totalCount"] == 0


# --- updatePartnerProfile ------------------------------------------------------------------------------


@pytest.fixture
async def northwind(api, reviewer, clock):
    """An approved partner (payout in EUR) with a portal manager and a customer administrator on its staff."""
    partner = await make_partner(api, reviewer)
    staff = {}
    for role, permissions in {"portal": ["MANAGE_PARTNER_PORTAL"], "customers": ["ADMINISTER_CUSTOMERS"]}.items():
        staff[role] = await register(api, f"{role}@northwind.example")
        await add_member(api, partner.admin, partner.id, staff[role].email, partner_permissions=permissions)
    return partner, staff


@pytest.mark.parametrize("who", ["admin", "portal"])
async def test_portal_managers_update_the_profile(api, northwind, who):
    partner, staff = northwind
    person = partner.admin if who == "admin" else staff["portal"]

    data = await api.data(
        UPDATE_PROFILE,
        {"input": {"partnerId": partner.id, "listedInDirectory": True, "payoutCurrency": " chf "}},
        token=person.token,
    )

    payload = data["updatePartnerProfile"]
    assert payload["errors"] == []
    assert (payload["profile"]["listedInDirectory"], payload["profile"]["payoutCurrency"]) == (True, "CHF")
    assert payload["profile"]["code"] == partner.code


async def test_omitted_profile_fields_stay(api, northwind):
    partner, _ = northwind
    await api.data(UPDATE_PROFILE, {"input": {"listedInDirectory": True}}, token=partner.admin.token)

    data = await api.data(UPDATE_PROFILE, {"input": {"payoutCurrency": "USD"}}, token=partner.admin.token)

    profile = data["updatePartnerProfile"]["profile"]
    assert (profile["listedInDirectory"], profile["payoutCurrency"]) == (True, "USD")


async def test_a_bad_payout_currency_is_refused_and_nothing_changes(api, northwind):
    partner, _ = northwind

    data = await api.data(
        UPDATE_PROFILE, {"input": {"listedInDirectory": True, "payoutCurrency": "EURO"}}, token=partner.admin.token
    )

    assert pairs(data["updatePartnerProfile"]["errors"]) == [("payoutCurrency", "INVALID_VALUE")]
    profile = (await partner_state(api, partner.admin, partner.id))["partnerProfile"]
    assert (profile["listedInDirectory"], profile["payoutCurrency"]) == (False, "EUR")


async def test_customer_administrators_may_not_update_the_profile(api, northwind):
    partner, staff = northwind

    code = await api.error_code(
        UPDATE_PROFILE, {"input": {"partnerId": partner.id, "listedInDirectory": True}}, token=staff["customers"].token
    )

    assert code == "FORBIDDEN"
    assert (await partner_state(api, partner.admin, partner.id))["partnerProfile"]["listedInDirectory"] is False


async def test_an_organization_that_is_no_partner_has_no_profile_to_update(api, applicant):
    body = await api.post(UPDATE_PROFILE, {"input": {"listedInDirectory": True}}, token=applicant["admin"].token)

    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "not a partner" in body["errors"][0]["message"]


# --- partnerDirectory -----------------------------------------------------------------------------------


async def _listed_partner(api, reviewer, email, name, country, programs, listed=True):
    partner = await make_partner(api, reviewer, email, name, programs=programs)
    await api.data(
        UPDATE_ORGANIZATION,
        {"input": {"organizationId": partner.id, "country": country, "website": f"{name.split()[0].lower()}.example"}},
        token=partner.admin.token,
    )
    if listed:
        await api.data(UPDATE_PROFILE, {"input": {"listedInDirectory": True}}, token=partner.admin.token)
    return partner


async def test_the_directory_is_public_and_lists_only_partners_that_opted_in(api, reviewer, clock):
    north = await _listed_partner(
        api, reviewer, "a@north.example", "Northwind Partners", "DE", ["SERVICE_PARTNER", "AFFILIATE"]
    )
    await _listed_partner(api, reviewer, "a@south.example", "Southwind Resellers", "AT", ["RESELLER"])
    await _listed_partner(api, reviewer, "a@east.example", "Eastwind Hidden", "DE", ["SERVICE_PARTNER"], listed=False)
    unapproved = await register(api, "a@west.example")
    await create_organization(api, unapproved, "Westwind Applicant")
    await apply(api, unapproved)

    directory = (await api.data(DIRECTORY))["partnerDirectory"]

    assert directory["totalCount"] == 2
    assert {edge["node"]["name"] for edge in directory["edges"]} == {"Northwind Partners", "Southwind Resellers"}
    northwind = next(e["node"] for e in directory["edges"] if e["node"]["name"] == "Northwind Partners")
    assert northwind == {
        "name": "Northwind Partners",
        "code": north.code,
        "country": "DE",
        "website": "https://northwind.example",
        "programs": ["AFFILIATE", "SERVICE_PARTNER"],
    }


@pytest.mark.parametrize(
    ("country", "program", "expected"),
    [
        ("DE", None, ["Northwind Partners", "Northeast Affiliates"]),
        ("de", None, ["Northwind Partners", "Northeast Affiliates"]),
        ("AT", None, ["Southwind Resellers"]),
        (None, "SERVICE_PARTNER", ["Northwind Partners"]),
        (None, "AFFILIATE", ["Northwind Partners", "Northeast Affiliates"]),
        ("DE", "RESELLER", []),
        ("FR", None, []),
    ],
)
async def test_the_directory_filters_by_country_and_program(api, reviewer, clock, country, program, expected):
    await _listed_partner(
        api, reviewer, "a@north.example", "Northwind Partners", "DE", ["SERVICE_PARTNER", "AFFILIATE"]
    )
    await _listed_partner(api, reviewer, "a@south.example", "Southwind Resellers", "AT", ["RESELLER"])
    await _listed_partner(api, reviewer, "a@northeast.example", "Northeast Affiliates", "DE", ["AFFILIATE"])

    directory = (await api.data(DIRECTORY, {"country": country, "program": program}))["partnerDirectory"]

    assert sorted(edge["node"]["name"] for edge in directory["edges"]) == sorted(expected)
    assert directory["totalCount"] == len(expected)


# --- partnerDashboard -------------------------------------------------------------------------------------


async def _customer(api, partner, email, name) -> dict:
    """A customer organization that chose the partner with its code."""
    admin = await register(api, email)
    organization = await create_organization(api, admin, name)
    chosen = await api.data(SET_SERVICE_PARTNER, {"id": organization["id"], "code": partner.code}, token=admin.token)
    assert chosen["setServicePartner"]["errors"] == []
    return {"admin": admin, "id": organization["id"]}


async def _license(api, reviewer, organization_id, status) -> None:
    data = await api.data(
        SET_LICENSE,
        {
            "input": {
                "organizationId": organization_id,
                "status": status,
                "plan": "Business",
                "seats": 5,
                "mrr": {"amount": "50.00", "currency": "EUR"},
            }
        },
        token=reviewer.token,
    )
    assert data["setLicense"]["errors"] == []


async def _invite(api, partner, email) -> str:
    data = await api.data(
        INVITE, {"input": {"email": email, "organizationName": email.split("@")[1]}}, token=partner.admin.token
    )
    assert data["inviteCustomer"]["errors"] == []
    return data["inviteCustomer"]["invitation"]["id"]


@pytest.fixture
async def short_invitations_api(database_url):
    """Invitations valid for one day (sessions stay valid for fourteen)."""
    async for running in start_api(test_settings(database_url, invitation_ttl_days=1)):
        yield running


async def test_the_dashboard_counts_customers_invitations_and_licenses(short_invitations_api, clock):
    api = short_invitations_api
    reviewer = await operator(api)
    partner = await make_partner(api, reviewer)
    other = await make_partner(api, reviewer, "admin@southwind.example", "Southwind Partners")
    active = await _customer(api, partner, "a@active.example", "Active Co")
    trial = await _customer(api, partner, "a@trial.example", "Trial Co")
    past_due = await _customer(api, partner, "a@pastdue.example", "Past Due Co")
    await _customer(api, partner, "a@unlicensed.example", "Unlicensed Co")
    former = await _customer(api, partner, "a@former.example", "Former Co")
    elsewhere = await _customer(api, other, "a@elsewhere.example", "Elsewhere Co")
    for customer, status in (
        (active, "ACTIVE"),
        (trial, "TRIAL"),
        (past_due, "PAST_DUE"),
        (former, "ACTIVE"),
        (elsewhere, "ACTIVE"),
    ):
        await _license(api, reviewer, customer["id"], status)
    await api.data(REMOVE_SERVICE_PARTNER, {"id": former["id"]}, token=former["admin"].token)
    await _invite(api, partner, "expired@prospect.example")
    clock.shift(60 * 60 * 25)  # the first invitation has expired
    await _invite(api, partner, "open@prospect.example")
    revoked = await _invite(api, partner, "revoked@prospect.example")
    await api.data(REVOKE_INVITATION, {"id": revoked}, token=partner.admin.token)
    await _invite(api, other, "theirs@prospect.example")

    dashboard = (await api.data(DASHBOARD, token=partner.admin.token))["partnerDashboard"]

    assert dashboard == {
        "customers": 4,
        "openInvitations": 1,
        "activeCustomers": 1,
        "trialCustomers": 1,
        "totalCommission": {"amount": "0.00", "currency": "EUR"},
        "paidCommission": {"amount": "0.00", "currency": "EUR"},
        "openCommission": {"amount": "0.00", "currency": "EUR"},
    }


async def test_the_dashboard_waits_for_the_approval(api, applicant, reviewer):
    # given: an administrator (who holds every partner permission) of an organization that applied
    application = (await apply(api, applicant["admin"]))["application"]
    response = await api.post(DASHBOARD, token=applicant["admin"].token)

    # then: no figures before the approval
    assert response["data"] is None
    assert response["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "request partner status" in response["errors"][0]["message"]

    # when
    await approve(api, reviewer, application["id"], payoutCurrency="CHF")

    # then
    dashboard = (await api.data(DASHBOARD, token=applicant["admin"].token))["partnerDashboard"]
    assert (dashboard["customers"], dashboard["totalCommission"]) == (0, {"amount": "0.00", "currency": "CHF"})


async def test_the_dashboard_is_in_the_payout_currency(api, northwind):
    partner, staff = northwind
    await api.data(UPDATE_PROFILE, {"input": {"payoutCurrency": "JPY"}}, token=partner.admin.token)

    dashboard = (await api.data(DASHBOARD, {"partnerId": partner.id}, token=staff["portal"].token))["partnerDashboard"]

    assert dashboard["totalCommission"] == {"amount": "0", "currency": "JPY"}
    assert (dashboard["customers"], dashboard["openInvitations"]) == (0, 0)


async def test_the_dashboard_costs_the_same_queries_however_many_customers(api, northwind, reviewer):
    partner, _ = northwind

    async def queries_for_dashboard() -> tuple[int, dict]:
        with api.count_queries() as counter:
            figures = (await api.data(DASHBOARD, token=partner.admin.token))["partnerDashboard"]
        return counter.count, figures

    customer = await _customer(api, partner, "c0@customers.example", "Customer 0")
    await _license(api, reviewer, customer["id"], "ACTIVE")
    await _invite(api, partner, "p0@prospects.example")
    small, figures = await queries_for_dashboard()
    assert (figures["customers"], figures["openInvitations"], figures["activeCustomers"]) == (1, 1, 1)

    for i in range(1, 8):
        customer = await _customer(api, partner, f"c{i}@customers.example", f"Customer {i}")
        await _license(api, reviewer, customer["id"], "TRIAL" if i % 2 else "ACTIVE")
        await _invite(api, partner, f"p{i}@prospects.example")
    large, figures = await queries_for_dashboard()

    assert (
        figures["customers"],
        figures["openInvitations"],
        figures["activeCustomers"],
        figures["trialCustomers"],
    ) == (8, 8, 4, 4)
    assert large == small
    # the session (with the memberships), the figures with the payout currency (one statement)
    assert small == 2


@pytest.mark.parametrize("country", ["The revoked API key.", "XX", "D"])
async def test_the_directory_refuses_a_country_that_is_no_iso_code(api, country):
    # Found by the fuzzer (tests/test_fuzz.py): a country longer than the column was an internal error.
    assert await api.error_code(DIRECTORY, {"country": country}) == "BAD_USER_INPUT"
