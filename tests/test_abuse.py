"""Abuse of the GraphQL endpoint: each hostile request is refused as the client's fault, and quickly.

tests/test_http.py already covers depth + 1 (inline and through fragments), alias + 1, token + 1 and a
token flood, batches, mutations over GET, `text/plain` / form / multipart posts, introspection in
production and masked exceptions. This module adds what they leave out: the documents that are
expensive to *validate* although within the token limit, circular fragments, alias floods, huge
page sizes, huge strings, long and deep JSON inputs, field suggestions in production, and a bound
on the work of every refusal (`MAX_CALLS` Python function calls: counted, not timed, so a busy
machine does not fail it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from graphql import parse
from graphql.language import Lexer, Source, TokenKind

from partner_portal.schema.guards.limits import count_selections
from tests.call_counting import MAX_CALLS, counted_calls
from tests.conftest import Api, running
from tests.conftest import test_settings as make_settings
from tests.documents import NODES
from tests.support import GRAPHQL_RESPONSE, create_api_key, create_organization, make_partner, operator, register

ORGANIZATIONS_PAGE = "query Page($first: Int) { organizations(first: $first) { totalCount } }"
REGISTER = "mutation Register($input: RegisterInput!) { register(input: $input) { token errors { field code } } }"


def tokens(document: str) -> int:
    lexer, count = Lexer(Source(document)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def repeated(unit: str, times: int) -> str:
    return "{ viewer { " + unit * times + "} }"


def distinct_fragments(count: int) -> str:
    spreads = " ".join(f"...M{i}" for i in range(count))
    fragments = " ".join(f"fragment M{i} on Membership {{ organization {{ id }} }}" for i in range(count))
    return f"query {{ viewer {{ memberships {{ {spreads} }} }} }} {fragments}"


def inline_fragments(count: int) -> str:
    return "{ viewer { memberships { " + "... on Membership { organization { id } } " * count + "} } }"


# Documents of fewer than 2,000 tokens that graphql-core's OverlappingFieldsCanBeMerged needs seconds
# to validate (quadratic in the repeated fields); refused by the selection limit before validation.
EXPENSIVE_TO_VALIDATE = {
    "repeated-nested-fields": repeated("memberships { id organization { id } } ", 245),
    "repeated-deep-fields": repeated("memberships { organization { members { edges { node { id } } } } } ", 120),
    "repeated-field": repeated("id ", 1990),
    "distinct-fragments": distinct_fragments(150),
    "inline-fragments": inline_fragments(180),
}


async def post(
    api: Api,
    body: object | None = None,
    *,
    content: str | bytes | None = None,
    token: str | None = None,
    content_type: str = "application/json",
):
    headers = {"accept": GRAPHQL_RESPONSE, "content-type": content_type}
    if token:
        headers["authorization"] = f"Bearer {token}"
    payload = content if content is not None else json.dumps(body)
    with counted_calls() as calls:
        response = await api.client.post("/graphql", content=payload, headers=headers)
    return response, calls.count


def assert_client_error(response, calls: int) -> None:
    """4xx (or 200 with coded errors), nothing executed, nothing unexpected, within MAX_CALLS."""
    assert calls < MAX_CALLS, f"the refusal made {calls} calls"
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.status_code
    assert "Unexpected error" not in response.text and "INTERNAL_SERVER_ERROR" not in response.text
    if response.status_code == 200:
        errors = response.json()["errors"]
        assert all(error.get("extensions", {}).get("code") for error in errors), errors


# --- validation cost -------------------------------------------------------------------------------------


@pytest.mark.parametrize("document", EXPENSIVE_TO_VALIDATE.values(), ids=EXPENSIVE_TO_VALIDATE.keys())
async def test_documents_expensive_to_validate_are_refused_before_validation(api, document):
    # given: within the token limit
    assert tokens(document) <= api.settings.max_tokens

    # when
    response, calls = await post(api, {"query": document})

    # then
    assert_client_error(response, calls)
    assert response.status_code == 400
    assert "selections" in response.json()["errors"][0]["message"], response.json()


async def test_a_document_at_the_selection_limit_runs(api):
    # given: as many selections as allowed (viewer and its ids)
    document = repeated("id ", api.settings.max_selections - 1)
    assert count_selections(parse(document), 10_000) == api.settings.max_selections

    # when
    response, calls = await post(api, {"query": document})

    # then
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": None}
    assert calls < MAX_CALLS


async def test_validation_is_kept_per_query_text_and_per_schema(database_url):
    # given: one text over the selection limit of the default schema, within a raised one
    document = repeated("id ", 200)
    default = make_settings(database_url)
    raised = make_settings(database_url, max_selections=300)

    for _ in range(2):
        # when: sent twice to the default schema (the second answer comes from the cache)
        async with running(default) as api:
            refused, _ = await post(api, {"query": document})
        # and: to a schema with a higher limit
        async with running(raised) as api:
            answered, _ = await post(api, {"query": document})

        # then
        assert refused.status_code == 400
        assert "selections" in refused.json()["errors"][0]["message"]
        assert answered.status_code == 200
        assert answered.json()["data"] == {"viewer": None}


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(repeated("memberships { id organization { id } } ", 37), id="repeated-nested-fields"),
        pytest.param(distinct_fragments(49), id="distinct-fragments"),
    ],
)
async def test_the_worst_documents_within_the_selection_limit_validate_cheaply(database_url, document):
    # given: about 150 selections of the shapes that cost the most to validate (with the cost limit
    # raised: `memberships` counts 100 items, and these documents are to run)
    settings = make_settings(database_url, max_query_cost=50_000)
    assert settings.max_selections - 5 <= count_selections(parse(document), 10_000) <= settings.max_selections

    # when
    async with running(settings) as api:
        response, calls = await post(api, {"query": document})

    # then: validated and run (anonymous: no memberships)
    assert response.status_code == 200, response.text
    assert calls < MAX_CALLS, f"made {calls} calls"


# --- fragments, aliases, page sizes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        "query { viewer { ...A } } fragment A on User { ...A }",
        "query { viewer { ...A } } fragment A on User { id ...B } fragment B on User { ...A }",
        "query { viewer { ...A } } "
        + " ".join(f"fragment {chr(65 + i)} on User {{ ...{chr(66 + i)} }}" for i in range(25))
        + " fragment Z on User { ...A }",
    ],
    ids=["self", "two", "ring-of-26"],
)
async def test_circular_fragments_are_refused(api, document):
    # when
    response, calls = await post(api, {"query": document})

    # then
    assert_client_error(response, calls)
    assert response.status_code == 400
    assert "within itself" in response.json()["errors"][0]["message"]


async def test_an_alias_flood_is_refused(api):
    # given: 600 aliases, within the token limit
    document = "query { " + " ".join(f"a{i}: viewer {{ id }}" for i in range(300)) + " }"

    # when
    response, calls = await post(api, {"query": document})

    # then
    assert_client_error(response, calls)
    assert response.status_code == 400


async def test_a_mutation_alias_flood_against_login_is_refused(api):
    # given: guessing passwords 31 at a time
    guesses = " ".join(
        f'g{i}: login(input: {{email: "a@b.example", password: "guess-{i}"}}) {{ token }}'
        for i in range(api.settings.max_aliases + 1)
    )

    # when
    response, calls = await post(api, {"query": f"mutation {{ {guesses} }}"})

    # then
    assert_client_error(response, calls)
    assert response.status_code == 400


@pytest.mark.parametrize("first", [1_000_000, 2**31 - 1])
async def test_a_page_of_a_million_is_a_bad_user_input(api, first):
    # given
    person = await register(api, "pages@example.com")

    # when
    response, calls = await post(api, {"query": ORGANIZATIONS_PAGE, "variables": {"first": first}}, token=person.token)

    # then
    assert_client_error(response, calls)
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_page_size_beyond_32_bits_is_refused(api):
    # when
    response, calls = await post(api, {"query": "{ organizations(first: 99999999999) { totalCount } }"})

    # then
    assert_client_error(response, calls)
    assert response.status_code == 400


# --- inputs ---------------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_before_parsing(api):
    # given: a 1 MiB string in an input
    huge = "x" * api.settings.max_request_bytes

    # when
    response, calls = await post(
        api,
        {"query": REGISTER, "variables": {"input": {"email": "huge@example.com", "password": huge, "name": "Huge"}}},
    )

    # then
    assert_client_error(response, calls)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_body_streamed_without_content_length_is_counted(api):
    # given: chunked, so no Content-Length to refuse it by
    chunk = b"x" * 65536
    count = api.settings.max_request_bytes // len(chunk) + 2

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(count):
            yield chunk

    # when
    with counted_calls() as calls:
        response = await api.client.post("/graphql", content=chunks(), headers={"content-type": "application/json"})

    # then
    assert_client_error(response, calls.count)
    assert response.status_code == 413


async def test_a_long_string_within_the_limit_is_a_payload_error(api):
    # given: 512 KiB of name
    # when
    response, calls = await post(
        api,
        {
            "query": REGISTER,
            "variables": {
                "input": {"email": "long@example.com", "password": "a-Sturdy-passphrase-42", "name": "n" * 524288}
            },
        },
    )

    # then
    assert calls < MAX_CALLS
    assert response.status_code == 200
    payload = response.json()["data"]["register"]
    assert payload["token"] is None
    assert payload["errors"] == [{"field": "name", "code": "TOO_LONG"}]


@pytest.mark.parametrize("items", [1001, 100_000])
async def test_a_list_of_too_many_items_is_refused_before_graphql(api, items):
    # when
    response, calls = await post(api, {"query": NODES, "variables": {"ids": ["x"] * items}})

    # then
    assert_client_error(response, calls)
    assert response.status_code == 400
    assert "more than 1000 items" in response.text


async def test_an_object_of_too_many_keys_is_refused_before_graphql(api):
    # when: an input with 60,000 unknown fields (graphql-core would look for a suggestion for each)
    response, calls = await post(api, {"query": REGISTER, "variables": {"input": {f"k{i}": 1 for i in range(60_000)}}})

    # then
    assert_client_error(response, calls)
    assert response.status_code == 400
    assert "more than 1000 items" in response.text


async def test_more_node_ids_than_allowed_are_a_bad_user_input(api):
    # when
    response, calls = await post(api, {"query": NODES, "variables": {"ids": ["x"] * 101}})

    # then
    assert_client_error(response, calls)
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("depth", [33, 100_000], ids=["just-too-deep", "beyond-the-json-parser"])
async def test_deeply_nested_json_is_refused(api, depth):
    # given: `variables: {"a": [[[…]]]}` (100,000 levels make Python's json parser raise RecursionError)
    body = '{"query": "{ viewer { id } }", "variables": {"a": ' + "[" * depth + "]" * depth + "}}"

    # when
    response, calls = await post(api, content=body)

    # then
    assert_client_error(response, calls)
    assert response.status_code == 400
    assert "nests deeper" in response.text


async def test_deeply_nested_variables_sent_with_get_are_refused(api):
    # when
    with counted_calls() as calls:
        response = await api.client.get(
            "/graphql", params={"query": "{ viewer { id } }", "variables": '{"a": ' + "[" * 5000 + "]" * 5000 + "}"}
        )

    # then
    assert_client_error(response, calls.count)
    assert response.status_code == 400


# --- production: no schema through error messages ------------------------------------------------------


@pytest.fixture
async def production_api(database_url: str) -> AsyncIterator[Api]:
    async with running(make_settings(database_url, environment="production")) as api:
        yield api


MISSPELLED = {
    "field": "{ viewer { emial } }",
    "root-field": "{ viewr { id } }",
    "argument": "{ organizations(frist: 1) { totalCount } }",
    "type": "query Q($a: Strin) { viewer { id } }",
    "enum-value": "{ partnerApplications(status: PENDIN) { totalCount } }",
    "input-field": 'mutation { register(input: {email: "a@b.c", password: "p", name: "n", nmae: "n"}) { token } }',
}


@pytest.mark.parametrize("document", MISSPELLED.values(), ids=MISSPELLED.keys())
async def test_production_gives_no_suggestions(production_api, document):
    # when
    response, _ = await post(production_api, {"query": document})

    # then
    assert response.status_code == 400
    assert "Did you mean" not in response.text, response.text
    assert response.json()["errors"]


async def test_production_gives_no_suggestions_for_variables_either(production_api):
    # when
    response, _ = await post(
        production_api,
        {"query": REGISTER, "variables": {"input": {"email": "a@b.c", "password": "p", "name": "n", "nmae": "n"}}},
    )

    # then
    assert response.status_code == 400
    assert "Did you mean" not in response.text, response.text


@pytest.mark.parametrize("document", [MISSPELLED["field"], MISSPELLED["enum-value"]], ids=["field", "enum-value"])
async def test_development_keeps_suggestions(api, document):
    # when
    response, _ = await post(api, {"query": document})

    # then
    assert "Did you mean" in response.text


# --- long values in arguments: refused as the client's, never an unexpected error ------------------------

SET_SERVICE_PARTNER = """
mutation Choose($input: SetServicePartnerInput!) { setServicePartner(input: $input) { errors { field code } } }"""
SEARCH_CUSTOMERS = "query Search($search: String) { myCustomers(search: $search) { totalCount } }"
RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) { recordPayment(input: $input) { errors { field code } } }"""
RECORD_REFUND = """
mutation Refund($input: RecordRefundInput!) { recordRefund(input: $input) { errors { field code } } }"""
LONG = "X" * 300


