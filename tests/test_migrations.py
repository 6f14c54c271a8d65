"""The committed migrations match the models and build a working database."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from models.db import apply_migrations, tortoise_config
from tests.conftest import POSTGRES_URL

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
        expected = {model._meta.db_table for app in Tortoise.apps.values() for model in app.values()}
    finally:
        await Tortoise.close_connections()
    return expected - {row["name"] for row in rows}


async def test_the_migrations_build_every_table_on_sqlite(tmp_path):
    url = f"sqlite://{tmp_path}/migrated.sqlite3"

    await apply_migrations(url)

    assert await _missing_tables(url, "SELECT name FROM sqlite_master WHERE type='table'") == set()


async def test_the_migrations_build_every_table_on_postgresql():
    if not POSTGRES_URL:
        pytest.skip("DATABASE_URL does not point at PostgreSQL")
    server, _, _ = POSTGRES_URL.rpartition("/")
    name = f"migrations_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(f"{server}/postgres".replace("postgres://", "postgresql://", 1))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{server}/{name}"
        await apply_migrations(url)
        sql = "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        assert await _missing_tables(url, sql) == set()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


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


async def test_existing_organizations_get_their_search_name(tmp_path):
    rows = await rows_after_upgrade(
        tmp_path, "0003_money",
        "INSERT INTO organizations (name, language, created_at) VALUES ('Müller Metall', 'de', '2026-01-01')",
        "SELECT search_name FROM organizations",
    )

    assert rows == [{"search_name": "müller metall"}]


async def test_existing_relationships_get_their_customer_name(tmp_path):
    rows = await rows_after_upgrade(
        tmp_path, "0005_referral_channels",
        "INSERT INTO organizations (id, name, search_name, language, created_at) VALUES "
        "(1, 'Northwind', 'northwind', 'en', '2026-01-01'), (2, 'Straße Zürich', 'strasse zürich', 'de', '2026-01-01');"
        "INSERT INTO customer_relationships (customer_id, partner_id, source, started_at, grant_permissions) "
        "VALUES (2, 1, 'SELECTED', '2026-01-02', '[]')",
        "SELECT customer_name, customer_search_name FROM customer_relationships",
    )

    assert rows == [{"customer_name": "Straße Zürich", "customer_search_name": "strasse zürich"}]


async def test_existing_relationships_get_their_customer_license_status(tmp_path):
    rows = await rows_after_upgrade(
        tmp_path, "0006_tiers_webhooks_indexes",
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
