"""The tortoise configuration shared by the server, the CLI, migrations and tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api.migrate import migrate

from models import MODEL_MODULES

# cache_size: 64 MiB of pages per process instead of SQLite's 2 MiB (a large customer list or
# dashboard reads thousands of scattered rows: about a third faster)
SQLITE_PRAGMAS = "journal_mode=WAL&busy_timeout=5000&synchronous=NORMAL&foreign_keys=ON&cache_size=-65536"


def connection_url(database_url: str) -> str:
    """The URL tortoise opens: SQLite gets WAL and a busy timeout, PostgreSQL is as given."""
    if database_url.startswith("sqlite") and "?" not in database_url:
        return f"{database_url}?{SQLITE_PRAGMAS}"
    if database_url.startswith("postgresql://"):
        return "postgres://" + database_url.removeprefix("postgresql://")
    return database_url


def ensure_sqlite_folder(database_url: str) -> None:
    """Create the folder of a SQLite file so that a fresh checkout starts as is."""
    if not database_url.startswith("sqlite://"):
        return
    path = database_url.split("://", 1)[1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


async def return_to_pool(connection: Any) -> None:
    """asyncpg's pool `reset` hook, run as a PostgreSQL connection goes back to the pool: nothing.

    Before calling it asyncpg has already rolled back any transaction left open and dropped any
    listener. Its default reset would add one round trip to every release (`pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL`), about a fifth of an authenticated request, to clear session
    state this application never leaves on a pooled connection: it sets no session variables, listens
    to nothing, keeps no cursor past its transaction, and the one session lock it takes (a job's, in
    `resolvers/jobs.py`) is given back before release, or the connection is closed.
    `tests/test_postgres_pool.py` holds the code to that.
    """


def connection_config(database_url: str) -> str | dict:
    """What tortoise connects with: PostgreSQL as the URL says with `return_to_pool` as the pool's
    reset, SQLite through `models/sqlite_client.py` (tortoise 1.1.9's own SQLite client hangs for good
    after a failed reconnect)."""
    url = connection_url(database_url)
    config = expand_db_url(url)
    if url.startswith("sqlite"):
        return {**config, "engine": "models.sqlite_client"}
    if config["engine"] == "tortoise.backends.asyncpg":
        config["credentials"]["reset"] = return_to_pool
    return config


def tortoise_config(database_url: str) -> dict:
    return {
        "connections": {"default": connection_config(database_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# The config tortoise's own CLI reads: `tortoise -c models.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config("sqlite://./var/makemigrations.sqlite3")


@asynccontextmanager
async def open_database(database_url: str) -> AsyncIterator[None]:
    """Open the database for a command-line task (the server uses its lifespan instead)."""
    ensure_sqlite_folder(database_url)
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        yield
    finally:
        await Tortoise.close_connections()


async def apply_migrations(database_url: str) -> None:
    """Apply pending migrations from `migrations/` (tortoise's built-in migrator)."""
    ensure_sqlite_folder(database_url)
    try:
        await migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()
