"""GraphQL over HTTP and the hardening around it, through the real ASGI app."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator
from unittest.mock import ANY
from urllib.parse import urlencode

import httpx
import pytest
from asgi_lifespan import LifespanManager
from graphql import get_introspection_query
from pydantic import ValidationError
from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate

from partner_portal.models.db import tortoise_config
from partner_portal.resolvers import organizations as organization_resolvers
from partner_portal.server import build_app
from partner_portal.settings import Settings
from tests.call_counting import MAX_CALLS, counted_calls
from tests.conftest import PASSWORD, Api, running
from tests.conftest import test_settings as make_settings
from tests.documents import REGISTER
from tests.support import GRAPHQL_RESPONSE, register

JSON = "application/json"
COST = {"cost": ANY}  # every response reports its cost (tests/test_query_cost.py)

VIEWER = "query { viewer { id email } }"
UNKNOWN_FIELD = "query { viewer { id doesNotExist } }"
SYNTAX_ERROR = "query { viewer { id "
NODE = "query Node($id: ID!) { node(id: $id) { id } }"
UNKNOWN_NODE_ID = base64.b64encode(b"Organization:999999").decode()
ORGANIZATIONS_PAGE = """
query Organizations($first: Int, $after: String) {
  organizations(first: $first, after: $after) { edges { cursor node { id name } } }
}"""
ORGANIZATIONS = "query { organizations { edges { node { id } } } }"
REGISTER_INLINE = (
    """
