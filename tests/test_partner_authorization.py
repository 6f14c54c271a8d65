"""The authorization matrix of the partner surface: every role × every partner operation.

The world (`world`, fresh for every test): partner Northwind with a member per partner
permission and a member without any, its administrator, a customer that chose it
(`setServicePartner`), an open invitation and a management session of the
ADMINISTER_CUSTOMERS member; a second partner (Southwind); a user without organization; an
operator with every operator permission and no organization. It is built once per module
through the API and each test starts from a copy of its rows (`snapshot`).

Operations that take a `partnerId` appear twice: without it (the caller acts for its own,
first organization) and naming Northwind's id (`…(partnerId)`), so that both "not a partner"
(FORBIDDEN) and "not your partner" (NOT_FOUND) are covered.

A cell is "ALLOWED" when the response has no GraphQL error and, for mutations, the payload
has no FORBIDDEN error (nor any other error but the TOLERATED_ERRORS of the operation);
otherwise it names the `extensions.code` of the GraphQL error.

`test_every_root_field_is_in_the_matrix_or_known_to_be_outside_the_partner_surface` fails
for a new root field until it is added here: to the matrix when it is partner-side.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import time_machine
from tortoise import Tortoise, connections

from models.db import open_database
from schema import build_schema
from settings import Settings
from tests.conftest import POSTGRES_URL, START, Api, start_api, test_settings
from tests.support import Partner, Person, add_member, create_organization, make_partner, operator, register

# --- queries and mutations ------------------------------------------------------------------------------

PROGRAM_OVERVIEW = "query Overview($partnerId: ID) { programOverview(partnerId: $partnerId) { program } }"
AFFILIATE_LINKS = "query Links($partnerId: ID) { affiliateLinks(partnerId: $partnerId) { totalCount } }"
PARTNER_DASHBOARD = """
query Dashboard($partnerId: ID) { partnerDashboard(partnerId: $partnerId) { customers openInvitations } }"""
MY_CUSTOMERS = """
query Customers($partnerId: ID) { myCustomers(partnerId: $partnerId) { totalCount edges { node { id } } } }"""
INVITATIONS = """
query Invitations($partnerId: ID) { invitations(partnerId: $partnerId) { totalCount edges { node { id } } } }"""
COMMISSIONS = """
query Commissions($partnerId: ID) {
  commissions(partnerId: $partnerId) { lines { totalCount } totals { earned { amount currency } } }
}"""
INVITE_CUSTOMER = """
mutation Invite($input: InviteCustomerInput!) {
  inviteCustomer(input: $input) { invitation { id status } errors { field code } }
}"""
RESEND_INVITATION = """
mutation Resend($id: ID!) {
  resendInvitation(input: {invitationId: $id}) { invitation { id status } errors { field code } }
}"""
REVOKE_INVITATION = """
mutation Revoke($id: ID!) {
  revokeInvitation(input: {invitationId: $id}) { invitation { id status } errors { field code } }
}"""
START_SESSION = """
mutation Start($id: ID!) {
  startManagementSession(input: {customerId: $id}) { session { id isOpen } errors { field code } }
}"""
END_SESSION = """
mutation End($id: ID!) {
  endManagementSession(input: {sessionId: $id}) { session { id isOpen } errors { field code } }
}"""
UPDATE_PROFILE = """
mutation Profile($input: UpdatePartnerProfileInput!) {
  updatePartnerProfile(input: $input) { profile { listedInDirectory } errors { field code } }
}"""
SET_PERMISSIONS = """
mutation Permissions($input: SetMemberPermissionsInput!) {
  setMemberPermissions(input: $input) { membership { id partnerPermissions } errors { field code } }
}"""
PAYOUTS = """
query Payouts($partnerId: ID) { payouts(partnerId: $partnerId) { edges { node { id status } } } }"""
PAYOUT_SETTINGS = """
query PayoutSettings($partnerId: ID) { payoutSettings(partnerId: $partnerId) { method automatic } }"""
PAYOUT_BALANCE = """
query Balance($partnerId: ID) { payoutBalance(partnerId: $partnerId) { approved { amount currency } canRequest } }"""
SET_PAYOUT_SETTINGS = """
mutation PayoutSettings($input: SetPayoutSettingsInput!) {
  setPayoutSettings(input: $input) { payoutSettings { method paypalEmail } errors { field code } }
}"""
REQUEST_PAYOUT = """
mutation RequestPayout($input: RequestPayoutInput!) {
  requestPayout(input: $input) { payout { id status } errors { field code } }
}"""
SET_SERVICE_PARTNER = """
mutation Choose($input: SetServicePartnerInput!) {
  setServicePartner(input: $input) { relationship { id } errors { field code } }
}"""

# --- roles ------------------------------------------------------------------------------------------------

ANONYMOUS = "anonymous"
NO_ORGANIZATION = "no_organization"
NO_PERMISSION = "no_permission"
ADMINISTER_CUSTOMERS = "ADMINISTER_CUSTOMERS"
CREATE_CUSTOMER_ORGANIZATIONS = "CREATE_CUSTOMER_ORGANIZATIONS"
MANAGE_PARTNER_PORTAL = "MANAGE_PARTNER_PORTAL"
PARTNER_ADMIN = "partner_admin"
OTHER_PARTNER_ADMIN = "other_partner_admin"
CUSTOMER_ADMIN = "customer_admin"
OPERATOR = "operator"
ROLES = [
    ANONYMOUS, NO_ORGANIZATION, NO_PERMISSION, ADMINISTER_CUSTOMERS, CREATE_CUSTOMER_ORGANIZATIONS,
    MANAGE_PARTNER_PORTAL, PARTNER_ADMIN, OTHER_PARTNER_ADMIN, CUSTOMER_ADMIN, OPERATOR,
]
# Roles that may open management sessions: each ends its own one; the others try the
# ADMINISTER_CUSTOMERS member's session (sessions are personal: NOT_FOUND).
SESSION_OPENERS = {ADMINISTER_CUSTOMERS, CREATE_CUSTOMER_ORGANIZATIONS, MANAGE_PARTNER_PORTAL, PARTNER_ADMIN}

ALLOWED = "ALLOWED"
A, F, N, U, O = ALLOWED, "FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED", "NO_ORGANIZATION"

# --- the matrix: operation → {role: expected} ------------------------------------------------------------

# Column order: anonymous, no organization, no permission, ADMINISTER_CUSTOMERS,
# CREATE_CUSTOMER_ORGANIZATIONS, MANAGE_PARTNER_PORTAL, partner administrator,
# other partner's administrator, customer administrator, operator.
_ROWS: dict[str, tuple[str, ...]] = {
    #                                  anon no-org no-perm AC CCO MPP admin other customer operator
    "partnerDashboard":                 (U, O, F, F, F, A, A, A, F, O),
    "partnerDashboard(partnerId)":      (U, N, F, F, F, A, A, N, N, N),
    "programOverview":                  (U, O, F, F, F, A, A, A, F, O),
    "programOverview(partnerId)":       (U, N, F, F, F, A, A, N, N, N),
    "affiliateLinks":                   (U, O, F, F, F, A, A, A, F, O),
    "affiliateLinks(partnerId)":        (U, N, F, F, F, A, A, N, N, N),
    "myCustomers":                      (U, O, F, A, A, A, A, A, F, O),
    "myCustomers(partnerId)":           (U, N, F, A, A, A, A, N, N, N),
    # Operators with MANAGE_PAYOUTS read any partner's ledger.
    "commissions":                      (U, O, F, F, F, A, A, A, F, O),
    "commissions(partnerId)":           (U, N, F, F, F, A, A, N, N, A),
    "invitations":                      (U, O, F, F, A, A, A, A, F, O),
    "invitations(partnerId)":           (U, N, F, F, A, A, A, N, N, N),
    "inviteCustomer":                   (U, O, F, F, A, A, A, A, F, O),
    "inviteCustomer(partnerId)":        (U, N, F, F, A, A, A, N, N, N),
    # Northwind's open invitation; Northwind's customer; a session: the caller's own where it may
    # open one, else the ADMINISTER_CUSTOMERS member's (sessions are personal: NOT_FOUND to others).
    "resendInvitation":                 (U, N, F, F, A, A, A, N, N, N),
    "revokeInvitation":                 (U, N, F, F, A, A, A, N, N, N),
    "startManagementSession":           (U, N, F, A, A, A, A, N, N, N),
    "endManagementSession":             (U, N, N, A, A, A, A, N, N, N),
    "updatePartnerProfile":             (U, O, F, F, F, A, A, A, F, O),
    "updatePartnerProfile(partnerId)":  (U, N, F, F, F, A, A, N, N, N),
    # Giving a member of Northwind a partner permission; operators see every membership
    # but manage none (a known object they may not change: FORBIDDEN).
    "setMemberPermissions":             (U, N, F, F, F, A, A, N, N, F),
    # Payouts: the partner's portal managers; operators with MANAGE_PAYOUTS read (never change) any
    # partner's, and list every partner's payouts when they name none.
    "payouts":                          (U, O, F, F, F, A, A, A, F, A),
    "payouts(partnerId)":               (U, N, F, F, F, A, A, N, N, A),
    "payoutSettings":                   (U, O, F, F, F, A, A, A, F, O),
    "payoutSettings(partnerId)":        (U, N, F, F, F, A, A, N, N, A),
    "payoutBalance":                    (U, O, F, F, F, A, A, A, F, O),
    "payoutBalance(partnerId)":         (U, N, F, F, F, A, A, N, N, A),
    "setPayoutSettings":                (U, O, F, F, F, A, A, A, F, O),
    "setPayoutSettings(partnerId)":     (U, N, F, F, F, A, A, N, N, N),
    "requestPayout":                    (U, O, F, F, F, A, A, A, F, O),
    "requestPayout(partnerId)":         (U, N, F, F, F, A, A, N, N, N),
}
MATRIX: dict[str, dict[str, str]] = {operation: dict(zip(ROLES, row, strict=True)) for operation, row in _ROWS.items()}

# The partner surface: every root field whose rows the matrix must have.
PARTNER_OPERATIONS = {
    "partnerDashboard", "programOverview", "affiliateLinks", "myCustomers", "commissions", "invitations", "inviteCustomer", "resendInvitation",
    "revokeInvitation", "startManagementSession", "endManagementSession", "updatePartnerProfile",
    "setMemberPermissions", "payouts", "payoutSettings", "payoutBalance", "setPayoutSettings", "requestPayout",
}
# Root fields known not to be partner-side (tested in their own modules).
NON_PARTNER_OPERATIONS = {
    # queries
    "node", "nodes", "viewer", "viewerApiKey", "apiKeys", "viewerOrganization", "organizations",
    "partnerApplications", "partnerDirectory", "auditEvents", "outboxMessages", "products", "exchangeRates",
    "commissionRules",
    # mutations: identity, API keys, organizations and members (addMember's partner permissions follow the
    # same rule as setMemberPermissions: tests/test_organizations.py), applications and their review,
    # the customer side of the relationship, licenses
    "register", "login", "logout", "logoutEverywhere", "createApiKey", "revokeApiKey", "createOrganization",
    "updateOrganization", "addMember", "setMemberRole", "removeMember", "leaveOrganization",
    "requestPartnerStatus", "approvePartnerApplication", "rejectPartnerApplication", "acceptInvitation",
    "setServicePartner", "removeServicePartner", "setDelegatedPermissions", "revokeDelegatedPermissions",
    "setLicense",
    # the vendor's catalog, exchange rates and commission rules (operators), billing events (integrators)
    "createProduct", "createPlan", "setExchangeRate", "createCommissionRule", "deactivateCommissionRule",
    "recordPayment", "recordRefund", "recordLicenseChange",
    # deciding, paying and exporting payouts (operators with MANAGE_PAYOUTS); Stripe customer links
    "approvePayout", "rejectPayout", "markPayoutPaid", "exportPayouts", "linkStripeCustomer",
    # affiliate links (tests/test_affiliates.py covers who may call them; affiliateLinks is in the matrix);
    # attributeSignup is for API keys with billing:write
    "affiliateReport", "createAffiliateLink", "updateAffiliateLink", "attributeSignup",
    # expert discount codes (tests/test_codes.py): expertCode is partner-side but needs the EXPERT program,
    # which this world's partners are not in (nobody would be ALLOWED); the checkout's look-up and
    # redemption are for API keys with billing:write
    "expertCode", "discountCode", "redeemDiscountCode",
    # reseller coupons (tests/test_coupons.py): resellerPriceTable, couponOrders, coupons and createCoupons are
    # partner-side but need the RESELLER program, which this world's partners are not in (nobody would be
    # ALLOWED); redeemCoupon is the customer's, setResellerDiscount the operators'
    "resellerPriceTable", "couponOrders", "coupons", "createCoupons", "redeemCoupon", "setResellerDiscount",
}

# Cells where the application disagrees with the design: (operation, role) → reason.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


# --- the world ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    people: dict[str, Person | None]
    partner: Partner
    other_partner: Partner
    customer_id: str
    invitation_id: str
    session_id: str  # the ADMINISTER_CUSTOMERS member's open management session
    member_membership_id: str  # the member without permission


async def build_world(api: Api) -> World:
    """Everything through the API, at the frozen START."""
    reviewer = await operator(api)
    partner = await make_partner(api, reviewer)
    people: dict[str, Person | None] = {ANONYMOUS: None, PARTNER_ADMIN: partner.admin, OPERATOR: reviewer}
    memberships = {}
    for role, permissions in {NO_PERMISSION: [], ADMINISTER_CUSTOMERS: [ADMINISTER_CUSTOMERS],
                              CREATE_CUSTOMER_ORGANIZATIONS: [CREATE_CUSTOMER_ORGANIZATIONS],
                              MANAGE_PARTNER_PORTAL: [MANAGE_PARTNER_PORTAL]}.items():
        people[role] = await register(api, f"{role.lower()}@northwind.example")
        memberships[role] = (await add_member(api, partner.admin, partner.id, people[role].email,
                                              partner_permissions=permissions))["id"]
    other_partner = await make_partner(api, reviewer, "admin@southwind.example", "Southwind Partners")
    people[OTHER_PARTNER_ADMIN] = other_partner.admin
    people[NO_ORGANIZATION] = await register(api, "nora@nowhere.example")

    customer_admin = people[CUSTOMER_ADMIN] = await register(api, "chris@contoso.example")
    customer = await create_organization(api, customer_admin, "Contoso Ltd")
    chosen = await api.data(SET_SERVICE_PARTNER, {"input": {"organizationId": customer["id"],
                                                            "partnerCode": partner.code}}, token=customer_admin.token)
    assert chosen["setServicePartner"]["errors"] == []

    invited = await api.data(INVITE_CUSTOMER, {"input": {"email": "erin@fabrikam.example",
                                                         "organizationName": "Fabrikam"}}, token=partner.admin.token)
    assert invited["inviteCustomer"]["errors"] == []
    session = await _start_session(api, people[ADMINISTER_CUSTOMERS], customer["id"])
    return World(people, partner, other_partner, customer["id"], invited["inviteCustomer"]["invitation"]["id"],
                 session, memberships[NO_PERMISSION])


@dataclass(frozen=True)
class Snapshot:
    """The world built once per module; every test starts from a fresh copy of its rows (150
    worlds built through the API would take a minute on SQLite and minutes on PostgreSQL)."""

    world: World
    sqlite_file: Path | None  # on SQLite, the file to copy; on PostgreSQL the rows wait in WORLD_SCHEMA


WORLD_SCHEMA = "partner_authorization_world"


def _models_in_dependency_order() -> list[Any]:
    """Every model, each after the ones its foreign keys point to."""
    ordered: list[Any] = []

    def visit(model: Any) -> None:
        if model in ordered:
            return
        for name in sorted(model._meta.fk_fields | model._meta.o2o_fields):
            related = model._meta.fields_map[name].related_model
            if related is not model:
                visit(related)
        ordered.append(model)

    for app in Tortoise.apps.values():
        for model in app.values():
            visit(model)
    return ordered


async def _save_postgres_world() -> None:
    tables = [model._meta.db_table for model in _models_in_dependency_order()]
    await connections.get("default").execute_script(
        f"DROP SCHEMA IF EXISTS {WORLD_SCHEMA} CASCADE; CREATE SCHEMA {WORLD_SCHEMA};"
        + "".join(f'CREATE TABLE {WORLD_SCHEMA}."{table}" AS TABLE "{table}";' for table in tables)
    )


async def _restore_postgres_world() -> None:
    """Into the tables the `api` fixture has just truncated; sequences continue after the copied ids."""
    statements = []
    for model in _models_in_dependency_order():
        table = model._meta.db_table
        statements.append(f'INSERT INTO "{table}" SELECT * FROM {WORLD_SCHEMA}."{table}";')
        pk = model._meta.pk
        if pk.generated:
            column = pk.source_field or pk.model_field_name
            statements.append(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "
                              f'COALESCE((SELECT MAX("{column}") FROM "{table}"), 0) + 1, false);')
    await connections.get("default").execute_script("".join(statements))


@pytest.fixture(scope="module")
async def snapshot(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Snapshot]:
    if POSTGRES_URL:
        async for api in start_api(test_settings(POSTGRES_URL)):
            with time_machine.travel(START, tick=False):
                built = await build_world(api)
            await _save_postgres_world()
        yield Snapshot(built, None)
        async with open_database(POSTGRES_URL):
            await connections.get("default").execute_script(f"DROP SCHEMA IF EXISTS {WORLD_SCHEMA} CASCADE")
        return
    path = tmp_path_factory.mktemp("partner_world") / "world.sqlite3"
    shutil.copyfile(template_database, path)
    async for api in start_api(test_settings(f"sqlite://{path}")):
        with time_machine.travel(START, tick=False):
            built = await build_world(api)
    yield Snapshot(built, path)


@pytest.fixture
def database_url(template_database: str, snapshot: Snapshot, tmp_path: Path) -> str:
    """Overrides the conftest's: on SQLite, a copy of the world's file."""
    if snapshot.sqlite_file is None:
        return POSTGRES_URL
    path = tmp_path / "portal.sqlite3"
    for suffix in ("", "-wal", "-shm"):  # WAL is checkpointed on close; copy leftovers all the same
        if Path(f"{snapshot.sqlite_file}{suffix}").exists():
            shutil.copyfile(f"{snapshot.sqlite_file}{suffix}", f"{path}{suffix}")
    return f"sqlite://{path}"


@pytest.fixture
async def world(api: Api, clock: Any, snapshot: Snapshot) -> World:
    """The world, fresh for each test (`api` has opened the copy, or truncated PostgreSQL)."""
    if snapshot.sqlite_file is None:
        await _restore_postgres_world()
    return snapshot.world


async def _start_session(api: Api, person: Person, customer_id: str) -> str:
    started = await api.data(START_SESSION, {"id": customer_id}, token=person.token)
    assert started["startManagementSession"]["errors"] == []
    return started["startManagementSession"]["session"]["id"]


# --- how each operation is called ---------------------------------------------------------------------------

Variables = Callable[[Api, World, str], Awaitable[dict[str, Any]]]


def _partner(named: bool) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"partnerId": world.partner.id} if named else {}


def _query(named: bool) -> Variables:
    async def variables(api: Api, world: World, role: str) -> dict[str, Any]:
        return _partner(named)(world)

    return variables


def _invite(named: bool) -> Variables:
    async def variables(api: Api, world: World, role: str) -> dict[str, Any]:
        return {"input": {**_partner(named)(world), "email": "dana@tailspin.example", "organizationName": "Tailspin"}}

    return variables


def _update_profile(named: bool) -> Variables:
    async def variables(api: Api, world: World, role: str) -> dict[str, Any]:
        return {"input": {**_partner(named)(world), "listedInDirectory": True}}

    return variables


def _partner_input(named: bool, **fields: Any) -> Variables:
    async def variables(api: Api, world: World, role: str) -> dict[str, Any]:
        return {"input": {**_partner(named)(world), **fields}}

    return variables


PAYPAL = {"method": "PAYPAL", "paypalEmail": "payouts@northwind.example"}


async def _invitation(api: Api, world: World, role: str) -> dict[str, Any]:
    return {"id": world.invitation_id}


async def _customer(api: Api, world: World, role: str) -> dict[str, Any]:
    return {"id": world.customer_id}


async def _own_session(api: Api, world: World, role: str) -> dict[str, Any]:
    """The role's own session where it may open one, else the ADMINISTER_CUSTOMERS member's."""
    if role in SESSION_OPENERS - {ADMINISTER_CUSTOMERS}:
        return {"id": await _start_session(api, world.people[role], world.customer_id)}
    return {"id": world.session_id}


async def _give_partner_permission(api: Api, world: World, role: str) -> dict[str, Any]:
    return {"input": {"membershipId": world.member_membership_id, "organizationPermissions": [],
                      "partnerPermissions": [ADMINISTER_CUSTOMERS]}}


OPERATIONS: dict[str, tuple[str, str, Variables]] = {
    # name: (root field, document, variables)
    "partnerDashboard": ("partnerDashboard", PARTNER_DASHBOARD, _query(named=False)),
    "partnerDashboard(partnerId)": ("partnerDashboard", PARTNER_DASHBOARD, _query(named=True)),
    "programOverview": ("programOverview", PROGRAM_OVERVIEW, _query(named=False)),
    "programOverview(partnerId)": ("programOverview", PROGRAM_OVERVIEW, _query(named=True)),
    "affiliateLinks": ("affiliateLinks", AFFILIATE_LINKS, _query(named=False)),
    "affiliateLinks(partnerId)": ("affiliateLinks", AFFILIATE_LINKS, _query(named=True)),
    "myCustomers": ("myCustomers", MY_CUSTOMERS, _query(named=False)),
    "myCustomers(partnerId)": ("myCustomers", MY_CUSTOMERS, _query(named=True)),
    "commissions": ("commissions", COMMISSIONS, _query(named=False)),
    "commissions(partnerId)": ("commissions", COMMISSIONS, _query(named=True)),
    "invitations": ("invitations", INVITATIONS, _query(named=False)),
    "invitations(partnerId)": ("invitations", INVITATIONS, _query(named=True)),
    "inviteCustomer": ("inviteCustomer", INVITE_CUSTOMER, _invite(named=False)),
    "inviteCustomer(partnerId)": ("inviteCustomer", INVITE_CUSTOMER, _invite(named=True)),
    "resendInvitation": ("resendInvitation", RESEND_INVITATION, _invitation),
    "revokeInvitation": ("revokeInvitation", REVOKE_INVITATION, _invitation),
    "startManagementSession": ("startManagementSession", START_SESSION, _customer),
    "endManagementSession": ("endManagementSession", END_SESSION, _own_session),
    "updatePartnerProfile": ("updatePartnerProfile", UPDATE_PROFILE, _update_profile(named=False)),
    "updatePartnerProfile(partnerId)": ("updatePartnerProfile", UPDATE_PROFILE, _update_profile(named=True)),
    "setMemberPermissions": ("setMemberPermissions", SET_PERMISSIONS, _give_partner_permission),
    "payouts": ("payouts", PAYOUTS, _query(named=False)),
    "payouts(partnerId)": ("payouts", PAYOUTS, _query(named=True)),
    "payoutSettings": ("payoutSettings", PAYOUT_SETTINGS, _query(named=False)),
    "payoutSettings(partnerId)": ("payoutSettings", PAYOUT_SETTINGS, _query(named=True)),
    "payoutBalance": ("payoutBalance", PAYOUT_BALANCE, _query(named=False)),
    "payoutBalance(partnerId)": ("payoutBalance", PAYOUT_BALANCE, _query(named=True)),
    "setPayoutSettings": ("setPayoutSettings", SET_PAYOUT_SETTINGS, _partner_input(False, **PAYPAL)),
    "setPayoutSettings(partnerId)": ("setPayoutSettings", SET_PAYOUT_SETTINGS, _partner_input(True, **PAYPAL)),
    "requestPayout": ("requestPayout", REQUEST_PAYOUT, _partner_input(False)),
    "requestPayout(partnerId)": ("requestPayout", REQUEST_PAYOUT, _partner_input(True)),
}
# What an allowed caller may still be told in the payload (the world has no approved commission).
TOLERATED_ERRORS = {"requestPayout": {"NO_PAYOUT_SETTINGS", "BELOW_THRESHOLD"}}


def _outcome(body: dict, field: str) -> str:
    """ALLOWED, or the code of the GraphQL error (or of a FORBIDDEN in a mutation's payload)."""
    if body.get("errors"):
        return body["errors"][0].get("extensions", {}).get("code")
    result = body["data"][field]
    if not isinstance(result, dict):  # a list: a query answered
        return ALLOWED
    codes = {error["code"] for error in result.get("errors", [])}  # queries have no `errors`
    if "FORBIDDEN" in codes:
        return "FORBIDDEN"
    assert codes <= TOLERATED_ERRORS.get(field, set()), f"an allowed call was refused: {result['errors']}"
    return ALLOWED


def _cells() -> list[Any]:
    cells = []
    for operation, expectations in MATRIX.items():
        for role, expected in expectations.items():
            marks = []
            if (operation, role) in KNOWN_BUGS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[(operation, role)]))
            cells.append(pytest.param(operation, role, expected, id=f"{operation}-{role}", marks=marks))
    return cells


