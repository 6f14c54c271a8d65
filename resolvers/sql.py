"""Hand-written SQL for the few aggregates tortoise cannot express: one placeholder notation for both databases."""

from __future__ import annotations

from typing import Any

from tortoise import connections


def placeholders(sql: str, dialect: str) -> str:
    """`%s` markers as the driver wants them: `?` (SQLite) or `$1…` (PostgreSQL)."""
    if dialect != "postgres":
        return sql.replace("%s", "?")
    parts = sql.split("%s")
    return "".join(f"{part}${i}" if i < len(parts) else part for i, part in enumerate(parts, start=1))


async def query_dicts(sql: str, values: list[Any]) -> list[dict[str, Any]]:
    """Run `sql` (with `%s` markers) on the default connection; rows as dicts."""
    client = connections.get("default")
    return await client.execute_query_dict(placeholders(sql, client.capabilities.dialect), values)
