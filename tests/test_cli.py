"""The `partner-portal` console script, run in-process, checked through the GraphQL app.

The commands call `asyncio.run` themselves, so these tests are plain (sync) functions and
reach the app through `asyncio.run` as well, on a SQLite file of their own.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tortoise.backends.base.executor import EXECUTOR_CACHE

from partner_portal import cli, server
from partner_portal.resolvers.demo import DEMO_PASSWORD, OPERATOR_EMAIL
from partner_portal.schema import build_schema
from partner_portal.server import build_app
from partner_portal.settings import Settings
from tests.conftest import PASSWORD, create_tables
from tests.conftest import test_settings as make_settings

LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { token user { email } errors { code } }
}"""
API_KEYS = "query { apiKeys { totalCount edges { node { name scopes } } } }"
ORGANIZATIONS = "query { organizations(first: 100) { totalCount edges { node { name } } } }"
VIEWER_API_KEY = "query { viewerApiKey { name scopes } }"
REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { user { email } errors { code } }
}"""
LOGIN_LINE = re.compile(r"^\s+(\S+@\S+)\s+(.+)$")


def configure(monkeypatch: pytest.MonkeyPatch, path) -> str:
    """Point the CLI at a SQLite file the way an operator would: through the environment."""
    url = f"sqlite://{path}"
    for name in ("ENVIRONMENT", "SECRET_KEY", "OPERATOR_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ARGON2_TIME_COST", "1")
    monkeypatch.setenv("ARGON2_MEMORY_KIB", "64")
    return url


@contextmanager
def own_sql_cache() -> Iterator[None]:
    """tortoise caches each table's INSERT per connection alias for the whole process: keep the
    SQLite statements of these tests away from a suite that runs on PostgreSQL, and back."""
    EXECUTOR_CACHE.clear()
    try:
        yield
    finally:
        EXECUTOR_CACHE.clear()


@pytest.fixture(autouse=True)
def _own_sql_cache() -> Iterator[None]:
    with own_sql_cache():
        yield


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database as `partner-portal migrate` leaves it, copied for every test: the models' tables
    with every migration recorded as applied (tests/test_migrations.py proves the migrations build the
    same; applying them takes seconds, and the migrate command is tested below)."""
    path = tmp_path_factory.mktemp("cli-template") / "cli.sqlite3"
    with own_sql_cache():
        asyncio.run(create_tables(f"sqlite://{path}"))
    return str(path)


@pytest.fixture
def cli_database(tmp_path, monkeypatch) -> str:
    return configure(monkeypatch, tmp_path / "cli.sqlite3")


@pytest.fixture
def migrated(migrated_template, cli_database, tmp_path) -> str:
    shutil.copyfile(migrated_template, tmp_path / "cli.sqlite3")
    return cli_database


def run(capsys, *argv: str) -> str:
    """Run the console script; what it printed on stdout."""
    cli.main(list(argv))
    return capsys.readouterr().out


