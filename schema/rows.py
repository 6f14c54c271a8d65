"""Strawberry types built from the rows the resolvers read with `.values(*FIELDS)`.

A row type lists its fields once, in its strawberry declaration, and `@row_type(FIELDS, ...)` derives its
`from_row`: each field takes the row's value of the same name (a private `_partner_id` reads `partner_id`),
the value of another column where one is named (`partner_name="partner__name"`), the global id a column
holds (`partner_id=IdOf("Organization", "partner_id")`), or what a function of the row returns
(`amount=lambda row: Money.of(row["amount"], row["currency"])`). When the module is imported it checks that
every column read by name is one of FIELDS, the resolver's list its queries read, and that every
name given is a field: the query, the type and the mapping cannot drift apart unnoticed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from functools import cache
from typing import Any, ClassVar, Self, TypeVar

from strawberry.relay import GlobalID

from partner_portal.schema.common import global_id

Row = Mapping[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class IdOf:
    """The global id of the `type_name` object a column names (None where the column is null)."""

    type_name: str
    column: str

    def __call__(self, row: Row) -> GlobalID | None:
        value = row[self.column]
        return None if value is None else global_id(self.type_name, value)


Source = str | IdOf | Callable[[Row], Any]  # a column, a column's global id, or a function of the row
R = TypeVar("R", bound="RowType")
E = TypeVar("E", bound=Enum)


@cache
def _members_by_value(enum: type[Enum]) -> dict[Any, Enum]:
    return {item.value: item for item in enum}


def member(enum: type[E], value: Any) -> E:
    """`enum(value)` at the cost of a dict lookup: Python's `Enum(value)` takes over a microsecond,
    several times per row of a list. tortoise's rows hold enum columns as members already, JSON
    columns hold values; an unknown value raises as `enum(value)` does."""
    if type(value) is enum:
        return value
    found = _members_by_value(enum).get(value)
    return found if found is not None else enum(value)  # type: ignore[return-value]


class RowType:
    """The base of a strawberry type declared with `@row_type`: it gives `from_row` its type."""

    row_sources: ClassVar[dict[str, Source]]

    @classmethod
    def from_row(cls, row: Row) -> Self:
        return cls(
            **{
                name: row[source] if isinstance(source, str) else source(row)
                for name, source in cls.row_sources.items()
            }
        )


def row_type(columns: Sequence[str], **sources: Source) -> Callable[[type[R]], type[R]]:
    """Derive `from_row` of the decorated strawberry type (put it above `@strawberry.type`) from its fields,
    `columns` (the resolver's `.values()` list) and `sources` (the fields that are not a column of their name)."""

    def declare(cls: type[R]) -> type[R]:
        fields = [field.name for field in dataclasses.fields(cls) if field.init]  # type: ignore[arg-type]
        unknown = sorted(set(sources) - set(fields))
        if unknown:
            raise TypeError(f"{cls.__name__} has no fields {unknown}")
        derived = {name: sources.get(name, name.removeprefix("_")) for name in fields}
        named = [s.column if isinstance(s, IdOf) else s for s in derived.values() if isinstance(s, str | IdOf)]
        missing = sorted(column for column in named if column not in columns)
        if missing:
            raise TypeError(f"{cls.__name__} reads {missing}, which its resolver's fields do not hold")
        cls.row_sources = derived
        return cls

    return declare
