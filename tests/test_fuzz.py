"""Schemathesis fuzzing of `/graphql` through a real server: no server error for any generated request.

Every query and mutation field of the schema (from introspection) gets `FUZZ_EXAMPLES` generated
operations (default 10; raise it to explore locally: `FUZZ_EXAMPLES=50 pytest tests/test_fuzz.py`),
sent by a signed-in operator (every permission) and by a partner administrator (of a partner in
every program) to a uvicorn process. Generation is derandomized, so CI sends the same requests
every time, and stops after `FUZZ_SECONDS` (default 40) per actor. Opaque inputs are generated too:
`ID`s are global ids of real and unknown type names with numbers in and beyond the columns' ranges,
and strings (so `after`) are often cursors of crafted JSON.

A server error is an HTTP status ≥ 500 or a GraphQL error with `extensions.code`
`INTERNAL_SERVER_ERROR` (strawberry answers an unexpected exception with 200 and that code).
Client errors (validation, NOT_FOUND, FORBIDDEN, BAD_USER_INPUT, payload `errors`…) are fine.
All failures of a run are collected and reported together, each with the operation that caused
it, followed by the exceptions the server logged (no shrinking: that would take minutes).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from graphql import get_introspection_query, introspection_from_schema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from partner_portal.schema import build_schema
from partner_portal.schema.common import NODE_FETCHERS
from partner_portal.schema.strawberry_internals import graphql_schema
from tests.conftest import PASSWORD, POSTGRES_URL, start_api
from tests.conftest import test_settings as make_settings
from tests.documents import LOGIN
from tests.servers import Server
from tests.support import make_partner, operator

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
SECONDS_PER_ACTOR = float(os.environ.get("FUZZ_SECONDS", "40"))
# The fuzzing server: no query budget, and look-up throttles far above what the fuzzer sends.
SERVER_ENVIRONMENT = {"QUERY_BUDGET": "0", "CODE_LOOKUP_RATE": "1000000/minute", "LOGIN_MAX_FAILURES": "1000"}

# Our custom scalars: mostly well-formed values, sometimes any text (refusing it is the server's job).
_ANY_TEXT = st.text(max_size=30)
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12).map(str),
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        _ANY_TEXT,
    ).map(nodes.String),
)
schemathesis.graphql.scalar(
    "DateTime",
    st.one_of(st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()), _ANY_TEXT).map(
        nodes.String
    ),
)
schemathesis.graphql.scalar("Date", st.one_of(st.dates().map(lambda day: day.isoformat()), _ANY_TEXT).map(nodes.String))
schemathesis.graphql.scalar("JSON", st.one_of(_ANY_TEXT.map(nodes.String), st.integers().map(nodes.Int)))

# Opaque inputs: global ids (base64 of `Type:number`) and cursors (base64 of a JSON list of sort keys), made
# well-formed enough to get past the first look: real type names with numbers that may exist, that lie on
# or beyond the bounds of 32- and 64-bit columns, or that are no numbers; key lists of any JSON shape.
_BOUNDS = [0, 1, 2, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**30, -1]
_NUMBERS = st.one_of(st.integers(min_value=1, max_value=5), st.sampled_from(_BOUNDS), st.integers())
_TYPE_NAMES = st.sampled_from([*sorted(NODE_FETCHERS), "Payment", "Invoice", "Nope", ""])
_GLOBAL_IDS = st.builds(
    lambda type_name, number: base64.b64encode(f"{type_name}:{number}".encode()).decode(),
    _TYPE_NAMES,
    st.one_of(_NUMBERS.map(str), _ANY_TEXT),
)
_JSON_KEYS = st.recursive(
    st.one_of(st.none(), st.booleans(), _NUMBERS, st.floats(allow_nan=False), _ANY_TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ANY_TEXT, inner, max_size=2),
    max_leaves=5,
)
_CURSORS = st.lists(_JSON_KEYS, max_size=3).map(
    lambda keys: base64.urlsafe_b64encode(json.dumps(keys).encode()).decode().rstrip("=")
)
schemathesis.graphql.scalar("ID", st.one_of(_GLOBAL_IDS, _ANY_TEXT).map(nodes.String))
schemathesis.graphql.scalar("String", st.one_of(_ANY_TEXT, _CURSORS).map(nodes.String))  # `after` is a String


@dataclass
class Target:
    server: Server
    schema: schemathesis.schemas.BaseSchema
    credentials: dict[str, tuple[str, str]]  # actor → (email, password)
    log: Path


@pytest.fixture(scope="module")
async def target(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Target]:
    folder = tmp_path_factory.mktemp("fuzz")
    if POSTGRES_URL:
        url = POSTGRES_URL
    else:
        shutil.copyfile(template_database, folder / "portal.sqlite3")
        url = f"sqlite://{folder / 'portal.sqlite3'}"
    async for api in start_api(make_settings(url)):  # empties PostgreSQL's tables
        reviewer = await operator(api)
        partner = await make_partner(api, reviewer, programs=["SERVICE_PARTNER", "AFFILIATE", "EXPERT", "RESELLER"])
    credentials = {"operator": (reviewer.email, PASSWORD), "partner administrator": (partner.admin.email, PASSWORD)}
    log = folder / "server.log"
    server = Server(url, extra_environment=SERVER_ENVIRONMENT, log=log)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            introspection = (await client.post("/graphql", json={"query": get_introspection_query()})).json()
        yield Target(server, schemathesis.graphql.from_dict(introspection), credentials, log)
    finally:
        await server.kill()


def sign_in(session: requests.Session, base_url: str, email: str, password: str) -> str:
    response = session.post(
        f"{base_url}/graphql", json={"query": LOGIN, "variables": {"input": {"email": email, "password": password}}}
    )
    payload = response.json()["data"]["login"]
    assert payload["errors"] == [], payload
    return payload["token"]


def exceptions_in(log: Path) -> list[str]:
    """The closing line of each traceback in the server's log (what was raised), each once."""
    lines = log.read_text(errors="replace").splitlines()
    found = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Invalid\w*)\b", line)]
    return list(dict.fromkeys(found))