def graphql(
    database_url: str,
    query: str,
    variables: dict | None = None,
    *,
    token: str | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """One request to the real app started on `database_url`."""
    headers = {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if api_key:
        headers["x-api-key"] = api_key

    async def call() -> httpx.Response:
        app = build_app(make_settings(database_url))
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
                return await client.post(
                    "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
                )

    response = asyncio.run(call())
    assert response.status_code == 200, response.text
    return response.json()


def log_in(database_url: str, email: str, password: str) -> str | None:
    """A session token, or None when the credentials are refused."""
    payload = graphql(database_url, LOGIN, {"input": {"email": email, "password": password}})["data"]["login"]
    return payload["token"]


def printed_logins(output: str) -> dict[str, str]:
    return {match[1]: match[2] for line in output.splitlines() if (match := LOGIN_LINE.match(line))}


# --- migrate -------------------------------------------------------------------------------------


@pytest.mark.slow  # applies every migration (seconds of tortoise's migration state)
def test_migrate_creates_a_database_the_app_can_use_and_a_second_run_changes_nothing(cli_database, capsys):
    # when
    output = run(capsys, "migrate")

    # then
    assert "Migrations applied." in output
    body = graphql(
        cli_database, REGISTER, {"input": {"email": "kept@example.com", "password": PASSWORD, "name": "Kept"}}
    )
    assert body["data"]["register"] == {"user": {"email": "kept@example.com"}, "errors": []}

    # when: migrated again
    output = run(capsys, "migrate")

    # then
    assert "Migrations applied." in output
    assert log_in(cli_database, "kept@example.com", PASSWORD) is not None


# --- demo ----------------------------------------------------------------------------------------


def test_demo_prints_logins_that_work(migrated, capsys):
    # when
    output = run(capsys, "demo")

    # then
    assert DEMO_PASSWORD in output
    logins = printed_logins(output)
    assert OPERATOR_EMAIL in logins
    assert len(logins) >= 5
    refused = [email for email in logins if log_in(migrated, email, DEMO_PASSWORD) is None]
    assert refused == []


def test_demo_twice_is_harmless(migrated, capsys):
    # given
    first_output = run(capsys, "demo")
    token = log_in(migrated, OPERATOR_EMAIL, DEMO_PASSWORD)
    before = graphql(migrated, ORGANIZATIONS, token=token)["data"]["organizations"]

    # when
    second_output = run(capsys, "demo")

    # then
    assert second_output == first_output
    after = graphql(migrated, ORGANIZATIONS, token=token)["data"]["organizations"]
    assert after == before
    assert before["totalCount"] > 0


def test_demo_is_refused_in_production(migrated, capsys, monkeypatch):
    # given
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "p" * 40)

    # when
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo"])

    # then
    assert "development only" in str(exit_.value.code)
    assert log_in(migrated, OPERATOR_EMAIL, DEMO_PASSWORD) is None


# --- a refused start -----------------------------------------------------------------------------

SMTP_PASSWORD = "hunter2-mail-secret"


PROBLEMS = [
    pytest.param(
        {}, "SECRET_KEY must be set to a random value of at least 32 characters in production", id="no-secret-key"
    ),
    pytest.param(
        {"SECRET_KEY": "s" * 40, "ARGON2_TIME_COST": "three"},
        "ARGON2_TIME_COST: Input should be a valid integer, unable to parse string as an integer",
        id="mistyped-number",
    ),
]


@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize(("environment", "problem"), PROBLEMS)
def test_a_refused_production_start_names_the_problem_without_a_traceback_or_secrets(
    cli_database, capsys, monkeypatch, command, environment, problem
):
    # given: production, a password in SMTP_URL
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SMTP_URL", f"smtp://mailer:{SMTP_PASSWORD}@mail.example:587")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    # when
    with pytest.raises(SystemExit) as exit_:
        cli.main([command])

    # then
    message = str(exit_.value.code)
    assert message.splitlines() == ["Refused to start: the configuration is not valid.", problem]
    printed = capsys.readouterr()
    assert SMTP_PASSWORD not in printed.out + printed.err


def test_the_app_factory_refuses_a_production_start_without_secrets_in_the_message(monkeypatch):
    # given
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SMTP_URL", f"smtp://mailer:{SMTP_PASSWORD}@mail.example:587")

    # when: what `uvicorn --factory server:create_app` calls
    with pytest.raises(SystemExit) as exit_:
        server.create_app()

    # then
    message = str(exit_.value.code)
    assert "SECRET_KEY must be set" in message
    assert SMTP_PASSWORD not in message


def test_the_app_factory_tunes_the_garbage_collector_of_its_process(tmp_path):
    # given: a process that builds the app as uvicorn does (the tuning is for the whole process,
    # so not this one's)
    program = (
        "import gc; from partner_portal import server; server.create_app(); "
        "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)"
    )
    environment = {**os.environ, "DATABASE_URL": f"sqlite://{tmp_path}/factory.sqlite3", "ENVIRONMENT": "development"}

    # when
    done = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True, check=True)

    # then: what was alive once the app was built is out of later collections, the youngest
    # generation collected less often than Python's 700
    assert done.stdout.split() == [str(server.GC_YOUNGEST_THRESHOLD), "True"]


# --- serve ---------------------------------------------------------------------------------------


