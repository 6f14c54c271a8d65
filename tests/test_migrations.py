"""The committed migrations match the models and build a working database."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from strawberry.relay import GlobalID
from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from partner_portal.models.copies import repair_copies
from partner_portal.models.db import apply_migrations, open_database, pending_migrations, tortoise_config
from partner_portal.models.tortoise_internals import table
from tests.conftest import POSTGRES_URL
from tests.documents import RECORD_LICENSE_CHANGE, SET_SERVICE_PARTNER
from tests.support import Person, create_api_key, create_organization, make_partner, operator, register

REGENERATE = "run `tortoise -c models.db.TORTOISE_ORM makemigrations` and commit migrations/"


async def test_the_models_have_no_changes_without_a_migration(tmp_path):
    config = tortoise_config(f"sqlite://{tmp_path}/detect.sqlite3")
    await Tortoise.init(config=config)
    try:
        writers = await MigrationAutodetector(Tortoise.apps, config["apps"]).changes()
    finally:
        await Tortoise.close_connections()

    assert not writers, f"models changed without a migration: {REGENERATE}"


async def _missing_tables(database_url: str, sql: str) -> set[str]:
    """The models' tables that the database lacks."""
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        rows = await connections.get("default").execute_query_dict(sql)
        expected = {table(model) for app in Tortoise.apps.values() for model in app.values()}
    finally:
        await Tortoise.close_connections()
    return expected - {row["name"] for row in rows}


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """The URL of a new, empty database on the server of DATABASE_URL, dropped afterwards."""
    server, _, _ = POSTGRES_URL.rpartition("/")
    name = f"migrations_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(f"{server}/postgres".replace("postgres://", "postgresql://", 1))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _pending(database_url: str) -> list[str]:
    async with open_database(database_url):
        return await pending_migrations()


async def migrate_at_once(database_url: str, processes: int = 3) -> list[tuple[int, str]]:
    """`partner-portal migrate` in several processes started together: each one's exit status and output."""
    environment = {**os.environ, "DATABASE_URL": database_url}
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "migrate", env=environment, stdout=PIPE, stderr=STDOUT
        )
        for _ in range(processes)
    ]
    outputs = await asyncio.gather(*(child.communicate() for child in children))
    return [(child.returncode, output.decode()) for child, (output, _) in zip(children, outputs, strict=True)]


# One process applies the migrations, the others wait and find them applied: each race below also
# checks that the migrations build every table of the models (applying them twice would take seconds).


@pytest.mark.slow  # applies the migrations
async def test_migrations_applied_by_several_processes_at_once_on_sqlite_all_succeed_and_build_every_table(tmp_path):
    url = f"sqlite://{tmp_path}/raced.sqlite3"

    results = await migrate_at_once(url)

    assert [status for status, _ in results] == [0, 0, 0], results
    assert await _pending(url) == []
    assert await _missing_tables(url, "SELECT name FROM sqlite_master WHERE type='table'") == set()


@pytest.mark.slow  # applies the migrations
async def test_migrations_applied_by_several_processes_at_once_on_postgresql_all_succeed_and_build_every_table():
    if not POSTGRES_URL:
        pytest.skip("DATABASE_URL does not point at PostgreSQL")
    async with fresh_postgres_database() as url:
        results = await migrate_at_once(url)

        assert [status for status, _ in results] == [0, 0, 0], results
        assert await _pending(url) == []
        sql = "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        assert await _missing_tables(url, sql) == set()


async def rows_after_upgrade(tmp_path, before: str, rows_before: str, query: str) -> list[dict]:
    """A SQLite database migrated up to `before`, given `rows_before` (SQL), then migrated to the
    newest migration: what `query` reads from it."""
    url = f"sqlite://{tmp_path}/upgraded.sqlite3"
    await migrate(config=tortoise_config(url), target=f"models.{before}")
    await Tortoise.close_connections()
    await Tortoise.init(config=tortoise_config(url))
    await connections.get("default").execute_script(rows_before)
    await Tortoise.close_connections()

    await apply_migrations(url)

    await Tortoise.init(config=tortoise_config(url))
    try:
        return await connections.get("default").execute_query_dict(query)
    finally:
        await Tortoise.close_connections()