def server_errors(response: requests.Response) -> list[str]:
    """What makes a response a server error; empty when it is not one."""
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:300]}"]
    try:
        body = response.json()
    except ValueError:
        return [f"HTTP {response.status_code}, not JSON: {response.text[:300]}"]
    return [
        f"{error.get('path')}: {error.get('message')}"
        for error in body.get("errors") or []
        if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR"
    ]


def fuzz(target: Target, actor: str) -> tuple[list[str], int, int]:
    """Every operation of the schema, EXAMPLES times, as `actor`: (failures, operations, requests)."""
    email, password = target.credentials[actor]
    base_url = target.server.url
    failures: list[str] = []
    sent = operations = 0
    deadline = time.monotonic() + SECONDS_PER_ACTOR
    with requests.Session() as session:
        for result in target.schema.get_all_operations():
            if time.monotonic() > deadline:
                warnings.warn(
                    f"FUZZ_SECONDS ({SECONDS_PER_ACTOR}) ran out after {operations} operations as {actor}", stacklevel=1
                )
                break
            operation = result.ok()
            operations += 1
            # A fresh session per operation: fuzzed `logout`/`logoutEverywhere` must not blind the rest.
            headers = {"authorization": f"Bearer {sign_in(session, base_url, email, password)}"}

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                nonlocal sent
                response = case.call(base_url=f"{base_url}/graphql", session=session, headers=headers)
                sent += 1
                for problem in server_errors(response):
                    failures.append(f"{operation.label}: {problem}\n    body: {str(case.body)[:800]}")

            run()
    return failures, operations, sent


def test_every_query_and_mutation_field_is_fuzzed():
    # given: the schema the app serves (in-process; the fuzzer reads the same by introspection)
    schema = graphql_schema(build_schema(make_settings("sqlite://:memory:")))

    # when
    operations = {
        result.ok().label
        for result in schemathesis.graphql.from_dict(introspection_from_schema(schema)).get_all_operations()
    }

    # then
    assert operations == (
        {f"Query.{name}" for name in schema.query_type.fields}
        | {f"Mutation.{name}" for name in schema.mutation_type.fields}
    )


@pytest.mark.slow  # a server process and a few thousand generated requests
@pytest.mark.timeout(2 * SECONDS_PER_ACTOR + 120)
@pytest.mark.parametrize("actor", ["operator", "partner administrator"])
def test_no_generated_request_is_a_server_error(target, actor):
    # when
    failures, operations, sent = fuzz(target, actor)

    # then
    print(f"fuzz as {actor}: {operations} operations, {sent} requests")
    assert not failures, (
        f"{len(failures)} server error(s) as {actor}:\n"
        + "\n".join(failures)
        + "\nexceptions in the server log:\n"
        + "\n".join(exceptions_in(target.log))
    )