@pytest.fixture
def uvicorn_runs(monkeypatch) -> list[dict]:
    """What `serve` hands to uvicorn (instead of serving)."""
    import uvicorn

    runs: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: runs.append({"app": app, **options}))
    return runs


def test_serve_keeps_idle_connections_open_longer_than_a_proxy_would(migrated, uvicorn_runs):
    # when
    cli.main(["serve"])

    # then: uvicorn's own 5 s races clients and proxies reusing connections
    [options] = uvicorn_runs
    assert options["timeout_keep_alive"] == 75


def test_serve_takes_the_keep_alive_timeout(migrated, uvicorn_runs):
    # when
    cli.main(["serve", "--keep-alive", "650"])

    # then
    assert uvicorn_runs[0]["timeout_keep_alive"] == 650


# --- export-schema -------------------------------------------------------------------------------


def test_export_schema_prints_the_sdl(cli_database, capsys):
    # when
    output = run(capsys, "export-schema")

    # then
    assert output == build_schema(Settings()).as_str() + "\n"
    assert "type Query {" in output
    assert "type Mutation {" in output


# --- create-operator -----------------------------------------------------------------------------


def test_create_operator_with_a_given_password_makes_an_operator_who_sees_api_keys(migrated, capsys, monkeypatch):
    # given
    monkeypatch.setenv("OPERATOR_PASSWORD", PASSWORD)

    # when
    output = run(capsys, "create-operator", "Olga@Vendor.example", "--name", "Olga")

    # then
    assert "olga@vendor.example" in output.lower()
    assert "MANAGE_PROGRAMS" in output
    assert PASSWORD not in output
    token = log_in(migrated, "olga@vendor.example", PASSWORD)
    assert token is not None
    body = graphql(migrated, API_KEYS, token=token)
    assert "errors" not in body, body["errors"]
    assert body["data"]["apiKeys"] == {"totalCount": 0, "edges": []}


def test_create_operator_without_a_password_prints_a_generated_one(migrated, capsys):
    # when
    output = run(capsys, "create-operator", "gen@vendor.example")

    # then
    match = re.search(r"Password \(for a new account; shown once\): (\S+)", output)
    assert match, output
    assert log_in(migrated, "gen@vendor.example", match[1]) is not None