mutation { register(input: {email: "get@example.com", password: "%s", name: "Get"}) { token errors { code } } }
"""
    % PASSWORD
)
INTROSPECTION = "query { __schema { types { name } } }"
TYPE_INTROSPECTION = 'query { __type(name: "User") { name } }'
FULL_INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
)


def query_of_depth(depth: int) -> str:
    """`{ viewer { memberships { organization { viewerMembership { … { id } } } } } }`,
    `depth` levels below the root field, as the depth limiter counts them."""
    below_viewer = ["memberships", *itertools.islice(itertools.cycle(["organization", "viewerMembership"]), depth - 2)]
    chain = ["viewer", *below_viewer]
    return "query { " + " { ".join(chain) + " { id" + " }" * len(chain) + " }"


def query_of_depth_through_fragments(depth: int) -> str:
    """The same depth, but every level hidden in its own named fragment."""
    names = ["organization", "viewerMembership"]
    fragments = []
    for level in range(depth - 1):
        field = "memberships" if level == 0 else names[(level - 1) % 2]
        on_type = "User" if level == 0 else ("Membership" if level % 2 == 1 else "Organization")
        inner = f"...F{level + 1}" if level < depth - 2 else "id"
        fragments.append(f"fragment F{level} on {on_type} {{ {field} {{ {inner} }} }}")
    return "query { viewer { ...F0 } }\n" + "\n".join(fragments)


def aliases(count: int) -> str:
    return "query { " + " ".join(f"a{i}: viewer {{ id }}" for i in range(count)) + " }"


def query_of_tokens(count: int) -> str:
    """A valid query of exactly `count` lexical tokens, padded with list values that cost
    nothing to validate or run (`nodes` is skipped)."""
    fixed = 24  # query { viewer { id } nodes ( ids : [ ] ) @ skip ( if : true ) { id } }
    padding = " ".join(f'"{i}"' for i in range(count - fixed))
    return "query { viewer { id } nodes(ids: [" + padding + "]) @skip(if: true) { id } }"


def cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def post(
    api: Api, query: str, variables: dict | None = None, *, accept: str | None = None, token: str | None = None
):
    headers = {"accept": accept} if accept else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return await api.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def media_type(response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


async def can_register(api: Api, email: str) -> bool:
    """Whether `email` is still free: registering it now succeeds (and takes it)."""
    data = await api.data(REGISTER, {"input": {"email": email, "password": PASSWORD, "name": "Probe"}})
    codes = [error["code"] for error in data["register"]["errors"]]
    assert codes in ([], ["EMAIL_TAKEN"]), codes
    return codes == []


# --- transport -------------------------------------------------------------------------------


async def test_a_query_can_be_posted_as_json(api):
    # given
    person = await register(api, "post@example.com")

    # when
    response = await post(api, VIEWER, token=person.token)

    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": {"viewer": {"id": person.user_id, "email": "post@example.com"}},
        "extensions": COST,
    }


async def test_a_query_can_be_sent_with_get(api):
    # given
    person = await register(api, "get@example.com")

    # when
    response = await api.client.get(
        "/graphql", params={"query": VIEWER}, headers={"authorization": f"Bearer {person.token}"}
    )

    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": {"viewer": {"id": person.user_id, "email": "get@example.com"}},
        "extensions": COST,
    }


async def test_a_mutation_sent_with_get_is_refused_and_writes_nothing(api):
    # when
    response = await api.client.get("/graphql", params={"query": REGISTER_INLINE})

    # then
    assert 400 <= response.status_code < 500
    assert await can_register(api, "get@example.com")


def as_text(query: str) -> str:
    return json.dumps({"query": query})


def as_form(query: str) -> str:
    return urlencode({"query": query})


def as_multipart(query: str) -> str:
    operations = json.dumps({"query": query, "variables": {}})
    return (
        '--xyz\r\nContent-Disposition: form-data; name="operations"\r\n\r\n' + operations + "\r\n"
        '--xyz\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--xyz--\r\n'
    )


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        ("text/plain", as_text),
        ("application/x-www-form-urlencoded", as_form),
        ("multipart/form-data; boundary=xyz", as_multipart),
    ],
    ids=["text-plain", "form-urlencoded", "multipart"],
)
async def test_posts_a_browser_may_send_cross_site_are_refused(api, content_type, encode):
    # given: content types a page on another site can POST without a CORS preflight

    # when
    response = await api.client.post(
        "/graphql", content=encode(REGISTER_INLINE), headers={"content-type": content_type}
    )

    # then
    assert 400 <= response.status_code < 500
    assert await can_register(api, "get@example.com")


async def test_a_batch_of_operations_is_refused(api):
    # when
    response = await api.client.post("/graphql", json=[{"query": VIEWER}, {"query": VIEWER}])

    # then
    assert 400 <= response.status_code < 500
    assert "data" not in response.text


# --- GraphQL over HTTP media types -------------------------------------------------------------


@pytest.mark.parametrize(
    "accept", [GRAPHQL_RESPONSE, f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", f"{JSON};q=0.5, {GRAPHQL_RESPONSE}"]
)
async def test_a_client_accepting_graphql_response_json_gets_it(api, accept):
    # when
    response = await post(api, VIEWER, accept=accept)

    # then
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"viewer": None}, "extensions": COST}


@pytest.mark.parametrize("query", [UNKNOWN_FIELD, SYNTAX_ERROR], ids=["validation", "syntax"])
async def test_a_request_error_is_400_with_graphql_response_json(api, query):
    # when
    response = await post(api, query, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 400
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body  # nothing ran: a request error has no `data` entry
    assert body["errors"]


async def test_a_field_error_is_200_with_graphql_response_json(api):
    # given
    person = await register(api, "fields@example.com")

    # when
    response = await post(api, NODE, {"id": UNKNOWN_NODE_ID}, accept=GRAPHQL_RESPONSE, token=person.token)

    # then
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["NOT_FOUND"]
    assert response.json()["data"] == {"node": None}  # it ran: an execution error keeps `data`


@pytest.mark.parametrize("accept", [None, JSON, "*/*"], ids=["no-accept", "json", "anything"])
async def test_a_legacy_client_gets_application_json_and_200_even_for_request_errors(api, accept):
    # when
    response = await post(api, UNKNOWN_FIELD, accept=accept)

    # then
    assert response.status_code == 200
    assert media_type(response) == JSON
    assert response.json()["errors"]
    assert "data" not in response.json()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (f"{GRAPHQL_RESPONSE};q=0, {JSON}", JSON),
        (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
        (f"{JSON};q=0.1, {GRAPHQL_RESPONSE};q=0.2", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON}", GRAPHQL_RESPONSE),
        (f"*/*;q=0.8, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, */*", JSON),
        ("application/*", JSON),
        ("text/html, APPLICATION/JSON; charset=utf-8", JSON),
    ],
    ids=[
        "graphql-response-refused",
        "json-preferred",
        "graphql-response-preferred",
        "both-named",
        "named-over-wildcard",
        "wildcard-but-refused",
        "type-wildcard",
        "case-and-parameters",
    ],
)
async def test_the_media_type_follows_the_accept_qualities(api, accept, expected):
    # when
    response = await post(api, VIEWER, accept=accept)

    # then
    assert response.status_code == 200
    assert media_type(response) == expected


@pytest.mark.parametrize(
    "accept", ["text/html", f"{JSON};q=0", f"{GRAPHQL_RESPONSE};q=0, {JSON};q=0, */*", "image/*", f"{JSON};q=oops"]
)
async def test_a_client_accepting_neither_json_type_gets_406(api, accept):
    # when
    response = await post(api, VIEWER, accept=accept)

    # then
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    assert "data" not in response.json()


# --- choosing the operation ----------------------------------------------------------------------


SEVERAL_QUERIES = "query Id { viewer { id } } query Email { viewer { email } }"
CREATE_THEN_READ = """
mutation Create { createOrganization(input: {name: "Several"}) { organization { id } errors { code } } }
query Read { organizations { totalCount } }"""


@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 400), (JSON, 200)])
@pytest.mark.parametrize("operation_name", [None, "Unknown"], ids=["no-name", "unknown-name"])
async def test_an_operation_that_cannot_be_chosen_is_a_request_error(api, operation_name, accept, status):
    # when
    response = await api.client.post(
        "/graphql", json={"query": SEVERAL_QUERIES, "operationName": operation_name}, headers={"accept": accept}
    )

    # then: a GraphQL error body, nothing ran
    assert response.status_code == status
    assert media_type(response) == accept
    body = response.json()
    assert "data" not in body
    assert [error["extensions"]["code"] for error in body["errors"]] == ["BAD_REQUEST"]


async def test_the_named_operation_of_several_runs(api):
    # when
    response = await api.client.post("/graphql", json={"query": SEVERAL_QUERIES, "operationName": "Email"})

    # then
    assert response.json() == {"data": {"viewer": None}, "extensions": COST}


async def test_a_mutation_among_several_operations_runs_once_and_only_when_named(api):
    # given: a signed-in client that sends an Idempotency-Key
    person = await register(api, "several@example.com")
    headers = {"authorization": f"Bearer {person.token}", "idempotency-key": "several-1"}

    # when: the mutation is the first operation, but none is named
    unnamed = await api.client.post("/graphql", json={"query": CREATE_THEN_READ}, headers=headers)

    # then: nothing ran
    assert "data" not in unnamed.json()
    count = {"query": CREATE_THEN_READ, "operationName": "Read"}
    assert (await api.client.post("/graphql", json=count, headers=headers)).json()["data"]["organizations"] == {
        "totalCount": 0
    }

    # when: named, twice with the same key
    named = {"query": CREATE_THEN_READ, "operationName": "Create"}
    first = (await api.client.post("/graphql", json=named, headers=headers)).json()
    repeat = (await api.client.post("/graphql", json=named, headers=headers)).json()

    # then: it ran once
    assert first["data"] == repeat["data"]
    assert (await api.client.post("/graphql", json=count, headers=headers)).json()["data"]["organizations"] == {
        "totalCount": 1
    }


# --- refusals before GraphQL runs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        ({"json": {"query": ""}}, 400),
        ({"json": {"variables": {}}}, 400),
        ({"content": "{ not json", "headers": {"content-type": JSON}}, 400),
        ({"json": {"query": VIEWER, "variables": "not an object"}}, 400),
        ({"json": {"query": VIEWER, "operationName": {"not": "a string"}}}, 400),
    ],
    ids=["empty-query", "no-query", "not-json", "variables-not-an-object", "operation-name-not-a-string"],
)
async def test_a_malformed_request_gets_a_graphql_error_body(api, request_, status):
    # when
    response = await api.client.post("/graphql", **request_)

    # then
    assert response.status_code == status
    assert media_type(response) == JSON
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert body["errors"][0]["message"]


async def test_a_mutation_over_get_gets_405_with_a_graphql_error_body(api):
    # when
    response = await api.client.get("/graphql", params={"query": REGISTER_INLINE}, headers={"accept": GRAPHQL_RESPONSE})

    # then
    assert response.status_code == 405
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


# --- limits ------------------------------------------------------------------------------------


async def refused_quickly(api: Api, query: str) -> list[dict]:
    """The errors of a query that must be refused as the client's fault, without executing, and
    without much work (MAX_CALLS)."""
    with counted_calls() as calls:
        response = await post(api, query, accept=GRAPHQL_RESPONSE)

    assert response.status_code == 400, response.text
    assert response.json().get("data") is None
    assert "Unexpected error" not in response.text
    assert "INTERNAL_SERVER_ERROR" not in response.text
    assert calls.count < MAX_CALLS, f"the refusal made {calls.count} calls"
    return response.json()["errors"]


async def test_a_query_at_the_depth_limit_runs(api):
    # given
    person = await register(api, "deep@example.com")

    # when
    response = await post(api, query_of_depth(api.settings.max_query_depth), token=person.token)

    # then
    assert response.status_code == 200
    assert "errors" not in response.json(), response.json()


@pytest.mark.parametrize("build", [query_of_depth, query_of_depth_through_fragments], ids=["inline", "fragments"])
async def test_a_query_deeper_than_the_limit_is_refused(api, build):
    # when
    errors = await refused_quickly(api, build(api.settings.max_query_depth + 1))

    # then
    assert any("exceeds maximum operation depth" in e["message"] for e in errors), errors


async def test_as_many_aliases_as_allowed_run(api):
    # when
    response = await post(api, aliases(api.settings.max_aliases))

    # then
    assert response.status_code == 200
    assert "errors" not in response.json(), response.json()


async def test_more_aliases_than_allowed_are_refused(api):
    # when
    errors = await refused_quickly(api, aliases(api.settings.max_aliases + 1))

    # then
    assert any("aliases" in e["message"] for e in errors), errors


@pytest.mark.parametrize("extra", [1, 100_000], ids=["one-over", "flood"])  # a flood within MAX_REQUEST_BYTES
async def test_a_query_with_too_many_tokens_is_refused(api, extra):
    # when
    errors = await refused_quickly(api, query_of_tokens(api.settings.max_tokens + extra))

    # then
    assert any("more than" in e["message"] and "tokens" in e["message"] for e in errors), errors


async def test_a_query_of_as_many_tokens_as_allowed_runs(api):
    # when
    response = await post(api, query_of_tokens(api.settings.max_tokens))

    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": None}, "extensions": COST}


async def test_the_standard_introspection_query_fits_the_limits_in_development(api):
    # when: what GraphiQL and code generators send
    response = await post(api, FULL_INTROSPECTION)

    # then
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body["errors"]
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


# --- connections -------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [101, -1])
async def test_a_page_size_out_of_range_is_a_bad_user_input(api, first):
    # given
    person = await register(api, "pages@example.com")

    # when
    code = await api.error_code(ORGANIZATIONS_PAGE, {"first": first}, token=person.token)

    # then
    assert code == "BAD_USER_INPUT"


async def test_the_largest_page_size_is_allowed(api):
    # given
    person = await register(api, "pages@example.com")

    # when
    data = await api.data(ORGANIZATIONS_PAGE, {"first": 100}, token=person.token)

    # then
    assert data["organizations"]["edges"] == []


@pytest.mark.parametrize(
    "after",
    ["!!not base64!!", cursor(b"not json"), cursor(b'"a string"'), cursor(b"[1, 2, 3]"), cursor(b"\xff\xfe")],
    ids=["not-base64", "not-json", "not-a-list", "wrong-length", "not-utf8"],
)
async def test_a_malformed_cursor_is_a_bad_user_input(api, after):
    # given
    person = await register(api, "cursors@example.com")

    # when
    code = await api.error_code(ORGANIZATIONS_PAGE, {"after": after}, token=person.token)

    # then
    assert code == "BAD_USER_INPUT"


# --- errors ------------------------------------------------------------------------------------


async def test_an_unexpected_exception_is_masked_and_logged(api, monkeypatch, caplog):
    # given
    async def broken(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(organization_resolvers, "list_organizations", broken)
    person = await register(api, "masked@example.com")

    # when
    response = await post(api, ORGANIZATIONS, token=person.token)

    # then
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert [(e["message"], e["extensions"]["code"]) for e in errors] == [("Unexpected error.", "INTERNAL_SERVER_ERROR")]
    assert errors[0]["path"] == ["organizations"]
    assert "secret detail" not in response.text
    assert "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.name == "partner_portal.graphql"]
    assert logged and logged[0].exc_info and "secret detail" in str(logged[0].exc_info[1])


# --- introspection and GraphiQL -----------------------------------------------------------------


@pytest.fixture
async def production_api(database_url: str) -> AsyncIterator[Api]:
    async with running(make_settings(database_url, environment="production")) as api:
        yield api


@pytest.mark.parametrize("query", [INTROSPECTION, TYPE_INTROSPECTION], ids=["schema", "type"])
async def test_production_refuses_introspection(production_api, query):
    # when
    response = await post(production_api, query, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 400
    assert response.json().get("data") is None
    assert "introspection has been disabled" in response.json()["errors"][0]["message"]


async def test_production_serves_no_graphiql(production_api):
    # when
    response = await production_api.client.get("/graphql", headers={"accept": "text/html"})

    # then
    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()


async def test_production_still_answers_queries(production_api):
    # when
    response = await post(production_api, VIEWER, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": None}, "extensions": COST}


async def test_development_allows_introspection(api):
    # when
    data = await api.data(INTROSPECTION)

    # then
    assert {"Query", "Mutation", "User"} <= {t["name"] for t in data["__schema"]["types"]}


async def test_development_serves_graphiql(api):
    # when
    response = await api.client.get("/graphql", headers={"accept": "text/html"})

    # then
    assert response.status_code == 200
    assert media_type(response) == "text/html"
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize(
    ("overrides", "introspection_allowed", "graphiql_served"),
    [
        ({"environment": "production", "introspection": True}, True, False),
        ({"environment": "production", "graphiql": True}, False, True),
        ({"environment": "development", "introspection": False, "graphiql": False}, False, False),
    ],
    ids=["production-introspection-on", "production-graphiql-on", "development-both-off"],
)
async def test_configuration_overrides_the_environment_default(
    database_url, overrides, introspection_allowed, graphiql_served
):
    async with running(make_settings(database_url, **overrides)) as api:
        # when
        introspection = await post(api, INTROSPECTION)
        graphiql = await api.client.get("/graphql", headers={"accept": "text/html"})

        # then
        assert ("errors" not in introspection.json()) is introspection_allowed, introspection.json()
        assert (graphiql.status_code == 200) is graphiql_served


# --- health and readiness ----------------------------------------------------------------------


async def test_healthz_answers(api):
    # when
    response = await api.client.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_when_the_database_does(api):
    # when
    response = await api.client.get("/readyz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "ok", "rateLimitStorage": "ok"}


NEWEST_BUT_ONE = "0006_tiers_webhooks_indexes"


@pytest.mark.slow  # applies the migrations
async def test_readyz_names_the_command_while_migrations_are_missing_and_is_200_once_applied(tmp_path, caplog):
    # given: a database one migration behind this version (SQLite, whichever database the suite uses)
    url = f"sqlite://{tmp_path}/behind.sqlite3"
    await migrate(config=tortoise_config(url), target=f"models.{NEWEST_BUT_ONE}")
    await Tortoise.close_connections()

    app = build_app(make_settings(url))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test") as client,
    ):
        # when
        response = await client.get("/readyz")

        # then: the start-up warned, readiness tells what to run
        assert "run `partner-portal migrate`" in caplog.text
        assert response.status_code == 503
        report = response.json()
        assert report["migrations"] == "pending"
        assert report["pendingMigrations"][0] == "0007_relationship_license_status"
        assert "`partner-portal migrate`" in report["action"]

        # when: the operator runs it (another process), the server keeps running
        migration = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "migrate", env={**os.environ, "DATABASE_URL": url}
        )
        assert await migration.wait() == 0

        # then
        assert (await client.get("/readyz")).status_code == 200


# The database going away (503 while it is gone, recovery without a restart): tests/test_faults.py.
# Redis (RATE_LIMIT_STORAGE) going away: tests/test_shared_limits.py.


# --- settings ----------------------------------------------------------------------------------


@pytest.fixture
def environment(monkeypatch):
    for name in ("ENVIRONMENT", "SECRET_KEY", "INTROSPECTION", "GRAPHIQL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_refuses_the_default_secret_key(environment):
    # given
    environment.setenv("ENVIRONMENT", "production")

    # when / then
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings()


def test_production_refuses_a_short_secret_key(environment):
    # given
    environment.setenv("ENVIRONMENT", "production")
    environment.setenv("SECRET_KEY", "x" * 31)

    # when / then
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings()


def test_production_starts_with_a_long_secret_key(environment):
    # given
    environment.setenv("ENVIRONMENT", "production")
    environment.setenv("SECRET_KEY", os.urandom(16).hex())

    # when
    settings = Settings()

    # then
    assert not settings.is_development
    assert not settings.introspection_enabled
    assert not settings.graphiql_enabled


def test_development_accepts_the_default_secret_key(environment):
    # when
    settings = Settings()

    # then
    assert settings.is_development
    assert settings.introspection_enabled
    assert settings.graphiql_enabled
