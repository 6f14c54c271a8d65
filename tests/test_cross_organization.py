"""Tenant isolation: another organization's objects are out of reach through every path, and what an
outsider is told about them is exactly what it is told about objects that do not exist.

The world is the authorization matrix's (tests/authorization_world.py): Northwind (a partner) and its
customers Contoso, Fabrikam, Litware and Tailspin; the outsider is Southwind's administrator, itself a
partner's administrator with every permission of its own organization. Paths: `node` and `nodes` for
every registered node type, many aliases at once, the id arguments of queries and mutations, the CSV
reports, and the nested edges of everything the outsider may list.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from strawberry.relay import GlobalID

from partner_portal.schema.common import NODE_FETCHERS
from tests.authorization_world import World, add_assessments_and_a_redemption, build_world
from tests.conftest import POSTGRES_URL, START, Api, start_api, test_settings
from tests.documents import NODES

OUTSIDER = "other_administrator"
NODE = "query Node($id: ID!) { node(id: $id) { id __typename } }"
FIRST_EVENT = "{ auditEvents(first: 1) { edges { node { id } } } }"
FIRST_MESSAGE = "{ outboxMessages(first: 1) { edges { node { id } } } }"
RELATIONSHIP = "{ myCustomers(first: 1) { edges { node { id } } } }"
FIRST_LINE = "{ commissions(first: 1) { lines { edges { node { id } } } } }"
LINE_PAYMENTS = "{ commissions(first: 100) { lines { edges { node { payment { id } } } } } }"
FIRST_COUPON = "{ coupons(first: 1) { edges { node { id } } } }"
FIRST_INVOICE = "{ couponOrders(first: 1) { edges { node { invoice { id } } } } }"
FIRST_ASSESSMENT = "{ partnerTier { assessments(first: 1) { edges { node { id } } } } }"
# The catalog is public (`products`): nobody is an outsider to a product or a plan.
PUBLIC_NODE_TYPES = {"Product", "Plan"}


@dataclass
class Env:
    api: Api
    world: World
    objects: dict[str, tuple[str, str, str]]  # node type → (global id, an actor that sees it, one that must not)

    def credentials(self, actor: str) -> dict[str, str]:
        scopes = {"key_billing": "BILLING_WRITE", "key_reports": "REPORTS_READ", "key_webhooks": "WEBHOOKS_MANAGE"}
        if actor in scopes:
            return {"api_key": self.world.keys[scopes[actor]]}
        return {"token": self.world.people[actor].token}


async def _first_id(api: Api, document: str, **credentials: str) -> str:
    data = await api.data(document, **credentials)
    return next(iter(data.values()))["edges"][0]["node"]["id"]


async def _first_line(api: Api, **credentials: str) -> str:
    data = await api.data(FIRST_LINE, **credentials)
    return data["commissions"]["lines"]["edges"][0]["node"]["id"]


async def _line_payment(api: Api, **credentials: str) -> str:
    data = await api.data(LINE_PAYMENTS, **credentials)
    return next(e["node"]["payment"]["id"] for e in data["commissions"]["lines"]["edges"] if e["node"]["payment"])


async def _objects(api: Api, world: World) -> dict[str, tuple[str, str, str]]:
    people, ids = world.people, world.ids
    operator, partner = {"token": people["operator"].token}, {"token": people["partner_admin"].token}
    return {
        "Organization": (ids["customer"], "administrator", OUTSIDER),
        "Membership": (ids["membership:member"], "administrator", OUTSIDER),
        "MembershipInvitation": (ids["membership_invitation"], "administrator", OUTSIDER),
        "User": (people["administrator"].user_id, "member", OUTSIDER),
        "Invitation": (ids["invitation"], "partner_admin", OUTSIDER),
        "Payout": (ids["payout:requested"], "partner_admin", OUTSIDER),
        "AffiliateLink": (ids["link"], "partner_admin", OUTSIDER),
        "CustomerRelationship": (await _first_id(api, RELATIONSHIP, **partner), "partner_admin", OUTSIDER),
        "ManagementSession": (world.sessions["grant_active"], "grant_active", OUTSIDER),
        "PartnerApplication": (ids["application"], "operator", OUTSIDER),
        "ApiKey": (ids["api_key:spare"], "operator", OUTSIDER),
        "AuditEvent": (
            await _first_id(api, FIRST_EVENT, token=people["administrator"].token),
            "administrator",
            OUTSIDER,
        ),
        "OutboxMessage": (await _first_id(api, FIRST_MESSAGE, **operator), "operator", OUTSIDER),
        # Vendor objects: the program's tiers (partners see active ones), webhook subscriptions
        # (operators and webhooks:manage keys): a customer's administrator sees none.
        "Tier": (ids["tier"], "operator", "administrator"),
        "CommissionRule": (ids["rule"], "partner_admin", "administrator"),  # programs' rules: partners in them
        "Commission": (await _first_line(api, **partner), "partner_admin", OUTSIDER),
        "WebhookSubscription": (ids["subscription"], "key_webhooks", OUTSIDER),
        "WebhookDelivery": (ids["delivery"], "key_webhooks", OUTSIDER),
        # A user's sign-in sessions are the user's alone: operators see no one else's either.
        "SessionToken": (ids["session:operator"], "operator", OUTSIDER),
        # Northwind's reseller coupons, the payment that earned its line, its tier assessment: Southwind's
        # administrator holds every permission of its own partner and sees none of them.
        "Coupon": (await _first_id(api, FIRST_COUPON, **partner), "partner_admin", OUTSIDER),
        "CouponOrder": (ids["coupon_order"], "partner_admin", OUTSIDER),
        "CouponInvoice": (
            (await api.data(FIRST_INVOICE, **partner))["couponOrders"]["edges"][0]["node"]["invoice"]["id"],
            "partner_admin",
            OUTSIDER,
        ),
        "Payment": (await _line_payment(api, **partner), "partner_admin", OUTSIDER),
        "TierAssessment": (
            (await api.data(FIRST_ASSESSMENT, **partner))["partnerTier"]["assessments"]["edges"][0]["node"]["id"],
            "partner_admin",
            OUTSIDER,
        ),
        # A redemption is the checkout's record (billing:write keys); partners see their code's figures.
        "DiscountRedemption": (ids["redemption"], "key_billing", OUTSIDER),
    }


@pytest.fixture(scope="module")
async def env(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    if POSTGRES_URL:
        url = POSTGRES_URL
    else:
        path = tmp_path_factory.mktemp("cross_organization") / "portal.sqlite3"
        shutil.copyfile(template_database, path)
        url = f"sqlite://{path}"
    with time_machine.travel(START, tick=False) as clock:
        async for api in start_api(test_settings(url, webhook_allow_private_networks=True)):
            world = await build_world(api, clock)
            await add_assessments_and_a_redemption(api, world)
            yield Env(api, world, await _objects(api, world))


def answer(body: dict) -> dict:
    """What a response says about the objects: its data and errors (not the query budget left in
    `extensions.cost`, which counts down with every request)."""
    return {"data": body.get("data"), "errors": body.get("errors")}


def absent(global_id: str) -> str:
    """A global id of the same type whose row does not exist."""
    return str(GlobalID(GlobalID.from_id(global_id).type_name, "999999"))


NODE_TYPES = [
    "Organization",
    "Membership",
    "MembershipInvitation",
    "User",
    "Invitation",
    "Payout",
    "AffiliateLink",
    "CustomerRelationship",
    "ManagementSession",
    "PartnerApplication",
    "ApiKey",
    "AuditEvent",
    "OutboxMessage",
    "Tier",
    "WebhookSubscription",
    "WebhookDelivery",
    "CommissionRule",
    "Commission",
    "SessionToken",
    "Coupon",
    "CouponOrder",
    "CouponInvoice",
    "Payment",
    "TierAssessment",
    "DiscountRedemption",
]


def test_every_node_type_has_a_foreign_object_here():
    missing = set(NODE_FETCHERS) - set(NODE_TYPES) - PUBLIC_NODE_TYPES
    assert not missing, f"Node types without a cross-organization case: {sorted(missing)}"


@pytest.mark.parametrize("type_name", NODE_TYPES)
async def test_node_answers_for_a_foreign_object_exactly_as_for_an_absent_one(env, type_name):
    # given
    foreign, owner, outsider = env.objects[type_name]
    seen = await env.api.post(NODE, {"id": foreign}, **env.credentials(owner))
    assert seen.get("data", {}).get("node", {}).get("__typename") == type_name, seen  # it exists

    # when
    hidden = await env.api.post(NODE, {"id": foreign}, **env.credentials(outsider))
    missing = await env.api.post(NODE, {"id": absent(foreign)}, **env.credentials(outsider))

    # then
    assert answer(hidden) == answer(missing)
    assert [error["extensions"]["code"] for error in hidden["errors"]] == ["NOT_FOUND"]


@pytest.mark.parametrize("type_name", NODE_TYPES)
async def test_nodes_answers_for_a_foreign_object_exactly_as_for_an_absent_one(env, type_name):
    # given
    foreign, _, outsider = env.objects[type_name]

    # when
    hidden = await env.api.post(NODES, {"ids": [foreign]}, **env.credentials(outsider))
    missing = await env.api.post(NODES, {"ids": [absent(foreign)]}, **env.credentials(outsider))

    # then: null at its index with NOT_FOUND there (`nodes` is nullable per item, as Relay's)
    assert answer(hidden) == answer(missing)
    assert hidden["data"] == {"nodes": [None]}
    assert [(error["extensions"]["code"], error["path"]) for error in hidden["errors"]] == [("NOT_FOUND", ["nodes", 0])]


async def test_many_aliases_asking_for_foreign_objects_learn_nothing(env):
    # given: one alias per foreign object of the outsider
    ids = [foreign for foreign, _, outsider in env.objects.values() if outsider == OUTSIDER]
    document = "query { " + " ".join(f'a{i}: node(id: "{i_d}") {{ id }}' for i, i_d in enumerate(ids)) + " }"
    absent_document = (
        "query { " + " ".join(f'a{i}: node(id: "{absent(i_d)}") {{ id }}' for i, i_d in enumerate(ids)) + " }"
    )

    # when
    hidden = await env.api.post(document, **env.credentials(OUTSIDER))
    missing = await env.api.post(absent_document, **env.credentials(OUTSIDER))

    # then
    assert hidden["data"] == {f"a{i}": None for i in range(len(ids))}
    assert _without_locations(hidden) == _without_locations(missing)
    assert {error["extensions"]["code"] for error in hidden["errors"]} == {"NOT_FOUND"}


def _without_locations(body: dict) -> dict:
    """What must not differ: the column of an error differs with the length of the id in the document, and
    the aliases resolve concurrently, so the order of their errors is a matter of timing."""
    errors = [{k: v for k, v in error.items() if k != "locations"} for error in body["errors"]]
    return {"data": body["data"], "errors": sorted(errors, key=lambda error: error["path"])}


# --- id arguments ---------------------------------------------------------------------------------------

ARGUMENTS: dict[str, tuple[str, str]] = {
    # name: (document taking $id, which foreign object)
    "updateOrganization(organizationId)": (
        'mutation M($id: ID!) { updateOrganization(input: {organizationId: $id, name: "x"}) { errors { code } } }',
        "Organization",
    ),
    "addMember(organizationId)": (
        'mutation M($id: ID!) { addMember(input: {organizationId: $id, email: "nora@nowhere.example", role: MEMBER, '
        "organizationPermissions: [], partnerPermissions: []}) { errors { code } } }",
        "Organization",
    ),
    "revokeMembershipInvitation(invitationId)": (
        "mutation M($id: ID!) { revokeMembershipInvitation(input: {invitationId: $id}) { errors { code } } }",
        "MembershipInvitation",
    ),
    "auditEvents(organizationId)": (
        "query Q($id: ID) { auditEvents(organizationId: $id) { totalCount } }",
        "Organization",
    ),
    "setServicePartner(organizationId)": (
        'mutation M($id: ID!) { setServicePartner(input: {organizationId: $id, partnerCode: "XXXXXXXX"}) '
        "{ errors { code } } }",
        "Organization",
    ),
    "setDelegatedPermissions(organizationId)": (
        "mutation M($id: ID!) { setDelegatedPermissions(input: {organizationId: $id, permissions: []}) "
        "{ errors { code } } }",
        "Organization",
    ),
    "redeemCoupon(organizationId)": (
        'mutation M($id: ID!) { redeemCoupon(input: {organizationId: $id, code: "AAAA"}) { errors { code } } }',
        "Organization",
    ),
    "leaveOrganization(organizationId)": (
        "mutation M($id: ID!) { leaveOrganization(input: {organizationId: $id}) { errors { code } } }",
        "Organization",
    ),
    "startManagementSession(customerId)": (
        "mutation M($id: ID!) { startManagementSession(input: {customerId: $id}) { errors { code } } }",
        "Organization",
    ),
    "partnerDashboard(partnerId)": ("query Q($id: ID) { partnerDashboard(partnerId: $id) { customers } }", "Partner"),
    "myCustomers(partnerId)": ("query Q($id: ID) { myCustomers(partnerId: $id) { totalCount } }", "Partner"),
    "commissions(partnerId)": ("query Q($id: ID) { commissions(partnerId: $id) { lines { totalCount } } }", "Partner"),
    "payoutBalance(partnerId)": ("query Q($id: ID) { payoutBalance(partnerId: $id) { canRequest } }", "Partner"),
    "coupons(partnerId)": ("query Q($id: ID) { coupons(partnerId: $id) { totalCount } }", "Partner"),
    "partnerTier(partnerId)": ("query Q($id: ID) { partnerTier(partnerId: $id) { __typename } }", "Partner"),
    "inviteCustomer(partnerId)": (
        'mutation M($id: ID) { inviteCustomer(input: {partnerId: $id, email: "x@y.example", organizationName: "X"}) '
        "{ errors { code } } }",
        "Partner",
    ),
    "requestPayout(partnerId)": (
        "mutation M($id: ID) { requestPayout(input: {partnerId: $id}) { errors { code } } }",
        "Partner",
    ),
    "resendInvitation(invitationId)": (
        "mutation M($id: ID!) { resendInvitation(input: {invitationId: $id}) { errors { code } } }",
        "Invitation",
    ),
    "revokeInvitation(invitationId)": (
        "mutation M($id: ID!) { revokeInvitation(input: {invitationId: $id}) { errors { code } } }",
        "Invitation",
    ),
    "setMemberPermissions(membershipId)": (
        "mutation M($id: ID!) { setMemberPermissions(input: {membershipId: $id, organizationPermissions: [], "
        "partnerPermissions: []}) { errors { code } } }",
        "Membership",
    ),
    "setMemberRole(membershipId)": (
        "mutation M($id: ID!) { setMemberRole(input: {membershipId: $id, role: MEMBER}) { errors { code } } }",
        "Membership",
    ),
    "removeMember(membershipId)": (
        "mutation M($id: ID!) { removeMember(input: {membershipId: $id}) { errors { code } } }",
        "Membership",
    ),
    "endManagementSession(sessionId)": (
        "mutation M($id: ID!) { endManagementSession(input: {sessionId: $id}) { errors { code } } }",
        "ManagementSession",
    ),
    "updateAffiliateLink(linkId)": (
        "mutation M($id: ID!) { updateAffiliateLink(input: {linkId: $id, active: false}) { errors { code } } }",
        "AffiliateLink",
    ),
    # A filter: the outsider's own (empty) ledger either way.
    "commissions(customerId)": (
        "query Q($id: ID) { commissions(customerId: $id) { lines { totalCount } } }",
        "Organization",
    ),
    # Deciding payouts is for operators: refused for that before the payout is looked up.
    "approvePayout(payoutId)": (
        "mutation M($id: ID!) { approvePayout(input: {payoutId: $id}) { errors { code } } }",
        "Payout",
    ),
    # Southwind is no reseller: refused for that before the order is looked up, whichever it is.
    "coupons(orderId)": ("query Q($id: ID) { coupons(orderId: $id) { totalCount } }", "CouponOrder"),
}
# Where the answer is not NOT_FOUND (None: answered, with nothing in it): still the same for both ids.
OTHER_ANSWERS = {
    "coupons(orderId)": "FORBIDDEN",
    "approvePayout(payoutId)": "FORBIDDEN",
    "commissions(customerId)": None,
}


def _argument_id(env: Env, kind: str) -> str:
    if kind == "Partner":
        return env.world.partner.id
    if kind == "CouponOrder":
        return env.world.ids["coupon_order"]
    return env.objects[kind][0]


@pytest.mark.parametrize("name", ARGUMENTS)
async def test_an_id_argument_naming_a_foreign_object_answers_as_for_an_absent_one(env, name):
    # given
    document, kind = ARGUMENTS[name]
    foreign = _argument_id(env, kind)

    # when
    hidden = await env.api.post(document, {"id": foreign}, **env.credentials(OUTSIDER))
    missing = await env.api.post(document, {"id": absent(foreign)}, **env.credentials(OUTSIDER))

    # then
    assert answer(hidden) == answer(missing), (hidden, missing)
    expected = OTHER_ANSWERS.get(name, "NOT_FOUND")
    if expected is None:
        assert not hidden.get("errors") and hidden["data"]["commissions"]["lines"]["totalCount"] == 0, hidden
    else:
        assert hidden["errors"][0]["extensions"]["code"] == expected, hidden


# --- nested edges ----------------------------------------------------------------------------------------

MEMBERS = "members(first: 10) { edges { node { id user { id email } } } }"
EVERYTHING_LISTED = f"""
query {{
  viewer {{ id memberships {{ id organization {{ id {MEMBERS} }} }} }}
  viewerOrganization {{ id {MEMBERS} }}
  organizations(first: 10) {{ edges {{ node {{ id {MEMBERS} }} }} }}
  myCustomers(first: 10) {{ edges {{ node {{ id }} }} }}
  invitations(first: 10) {{ edges {{ node {{ id }} }} }}
  payouts(first: 10) {{ edges {{ node {{ id }} }} }}
  affiliateLinks(first: 10) {{ edges {{ node {{ id }} }} }}
  auditEvents(first: 10) {{ edges {{ node {{ id }} }} }}
  commissions(first: 10) {{ lines {{ edges {{ node {{ id }} }} }} }}
}}"""


def _global_ids(value: Any) -> set[str]:
    """Every string in a response that decodes as a global id."""
    found: set[str] = set()
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
        elif isinstance(current, str):
            try:
                GlobalID.from_id(current)
                found.add(current)
            except Exception:  # noqa: BLE001 — not a global id
                pass
    return found


def _foreign_ids(env: Env) -> set[str]:
    """Northwind's and its customers' objects and people: none of them is the outsider's business."""
    world = env.world
    people = {
        world.people[actor].user_id for actor in world.people if actor != OUTSIDER and not actor.startswith("operator")
    }
    objects = {foreign for foreign, _, outsider in env.objects.values() if outsider == OUTSIDER}
    return (
        people
        | objects
        | {value for key, value in world.ids.items() if not key.startswith("api_key")}
        | {world.partner.id}
        | set(world.sessions.values())
    )


