"""The names of tortoise-orm that are not its public API, used in this one module, each with why.

tortoise has no public accessor for a model's field objects, its table and columns, or an order of
models by their foreign keys: `Model._meta` holds them (tortoise's own code and its contrib modules
read it). Every other module goes through the functions here, so a tortoise upgrade that moves
them breaks here and nowhere else. tests/test_dependencies.py fails when another module imports a
private name of tortoise; ruff's SLF001 when one reads a private attribute.

One exception, by necessity: models/sqlite_client.py subclasses tortoise's SQLite client to repair
it and so works with its own (`self._lock`) state; tortoise finds its engine by that module's name.
"""

from __future__ import annotations

from collections.abc import Iterable

from tortoise.expressions import Q
from tortoise.fields import Field
from tortoise.models import Model
from tortoise.queryset import QuerySet, ValuesQuery


def field(model: type[Model], name: str) -> Field:
    """The field object `name` of `model` (its type, `max_length`, constraints): `_meta.fields_map`,
    where tortoise keeps them; `Model.describe()` gives only their serialized description."""
    return model._meta.fields_map[name]


def max_length(model: type[Model], name: str) -> int:
    """The declared `max_length` of the text field `name` of `model`."""
    length: int = field(model, name).max_length  # type: ignore[attr-defined]  # CharField's, not every Field's
    return length


def related_model(model: type[Model], relation: str) -> type[Model]:
    """The model the relation `relation` of `model` points to."""
    related: type[Model] = field(model, relation).related_model  # type: ignore[attr-defined]  # relational fields'
    return related


def fields(model: type[Model]) -> dict[str, Field]:
    """Every field of `model` by name, relations and backward relations too."""
    return dict(model._meta.fields_map)


def foreign_keys(model: type[Model]) -> set[str]:
    """The names of the foreign key and one-to-one fields of `model`."""
    return set(model._meta.fk_fields | model._meta.o2o_fields)


def primary_key(model: type[Model]) -> Field:
    """The primary key field of `model`: `_meta.pk`."""
    return model._meta.pk


def table(model: type[Model]) -> str:
    """The table of `model`: `_meta.db_table`."""
    return model._meta.db_table


def columns(model: type[Model]) -> dict[str, str]:
    """The column of each field of `model` stored in its table (a foreign key `partner` is `partner_id`)."""
    return dict(model._meta.fields_db_projection)


def column(model: type[Model], name: str) -> str:
    """The column of the field `name` of `model`; `name` itself when it is no field (an annotation)."""
    return columns(model).get(name, name)


def children_first(models: Iterable[type[Model]]) -> list[type[Model]]:
    """`models` ordered so that a model comes before every model it has a foreign key to (an order
    to delete rows in). tortoise's test helpers order tables so and export no public name for it."""
    from tortoise.contrib.test import _topological_sort_models  # noqa: PLC0415 — a test helper: not for production

    return _topological_sort_models(list(models))


# --- querysets, for models/compiled.py's shaped statements -------------------------------------

# What a queryset may hold besides its filters and its connection: what `QuerySet._clone` copies.
_QUERYSET_STATE = (
    "_prefetch_map",
    "_prefetch_queries",
    "_single",
    "_raise_does_not_exist",
    "_limit",
    "_offset",
    "_fields_for_select",
    "_filter_kwargs",
    "_orderings",
    "_joined_tables",
    "_distinct",
    "_annotations",
    "_having",
    "_custom_filters",
    "_group_bys",
    "_select_for_update",
    "_select_related",
    "_force_indexes",
    "_use_indexes",
)


def only_filters(queryset: QuerySet) -> bool:
    """Whether `queryset` holds nothing but its filters (no ordering, limit, annotation, prefetch...):
    each attribute of `_QUERYSET_STATE` as on `model.all()`."""
    blank = queryset.model.all()
    return all(getattr(queryset, name) == getattr(blank, name) for name in _QUERYSET_STATE)


def q_objects(queryset: QuerySet) -> list[Q]:
    """A queryset's filters: `_q_objects`, where `QuerySet.filter` keeps them."""
    return list(queryset._q_objects)


def is_negated(q: Q) -> bool:
    """Whether `q` is negated (`~Q(...)`): `Q._is_negated`, which has no public reader."""
    return bool(q._is_negated)


def negated_as(q: Q, original: Q) -> Q:
    """`q`, negated as `original` is (`Q.negate()` flips; there is no setter)."""
    q._is_negated = original._is_negated
    return q


def selected_fields(query: ValuesQuery) -> dict[str, str]:
    """The aliases a `.values()` query selects and the path each reads: `_fields_for_select`."""
    return dict(query._fields_for_select)
