"""Keyset (cursor) pagination over scoped querysets: no OFFSET, stable under inserts."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from operator import and_, or_
from typing import Any

import orjson
from tortoise.expressions import Q
from tortoise.fields import Field
from tortoise.models import Model
from tortoise.queryset import QuerySet

from partner_portal.models.tortoise_internals import field
from partner_portal.resolvers.errors import BadArgument
from partner_portal.resolvers.keys import column_holds

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_CURSOR_LENGTH = 2000  # far longer than any cursor this API gives out; longer text is not decoded
INVALID_CURSOR = "The cursor is not valid: pass a `cursor` or `pageInfo.endCursor` of this connection."


@dataclass(slots=True)
class Page:
    """One page of rows (dicts from `.values()`), their cursors, and how to count them all."""

    rows: list[dict[str, Any]]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    queryset: QuerySet

    async def total_count(self) -> int:
        return await self.queryset.count()


def encode_cursor(values: Sequence[Any]) -> str:
    """The sort keys' values as base64 of a JSON list (orjson: a page writes one cursor per row)."""
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str, fields: Sequence[Field]) -> list[Any]:
    """The values of the sort keys in `cursor`, one per field, each one its column can hold:
    anything else (not base64 JSON, another shape, a type or range the column cannot hold) is
    BAD_USER_INPUT before any query sees it."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadArgument(INVALID_CURSOR)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise BadArgument(INVALID_CURSOR) from error
    if (
        not isinstance(values, list)
        or len(values) != len(fields)
        or not all(column_holds(field, value) for field, value in zip(fields, values, strict=True))
    ):
        raise BadArgument(INVALID_CURSOR)
    return values


def _after(keys: Sequence[tuple[str, bool]], values: Sequence[Any]) -> Q:
    """Rows strictly after `values` in the order of `keys` ((name, descending) pairs)."""
    alternatives = []
    for i, (name, descending) in enumerate(keys):
        equal = [Q(**{key: value}) for (key, _), value in zip(keys[:i], values[:i], strict=True)]
        beyond = Q(**{f"{name}__{'lt' if descending else 'gt'}": values[i]})
        alternatives.append(reduce(and_, [*equal, beyond]))
    return reduce(or_, alternatives)


def check_page_size(first: int | None) -> int:
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 0 <= size <= MAX_PAGE_SIZE:
        raise BadArgument(f"`first` must be between 0 and {MAX_PAGE_SIZE}.")
    return size


def _keys(order: Sequence[str]) -> list[tuple[str, bool]]:
    return [(key.lstrip("-"), key.startswith("-")) for key in order]


def cursor_values(model: type[Model], order: Sequence[str], after: str) -> list[Any]:
    """The values of the sort keys `order` (tortoise's notation) in the cursor `after`."""
    return decode_cursor(after, [field(model, name) for name, _ in _keys(order)])


def after_values(queryset: QuerySet, order: Sequence[str], values: Sequence[Any]) -> QuerySet:
    """The rows after the row whose sort keys `order` hold `values` (`cursor_values`)."""
    return queryset.filter(_after(_keys(order), values))


def after_cursor(queryset: QuerySet, order: Sequence[str], after: str | None) -> QuerySet:
    """The rows after the cursor `after` in `order` (tortoise's notation), for a page query."""
    if after is None:
        return queryset
    return after_values(queryset, order, cursor_values(queryset.model, order, after))


def page_of(
    rows: list[dict[str, Any]], *, size: int, order: Sequence[str], after: str | None, queryset: QuerySet
) -> Page:
    """The page of `size` rows of `rows` (a page query's, up to `size` + 1 in `order`), their cursors and
    whether a next page follows."""
    key_names = [name for name, _ in _keys(order)]
    return Page(
        rows[:size],
        [encode_cursor([row[name] for name in key_names]) for row in rows[:size]],
        len(rows) > size,
        after is not None,
        queryset,
    )


async def paginate(
    queryset: QuerySet,
    *,
    fields: Sequence[str],
    first: int | None,
    after: str | None,
    order: Sequence[str] = ("id",),
) -> Page:
    """A page of `first` rows after the cursor `after`, ordered by `order` (id last, unique).

    `order` uses tortoise's notation ("name", "-id"); the last key must be unique.
    """
    size = check_page_size(first)
    page_query = after_cursor(queryset, order, after)
    columns = list(dict.fromkeys([*fields, *(name for name, _ in _keys(order))]))
    rows = await page_query.order_by(*order).limit(size + 1).values(*columns)
    return page_of(rows, size=size, order=order, after=after, queryset=queryset)
