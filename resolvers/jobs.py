"""Recurring jobs: idempotent steps run by `partner-portal jobs run NAME` (cron) or in-process.

`JOBS` maps a name to an async function taking the settings and returning a one-line
summary. A job must be safe to run at any time and concurrently with itself (it
claims its work with conditional updates). On PostgreSQL `run_job` also takes an
advisory lock per job name, so of several servers or cron hosts one runs it at a
time and the others skip that round — except for the jobs in `UNLOCKED_JOBS`, which
every process runs at once (the outbox: each worker delivers the rows it claimed).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from typing import Any

from tortoise import connections

from partner_portal.resolvers.commissions import release_held
from partner_portal.resolvers.invitations import expire_invitations
from partner_portal.resolvers.outbox import deliver_due
from partner_portal.resolvers.payouts import run_monthly_payouts
from partner_portal.resolvers.tiers import run_tiers_job
from partner_portal.settings import Settings

logger = logging.getLogger("partner_portal.jobs")

Job = Callable[[Settings], Awaitable[str]]

# set by a PeriodicJob in its task: its stop request, which the outbox job heeds between messages
_stopping: ContextVar[asyncio.Event | None] = ContextVar("stopping", default=None)


async def outbox_job(settings: Settings) -> str:
    """Deliver due outbox messages (mail through SMTP_URL, or logged without it)."""
    return (await deliver_due(settings, stopping=_stopping.get())).summary()


JOBS: dict[str, Job] = {
    "outbox": outbox_job,
    "invitations": expire_invitations,
    "commissions": release_held,
    "payouts": run_monthly_payouts,
    "tiers": run_tiers_job,
}
UNLOCKED_JOBS = frozenset({"outbox"})


class UnknownJob(KeyError):
    def __str__(self) -> str:
        return f"No job {self.args[0]!r}; known: {', '.join(sorted(JOBS))}."


def lock_key(name: str) -> int:
    """A fixed signed 64-bit advisory-lock key per job name."""
    digest = hashlib.sha256(f"partner-portal:job:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def _advisory_lock(name: str) -> AsyncIterator[bool]:
    """On PostgreSQL: hold `pg_try_advisory_lock(key)` on a connection of its own; yields
    whether it was acquired. Elsewhere (SQLite: one process) yields True."""
    client = connections.get("default")
    if client.capabilities.dialect != "postgres":
        yield True
        return
    key = lock_key(name)
    async with client.acquire_connection() as connection:
        acquired = bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", key))
        try:
            yield acquired
        finally:
            if acquired:
                await _unlock(connection, key)


async def _unlock(connection: Any, key: int) -> None:
    """Give the job's session lock back before its connection returns to the pool, which does not
    reset sessions (`models.db.return_to_pool`). If that fails or is cancelled, the connection is
    closed instead: the session's locks end with it."""
    try:
        await connection.fetchval("SELECT pg_advisory_unlock($1)", key)
    except BaseException:
        connection.terminate()
        raise


async def run_job(name: str, settings: Settings) -> str:
    """Run one job by name; its summary, or a note that another process is running it."""
    job = JOBS.get(name)
    if job is None:
        raise UnknownJob(name)
    if name in UNLOCKED_JOBS:
        return await job(settings)
    async with _advisory_lock(name) as acquired:
        if not acquired:
            return f"{name}: skipped, another process is running it"
        return await job(settings)


class PeriodicJob:
    """Runs a job every `seconds` in the background (the server's in-process worker).

    A failing round is logged and the next one comes as usual. `stop()` asks a round in
    progress to end (the outbox job stops after the message in flight and hands the rest of
    its batch back), waits up to `grace` seconds, then cancels it.
    """

    def __init__(self, name: str, settings: Settings, seconds: float) -> None:
        if name not in JOBS:
            raise UnknownJob(name)
        self.name = name
        self.settings = settings
        self.seconds = seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> PeriodicJob:
        self._task = asyncio.create_task(self._loop(), name=f"job:{self.name}")
        return self

    async def _loop(self) -> None:
        _stopping.set(self._stopping)  # in this task's own context
        while not self._stopping.is_set():
            try:
                summary = await run_job(self.name, self.settings)
                logger.debug(summary)
            except Exception:  # never let one round end the worker
                logger.exception("Job %s failed; trying again in %s s", self.name, self.seconds)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.seconds)

    async def stop(self, grace: float = 5.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        except TimeoutError:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        except Exception:  # the loop logs its own failures; this is belt and braces
            logger.exception("Job %s ended with an error", self.name)
