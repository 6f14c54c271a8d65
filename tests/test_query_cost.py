"""Query cost control: costs computed before execution, a maximum per operation, and a
budget per client that refills over time, reported in `extensions.cost`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from pydantic import ValidationError

from partner_portal.schema import build_schema
from partner_portal.schema.guards.cost import list_bound
from partner_portal.schema.strawberry_internals import graphql_schema, strawberry_field
from partner_portal.server import build_app
from tests.conftest import PASSWORD, Api, start_api
from tests.conftest import test_settings as make_settings
from tests.documents import LOGOUT
from tests.support import create_api_key, make_operator, register

TYPENAME = "{ __typename }"
VIEWER = "{ viewer { id email } }"
MEMBERSHIPS = "{ viewer { memberships { organization { id } } } }"  # 1 + 100 × (1 + 1) = 201
RATES = "{ exchangeRates(first: 10) { edges { node { currency } } } }"  # 1 + 10 × (1 + 1) = 21, public
ORGANIZATIONS = "query Orgs($first: Int) { organizations(first: $first) { edges { node { id } } } }"
ORGANIZATIONS_BY_DEFAULT = """
query Orgs($first: Int = 50) { organizations(first: $first) { edges { node { id } } } }"""
NESTED = """
{ organizations(first: 5) { edges { node { members(first: 10) { edges { node { id } } } } } } }"""
NAMED_FRAGMENTS = """
query { organizations(first: 5) { ...Page } }
fragment Page on OrganizationConnection { edges { node { ...Members } } }
fragment Members on Organization { members(first: 10) { edges { node { id } } } }"""
INLINE_FRAGMENTS = """
{ organizations(first: 5) { ... on OrganizationConnection { edges { node { ... { members(first: 10) {
  edges { node { id } } } } } } } } }"""
PAGE_INFO = "{ organizations(first: 5) { totalCount pageInfo { hasNextPage } } }"
NODES = 'query { nodes(ids: ["a", "b", "c"]) { id } }'
ABSTRACT = """
query One($id: ID!) { node(id: $id) {
  ... on Organization { members(first: 10) { edges { node { id } } } }
  ... on User { id }
} }"""
SKIPPED = """
query S($skip: Boolean!) { viewer { id } organizations(first: 5) @skip(if: $skip) { edges { node { id } } } }"""
HISTORY = "query($id: ID!) { node(id: $id) { ... on Organization { servicePartnerHistory { id } } } }"
LEADERBOARD = "query($first: Int) { reports { partnerLeaderboard(first: $first) { rank partner { name } } } }"
FUNNEL = "{ reports { customerFunnel { rows { period partner { name } } } } }"
TOO_EXPENSIVE = """
{ organizations(first: 100) { edges { node { members(first: 100) { edges { node { id } } } } } } }"""
EXPENSIVE_REGISTER = (
    """
