"""The tortoise configuration shared by the server, the CLI, migrations and tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate

from models import MODEL_MODULES

SQLITE_PRAGMAS = "journal_mode=WAL&busy_timeout=5000&synchronous=NORMAL&foreign_keys=ON"


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


def tortoise_config(database_url: str) -> dict:
    return {
        "connections": {"default": connection_url(database_url)},
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