@pytest.mark.slow  # applies the migrations
async def test_existing_organizations_get_their_search_name(tmp_path):
    rows = await rows_after_upgrade(
        tmp_path,
        "0003_money",
        "INSERT INTO organizations (name, language, created_at) VALUES ('Müller Metall', 'de', '2026-01-01')",
        "SELECT search_name FROM organizations",
    )

    assert rows == [{"search_name": "müller metall"}]


@pytest.mark.slow  # applies the migrations
async def test_existing_relationships_get_their_customer_name(tmp_path):
    rows = await rows_after_upgrade(
        tmp_path,
        "0005_referral_channels",
        "INSERT INTO organizations (id, name, search_name, language, created_at) VALUES "
        "(1, 'Northwind', 'northwind', 'en', '2026-01-01'), (2, 'Straße Zürich', 'strasse zürich', 'de', '2026-01-01');"
        "INSERT INTO customer_relationships (customer_id, partner_id, source, started_at, grant_permissions) "
        "VALUES (2, 1, 'SELECTED', '2026-01-02', '[]')",
        "SELECT customer_name, customer_search_name FROM customer_relationships",
    )

    assert rows == [{"customer_name": "Straße Zürich", "customer_search_name": "strasse zürich"}]


@pytest.mark.slow  # applies the migrations
async def test_existing_relationships_get_their_customer_license_status(tmp_path):
    rows = await rows_after_upgrade(
        tmp_path,
        "0006_tiers_webhooks_indexes",
        "INSERT INTO organizations (id, name, search_name, language, created_at) VALUES "
        "(1, 'Northwind', 'northwind', 'en', '2026-01-01'), (2, 'Contoso', 'contoso', 'en', '2026-01-01'), "
        "(3, 'Fabrikam', 'fabrikam', 'en', '2026-01-01');"
        "INSERT INTO licenses (organization_id, status, plan, seats, mrr_amount, currency, updated_at) "
        "VALUES (2, 'ACTIVE', 'Pro', 5, 9900, 'USD', '2026-01-02');"
        "INSERT INTO customer_relationships (customer_id, partner_id, source, started_at, grant_permissions) "
        "VALUES (2, 1, 'SELECTED', '2026-01-02', '[]'), (3, 1, 'INVITATION', '2026-01-02', '[]')",
        "SELECT customer_id, license_status FROM customer_relationships ORDER BY customer_id",
    )

    assert rows == [{"customer_id": 2, "license_status": "ACTIVE"}, {"customer_id": 3, "license_status": None}]


@pytest.mark.slow  # applies the migrations
async def test_accounts_from_before_verified_addresses_count_as_verified(tmp_path):
    rows = await rows_after_upgrade(
        tmp_path,
        "0009_enum_columns",
        "INSERT INTO users (email, name, language, created_at) VALUES ('ann@example.com', 'Ann', 'en', '2026-01-01')",
        "SELECT email_verified_at, totp_enabled_at, deleted_at FROM users",
    )

    assert len(rows) == 1 and rows[0]["email_verified_at"] is not None
    assert rows[0]["totp_enabled_at"] is None and rows[0]["deleted_at"] is None


# --- refilling the copies after a rolling upgrade (`partner-portal repair-copies`) ---------------------

FIGURES = """
query Figures($search: String) {
  partnerDashboard { customers activeCustomers trialCustomers }
  myCustomers(search: $search) { totalCount }
}"""


