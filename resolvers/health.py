"""Whether the server can serve: the database answers and is migrated, the rate-limit storage
answers (readiness, `/readyz`); and telling an outage from a bug when a query fails."""

from __future__ import annotations

import asyncio
from typing import Any

from limits.aio.storage import Storage
from tortoise import connections

from partner_portal.models.db import pending_migrations

MIGRATE_COMMAND = "partner-portal migrate"


async def database_answers(timeout_seconds: float = 2.0) -> bool:
    """Whether the default connection runs `SELECT 1` within the timeout."""
    try:
        async with asyncio.timeout(timeout_seconds):
            await connections.get("default").execute_query("SELECT 1")
    except Exception:  # noqa: BLE001 — any failure means "does not answer"
        return False
    return True


async def missing_migrations() -> list[str]:
    """The migrations this version needs that the database lacks; none when it does not answer
    (readiness reports that outage as such)."""
    return await pending_migrations() if await database_answers() else []


async def storage_answers(storage: Storage, timeout_seconds: float = 2.0) -> bool:
    """Whether the rate-limit storage (`RATE_LIMIT_STORAGE`) answers its health check in time."""
    try:
        async with asyncio.timeout(timeout_seconds):
            return await storage.check()
    except Exception:  # noqa: BLE001 — any failure means "does not answer"
        return False


async def readiness(storage: Storage) -> tuple[bool, dict[str, Any]]:
    """Whether the server can answer requests, and a report: the database answers and has every
    migration this code knows applied (else the command to run), and the rate-limit storage answers."""
    report: dict[str, Any] = {"database": "unreachable", "migrations": "unknown"}
    if await database_answers():
        report["database"] = "ok"
        pending = await pending_migrations()
        report["migrations"] = "pending" if pending else "ok"
        if pending:
            report["pendingMigrations"] = pending
            report["action"] = f"Run `{MIGRATE_COMMAND}`: the database lacks migrations this version needs."
    report["rateLimitStorage"] = "ok" if await storage_answers(storage) else "unreachable"
    ready = (report["database"], report["migrations"], report["rateLimitStorage"]) == ("ok", "ok", "ok")
    return ready, {"status": "ok" if ready else "unavailable", **report}
