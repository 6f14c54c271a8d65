"""Integrators' API keys: created by operators, shown once, scoped, revocable."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.support import make_operator, register

CREATE_KEY = """
mutation Create($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { id name prefix scopes revokedAt } errors { field code } }
}"""
REVOKE_KEY = """
mutation Revoke($id: ID!) { revokeApiKey(input: {apiKeyId: $id}) { apiKey { id revokedAt } errors { code } } }"""
API_KEYS = "{ apiKeys(first: 10) { totalCount edges { node { name scopes lastUsedAt } } } }"
VIEWER_API_KEY = "{ viewerApiKey { name scopes lastUsedAt } }"
AUDIT = "{ auditEvents(first: 5) { edges { node { action } } } }"


async def _operator(api, permissions=None):
    person = await register(api, "olivia@vendor.example")
    await make_operator(api, person, permissions)
    return person


async def _create_key(api, operator, scopes, name="BI export"):
    data = await api.data(CREATE_KEY, {"input": {"name": name, "scopes": scopes}}, token=operator.token)
    return data["createApiKey"]


async def test_an_operator_creates_a_key_shown_once(api):
    operator = await _operator(api)

    created = await _create_key(api, operator, ["REPORTS_READ"])

    assert created["errors"] == []
    assert created["secret"].startswith(created["apiKey"]["prefix"])
    listed = (await api.data(API_KEYS, token=operator.token))["apiKeys"]
    assert listed["totalCount"] == 1
    assert "secret" not in listed["edges"][0]["node"]


async def test_only_operators_with_manage_programs_create_keys(api):
    member = await register(api, "member@example.com")
    reviewer = await register(api, "reviewer@vendor.example")
    await make_operator(api, reviewer, ["REVIEW_PARTNERS"])
    variables = {"input": {"name": "x", "scopes": ["REPORTS_READ"]}}

    assert await api.error_code(CREATE_KEY, variables) == "UNAUTHENTICATED"
    assert await api.error_code(CREATE_KEY, variables, token=member.token) == "FORBIDDEN"
    assert await api.error_code(CREATE_KEY, variables, token=reviewer.token) == "FORBIDDEN"
    assert await api.error_code(API_KEYS, token=member.token) == "FORBIDDEN"


async def test_a_key_needs_a_scope(api):
    operator = await _operator(api)

    created = await _create_key(api, operator, [])

    assert created["errors"] == [{"field": "scopes", "code": "EMPTY_SCOPES"}]


async def test_a_key_acts_within_its_scopes(api):
    operator = await _operator(api)
    reports = (await _create_key(api, operator, ["REPORTS_READ"]))["secret"]
    billing = (await _create_key(api, operator, ["BILLING_WRITE"]))["secret"]

    events = (await api.data(AUDIT, api_key=reports))["auditEvents"]["edges"]
    assert events[0]["node"]["action"] == "api_key.create"
    assert await api.error_code(AUDIT, api_key=billing) == "FORBIDDEN"
    assert (await api.data(VIEWER_API_KEY, api_key=billing))["viewerApiKey"]["scopes"] == ["BILLING_WRITE"]
    # A key is not a user: user-only operations refuse it.
    assert (await api.data("{ viewer { id } }", api_key=reports))["viewer"] is None
    create_org = 'mutation { createOrganization(input: {name: "K"}) { errors { code } } }'
    assert await api.error_code(create_org, api_key=reports) == "UNAUTHENTICATED"


async def test_a_key_also_works_as_a_bearer_token(api):
    operator = await _operator(api)
    key = (await _create_key(api, operator, ["REPORTS_READ"]))["secret"]

    assert (await api.data(VIEWER_API_KEY, token=key))["viewerApiKey"]["scopes"] == ["REPORTS_READ"]


async def test_last_use_is_recorded(api, clock):
    operator = await _operator(api)
    key = (await _create_key(api, operator, ["REPORTS_READ"]))["secret"]
    assert (await api.data(API_KEYS, token=operator.token))["apiKeys"]["edges"][0]["node"]["lastUsedAt"] is None

    clock.shift(timedelta(hours=1))
    await api.data(VIEWER_API_KEY, api_key=key)

    last_used = (await api.data(API_KEYS, token=operator.token))["apiKeys"]["edges"][0]["node"]["lastUsedAt"]
    assert last_used.startswith("2026-03-02T10:00:00")


async def test_a_revoked_key_stops_working_at_once(api):
    operator = await _operator(api)
    created = await _create_key(api, operator, ["REPORTS_READ"])
    key = created["secret"]

    revoked = (await api.data(REVOKE_KEY, {"id": created["apiKey"]["id"]}, token=operator.token))["revokeApiKey"]

    assert revoked["apiKey"]["revokedAt"] is not None
    body = await api.post(AUDIT, api_key=key)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "revoked" in body["errors"][0]["message"]


async def test_revoking_is_for_operators_and_unknown_keys_are_not_found(api):
    operator = await _operator(api)
    created = await _create_key(api, operator, ["REPORTS_READ"])
    member = await register(api, "member@example.com")

    assert await api.error_code(REVOKE_KEY, {"id": created["apiKey"]["id"]}, token=member.token) == "FORBIDDEN"
    assert await api.error_code(REVOKE_KEY, {"id": "QXBpS2V5Ojk5OQ=="}, token=operator.token) == "NOT_FOUND"


async def test_text_postgresql_cannot_store_is_refused_before_anything_runs(api):
    # Found by the fuzzer (tests/test_fuzz.py): a NUL in a key's name was an internal error on PostgreSQL.
    person = await register(api, "olivia@vendor.example")
    await make_operator(api, person)
    assert (
        await api.error_code(
            CREATE_KEY, {"input": {"name": "Billing\x00", "scopes": ["BILLING_WRITE"]}}, token=person.token
        )
        == "BAD_USER_INPUT"
    )
    # a lone surrogate, as JSON can spell it (httpx itself would refuse to encode it)
    body = json.dumps(
        {"query": CREATE_KEY, "variables": {"input": {"name": "Billing \ud800", "scopes": ["BILLING_WRITE"]}}}
    )
    response = await api.client.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {person.token}"},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    literal = 'mutation { createApiKey(input: {name: "Bil\\u0000ling", scopes: [BILLING_WRITE]}) { secret } }'
    assert await api.error_code(literal, token=person.token) == "BAD_USER_INPUT"
    assert (await api.data("{ apiKeys(first: 10) { totalCount } }", token=person.token))["apiKeys"]["totalCount"] == 0
    # the verdict on a text's literals is kept for that text; variables are checked on every request
    assert await api.error_code(literal, token=person.token) == "BAD_USER_INPUT"
    await api.data(CREATE_KEY, {"input": {"name": "Billing", "scopes": ["BILLING_WRITE"]}}, token=person.token)
    assert (
        await api.error_code(
            CREATE_KEY, {"input": {"name": "Billing\x00", "scopes": ["BILLING_WRITE"]}}, token=person.token
        )
        == "BAD_USER_INPUT"
    )
    assert (await api.data("{ apiKeys(first: 10) { totalCount } }", token=person.token))["apiKeys"]["totalCount"] == 1
