"""Hot `.values()` queries built by tortoise once per process and database dialect.

tortoise takes about half a millisecond to build a query, more than SQLite takes to run a small
indexed one; queries asked on every request are built once and then sent with new parameters.
Their rows are converted by the models' own fields, as `.values()` would. `CompiledValues` is a
query of one shape; `ShapedValues` one whose statement varies with the request (which filters, the
order, a cursor, the scope's `filter_shape`), built once per shape.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from enum import Enum
from types import FunctionType
from typing import Any, NamedTuple

from tortoise import connections
from tortoise.exceptions import BaseORMException
from tortoise.expressions import Q
from tortoise.fields import Field
from tortoise.models import Model
from tortoise.queryset import QuerySet, ValuesQuery

from partner_portal.models.tortoise_internals import (
    field,
    is_negated,
    negated_as,
    only_filters,
    q_objects,
    related_model,
    selected_fields,
)


def field_at(model: type[Model], path: str) -> Field:
    """The model field a `.values()` path such as `user__memberships__role` names."""
    *relations, name = path.split("__")
    for relation in relations:
        model = related_model(model, relation)
    return field(model, name)


def _slot(parameter: Any, stand_ins: Sequence[Any]) -> tuple[bool, Any]:
    """(True, argument index) for a stand-in, (False, the value) for a fixed parameter."""
    for index, stand_in in enumerate(stand_ins):
        if type(stand_in) is type(parameter) and stand_in == parameter:
            return True, index
    return False, parameter


def _statement(query: ValuesQuery, stand_ins: Sequence[Any]) -> tuple[str, list[tuple[bool, Any]]] | None:
    """The SQL of `query` built with `stand_ins`, and where each of its parameters comes from; None
    unless each stand-in appears among the parameters as it is."""
    sql = query.sql()
    slots = [_slot(parameter, stand_ins) for parameter in query.query.get_parameterized_sql()[1]]
    if {index for is_argument, index in slots if is_argument} != set(range(len(stand_ins))):
        return None
    return sql, slots


class CompiledValues:
    """`build(*arguments)` (a `.values(*fields)` query of `model`) built once per dialect.

    It is built with `stand_ins`, one per argument, values no real call passes; each call swaps
    them for its own arguments in the statement's parameters (wherever each appears). Other
    parameters (a `.first()` limit) stay as built. Arguments tortoise would not send as parameters
    (None) cannot vary. Values are converted by the model's field of the same path, or by
    `convert[alias]` (annotations have no field).
    """

    def __init__(
        self,
        model: type[Model],
        fields: Sequence[str],
        build: Callable[..., ValuesQuery],
        stand_ins: Sequence[Any],
        convert: dict[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        self.model, self.fields, self.build, self.stand_ins = model, tuple(fields), build, tuple(stand_ins)
        self.convert = convert or {}
        self.compiled: dict[str, tuple[str, list[tuple[bool, Any]]]] = {}
        self.converters: dict[str, Callable[[Any], Any]] = {}

    def _compile(self, dialect: str) -> tuple[str, list[tuple[bool, Any]]]:
        # (the models' fields are complete once tortoise is initialized)
        self.converters = {
            alias: self.convert.get(alias) or field_at(self.model, alias).to_python_value for alias in self.fields
        }
        statement = _statement(self.build(*self.stand_ins), self.stand_ins)
        if statement is None:
            raise RuntimeError(f"{self.model.__name__}: each stand-in must appear among the parameters")
        self.compiled[dialect] = statement
        return statement

    async def rows(self, *arguments: Any) -> list[dict[str, Any]]:
        connection = connections.get("default")
        dialect = connection.capabilities.dialect
        sql, slots = self.compiled.get(dialect) or self._compile(dialect)
        parameters = [arguments[value] if is_argument else value for is_argument, value in slots]
        found = await connection.execute_query_dict(sql, parameters)
        return [{alias: self.converters[alias](row[alias]) for alias in self.fields} for row in found]


# --- statements that vary with a shape ---------------------------------------------------------


def _as_is(value: Any) -> Any:
    return value


class Parameter(NamedTuple):
    """A value a shaped statement sends. The statement is built with `stand_in` (no real call's value,
    and unlike the statement's other stand-ins); a call sends `encode(value)`, where `encode` does
    to the value what tortoise does to the filter's (`contains` escapes it and wraps it in `%`)."""

    value: Any
    stand_in: Any
    encode: Callable[[Any], Any] = _as_is


def stand_in_id(index: int) -> int:
    """A stand-in for an id (ids are positive), distinct for each `index`."""
    return -7_346_219 - index


def stand_in_text(index: int) -> str:
    """A stand-in for a text, distinct for each `index`."""
    return f"\x00stand-in {index}"


def stand_in_count(index: int) -> int:
    """A stand-in for a count (a limit: positive), distinct for each `index`."""
    return 7_346_219 + index


class _Compiled(NamedTuple):
    sql: str
    slots: list[tuple[bool, Any]]
    converters: list[tuple[str, Callable[[Any], Any]]]


class ShapedValues:
    """`.values()` queries whose statement varies with a shape (which filters a request has, its
    order, how many ids a list holds): each shape's statement is built once per dialect, by
    `build(*stand_ins)`, and then sent with each call's own `Parameter` values; rows are converted
    as tortoise's `.values()` converts them. The shape must say everything the statement depends on
    but the parameters' values.

    `rows` answers None, and the caller runs its query itself, for a shape that cannot be compiled
    (tortoise refused a stand-in, or sent one other than `encode` says, so the real values could not
    be swapped in) and for new shapes once `max_shapes` are compiled.
    """

    def __init__(self, max_shapes: int = 512) -> None:
        self.max_shapes = max_shapes
        self.compiled: dict[tuple[str, Hashable], _Compiled | None] = {}

    async def rows(
        self, shape: Hashable, build: Callable[..., ValuesQuery], parameters: Sequence[Parameter]
    ) -> list[dict[str, Any]] | None:
        connection = connections.get("default")
        key = (connection.capabilities.dialect, shape)
        if key in self.compiled:
            compiled = self.compiled[key]
        elif len(self.compiled) >= self.max_shapes:
            return None
        else:
            compiled = self.compiled[key] = self._compile(build, parameters)
        if compiled is None:
            return None
        values = [parameter.encode(parameter.value) for parameter in parameters]
        rows = await connection.execute_query_dict(
            compiled.sql, [values[value] if is_argument else value for is_argument, value in compiled.slots]
        )
        for row in rows:
            for alias, convert in compiled.converters:
                row[alias] = convert(row[alias])
        return rows

    @staticmethod
    def _compile(build: Callable[..., ValuesQuery], parameters: Sequence[Parameter]) -> _Compiled | None:
        try:
            query = build(*(parameter.stand_in for parameter in parameters))
            statement = _statement(query, [parameter.encode(parameter.stand_in) for parameter in parameters])
        except BaseORMException:  # tortoise refused a stand-in: the caller's own query will say why, if at all
            return None
        if statement is None:
            return None
        # what `ValuesQuery._execute` converts (plain functions leave the value as it is)
        converters = [
            (alias, convert)
            for alias, path in selected_fields(query).items()
            if not isinstance(convert := query.resolve_to_python_value(query.model, path), FunctionType)
        ]
        return _Compiled(*statement, converters)


# --- the shape of a scope -------------------------------------------------------------------------


class FilterShape(NamedTuple):
    """A filtering queryset with its ids taken out (`key`), and those ids in order (`ids`)."""

    key: Hashable
    ids: list[int]


def _value_shape(value: Any, ids: list[int]) -> Hashable | None:
    if value is None or isinstance(value, bool | Enum):  # few values: part of the shape
        return ("as is", type(value), value)
    if type(value) is int:
        ids.append(value)
        return "id"
    if type(value) is list and all(type(element) is int for element in value):
        ids.extend(value)
        return ("ids", len(value))
    return None


def _q_shape(q: Q, ids: list[int]) -> Hashable | None:
    children = tuple(_q_shape(child, ids) for child in q.children)
    filters = tuple((name, _value_shape(value, ids)) for name, value in q.filters.items())
    if None in children or any(shape is None for _, shape in filters):
        return None
    return (q.join_type, is_negated(q), children, filters)


def filter_shape(queryset: QuerySet) -> FilterShape | None:
    """The shape of a queryset that only filters (`Model.filter(...)`, `Model.all()`) by ids (each
    one, or lists of them; their number is part of the shape), nulls, booleans and enum members;
    None for any other (texts, times, subqueries, annotations...)."""
    if type(queryset) is not QuerySet:
        return None
    if not only_filters(queryset):
        return None
    ids: list[int] = []
    shapes = tuple(_q_shape(q, ids) for q in q_objects(queryset))
    if None in shapes:
        return None
    return FilterShape((queryset.model, shapes), ids)


def _refilled_q(q: Q, ids: Iterator[int]) -> Q:
    refilled = Q(*(_refilled_q(child, ids) for child in q.children), join_type=q.join_type)
    refilled.filters = {name: _refilled_value(value, ids) for name, value in q.filters.items()}
    return negated_as(refilled, q)


def _refilled_value(value: Any, ids: Iterator[int]) -> Any:
    if type(value) is int:
        return next(ids)
    if type(value) is list:
        return [next(ids) for _ in value]
    return value


def refilled(queryset: QuerySet, ids: Sequence[int]) -> QuerySet:
    """`queryset` (one `filter_shape` knows) with its ids replaced by `ids`, in `filter_shape` order."""
    remaining = iter(ids)
    return queryset.model.filter(*(_refilled_q(q, remaining) for q in q_objects(queryset)))
