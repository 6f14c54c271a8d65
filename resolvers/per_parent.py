"""The first rows of each of many parents in one query: nested lists and connections under a list
(each organization's members) cost one statement, not one per parent.

`ROW_NUMBER() OVER (PARTITION BY parent ORDER BY …)` numbers each parent's rows of the scoped
queryset; the rows numbered up to the limit come back. SQLite (3.25+) and PostgreSQL run it alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.expressions import RawSQL
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from partner_portal.models.compiled import field_at
from partner_portal.models.tortoise_internals import column, table
from partner_portal.resolvers.pagination import Page, after_cursor, check_page_size, encode_cursor

POSITION = "_position"


def _column(queryset: QuerySet, name: str) -> str:
    """A column of the queryset's own table, qualified: the fields may join other tables."""
    return f'"{table(queryset.model)}"."{column(queryset.model, name)}"'


async def first_rows_per_parent(
    queryset: QuerySet,
    *,
    parent: str,
    parents: Sequence[int],
    fields: Sequence[str],
    order: Sequence[str],
    limit: int,
) -> dict[int, list[dict[str, Any]]]:
    """Up to `limit` rows of each parent (`parent` is the column naming it, such as
    `organization_id`), in `order` (tortoise's notation, the last key unique); one query."""
    found: dict[int, list[dict[str, Any]]] = {key: [] for key in parents}
    if not parents or limit <= 0:
        return found
    ordering = ", ".join(
        f"{_column(queryset, key.lstrip('-'))} {'DESC' if key.startswith('-') else 'ASC'}" for key in order
    )
    numbered = RawSQL(f"ROW_NUMBER() OVER (PARTITION BY {_column(queryset, parent)} ORDER BY {ordering})")
    columns = list(dict.fromkeys([*fields, parent]))
    query = (
        queryset.filter(**{f"{parent}__in": list(parents)}).annotate(**{POSITION: numbered}).values(*columns, POSITION)
    )
    inner = query.sql()  # builds `query.query`, whose parameters follow
    values = query.query.get_parameterized_sql()[1]
    client = connections.get("default")
    marker = f"${len(values) + 1}" if client.capabilities.dialect == "postgres" else "?"
    sql = f'SELECT * FROM ({inner}) "numbered" WHERE "{POSITION}" <= {marker} ORDER BY "{POSITION}"'
    convert = {name: field_at(queryset.model, name).to_python_value for name in columns}
    for row in await client.execute_query_dict(sql, [*values, limit]):
        found[row[parent]].append({name: convert[name](row[name]) for name in columns})
    return found


async def count_per_parent(queryset: QuerySet, *, parent: str, parents: Sequence[int]) -> dict[int, int]:
    """How many rows each parent has, in one query (parents without rows are left out)."""
    rows = (
        await queryset.filter(**{f"{parent}__in": list(parents)})
        .annotate(rows=Count("id"))
        .group_by(parent)
        .values(parent, "rows")
    )
    return {row[parent]: row["rows"] for row in rows}


@dataclass(slots=True)
class ParentPage(Page):
    """A page of one parent's rows; its total comes from a loader counting every parent at once."""

    count: Callable[[], Awaitable[int]] | None = None

    async def total_count(self) -> int:
        return await self.count() if self.count is not None else await Page.total_count(self)


async def page_per_parent(
    queryset: QuerySet,
    *,
    parent: str,
    parents: Sequence[int],
    fields: Sequence[str],
    first: int | None,
    after: str | None,
    order: Sequence[str] = ("id",),
) -> dict[int, Page]:
    """`paginate` for each parent, the same `first` and `after` for all of them, in one query."""
    size = check_page_size(first)
    key_names = [key.lstrip("-") for key in order]
    rows_of = await first_rows_per_parent(
        after_cursor(queryset, order, after),
        parent=parent,
        parents=parents,
        fields=list(dict.fromkeys([*fields, *key_names])),
        order=order,
        limit=size + 1,
    )
    pages: dict[int, Page] = {}
    for key, rows in rows_of.items():
        page_rows = rows[:size]
        cursors = [encode_cursor([row[name] for name in key_names]) for row in page_rows]
        pages[key] = ParentPage(
            page_rows, cursors, len(rows) > size, after is not None, queryset.filter(**{parent: key})
        )
    return pages