async def test_a_partner_code_longer_than_any_is_not_found(api):
    # given
    person = await register(api, "chris@contoso.example")
    organization = await create_organization(api, person, "Contoso")

    # when
    body = await api.post(
        SET_SERVICE_PARTNER, {"input": {"organizationId": organization["id"], "partnerCode": LONG}}, token=person.token
    )

    # then
    assert body["data"]["setServicePartner"]["errors"] == [{"field": "partnerCode", "code": "PARTNER_NOT_FOUND"}]


async def test_a_customer_search_longer_than_any_name_is_a_bad_user_input(api):
    # given
    partner = await make_partner(api, await operator(api))

    # when
    code = await api.error_code(SEARCH_CUSTOMERS, {"search": "x" * 100_000}, token=partner.admin.token)

    # then
    assert code == "BAD_USER_INPUT"


async def test_billing_event_ids_longer_than_any_are_too_long(api):
    # given
    olivia = await operator(api)
    customer = await create_organization(api, await register(api, "chris@contoso.example"), "Contoso")
    key = await create_api_key(api, olivia, ["BILLING_WRITE"], "billing")
    money = {"amount": "10.00", "currency": "EUR"}

    # when
    payment = await api.post(
        RECORD_PAYMENT,
        {
            "input": {
                "externalId": LONG,
                "organizationId": customer["id"],
                "amount": money,
                "paidAt": "2026-03-01T00:00:00Z",
            }
        },
        api_key=key,
    )
    refund = await api.post(
        RECORD_REFUND,
        {
            "input": {
                "externalId": "r-1",
                "paymentExternalId": LONG,
                "amount": money,
                "refundedAt": "2026-03-01T00:00:00Z",
            }
        },
        api_key=key,
    )

    # then
    assert payment["data"]["recordPayment"]["errors"] == [{"field": "externalId", "code": "TOO_LONG"}]
    assert refund["data"]["recordRefund"]["errors"] == [{"field": "paymentExternalId", "code": "TOO_LONG"}]


# --- the other ways in -----------------------------------------------------------------------------------


async def test_a_token_flood_with_an_idempotency_key_is_refused_as_quickly(api):
    # given: the key makes the server look at the operation's type before running it
    person = await register(api, "keys@example.com")
    flood = "query { viewer { id } nodes(ids: [" + " ".join(f'"{i}"' for i in range(100_000)) + "]) { id } }"

    # when
    with counted_calls() as calls:
        response = await api.client.post(
            "/graphql",
            json={"query": flood},
            headers={
                "accept": GRAPHQL_RESPONSE,
                "authorization": f"Bearer {person.token}",
                "idempotency-key": "flood-1",
            },
        )

    # then
    assert_client_error(response, calls.count)
    assert "more than" in response.json()["errors"][0]["message"]


async def test_the_stripe_endpoint_refuses_a_body_over_the_limit(api):
    # when
    with counted_calls() as calls:
        response = await api.client.post(
            "/webhooks/stripe",
            content=b"{" + b" " * api.settings.max_request_bytes + b"}",
            headers={"content-type": "application/json", "stripe-signature": "t=1,v1=x"},
        )

    # then
    assert_client_error(response, calls.count)
    assert response.status_code == 413