def test_create_operator_grants_only_the_permissions_asked_for(migrated, capsys, monkeypatch):
    # given
    monkeypatch.setenv("OPERATOR_PASSWORD", PASSWORD)

    # when
    output = run(capsys, "create-operator", "payouts@vendor.example", "--permission", "MANAGE_PAYOUTS")

    # then
    assert "MANAGE_PAYOUTS" in output
    assert "MANAGE_PROGRAMS" not in output
    token = log_in(migrated, "payouts@vendor.example", PASSWORD)
    body = graphql(migrated, API_KEYS, token=token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_create_operator_promotes_an_existing_user_and_keeps_the_password(migrated, capsys, monkeypatch):
    # given
    graphql(migrated, REGISTER, {"input": {"email": "staff@vendor.example", "password": PASSWORD, "name": "Staff"}})
    monkeypatch.setenv("OPERATOR_PASSWORD", "another-Sturdy-passphrase-7")

    # when
    run(capsys, "create-operator", "staff@vendor.example")

    # then
    assert log_in(migrated, "staff@vendor.example", "another-Sturdy-passphrase-7") is None
    token = log_in(migrated, "staff@vendor.example", PASSWORD)
    assert "errors" not in graphql(migrated, API_KEYS, token=token)


def test_create_operator_refuses_a_weak_password_without_a_traceback(migrated, capsys, monkeypatch):
    # given
    monkeypatch.setenv("OPERATOR_PASSWORD", "password")

    # when
    with pytest.raises(SystemExit) as exit_:
        cli.main(["create-operator", "weak@vendor.example"])

    # then
    assert "characters" in str(exit_.value.code)
    assert log_in(migrated, "weak@vendor.example", "password") is None


def test_remove_operator_withdraws_the_role_and_keeps_the_account(migrated, capsys, monkeypatch):
    # given
    monkeypatch.setenv("OPERATOR_PASSWORD", PASSWORD)
    run(capsys, "create-operator", "leaving@vendor.example")

    # when
    output = run(capsys, "remove-operator", "Leaving@Vendor.example")

    # then
    assert "no operator any more" in output
    token = log_in(migrated, "leaving@vendor.example", PASSWORD)
    assert graphql(migrated, API_KEYS, token=token)["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["remove-operator", "leaving@vendor.example"])
    assert "is no operator" in str(exit_.value.code)


# --- create-api-key ------------------------------------------------------------------------------


def test_create_api_key_prints_a_key_that_authenticates(migrated, capsys):
    # when
    output = run(capsys, "create-api-key", "--name", "x", "--scope", "reports:read")

    # then
    key = output.strip().splitlines()[-1]
    body = graphql(migrated, VIEWER_API_KEY, api_key=key)
    assert body["data"] == {"viewerApiKey": {"name": "x", "scopes": ["REPORTS_READ"]}}
    assert "errors" not in body


def test_create_api_key_takes_several_scopes(migrated, capsys):
    # when
    output = run(
        capsys, "create-api-key", "--name", "billing", "--scope", "billing:write", "--scope", "webhooks:manage"
    )

    # then
    key = output.strip().splitlines()[-1]
    scopes = graphql(migrated, VIEWER_API_KEY, api_key=key)["data"]["viewerApiKey"]["scopes"]
    assert sorted(scopes) == ["BILLING_WRITE", "WEBHOOKS_MANAGE"]


def test_a_made_up_key_does_not_authenticate(migrated, capsys):
    # given
    key = run(capsys, "create-api-key", "--name", "x", "--scope", "reports:read").strip().splitlines()[-1]

    # when
    body = graphql(migrated, VIEWER_API_KEY, api_key=key[:-4] + "abcd")

    # then
    assert not (body.get("data") or {}).get("viewerApiKey")


def test_create_api_key_refuses_an_unknown_scope(migrated, capsys):
    # when
    with pytest.raises(SystemExit) as exit_:
        cli.main(["create-api-key", "--name", "x", "--scope", "everything"])

    # then
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_create_api_key_refuses_a_blank_name_without_a_traceback(migrated, capsys):
    # when
    with pytest.raises(SystemExit) as exit_:
        cli.main(["create-api-key", "--name", "  ", "--scope", "reports:read"])

    # then
    assert "name is required" in str(exit_.value.code)
    assert capsys.readouterr().out == ""


# --- repair-copies -------------------------------------------------------------------------------

OLD_SERVER_ROWS = """
INSERT INTO organizations (id, name, search_name, language, created_at) VALUES
  (1, 'Northwind', 'northwind', 'en', '2026-01-01'), (2, 'Wingtip Toys', 'wingtip toys', 'en', '2026-01-01');
INSERT INTO licenses (organization_id, status, plan, seats, mrr_amount, currency, updated_at)
  VALUES (2, 'ACTIVE', 'Pro', 5, 9900, 'USD', '2026-01-02');
INSERT INTO customer_relationships (customer_id, partner_id, source, started_at, grant_permissions,
  customer_name, customer_search_name, license_status)
  VALUES (2, 1, 'SELECTED', '2026-01-02', '[]', 'Tailspin', 'tailspin', 'TRIAL');
"""


def copies(database_url: str) -> list[tuple]:
    with sqlite3.connect(database_url.removeprefix("sqlite://")) as database:
        return database.execute(
            "SELECT customer_name, customer_search_name, license_status FROM customer_relationships"
        ).fetchall()


def test_repair_copies_corrects_what_an_old_server_left_stale(migrated, capsys):
    # given: a customer renamed and its license activated by a server that predates the copies
    with sqlite3.connect(migrated.removeprefix("sqlite://")) as database:
        database.executescript(OLD_SERVER_ROWS)

    # when
    output = run(capsys, "repair-copies")

    # then
    assert "Copies corrected: customer names 1, license status 1." in output
    assert copies(migrated) == [("Wingtip Toys", "wingtip toys", "ACTIVE")]
    assert "customer names 0, license status 0." in run(capsys, "repair-copies")  # run again: nothing left


def test_repair_copies_asks_for_the_migrations_first(cli_database, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["repair-copies"])

    assert "partner-portal migrate" in str(exit_.value.code)
