"""Whether the database answers: readiness, and telling an outage from a bug when a query fails."""

from __future__ import annotations

import asyncio

from tortoise import connections


async def database_answers(timeout_seconds: float = 2.0) -> bool:
    """Whether the default connection runs `SELECT 1` within the timeout."""
    try:
        async with asyncio.timeout(timeout_seconds):
            await connections.get("default").execute_query("SELECT 1")
    except Exception:  # noqa: BLE001 — any failure means "does not answer"
        return False
    return True
