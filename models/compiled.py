"""Hot `.values()` queries built by tortoise once per process and database dialect.

tortoise takes about half a millisecond to build a query, more than SQLite takes to run a small
indexed one; queries asked on every request are built once and then sent with new parameters.
Their rows are converted by the models' own fields, as `.values()` would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tortoise import connections
from tortoise.fields import Field
from tortoise.models import Model
from tortoise.queryset import ValuesQuery

from partner_portal.models.tortoise_internals import field, related_model


def field_at(model: type[Model], path: str) -> Field:
    """The model field a `.values()` path such as `user__memberships__role` names."""
    *relations, name = path.split("__")
    for relation in relations:
        model = related_model(model, relation)
    return field(model, name)


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
        query = self.build(*self.stand_ins)
        sql = query.sql()
        slots = [self._slot(parameter) for parameter in query.query.get_parameterized_sql()[1]]
        if {index for is_argument, index in slots if is_argument} != set(range(len(self.stand_ins))):
            raise RuntimeError(f"{self.model.__name__}: each stand-in must appear among the parameters")
        self.compiled[dialect] = (sql, slots)
        return self.compiled[dialect]

    def _slot(self, parameter: Any) -> tuple[bool, Any]:
        """(True, argument index) for a stand-in, (False, the value) for a fixed parameter."""
        for index, stand_in in enumerate(self.stand_ins):
            if type(stand_in) is type(parameter) and stand_in == parameter:
                return True, index
        return False, parameter

    async def rows(self, *arguments: Any) -> list[dict[str, Any]]:
        connection = connections.get("default")
        dialect = connection.capabilities.dialect
        sql, slots = self.compiled.get(dialect) or self._compile(dialect)
        parameters = [arguments[value] if is_argument else value for is_argument, value in slots]
        found = await connection.execute_query_dict(sql, parameters)
        return [{alias: self.converters[alias](row[alias]) for alias in self.fields} for row in found]