async def test_the_outsiders_lists_and_their_nested_edges_hold_no_foreign_row(env):
    # when
    body = await env.api.post(EVERYTHING_LISTED, **env.credentials(OUTSIDER))

    # then: it sees its own organization (so the lists work) and nothing of Northwind's side
    assert not body.get("errors"), body["errors"]
    seen = _global_ids(body["data"])
    assert env.world.other_partner.id in seen
    assert not seen & _foreign_ids(env), sorted(seen & _foreign_ids(env))


@pytest.mark.parametrize("actor", ["grant_none", "member"])
async def test_a_customer_outside_the_session_or_membership_shows_no_members(env, actor):
    # given: Fabrikam's manager (no grant) and Contoso's member ask for Contoso's and Fabrikam's members
    contoso = env.world.ids["customer"]
    document = f'query {{ node(id: "{contoso}") {{ ... on Organization {{ id {MEMBERS} }} }} }}'

    # when
    body = await env.api.post(document, **env.credentials(actor))

    # then: a member sees its colleagues; the partner's staff without MANAGE_MEMBERS sees none of them
    members = body["data"]["node"]["members"]["edges"] if body.get("data") and body["data"]["node"] else []
    if actor == "member":
        assert {edge["node"]["user"]["email"] for edge in members} >= {"mia@contoso.example"}
    else:
        assert members == [], body


@pytest.mark.parametrize("report", ["commission-lines", "customer-funnel", "commissions"])
async def test_the_csv_reports_answer_for_a_foreign_partner_exactly_as_for_an_absent_one(env, report):
    # given
    headers = {"authorization": f"Bearer {env.world.people[OUTSIDER].token}"}
    foreign = env.world.partner.id

    # when
    hidden = await env.api.client.get(f"/reports/{report}.csv", params={"partnerId": foreign}, headers=headers)
    missing = await env.api.client.get(f"/reports/{report}.csv", params={"partnerId": absent(foreign)}, headers=headers)

    # then
    assert (hidden.status_code, hidden.text) == (missing.status_code, missing.text)
    assert hidden.status_code == 404, hidden.text