mutation { register(input: {email: "never@example.com", password: "%s", name: "Never"}) {
  token user { memberships { organization { members(first: 100) { edges { node { user {
    memberships { organization { id } } } } } } } } } } }"""
    % PASSWORD
)
UNKNOWN_FIELD = "{ viewer { doesNotExist } }"

BUDGET = {"query_budget": 100, "max_query_cost": 100}


@pytest.fixture
async def small_budget(database_url: str) -> AsyncIterator[Api]:
    """100 points a minute, at most 100 an operation: five RATES queries do not fit."""
    async for running in start_api(make_settings(database_url, **BUDGET)):
        yield running


def cost_of(body: dict) -> dict:
    return body["extensions"]["cost"]


# --- what an operation costs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        (TYPENAME, None, 1),
        (VIEWER, None, 1),
        (MEMBERSHIPS, None, 201),
        (ORGANIZATIONS, {"first": 5}, 1 + 5 * 2),
        (ORGANIZATIONS, {}, 1 + 20 * 2),
        (ORGANIZATIONS, {"first": 100_000}, 1 + 100 * 2),
        (ORGANIZATIONS_BY_DEFAULT, {}, 1 + 50 * 2),
        (ORGANIZATIONS_BY_DEFAULT, {"first": 3}, 1 + 3 * 2),
        (NESTED, None, 1 + 5 * (2 + 1 + 10 * 2)),
        (NAMED_FRAGMENTS, None, 1 + 5 * (2 + 1 + 10 * 2)),
        (INLINE_FRAGMENTS, None, 1 + 5 * (2 + 1 + 10 * 2)),
        (PAGE_INFO, None, 2),
        (NODES, None, 3),
        (ABSTRACT, {"id": "x"}, 1 + 1 + 10 * 2),
        (SKIPPED, {"skip": True}, 1),
        (SKIPPED, {"skip": False}, 1 + 1 + 5 * 2),
        (LOGOUT, None, 21),  # 10 + 1 + 10 × 1
        (HISTORY, {"id": "x"}, 1 + 100 * 1),
        (LEADERBOARD, {"first": 50}, 1 + 50 * 2),
        (LEADERBOARD, {}, 1 + 10 * 2),
        (FUNNEL, None, 1 + 1 + 1 * 2),
    ],
    ids=[
        "at-least-one",
        "object",
        "bounded-list",
        "first-variable",
        "first-default",
        "first-capped",
        "first-variable-default",
        "first-variable-default-overridden",
        "nested",
        "named-fragments",
        "inline-fragments",
        "page-info",
        "nodes-by-ids",
        "abstract-costliest-type",
        "skipped",
        "included",
        "mutation-base",
        "bounded-list-nested",
        "list-first",
        "list-first-default",
        "computed-list",
    ],
)
async def test_each_response_reports_the_cost_computed_before_running(api, query, variables, expected):
    # when
    body = await api.post(query, variables)

    # then
    cost = cost_of(body)
    assert cost["requested"] == expected
    assert cost["limit"] == api.settings.query_budget
    assert cost["remaining"] == api.settings.query_budget - expected


async def test_an_operation_over_the_maximum_is_refused_before_it_runs(api):
    # when
    with api.count_queries() as queries:
        body = await api.post(TOO_EXPENSIVE)

    # then
    expected = 1 + 100 * (2 + 1 + 100 * 2)
    assert "data" not in body  # a request error: nothing ran
    [error] = body["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": expected, "maxCost": 5000}
    assert f"{expected} points" in error["message"] and "5000" in error["message"]
    assert queries.count == 0
    assert cost_of(body) == {"requested": expected, "remaining": 50_000, "limit": 50_000}


async def test_a_refused_mutation_changes_nothing(api):
    # when
    with api.count_queries() as queries:
        code = await api.error_code(EXPENSIVE_REGISTER)

    # then: not run, so the address is still free
    assert code == "QUERY_TOO_COMPLEX"
    assert queries.count == 0
    await register(api, "never@example.com")


async def test_the_refusal_is_a_request_error_in_graphql_over_http(api):
    # when
    response = await api.client.post(
        "/graphql", json={"query": TOO_EXPENSIVE}, headers={"accept": "application/graphql-response+json"}
    )

    # then
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_failing_and_invalid_operations_report_the_budget_too(api):
    # when
    failing = await api.post(ABSTRACT, {"id": "T3JnYW5pemF0aW9uOjk5OTk5"})  # Organization:99999, absent
    invalid = await api.post(UNKNOWN_FIELD)

    # then
    assert failing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert cost_of(failing) == {"requested": 22, "remaining": 50_000 - 22, "limit": 50_000}
    assert invalid["errors"]
    assert cost_of(invalid) == {"requested": 0, "remaining": 50_000 - 22, "limit": 50_000}


# --- budgets -----------------------------------------------------------------------------------


async def spend_all(api: Api, **who: str) -> dict:
    """RATES until refused (the fifth time for a fresh budget of 100); the refused response."""
    for _ in range(api.settings.query_budget // 21 + 1):
        body = await api.post(RATES, **who)
        if body.get("errors"):
            return body
    raise AssertionError("the budget was never used up")


async def test_a_used_up_budget_is_throttled_with_when_to_retry(small_budget, clock):
    # given
    person = await register(small_budget, "busy@example.com")

    # when
    first = await small_budget.post(RATES, token=person.token)
    refused = await spend_all(small_budget, token=person.token)

    # then
    assert cost_of(first) == {"requested": 21, "remaining": 79, "limit": 100}
    assert "data" not in refused  # a request error: nothing ran
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "THROTTLED"
    retry_after = error["extensions"]["retryAfter"]
    assert 1 <= retry_after <= 120
    assert f"try again in {retry_after} seconds" in error["message"]
    assert cost_of(refused) == {"requested": 21, "remaining": 100 - 4 * 21, "limit": 100}


async def test_a_throttled_response_carries_retry_after_and_runs_nothing(small_budget, clock):
    # given
    person = await register(small_budget, "busy@example.com")
    await spend_all(small_budget, token=person.token)

    with small_budget.count_queries() as authentication:
        await small_budget.post(TYPENAME, token=person.token)

    # when
    with small_budget.count_queries() as queries:
        response = await small_budget.client.post(
            "/graphql", json={"query": RATES}, headers={"authorization": f"Bearer {person.token}"}
        )

    # then: only authentication read the database
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert response.headers["retry-after"] == str(body["errors"][0]["extensions"]["retryAfter"])
    assert queries.count == authentication.count


async def test_the_budget_refills_over_time(small_budget, clock):
    # given
    person = await register(small_budget, "busy@example.com")
    refused = await spend_all(small_budget, token=person.token)
    retry_after = refused["errors"][0]["extensions"]["retryAfter"]

    # when: not quite long enough, then long enough
    clock.shift(retry_after - 2)
    early = await small_budget.post(RATES, token=person.token)
    clock.shift(2)
    later = await small_budget.post(RATES, token=person.token)

    # then
    assert early["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert "errors" not in later, later
    clock.shift(180)
    assert cost_of(await small_budget.post(VIEWER, token=person.token))["remaining"] == 100 - 1


async def test_each_user_has_a_budget_of_their_own(small_budget, clock):
    # given
    busy = await register(small_budget, "busy@example.com")
    other = await register(small_budget, "other@example.com")
    await spend_all(small_budget, token=busy.token)

    # when
    others = await small_budget.post(RATES, token=other.token)

    # then
    assert "errors" not in others, others
    assert cost_of(others)["remaining"] == 100 - 21
    assert await small_budget.error_code(RATES, token=busy.token) == "THROTTLED"


async def test_an_api_key_has_a_budget_apart_from_its_creator(small_budget, clock):
    # given
    creator = await register(small_budget, "olivia@vendor.example")
    await make_operator(small_budget, creator)
    key = await create_api_key(small_budget, creator, ["REPORTS_READ"], "BI")

    # when
    refused = await spend_all(small_budget, api_key=key)
    creators = await small_budget.post(RATES, token=creator.token)

    # then
    assert refused["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert "errors" not in creators, creators


async def test_anonymous_clients_are_budgeted_by_address(database_url, clock):
    # given: two clients at two addresses
    app = build_app(make_settings(database_url, **BUDGET))
    async with LifespanManager(app):
        first, second = (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 1000)), base_url="http://t")
            for address in ("198.51.100.1", "198.51.100.2")
        )
        async with first, second:
            for _ in range(4):
                assert "errors" not in (await first.post("/graphql", json={"query": RATES})).json()

            # when
            refused = (await first.post("/graphql", json={"query": RATES})).json()
            elsewhere = (await second.post("/graphql", json={"query": RATES})).json()

    # then
    assert refused["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert "errors" not in elsewhere
    assert cost_of(elsewhere)["remaining"] == 100 - 21


async def test_without_a_budget_only_the_cost_is_reported(database_url):
    # given
    settings = make_settings(database_url, query_budget=0)

    # when
    async for api in start_api(settings):
        body = await api.post(RATES)

    # then
    assert cost_of(body) == {"requested": 21}


def test_a_budget_smaller_than_one_operation_is_refused_at_start(database_url):
    with pytest.raises(ValidationError, match="QUERY_BUDGET"):
        make_settings(database_url, query_budget=100, max_query_cost=500)


# --- every list has a known size ------------------------------------------------------------------

# Lists of objects sized neither by a page, an argument nor a `bounded_list` (costed as 10 items), and
# why nobody outside can grow them.
ESTIMATED_LISTS = {
    "Plan.prices": "one price per currency, set by operators",
    "Product.plans": "the catalog, set by operators",
    "ExpertCode.plans": "the catalog, set by operators",
    "DiscountCodeCheck.plans": "the catalog, set by operators",
    "ProgramTerms.products": "the catalog, set by operators",
    "ResellerPriceTable.rows": "the catalog's plans and currencies, set by operators",
    "Tier.commissionRules": "set by operators",
    "PartnerTierStatus.tiers": "set by operators",
    "PartnerTierStatus.certifications": "recorded by operators",
    "Query.programOverview": "one per program: four",
    "CommissionReport.totals": "one per currency",
    "PayoutFile.payouts": "exportPayouts is for operators",
    "WebhookDelivery.attempts": "at most OUTBOX_MAX_ATTEMPTS, and only operators read them",
}


def _object_lists() -> dict[str, GraphQLField]:
    """Every `Type.field` of the schema returning a list of objects, but connections' edges and
    payloads' errors."""
    schema = graphql_schema(build_schema(make_settings("sqlite://:memory:")))
    found = {}
    for type_name, graphql_type in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for name, field in graphql_type.fields.items():
            item = get_named_type(field.type)
            if not is_list_type(get_nullable_type(field.type)) or not is_composite_type(item):
                continue
            if (name == "edges" and type_name.endswith("Connection")) or item.name == "UserError":
                continue
            found[f"{type_name}.{name}"] = field
    return found


