"""The tortoise configuration shared by the server, the CLI, migrations and tests."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.executor import MigrationExecutor

from partner_portal.models import MODEL_MODULES

logger = logging.getLogger("partner_portal.migrations")

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


def sqlite_file(database_url: str) -> Path | None:
    """The file of a `sqlite://path` URL; None for an in-memory database or PostgreSQL."""
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url.split("://", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def ensure_sqlite_folder(database_url: str) -> None:
    """Create the folder of a SQLite file so that a fresh checkout starts as is."""
    path = sqlite_file(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


async def return_to_pool(connection: Any) -> None:
    """asyncpg's pool `reset` hook, run as a PostgreSQL connection goes back to the pool: nothing.

    Before calling it asyncpg has already rolled back any transaction left open and dropped any
    listener. Its default reset would add one round trip to every release (`pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL`), about a fifth of an authenticated request, to clear session
    state this application never leaves on a pooled connection: it sets no session variables, listens
    to nothing, keeps no cursor past its transaction, and the session locks it takes (a job's, in
    `resolvers/jobs.py`; the migrations', `_migrating_alone`) are given back before release, or the
    connection is closed.
    `tests/test_postgres_pool.py` holds the code to that.
    """


def connection_config(database_url: str) -> str | dict:
    """What tortoise connects with: PostgreSQL as the URL says through `models/asyncpg_client.py`
    (connections handed out first come, first served) with `return_to_pool` as the pool's reset,
    SQLite through `models/sqlite_client.py` (tortoise 1.1.9's own SQLite client hangs for good
    after a failed reconnect)."""
    url = connection_url(database_url)
    config = expand_db_url(url)
    if url.startswith("sqlite"):
        return {**config, "engine": "partner_portal.models.sqlite_client"}
    if config["engine"] == "tortoise.backends.asyncpg":
        config["engine"] = "partner_portal.models.asyncpg_client"
        config["credentials"]["reset"] = return_to_pool
    return config


APPS = {"models": {"models": MODEL_MODULES, "default_connection": "default", "migrations": "partner_portal.migrations"}}


def tortoise_config(database_url: str) -> dict:
    return {
        "connections": {"default": connection_config(database_url)},
        "apps": APPS,
        "use_tz": True,
        "timezone": "UTC",
    }


# The config tortoise's own CLI reads: `tortoise -c partner_portal.models.db.TORTOISE_ORM makemigrations`.
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
    """Apply pending migrations from `migrations/` (tortoise's built-in migrator), one process at a
    time: another `migrate` (or a server started with it) waits, then finds them applied."""
    ensure_sqlite_folder(database_url)
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        async with _migrating_alone(database_url):
            await MigrationExecutor(connections.get("default"), APPS).migrate()
    finally:
        await Tortoise.close_connections()


async def pending_migrations() -> list[str]:
    """The names of the migrations in `migrations/` that the open database has not applied, in order."""
    steps = await MigrationExecutor(connections.get("default"), APPS).plan()
    return [step.migration.name for step in steps]


async def record_migrations_applied() -> None:
    """For an open database whose tables were made from the models (`generate_schemas`: tests,
    benchmarks): record every migration as applied, as readiness expects."""
    await MigrationExecutor(connections.get("default"), APPS).migrate(fake=True)


# One fixed signed 64-bit key for PostgreSQL's advisory lock around applying migrations.
MIGRATION_LOCK_KEY = int.from_bytes(hashlib.sha256(b"partner-portal:migrations").digest()[:8], "big", signed=True)
LOCK_POLL_SECONDS = 0.2


@asynccontextmanager
async def _migrating_alone(database_url: str) -> AsyncIterator[None]:
    """Held while migrations are applied. PostgreSQL: a session advisory lock on a pooled connection
    of its own (given back before the connection returns to the pool, which does not reset sessions:
    `return_to_pool`). SQLite: an exclusive `flock` of a file beside the database (`<file>.migrating`);
    a process that dies lets go of either. An in-memory SQLite database is one process's alone."""
    client = connections.get("default")
    if client.capabilities.dialect == "postgres":
        async with client.acquire_connection() as connection:
            if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY):
                logger.warning("Another process is applying migrations: waiting for it.")
                await connection.fetchval("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
            try:
                yield
            finally:
                try:
                    await connection.fetchval("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
                except BaseException:
                    connection.terminate()  # the session's locks end with it
                    raise
        return
    path = sqlite_file(database_url)
    if path is None:
        yield
        return
    with open(f"{path}.migrating", "a") as lock_file:  # noqa: ASYNC230 — an empty lock file, opened once
        if not _try_flock(lock_file):
            logger.warning("Another process is applying migrations: waiting for it.")
            while not _try_flock(lock_file):  # noqa: ASYNC110 — another process holds it: nothing to await
                await asyncio.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _try_flock(lock_file: IO[str]) -> bool:
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
