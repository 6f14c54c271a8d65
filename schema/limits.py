"""Hardening that must act before graphql-core validates a document, and error texts for production.

Validation is not linear: graphql-core's OverlappingFieldsCanBeMerged compares fields with the same
response name pairwise, through fragments and sub-selections. Within the token limit, a document
repeating `memberships { id organization { id } }` 245 times (about 1,000 selections) took over 2 s to
validate, and every limit that is itself a validation rule (depth, aliases) runs beside that rule, not
before it. `LimitedValidationCache` counts the document's selections (fields, fragment spreads, inline
fragments) first, a linear walk, and refuses the document above the limit without validating it; at
the default of 150 (`MAX_SELECTIONS`; the standard introspection query has 80) the worst shapes found
validate in well under 0.1 s on an idle 2-core machine. Both run once per query text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import DocumentNode, FieldNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode, Node
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from schema.lru import LruCache

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
    whole tree, and the selection count walked it again on every request.
    """

    def __init__(self, max_selections: int) -> None:
        super().__init__()
        self.max_selections = max_selections

    def _errors(self, document: DocumentNode, rules: tuple) -> list[GraphQLError]:
        if count_selections(document, self.max_selections) > self.max_selections:
            return [GraphQLError(
                f"The operation has more than {self.max_selections} selections (fields and fragments); "
                "split it into several requests."
            )]
        return validate_document(self.execution_context.schema._schema, document, rules)  # noqa: SLF001

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        if document is not None:
            rules = tuple(execution.validation_rules)
            if execution.query is None:
                execution.pre_execution_errors = self._errors(document, rules)
            else:
                key = (execution.schema, execution.query, self.max_selections, rules)
                execution.pre_execution_errors = _VALIDATED.get(key, lambda: self._errors(document, rules))
        yield


_VALIDATED: LruCache[list[GraphQLError]] = LruCache()


SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def hide_suggestions(errors: list[GraphQLError]) -> None:
    """Drop graphql-core's "Did you mean …?" (fields, arguments, types, enum values, input fields): with
    introspection off they would reveal the schema one guess at a time."""
    for error in errors:
        error.message = SUGGESTION.sub("", error.message)