def test_every_list_of_objects_has_a_known_size():
    unknown = [
        path
        for path, field in _object_lists().items()
        if list_bound(field) is None
        and "first" not in field.args
        and path != "Query.nodes"
        and path not in ESTIMATED_LISTS
    ]
    assert unknown == [], "make these connections or `bounded_list`s, or say in ESTIMATED_LISTS why not"


# Resolvers that only format what the row holds (no query), allowed inside computed lists.
FORMATTING_RESOLVERS = {"AffiliateLink.url"}  # PUBLIC_URL + the link's code


def _plain(graphql_type: GraphQLObjectType, seen: set[str]) -> bool:
    """No field of the type (or of the objects inside) runs a resolver of its own, but relay ids."""
    if graphql_type.name in seen:
        return True
    seen.add(graphql_type.name)
    for name, field in graphql_type.fields.items():
        definition = strawberry_field(field)
        formatting = f"{graphql_type.name}.{name}" in FORMATTING_RESOLVERS
        if definition is not None and definition.base_resolver is not None and name != "id" and not formatting:
            return False
        inner = get_named_type(field.type)
        if isinstance(inner, GraphQLObjectType) and not _plain(inner, seen):
            return False
    return True


def test_computed_lists_hold_plain_values():
    # a computed list costs one item: its items must not run queries of their own
    computed = {path: field for path, field in _object_lists().items() if (list_bound(field) or (0, False))[1]}
    assert computed, "no computed list found"
    assert [path for path, field in computed.items() if not _plain(get_named_type(field.type), set())] == []
