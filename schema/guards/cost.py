"""Query cost: what an operation will cost, computed from the document before it runs.

The model (like GitHub's and Shopify's), in points:
- an operation costs at least 1 point;
- a scalar or enum field costs 0, an object field 1 (plus what is selected inside it);
- a connection (a field with a `first` argument) costs 1 plus `first` times what one of its
  items (`edges { node }`) selects; `first` comes from a literal or a variable, 20 when absent,
  and at most 100 (pagination refuses more);
- a list with a `first` argument (`partnerLeaderboard`) counts `first` items, its default when
  absent, at most 100;
- a list declared with `bounded_list` counts its documented maximum (`User.memberships`: 100),
  or one item when it is `computed`: built whole by its parent's fixed number of queries, its
  items are plain values without resolvers (report rows);
- any other list of objects counts as many items as its list argument holds (`nodes(ids:)`),
  else `LIST_ESTIMATE` items: lists only operators fill (the catalog's plans, the tiers), small
  fixed sets and payloads' `errors` (tests/test_query_cost.py keeps the inventory);
- every root mutation field adds `MUTATION_COST`, so floods of writes use up the budget;
- an introspection field (`__schema`, `__type`) costs 1 whatever it selects: it reads the
  schema in memory, and the depth and token limits bound it;
- named and inline fragments are expanded; on an interface or union the costliest of the
  concrete types counts; `@skip`/`@include` are honoured.

`QueryCost` computes the cost once validation passed, refuses an operation over
`MAX_QUERY_COST` (`QUERY_TOO_COMPLEX`), spends it from the caller's budget
(`resolvers/budget.py`; `THROTTLED` with `retryAfter` when it does not fit) and reports
`extensions.cost` = {requested, remaining, limit} on every response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import strawberry
from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_composite_type,
    is_list_type,
    is_object_type,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.types import ExecutionContext

from partner_portal.permissions.errors import Throttled
from partner_portal.resolvers.budget import Balance, QueryBudget
from partner_portal.resolvers.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from partner_portal.resolvers.throttle import client_key
from partner_portal.schema.guards.lru import LruCache
from partner_portal.schema.strawberry_internals import graphql_schema, strawberry_field

MINIMUM_COST = 1
LIST_ESTIMATE = 10
MAX_LIST_ARGUMENT = 100
MUTATION_COST = 10
INTROSPECTION_COST = 1
TOO_COMPLEX = "QUERY_TOO_COMPLEX"
MAX_ITEMS = "max_items"  # the metadata of a `bounded_list` field
COMPUTED = "computed"


def bounded_list(at_most: int, description: str, *, computed: bool = False, **options: Any) -> Any:
    """A list field of at most `at_most` items (its resolver must keep to it): the description
    says so, and the cost model counts that many items, or one when `computed` (see above)."""
    return strawberry.field(
        description=f"{description} At most {at_most:,}.",
        metadata={MAX_ITEMS: at_most, COMPUTED: computed},
        **options,
    )


def list_bound(definition: GraphQLField) -> tuple[int, bool] | None:
    """(at most, computed) of a `bounded_list` field, None for any other field."""
    field = strawberry_field(definition)
    metadata = getattr(field, "metadata", None) or {}
    return (metadata[MAX_ITEMS], metadata[COMPUTED]) if MAX_ITEMS in metadata else None


class _CostWalk:
    """One walk over one operation, with its fragments and variables."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        defaults = {
            definition.variable.name.value: self._value(definition.default_value)
            for definition in operation.variable_definitions or ()
            if definition.default_value is not None
        }
        self.variables = {**defaults, **self.variables}  # as execution coerces them
        if operation.operation is OperationType.MUTATION:
            return sum(
                MUTATION_COST + self._field(root, node, None) for node in self._fields(root, operation.selection_set)
            )
        return self._selection(root, operation.selection_set, None)

    def _fields(self, parent: GraphQLCompositeType, selection_set: SelectionSetNode) -> list[FieldNode]:
        """The root fields of a mutation, through fragments (a root type is never abstract)."""
        found: list[FieldNode] = []
        for selection in selection_set.selections:
            if self._skipped(selection):
                continue
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                found.extend(self._fields(parent, selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value in self.fragments:
                found.extend(self._fields(parent, self.fragments[selection.name.value].selection_set))
        return found

    def _selection(self, parent: GraphQLCompositeType, selection_set: SelectionSetNode, page: int | None) -> int:
        """Fields on the parent type count for every item; fragments narrowed to one concrete
        type count as the costliest of those types."""
        by_type: dict[str | None, int] = {}
        self._collect(parent, selection_set, page, None, by_type)
        common = by_type.pop(None, 0)
        return common + max(by_type.values(), default=0)

    def _collect(
        self,
        parent: GraphQLCompositeType,
        selection_set: SelectionSetNode,
        page: int | None,
        narrowed_to: str | None,
        by_type: dict[str | None, int],
    ) -> None:
        for selection in selection_set.selections:
            if self._skipped(selection):
                continue
            if isinstance(selection, FieldNode):
                by_type[narrowed_to] = by_type.get(narrowed_to, 0) + self._field(parent, selection, page)
                continue
            if isinstance(selection, InlineFragmentNode):
                fragment_set = selection.selection_set
                condition = selection.type_condition
            else:
                fragment = self.fragments.get(selection.name.value)  # type: ignore[attr-defined]  # a FragmentSpreadNode
                if fragment is None:
                    continue
                fragment_set, condition = fragment.selection_set, fragment.type_condition
            target = self.schema.get_type(condition.name.value) if condition is not None else parent
            if not is_composite_type(target):
                continue
            narrower = narrowed_to
            if narrower is None and is_object_type(target) and not is_object_type(parent):
                narrower = target.name
            self._collect(target, fragment_set, page, narrower, by_type)

    def _field(self, parent: GraphQLCompositeType, node: FieldNode, page: int | None) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0 if name == "__typename" else INTROSPECTION_COST
        definition: GraphQLField | None = getattr(parent, "fields", {}).get(name)
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        if not is_composite_type(named) or node.selection_set is None:
            return 0
        is_list = is_list_type(get_nullable_type(definition.type))
        own_page = None if is_list else self._page_size(definition, node)
        each = 1 + self._selection(named, node.selection_set, own_page)
        if not is_list:
            return each
        items = page if page is not None else self._list_size(definition, node)
        return items * each

    def _page_size(self, definition: GraphQLField, node: FieldNode) -> int | None:
        """`first` of a connection (its items are the page), None for any other field."""
        if "first" not in definition.args:
            return None
        value = self._argument(node, "first")
        if isinstance(value, bool) or not isinstance(value, int):
            return DEFAULT_PAGE_SIZE
        return max(0, min(value, MAX_PAGE_SIZE))

    def _list_size(self, definition: GraphQLField, node: FieldNode) -> int:
        if "first" in definition.args:
            value = self._argument(node, "first")
            if isinstance(value, bool) or not isinstance(value, int):
                value = definition.args["first"].default_value
            return max(0, min(value, MAX_PAGE_SIZE)) if isinstance(value, int) else MAX_PAGE_SIZE
        for argument in node.arguments or ():
            if is_list_type(get_nullable_type(definition.args[argument.name.value].type)):
                value = self._value(argument.value)
                return min(len(value), MAX_LIST_ARGUMENT) if isinstance(value, list) else 1
        bound = list_bound(definition)
        if bound is not None:
            at_most, computed = bound
            return 1 if computed else at_most
        return LIST_ESTIMATE

    def _argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return self._value(argument.value)
        return None

    def _value(self, value: ValueNode) -> Any:
        """The few values cost depends on: integers, booleans, and lists (for their length)."""
        if isinstance(value, VariableNode):
            return self.variables.get(value.name.value)
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, BooleanValueNode):
            return value.value
        if isinstance(value, ListValueNode):
            return list(value.values)
        return None

    def _skipped(self, selection: Any) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name in ("skip", "include"):
                condition = next(
                    (self._value(a.value) for a in directive.arguments or () if a.name.value == "if"), None
                )
                if (name == "skip" and condition is True) or (name == "include" and condition is False):
                    return True
        return False


def operation_cost(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
) -> int:
    """The cost of the operation of a valid document: at least 1, so that floods of cheap
    requests use up the budget too (0 when the operation is ambiguous: it will not run)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    return max(MINIMUM_COST, _CostWalk(schema, document, variables or {}).operation(operation))


_COSTS: LruCache[int] = LruCache()


def cached_cost(
    schema: GraphQLSchema,
    query: str | None,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    """`operation_cost`, kept by query text, operation and the variables a cost can depend on."""
    if query is None:
        return operation_cost(schema, document, operation_name, variables)
    key = (schema, query, operation_name, _variables_key(variables))
    return _COSTS.get(key, lambda: operation_cost(schema, document, operation_name, variables))


def _variables_key(variables: Mapping[str, Any] | None) -> tuple:
    """Only integers, booleans and list lengths change a cost; other values do not split the cache."""
    if not variables:
        return ()
    return tuple((name, _cost_relevant(value)) for name, value in sorted(variables.items()))


def _cost_relevant(value: Any) -> tuple | None:
    if isinstance(value, int):  # bool included, told apart by its type (True == 1)
        return (type(value), value)
    if isinstance(value, list):
        return (list, len(value))
    return None


def _error(message: str, **extensions: Any) -> GraphQLExecutionResult:
    return GraphQLExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])


class QueryCost:
    """Refuses operations over MAX_QUERY_COST and spends each operation's cost from its
    caller's budget before it runs (`check`); reports the cost for `extensions.cost` (`report`).
    One per operation: `schema/guards/operation.py` runs it."""

    def __init__(self) -> None:
        self.requested = 0
        self.balance: Balance | None = None

    @staticmethod
    def _budget(execution: ExecutionContext) -> tuple[QueryBudget | None, str]:
        context = execution.context
        budget = getattr(context, "query_budget", None)
        if budget is None:
            return None, ""
        return budget, client_key(context.actor, context.client_address)

    async def check(self, execution: ExecutionContext) -> GraphQLExecutionResult | None:
        """The refusal of a validated operation, or None when it may run (its cost then spent)."""
        settings = execution.context.settings
        document = execution.graphql_document
        assert document is not None, "strawberry executes parsed documents only"
        self.requested = cached_cost(
            graphql_schema(execution.schema),
            execution.query,
            document,
            execution.operation_name,
            execution.variables,
        )
        if self.requested > settings.max_query_cost:
            return _error(
                f"This operation would cost {self.requested} points; at most {settings.max_query_cost} are "
                "allowed. Ask for smaller pages (`first`) or fewer nested lists.",
                code=TOO_COMPLEX,
                cost=self.requested,
                maxCost=settings.max_query_cost,
            )
        budget, client = self._budget(execution)
        if budget is None:
            return None
        self.balance = await budget.spend(client, self.requested)
        if self.balance.retry_after is None:
            return None
        refusal = Throttled(
            f"Query budget used up: this operation costs {self.requested} points and "
            f"{self.balance.remaining} remain; try again in {self.balance.retry_after} seconds."
        )
        return _error(str(refusal), code=refusal.code, retryAfter=self.balance.retry_after)

    async def report(self, execution: ExecutionContext) -> dict[str, Any]:
        budget, client = self._budget(execution)
        if self.balance is None and budget is not None:  # not spent: refused or invalid
            self.balance = await budget.balance(client)
        report: dict[str, Any] = {"requested": self.requested}
        if self.balance is not None:
            report["remaining"] = self.balance.remaining
            report["limit"] = self.balance.limit
        return report
