"""tortoise's SQLite client with two changes: it recovers from a failed reconnect, and its
transactions begin with `BEGIN IMMEDIATE`. The engine `models.sqlite_client` (see models/db.py).

(tortoise chooses the migrations' schema editor by the client's module name, hence "sqlite" in it.)
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from tortoise.backends.base.client import ConnectionWrapper
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError


class _ReleasingConnectionWrapper(ConnectionWrapper):
    """tortoise 1.1.9's `ConnectionWrapper.__aenter__` takes the client's lock, then opens the
    connection when there is none; when opening fails, `__aexit__` never runs and the lock
    stays taken, so every later query of the process waits forever. This one lets it go."""

    async def __aenter__(self) -> Any:
        await self._lock.acquire()
        try:
            await self.ensure_connection()
        except BaseException:
            self._lock.release()
            raise
        return self.connection


class _ReleasingTransactionContext(SqliteTransactionContext):
    """The same leak in `SqliteTransactionContext.__aenter__` (opening the connection or `BEGIN`
    failing keeps the lock and the task's connection override): undone here on failure."""

    async def __aenter__(self) -> Any:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            self.token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                get_connections().reset(self.token)
                raise
        except BaseException:
            self._trxlock.release()
            raise
        return self.connection


class _ImmediateTransactionWrapper(SqliteTransactionWrapper):
    """Transactions begin with `BEGIN IMMEDIATE`: the write lock is taken (waiting up to the busy
    timeout) before the first read. With a plain `BEGIN`, a transaction that read and then writes
    fails at once with "database is locked" when another process (a second uvicorn worker, a job)
    wrote in between, since SQLite cannot wait for a lock its snapshot is too old to use."""

    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ResilientSqliteClient(SqliteClient):
    """tortoise's SQLite client, able to recover when the database file comes back after an outage.

    tortoise 1.1.9 has a single connection per client guarded by a lock; a failed reconnect
    leaked that lock (see the two classes above) and could leave a half-opened connection
    (opened, its PRAGMAs failed) in place. Here a failed open closes what it opened, and both
    ways of taking the lock give it back when the connection cannot be had, so the next query
    simply tries again. Selected through `models.db.tortoise_config` (engine `models.sqlite_client`)."""

    async def create_connection(self, with_db: bool) -> None:
        try:
            await super().create_connection(with_db)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.close()
            self._connection = None
            raise

    def acquire_connection(self) -> ConnectionWrapper:
        return _ReleasingConnectionWrapper(self._lock, self)

    def _in_transaction(self) -> SqliteTransactionContext:
        return _ReleasingTransactionContext(_ImmediateTransactionWrapper(self), self._lock)


client_class = ResilientSqliteClient  # what tortoise looks for in an engine module
