"""Completion plans: a selection compiled once, then filled from the resolver's objects in one walk.

graphql-core completes a value field by field: for each it builds a `ResolveInfo`, calls the field's
resolver, checks for awaitables, and recurses, about 12 µs a field. A page of 100 customers is
about 2,300 fields, so that walk cost more than the page's SQL (docs/performance.md, issue 18).

Most fields below a resolver just read an attribute of the object it returned (strawberry's "basic"
fields: no resolver, no field extension such as `Requires`, no arguments). For a composite field whose
whole selection is made of such fields (objects, lists, scalars, enums, `__typename`, the relay `id`),
`PlanningExecutionContext` compiles the selection once per document into nested functions, keeps it
while the parsed document is cached, and completes the value with them: one call per field, no
`ResolveInfo`, no awaitable checks.

What a plan never changes:
- Permissions: they are checked where they were, in root resolvers and field extensions, and a field
  with an extension, a resolver (but the relay `id`) or arguments is never planned: its selection
  runs the general way.
- Results and errors: a plan only reads attributes, so when it meets anything it does not complete
  exactly as graphql-core would (a null in a non-null field, a value a scalar refuses, an object of
  the wrong type, an awaitable), it stops and the value is completed again by graphql-core, which
  reports the error at its path as before.
- Documents with directives, fragment variables, abstract types, or schema extensions that wrap every
  resolver (`SchemaExtension.resolve`): not planned.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
    SelectionSetNode,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from strawberry import relay
from strawberry.relay.utils import to_base64

from partner_portal.schema.guards.lru import LruCache
from partner_portal.schema.strawberry_internals import (
    ExecutionContextBase,
    is_relay_id,
    strawberry_field,
    strawberry_type,
)

Complete = Callable[[Any], Any]
Read = Callable[[Any], Any]
PLANS_KEPT = 1024  # compiled selections kept; each holds its document's nodes alive


class Replan(Exception):
    """The plan met a value it does not complete exactly as graphql-core does."""


_NOT_PLANNABLE: Complete = lambda value: value  # noqa: E731 (a marker kept in the cache)
_plans: LruCache[tuple[tuple[FieldNode, ...], GraphQLOutputType, Complete]] = LruCache(PLANS_KEPT)


class PlanningExecutionContext(ExecutionContextBase):  # type: ignore[misc,valid-type]
    """strawberry's graphql-core executor, completing plannable selections with their plan."""

    def complete_value(  # type: ignore[override]
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        first = field_details_list[0].node
        if first.selection_set is not None and not isinstance(result, Exception) and not self._wraps_resolvers():
            plan = self._plan(return_type, field_details_list)
            if plan is not _NOT_PLANNABLE:
                try:
                    return plan(result)
                except Exception:  # noqa: BLE001 (Replan, or anything unexpected: graphql-core reports it at its path)
                    pass
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)

    def _wraps_resolvers(self) -> bool:
        manager = self.middleware_manager
        return bool(manager is not None and manager.middlewares)

    def _plan(self, return_type: GraphQLOutputType, field_details_list: Any) -> Complete:
        nodes = tuple(details.node for details in field_details_list)
        key = (tuple(map(id, nodes)), id(return_type))
        # The entry holds the nodes and the type, so their ids stay theirs while it is kept.
        cached_nodes, cached_type, plan = _plans.get(
            key, lambda: (nodes, return_type, self._compile(return_type, field_details_list) or _NOT_PLANNABLE)
        )
        if cached_type is not return_type or any(a is not b for a, b in zip(cached_nodes, nodes, strict=True)):
            return _NOT_PLANNABLE  # pragma: no cover (ids are unique among live objects)
        return plan

    def _compile(self, return_type: GraphQLOutputType, field_details_list: Any) -> Complete | None:
        if any(details.fragment_variable_values for details in field_details_list):
            return None
        if any(self._has_directives(details.node.selection_set, set()) for details in field_details_list):
            return None  # @skip/@include depend on the variables, @defer/@stream change the response
        return self._compile_value(return_type, field_details_list)

    def _compile_value(
        self, return_type: GraphQLOutputType, field_details_list: Any, non_null: bool = False
    ) -> Complete | None:
        if is_non_null_type(return_type):
            return self._compile_value(return_type.of_type, field_details_list, non_null=True)
        if is_list_type(return_type):
            item = self._compile_value(return_type.of_type, field_details_list)
            return None if item is None else _list_of(item, non_null)
        if is_leaf_type(return_type):
            return _leaf(return_type, non_null)
        if is_object_type(return_type):
            return self._compile_object(return_type, field_details_list, non_null)
        return None  # interfaces and unions: the runtime type decides the selection

    def _compile_object(
        self, object_type: GraphQLObjectType, field_details_list: Any, non_null: bool
    ) -> Complete | None:
        grouped_field_set, new_defer_usages, *_ = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            return None
        fields: list[tuple[str, Read, Complete]] = []
        for response_name, sub_details in grouped_field_set.items():
            field_name = sub_details[0].node.name.value
            if field_name == "__typename":
                fields.append((response_name, _constant(object_type.name), _identity))
                continue
            field_def = self.schema.get_field(object_type, field_name)
            if field_def is None or any(details.node.arguments for details in sub_details):
                return None
            read = _reader(object_type, field_def)
            complete = None if read is None else self._compile_value(field_def.type, sub_details)
            if complete is None:
                return None
            fields.append((response_name, read, complete))
        return _object(object_type, fields, non_null)

    def _has_directives(self, selection_set: SelectionSetNode | None, seen: set[str]) -> bool:
        """Whether any selection below, through fragments too, carries a directive."""
        if selection_set is None:
            return False
        for selection in selection_set.selections:
            if selection.directives:
                return True
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragment_definitions.get(name)
                if name not in seen and fragment is not None:
                    seen.add(name)
                    if self._has_directives(fragment.selection_set, seen):
                        return True
            elif self._has_directives(selection.selection_set, seen):
                return True
        return False


