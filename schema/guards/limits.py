"""Hardening that must act before graphql-core validates a document, and error texts for production.

Validation is not linear: graphql-core's OverlappingFieldsCanBeMerged compares fields with the same
response name pairwise, through fragments and sub-selections. Within the token limit, a document
repeating `memberships { id organization { id } }` 245 times (about 1,000 selections) took over 2 s to
validate, and every limit that is itself a validation rule (depth, aliases) runs beside that rule, not
before it. `LimitedValidationCache` counts the document's selections (fields, fragment spreads, inline
fragments) first, a linear walk, and refuses the document above the limit without validating it; at
the default of 150 (`MAX_SELECTIONS`; the standard introspection query has 80) the worst shapes found
validate in well under 0.1 s on an idle 2-core machine. Both run once per query text.

Sign-in and registration: `OnePasswordFieldPerOperation` (a validation rule, cached with the rest) allows
one of them per operation, and `refuse_over_sign_in_rate` counts such an operation against the sign-in rates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
    get_operation_ast,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.types import ExecutionContext

from partner_portal.resolvers.throttle import LIMITS_UNAVAILABLE, LimitsUnavailable, SignInThrottled
from partner_portal.schema.guards.lru import LruCache
from partner_portal.schema.strawberry_internals import graphql_schema, validate

SELECTION_NODES = (FieldNode, FragmentSpreadNode, InlineFragmentNode)


def count_selections(node: Node, limit: int) -> int:
    """The selections in a document, counting stops once past `limit` (an iterative walk: no recursion)."""
    count = 0
    stack: list[Node] = [node]
    while stack and count <= limit:
        current = stack.pop()
        if isinstance(current, SELECTION_NODES):
            count += 1
        for key in current.keys:
            child = getattr(current, key, None)
            if isinstance(child, Node):
                stack.append(child)
            elif isinstance(child, tuple | list):
                stack.extend(item for item in child if isinstance(item, Node))
    return count


class LimitedValidationCache(SchemaExtension):
    """Validates each query text once: the selection count first, refusing a document with more than
    `max_selections` selections without validating it, then graphql-core's rules. The errors (none
    for a valid document) are kept by schema, text and rules for the next requests with that text.

    It replaces strawberry's `ValidationCache`, which keys its cache on the parsed document: a
    document is a frozen dataclass since graphql-core 3.3, so each lookup hashed and compared the
    whole tree, and the selection count walked it again on every request. It also adds `rules` to
    graphql-core's (depth, aliases, no introspection…), as strawberry's `AddValidationRules` would
    in an extension of its own.
    """

    def __init__(self, max_selections: int, rules: tuple[type[ASTValidationRule], ...]) -> None:
        super().__init__()
        self.max_selections = max_selections
        self.rules = rules

    def _errors(self, document: DocumentNode, rules: tuple) -> list[GraphQLError]:
        if count_selections(document, self.max_selections) > self.max_selections:
            return [
                GraphQLError(
                    f"The operation has more than {self.max_selections} selections (fields and fragments); "
                    "split it into several requests."
                )
            ]
        return validate(graphql_schema(self.execution_context.schema), document, rules)

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        if document is not None:
            rules = (*execution.validation_rules, *self.rules)
            if execution.query is None:
                execution.pre_execution_errors = self._errors(document, rules)
            else:
                key = (execution.schema, execution.query, self.max_selections, rules)
                execution.pre_execution_errors = _VALIDATED.get(key, lambda: self._errors(document, rules))
        yield


_VALIDATED: LruCache[list[GraphQLError]] = LruCache()


class LimitedParserCache(ParserCache):
    """strawberry's parser cache, parsing at most `max_tokens` tokens (as its `MaxTokensLimiter`
    would in an extension of its own)."""

    def __init__(self, max_tokens: int) -> None:
        super().__init__()
        self.max_tokens = max_tokens

    def on_parse(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.max_tokens
        yield from super().on_parse()


SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def hide_suggestions(errors: list[GraphQLError]) -> None:
    """Drop graphql-core's "Did you mean …?" (fields, arguments, types, enum values, input fields): with
    introspection off they would reveal the schema one guess at a time."""
    for error in errors:
        error.message = SUGGESTION.sub("", error.message)


# --- sign-in and registration ----------------------------------------------------------------

# The mutations that verify or hash a password (argon2, slow on purpose). tests/test_signin.py
# checks that every mutation whose input has a `password` (or a `…Password`) is here.
PASSWORD_FIELDS = frozenset(
    {
        "login",
        "register",
        "acceptInvitation",
        "resetPassword",
        "changePassword",
        "deleteAccount",
        "changeEmail",
        "beginTwoFactorSetup",
        "disableTwoFactor",
    }
)


def password_fields(
    selection_set: SelectionSetNode, fragment: Callable[[str], FragmentDefinitionNode | None]
) -> set[str]:
    """The response names of the password mutations an operation selects, through fragments."""
    found: set[str] = set()
    stack, seen = [selection_set], set()
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                if selection.name.value in PASSWORD_FIELDS:
                    found.add((selection.alias or selection.name).value)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                definition = fragment(selection.name.value)
                if definition is not None:
                    stack.append(definition.selection_set)
    return found


class OnePasswordFieldPerOperation(ValidationRule):
    """A validation rule: one sign-in or registration per operation, so aliases cannot multiply
    the argon2 work of one request (and of one sign-in rate hit)."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> None:
        if node.operation is not OperationType.MUTATION:
            return
        if len(password_fields(node.selection_set, self.context.get_fragment)) > 1:
            self.report_error(
                GraphQLError(
                    f"An operation may sign in or register once: it selects more than one of "
                    f"{', '.join(sorted(PASSWORD_FIELDS))}. Send them as separate requests.",
                    node,
                )
            )


def _refusal(message: str, **extensions: object) -> GraphQLExecutionResult:
    return GraphQLExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])


async def refuse_over_sign_in_rate(execution: ExecutionContext) -> GraphQLExecutionResult | None:
    """Counts an operation with a sign-in or registration against its client address's and
    everyone's sign-in rate (`resolvers/throttle.py`) before it runs: past either, THROTTLED with
    `retryAfter` (and the view's `Retry-After` header), and no password is looked at; when the
    rate storage does not answer, SERVICE_UNAVAILABLE (not counted is not allowed)."""
    throttle = getattr(execution.context, "throttle", None)
    if throttle is None or not _signs_in(execution):
        return None
    try:
        await throttle.hit_sign_in(execution.context.client_address)
    except SignInThrottled as refusal:
        return _refusal(str(refusal), code=refusal.code, retryAfter=refusal.retry_after)
    except LimitsUnavailable:  # the view answers 503 with Retry-After
        return _refusal(LIMITS_UNAVAILABLE, code="SERVICE_UNAVAILABLE")
    return None


def _signs_in(execution: ExecutionContext) -> bool:
    document = execution.graphql_document
    operation = get_operation_ast(document, execution.operation_name) if document else None
    if document is None or operation is None or operation.operation is not OperationType.MUTATION:
        return False
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return bool(password_fields(operation.selection_set, fragments.get))