@pytest.mark.parametrize(("operation", "role", "expected"), _cells())
async def test_partner_surface_authorization(api, world, operation, role, expected):
    field, document, variables = OPERATIONS[operation]
    person = world.people[role]
    given = await variables(api, world, role)

    body = await api.post(document, given, token=person.token if person else None)

    assert _outcome(body, field) == expected, body


@pytest.mark.parametrize("document", [
    pytest.param(COMMISSIONS, id="commissions"),
    pytest.param(PAYOUT_SETTINGS, id="payoutSettings"),
    pytest.param(PAYOUT_BALANCE, id="payoutBalance"),
])
async def test_operators_naming_an_organization_that_is_no_partner_find_nothing(api, world, document):
    body = await api.post(document, {"partnerId": world.customer_id}, token=world.people[OPERATOR].token)

    assert body.get("errors"), body
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


# --- the matrix covers the whole partner surface -----------------------------------------------------------


def test_the_matrix_covers_every_role_and_partner_operation():
    assert set(OPERATIONS) == set(MATRIX)
    assert {field for field, _, _ in OPERATIONS.values()} == PARTNER_OPERATIONS
    for operation, expectations in MATRIX.items():
        assert list(expectations) == ROLES, operation
        assert ALLOWED in expectations.values(), f"{operation}: nobody may call it?"


def test_every_root_field_is_in_the_matrix_or_known_to_be_outside_the_partner_surface():
    schema = build_schema(Settings())._schema
    root_fields = {*schema.query_type.fields, *schema.mutation_type.fields}

    unclassified = root_fields - PARTNER_OPERATIONS - NON_PARTNER_OPERATIONS
    stale = (PARTNER_OPERATIONS | NON_PARTNER_OPERATIONS) - root_fields

    assert not unclassified, (
        f"New root fields {sorted(unclassified)}: add them to the authorization matrix in this file "
        "(MATRIX, OPERATIONS, PARTNER_OPERATIONS) if they are partner-side, else to NON_PARTNER_OPERATIONS."
    )
    assert not stale, f"These operations are no longer in the schema: {sorted(stale)}"
    assert not PARTNER_OPERATIONS & NON_PARTNER_OPERATIONS