def _reader(object_type: GraphQLObjectType, field_def: GraphQLField) -> Read | None:
    """How a plan reads the field's value from its object, for the fields that only read it."""
    field = strawberry_field(field_def)
    if field is None or field_def.args or field.extensions:
        return None
    if field.base_resolver is None:
        default = field.default_resolver  # the schema's (getattr); a field reads its Python name
        return attrgetter(field.python_name) if default is getattr else _read_with(default, field.python_name)
    if is_relay_id(field):
        return _relay_id(object_type)
    return None


def _relay_id(object_type: GraphQLObjectType) -> Read | None:
    """`Node.id` as strawberry resolves and writes it: base64 of the object type's name and its `NodeID`
    attribute, when the type keeps relay's own `resolve_id` and `resolve_typename`."""
    origin = getattr(strawberry_type(object_type), "origin", None)
    if origin is None or origin.resolve_id.__func__ is not relay.Node.resolve_id.__func__:
        return None
    if origin.resolve_typename.__func__ is not relay.Node.resolve_typename.__func__:
        return None
    type_name, id_of = object_type.name, attrgetter(origin.resolve_id_attr())

    def read(value: Any) -> str:
        if type(value) is not origin:
            raise Replan
        return to_base64(type_name, str(id_of(value)))  # str(GlobalID(...)), what the ID scalar writes

    return read


def _read_with(resolver: Callable[[Any, str], Any], name: str) -> Read:
    return lambda value: resolver(value, name)


def _constant(value: str) -> Read:
    return lambda _value: value


def _identity(value: Any) -> Any:
    return value


def _list_of(item: Complete, non_null: bool) -> Complete:
    def complete(value: Any) -> Any:
        if value is None:
            if non_null:
                raise Replan
            return None
        if type(value) is not list and (isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable)):
            raise Replan  # graphql-core's error: "Expected Iterable, but did not find one"
        return [item(entry) for entry in value]

    return complete


# Values graphql-core's built-in scalars return unchanged (their `serialize` checks the type first).
_UNCHANGED: dict[GraphQLScalarType, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


def _leaf(leaf_type: GraphQLLeafType, non_null: bool) -> Complete:
    """`serialize`, as graphql-core's `complete_leaf_value`; an enum's members are looked up once."""
    serialize = leaf_type.serialize
    unchanged = _UNCHANGED.get(leaf_type)  # type: ignore[call-overload]
    enum, names = _enum_names(leaf_type)

    def complete(value: Any) -> Any:
        if value is None:
            if non_null:
                raise Replan
            return None
        if type(value) is unchanged:
            return value
        serialized = names.get(value) if type(value) is enum else serialize(value)
        if serialized is None or serialized is Undefined:
            raise Replan
        return serialized

    complete.unchanged, complete.non_null = unchanged, non_null  # type: ignore[attr-defined]  # for `_object`
    return complete


def _enum_names(leaf_type: GraphQLLeafType) -> tuple[type | None, dict[Any, str]]:
    """For strawberry's enum types, the Python enum and the GraphQL name of each of its members."""
    enum = getattr(leaf_type, "wrapped_cls", None)
    if not isinstance(leaf_type, GraphQLEnumType) or enum is None:
        return None, {}
    names = {}
    for member in enum:
        try:
            names[member] = leaf_type.serialize(member)
        except ValueError:  # a member the GraphQL enum lacks: graphql-core reports it when it is met
            continue
    return enum, names


def _object(object_type: GraphQLObjectType, fields: list[tuple[str, Read, Complete]], non_null: bool) -> Complete:
    """The object's completion as one generated function: a dict display of its fields, each read and
    completed, where graphql-core would call `execute_field` for each."""
    origin = getattr(strawberry_type(object_type), "origin", None)
    is_type_of = object_type.is_type_of
    names = {"Replan": Replan, "isawaitable": inspect.isawaitable, "origin": origin, "is_type_of": is_type_of}
    entries = []
    for index, (response_name, read, complete) in enumerate(fields):
        names[f"read{index}"], names[f"complete{index}"] = read, complete
        unchanged = getattr(complete, "unchanged", None)
        if unchanged is not None:  # a string or boolean leaf: written as it is read, without a call
            names[f"unchanged{index}"] = unchanged
            kept = f"type(v := read{index}(value)) is unchanged{index}" + ("" if complete.non_null else " or v is None")
            value = f"(v if {kept} else complete{index}(v))"
        else:
            value = f"complete{index}(read{index}(value))"
        entries.append(f"{response_name!r}: {value}")
    if is_type_of is not None:
        check = "is_type_of(value, None) is not True"
    else:  # an object of the type's class, or anything graphql-core would complete but an awaitable
        check = "type(value) is not origin and isawaitable(value)"
    source = (
        "def complete(value):\n"
        "    if value is None:\n"
        f"        {'raise Replan' if non_null else 'return None'}\n"
        f"    if {check}:\n"
        "        raise Replan\n"
        f"    return {{{', '.join(entries)}}}\n"
    )
    exec(compile(source, f"<plan of {object_type.name}>", "exec"), names)  # code from the schema's names only
    return names["complete"]  # type: ignore[return-value]
