"""A refusal says what is missing (issue 16, item 10), and one hidden id nulls only its own `node` (item 7).

Every FORBIDDEN carries `extensions.missing = {"kind": …, "name": …}` (`permissions/refusals.py`) and a
message written from it, naming the organization. For each kind: the refused caller with the exact
`missing` and message, and a caller who holds it, allowed, asking the same. The world is
tests/authorization_world.py's, built once for the module.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine

from tests.authorization_world import World, build_world, credentials
from tests.conftest import POSTGRES_URL, START, Api, start_api, test_settings
from tests.documents import NODES


@dataclass
class Env:
    api: Api
    world: World

    def credentials(self, actor: str) -> dict[str, str]:
        return credentials(self.world, actor)


@pytest.fixture(scope="module")
async def env(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    if POSTGRES_URL:
        url = POSTGRES_URL
    else:
        path = tmp_path_factory.mktemp("refusals") / "portal.sqlite3"
        shutil.copyfile(template_database, path)
        url = f"sqlite://{path}"
    with time_machine.travel(START, tick=False) as clock:
        settings = test_settings(url, webhook_allow_private_networks=True, mail_recipient_rate="1000/day")
        async for api in start_api(settings):
            yield Env(api, await build_world(api, clock))


Variables = Callable[[World, str], dict[str, Any]]


def customer(world: World, actor: str) -> dict[str, Any]:
    """The customer the actor aims at: a grant column's own (Contoso, Fabrikam, ...), else Contoso."""
    return {"id": world.ids.get(f"customer:{actor}", world.ids["customer"])}


def nothing(world: World, actor: str) -> dict[str, Any]:
    return {}


ORGANIZATION_FIELD = "query Q($id: ID!) {{ node(id: $id) {{ ... on Organization {{ {} }} }} }}"
MEMBERSHIP_INVITATIONS = ORGANIZATION_FIELD.format("membershipInvitations(first: 1) { totalCount }")
SERVICE_PARTNER_HISTORY = ORGANIZATION_FIELD.format("servicePartnerHistory { id }")
AUDIT_EVENTS = "query Q($id: ID) { auditEvents(organizationId: $id, first: 1) { totalCount } }"
ADD_MEMBER = """
mutation M($id: ID!) {
  addMember(input: {organizationId: $id, email: "newcomer@example.com", role: MEMBER}) { errors { code } }
}"""


@dataclass(frozen=True)
class Case:
    document: str
    variables: Variables
    refused: str  # the caller refused, ...
    allowed: str  # ... and one allowed, asking the same (for its own customer in the grant columns)
    missing: dict[str, str]
    message: str


