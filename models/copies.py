"""The copies `customer_relationships` keeps of other tables' columns, and the SQL that fills them.

A relationship copies its customer's name and case-folded search name (`organizations.name` and
`organizations.search_name`, since migration 0006) and its customer's license status
(`licenses.status`, null without a license, since migration 0007). The writers keep them current in
the transaction of the change (`resolvers/organizations.py` on a rename, `resolvers/billing.py` on
every license write).

A fill sets every copy that differs from its source, so it can run any number of times and touches
only stale rows. The migrations run it once; `partner-portal repair-copies` (`repair_copies`) runs
it again after a rolling upgrade, when servers of the old version, which did not keep the copies,
went on writing while the migration ran (README, "Upgrading").

Migrations 0006 and 0007 import this module: a later migration that renames or drops these columns
must give those two a frozen copy of the SQL they ran.
"""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

_OF_CUSTOMER = '"customer_relationships"."customer_id"'
SOURCES = {
    "customer_name": f'(SELECT o."name" FROM "organizations" o WHERE o."id" = {_OF_CUSTOMER})',
    "customer_search_name": f'(SELECT o."search_name" FROM "organizations" o WHERE o."id" = {_OF_CUSTOMER})',
    "license_status": f'(SELECT l."status" FROM "licenses" l WHERE l."organization_id" = {_OF_CUSTOMER})',
}
CUSTOMER_NAMES = ("customer_name", "customer_search_name")  # migration 0006
LICENSE_STATUS = ("license_status",)  # migration 0007
SERIALIZATION_FAILURE = "40001"  # PostgreSQL's SQLSTATE
REPAIR_ATTEMPTS = 5


def fill_sql(columns: tuple[str, ...], dialect: str) -> str:
    """One UPDATE that sets `columns` of every relationship whose copy differs from its source."""
    differs = "IS DISTINCT FROM" if dialect == "postgres" else "IS NOT"  # null-safe on both
    assignments = ", ".join(f'"{column}" = {SOURCES[column]}' for column in columns)
    stale = " OR ".join(f'"{column}" {differs} {SOURCES[column]}' for column in columns)
    return f'UPDATE "customer_relationships" SET {assignments} WHERE {stale}'


async def fill(client: Any, columns: tuple[str, ...]) -> int:
    """Run the fill of `columns` on a tortoise client (connection or transaction): the rows corrected."""
    corrected, _ = await client.execute_query(fill_sql(columns, client.capabilities.dialect))
    return corrected


async def repair_copies() -> dict[str, int]:
    """Fill every copy again: how many relationships had a stale name copy, and a stale license one.

    Safe while servers write. On PostgreSQL the transaction is REPEATABLE READ: under READ
    COMMITTED, a copy a server rewrote (with the license) while this ran could be overwritten with
    the value this statement read before; instead PostgreSQL refuses the update (a serialization
    failure) and the repair starts over. SQLite runs one writer at a time.
    """
    for _ in range(REPAIR_ATTEMPTS - 1):
        try:
            return await _repair_once()
        except Exception as error:
            if getattr(error, "sqlstate", None) != SERIALIZATION_FAILURE:
                raise
    return await _repair_once()


async def _repair_once() -> dict[str, int]:
    async with in_transaction() as connection:
        if connection.capabilities.dialect == "postgres":
            await connection.execute_script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return {
            "customer names": await fill(connection, CUSTOMER_NAMES),
            "license status": await fill(connection, LICENSE_STATUS),
        }