async def partner_with_trial_customers(api, names: list[str]) -> tuple[Person, dict[str, int]]:
    """A partner's administrator and its customers (organization ids by name), each on a TRIAL license:
    set up through the API, so every copy is current."""
    reviewer = await operator(api)
    key = await create_api_key(api, reviewer, ["BILLING_WRITE"], "Billing")
    partner = await make_partner(api, reviewer)
    customers = {}
    for number, name in enumerate(names):
        admin = await register(api, f"admin{number}@customer.example")
        organization_id = (await create_organization(api, admin, name))["id"]
        chosen = await api.data(SET_SERVICE_PARTNER, {"id": organization_id, "code": partner.code}, token=admin.token)
        assert chosen["setServicePartner"]["errors"] == []
        licensed = await api.data(
            RECORD_LICENSE_CHANGE,
            {
                "input": {
                    "externalId": f"trial-{number}",
                    "organizationId": organization_id,
                    "status": "TRIAL",
                    "plan": "Pro",
                    "mrr": {"amount": "50.00", "currency": "EUR"},
                }
            },
            api_key=key,
        )
        assert licensed["recordLicenseChange"]["errors"] == []
        customers[name] = int(GlobalID.from_id(organization_id).node_id)
    return partner.admin, customers


async def figures(api, admin: Person, search: str | None = None) -> tuple[int, int, int, int]:
    data = await api.data(FIGURES, {"search": search}, token=admin.token)
    board = data["partnerDashboard"]
    return board["customers"], board["activeCustomers"], board["trialCustomers"], data["myCustomers"]["totalCount"]


async def write_as_an_old_server(sql: str, *values) -> None:
    """A write by a server of the version before 0006/0007: the source changes, not the copy."""
    client = connections.get("default")
    if client.capabilities.dialect != "postgres":
        sql = re.sub(r"\$\d+", "?", sql)
    await client.execute_query(sql, list(values))


async def test_a_refill_after_a_rolling_upgrade_corrects_stale_copies_and_only_those(api):
    admin, customers = await partner_with_trial_customers(api, ["Contoso", "Fabrikam", "Tailspin"])
    # while the upgrade rolled, old servers activated two licenses and renamed a customer
    for name in ("Contoso", "Fabrikam"):
        await write_as_an_old_server(
            'UPDATE "licenses" SET "status" = $1 WHERE "organization_id" = $2', "ACTIVE", customers[name]
        )
    await write_as_an_old_server(
        'UPDATE "organizations" SET "name" = $1, "search_name" = $2 WHERE "id" = $3',
        "Wingtip Toys",
        "wingtip toys",
        customers["Tailspin"],
    )
    assert await figures(api, admin, "wingtip") == (3, 0, 3, 0)  # the stale copies

    corrected = await repair_copies()

    assert corrected == {"customer names": 1, "license status": 2}
    assert await figures(api, admin, "wingtip") == (3, 2, 1, 1)
    assert await repair_copies() == {"customer names": 0, "license status": 0}  # nothing left to correct


async def test_a_refill_does_not_undo_a_license_change_written_while_it_runs_on_postgresql(api):
    """A new server changes a license (and its copy) while the refill waits on that row: the refill
    must not write back the status it read before (READ COMMITTED would), but start over."""
    if not POSTGRES_URL:
        pytest.skip("the race needs PostgreSQL's row locks")
    admin, customers = await partner_with_trial_customers(api, ["Contoso"])
    await write_as_an_old_server(
        'UPDATE "licenses" SET "status" = $1 WHERE "organization_id" = $2', "ACTIVE", customers["Contoso"]
    )  # a stale copy: TRIAL
    server = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        writing = server.transaction()
        await writing.start()
        await server.execute(
            'UPDATE "licenses" SET "status" = $1 WHERE "organization_id" = $2', "CANCELED", customers["Contoso"]
        )
        await server.execute(
            'UPDATE "customer_relationships" SET "license_status" = $1 WHERE "customer_id" = $2',
            "CANCELED",
            customers["Contoso"],
        )
        refill = asyncio.create_task(repair_copies())
        for _ in range(1000):  # until the refill waits for the row the server holds
            if await server.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the refill never waited for the server's row lock")
        await writing.commit()
        await refill
    finally:
        await server.close()

    assert await figures(api, admin) == (1, 0, 0, 1)  # CANCELED: neither active nor trial