CASES = {
    "organization permission": Case(
        MEMBERSHIP_INVITATIONS,
        customer,
        "member",
        "administrator",
        {"kind": "ORGANIZATION_PERMISSION", "name": "MANAGE_MEMBERS"},
        "You need the permission MANAGE_MEMBERS in Contoso Ltd for this.",
    ),
    "organization permission, seen but not a member": Case(
        MEMBERSHIP_INVITATIONS,
        customer,
        "operator",
        "administrator",
        {"kind": "ORGANIZATION_PERMISSION", "name": "MANAGE_MEMBERS"},
        "You need the permission MANAGE_MEMBERS in Contoso Ltd for this.",
    ),
    "membership": Case(
        ADD_MEMBER,
        customer,
        "operator",
        "administrator",
        {"kind": "MEMBERSHIP"},
        "You are not a member of Contoso Ltd: only its members may do this (its service partner's staff in a "
        "management session, within the customer's grant).",
    ),
    "administrator": Case(
        AUDIT_EVENTS,
        customer,
        "member",
        "administrator",
        {"kind": "ADMINISTRATOR"},
        "Only an administrator of Contoso Ltd may do this.",
    ),
    "partner permission": Case(
        "{ affiliateLinks(first: 1) { totalCount } }",
        nothing,
        "partner_member",
        "partner_admin",
        {"kind": "PARTNER_PERMISSION", "name": "MANAGE_PARTNER_PORTAL"},
        "You need the partner permission MANAGE_PARTNER_PORTAL in Northwind Partners for this.",
    ),
    "partner permission to administer customers": Case(
        "{ myCustomers(first: 1) { totalCount } }",
        nothing,
        "partner_member",
        "ADMINISTER_CUSTOMERS",
        {"kind": "PARTNER_PERMISSION", "name": "ADMINISTER_CUSTOMERS"},
        "You need the partner permission ADMINISTER_CUSTOMERS in Northwind Partners for this.",
    ),
    "partner status": Case(
        "{ partnerDashboard { customers } }",
        nothing,
        "administrator",
        "partner_admin",
        {"kind": "PARTNER_STATUS"},
        "Contoso Ltd is not a partner yet: request partner status first.",
    ),
    "program": Case(
        "{ expertCode { code } }",
        nothing,
        "other_administrator",
        "partner_admin",
        {"kind": "PROGRAM", "name": "EXPERT"},
        "Southwind Partners is not in the EXPERT program.",
    ),
    "grant": Case(
        MEMBERSHIP_INVITATIONS,
        customer,
        "grant_none",
        "grant_active",
        {"kind": "GRANT", "name": "MANAGE_MEMBERS"},
        "Fabrikam Ltd's grant does not allow MANAGE_MEMBERS.",
    ),
    "expired grant": Case(
        MEMBERSHIP_INVITATIONS,
        customer,
        "grant_expired",
        "grant_active",
        {"kind": "GRANT", "name": "MANAGE_MEMBERS"},
        "Litware Ltd's grant does not allow MANAGE_MEMBERS.",
    ),
    "operator permission": Case(
        "{ tiers(first: 1) { totalCount } }",
        nothing,
        "operator_reviewer",
        "operator",
        {"kind": "OPERATOR_PERMISSION", "name": "MANAGE_PROGRAMS"},
        "This is for the vendor's staff: you need the operator permission MANAGE_PROGRAMS.",
    ),
    "operator permission to compare partners": Case(
        "{ reports { partnerLeaderboard(by: COMMISSION, first: 10) { rank } } }",
        nothing,
        "partner_admin",
        "operator",
        {"kind": "OPERATOR_PERMISSION", "name": "VIEW_ALL_REPORTS"},
        "This is for the vendor's staff: you need the operator permission VIEW_ALL_REPORTS. The partner "
        "leaderboard compares partners; API keys with the scope reports:read read it too.",
    ),
    "API key scope": Case(
        "{ webhookSubscriptions(first: 1) { totalCount } }",
        nothing,
        "key_billing",
        "key_webhooks",
        {"kind": "API_KEY_SCOPE", "name": "webhooks:manage"},
        "This API key lacks the scope webhooks:manage.",
    ),
    "outside a management session": Case(
        SERVICE_PARTNER_HISTORY,
        customer,
        "grant_active",
        "administrator",
        {"kind": "OUTSIDE_MANAGEMENT_SESSION"},
        "This is not possible in a management session. Only the customer itself decides about its service partner.",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_a_refusal_names_what_is_missing_and_whoever_holds_it_is_allowed(env, case):
    # when
    refused = await env.api.post(
        case.document, case.variables(env.world, case.refused), **env.credentials(case.refused)
    )
    allowed = await env.api.post(
        case.document, case.variables(env.world, case.allowed), **env.credentials(case.allowed)
    )

    # then
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN", error
    assert error["extensions"]["missing"] == case.missing
    assert error["message"] == case.message
    assert not allowed.get("errors"), allowed
    payload = next(iter(allowed["data"].values()))
    assert not (isinstance(payload, dict) and payload.get("errors")), allowed


async def test_a_refused_report_export_names_what_is_missing(env):
    # when
    refused = await env.api.client.get(
        "/reports/commissions.csv", headers={"x-api-key": env.world.keys["WEBHOOKS_MANAGE"]}
    )
    allowed = await env.api.client.get(
        "/reports/commissions.csv", headers={"x-api-key": env.world.keys["REPORTS_READ"]}
    )

    # then
    assert refused.status_code == 403
    assert refused.json()["missing"] == {"kind": "API_KEY_SCOPE", "name": "reports:read"}
    assert refused.json()["message"] == "This API key lacks the scope reports:read."
    assert allowed.status_code == 200


# --- item 7: one hidden id nulls only its own node -------------------------------------------------------------


async def test_nodes_answers_the_visible_ones_and_null_with_not_found_at_the_hidden_ones_index(env):
    # given: Contoso's member sees Contoso, not Northwind
    contoso, northwind = env.world.ids["customer"], env.world.partner.id

    # when
    body = await env.api.post(NODES, {"ids": [contoso, northwind, contoso]}, **env.credentials("member"))

    # then
    assert body["data"] == {"nodes": [{"id": contoso}, None, {"id": contoso}]}
    assert [(error["extensions"]["code"], error["path"]) for error in body["errors"]] == [("NOT_FOUND", ["nodes", 1])]


async def test_nodes_answers_a_hidden_id_exactly_as_an_absent_one(env):
    # given
    contoso, northwind = env.world.ids["customer"], env.world.partner.id
    absent = "T3JnYW5pemF0aW9uOjk5OTk5"  # Organization:99999

    # when
    hidden = await env.api.post(NODES, {"ids": [contoso, northwind]}, **env.credentials("member"))
    missing = await env.api.post(NODES, {"ids": [contoso, absent]}, **env.credentials("member"))

    # then
    assert hidden["data"] == missing["data"]
    assert [(e["message"], e["path"]) for e in hidden["errors"]] == [
        (e["message"], e["path"]) for e in missing["errors"]
    ]


async def test_a_malformed_id_among_nodes_is_a_bad_user_input_at_its_index(env):
    # given
    contoso = env.world.ids["customer"]

    # when
    body = await env.api.post(NODES, {"ids": ["not-a-global-id", contoso]}, **env.credentials("member"))

    # then
    assert body["data"] == {"nodes": [None, {"id": contoso}]}
    assert [(error["extensions"]["code"], error["path"]) for error in body["errors"]] == [
        ("BAD_USER_INPUT", ["nodes", 0])
    ]


async def test_node_with_a_hidden_id_is_null_with_not_found(env):
    # when
    body = await env.api.post(
        "query N($id: ID!) { viewer { id } node(id: $id) { id } }",
        {"id": env.world.partner.id},
        **env.credentials("member"),
    )

    # then: the rest of the answer stays
    assert body["data"]["node"] is None and body["data"]["viewer"] is not None
    assert [(error["extensions"]["code"], error["path"]) for error in body["errors"]] == [("NOT_FOUND", ["node"])]
