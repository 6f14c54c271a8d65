"""Hardening that must act before graphql-core validates a document, and error texts for production.

Validation is not linear: graphql-core's OverlappingFieldsCanBeMerged compares fields with the same
response name pairwise, through fragments and sub-selections. Within the token limit, a document
repeating `memberships { id organization { id } }` 245 times (about 1,000 selections) took over 2 s to
validate, and every limit that is itself a validation rule (depth, aliases) runs beside that rule, not
before it. `LimitedValidationCache` counts the document's selections (fields, fragment spreads, inline
fragments) first, a linear walk, and refuses the document above the limit without validating it; at
the default of 150 (`MAX_SELECTIONS`; the standard introspection query has 80) the worst shapes found
validate in well under 0.1 s on an idle 2-core machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import FieldNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode, Node
from strawberry.extensions import ValidationCache

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


class LimitedValidationCache(ValidationCache):
    """strawberry's validation cache, refusing documents with more than `max_selections` selections
    before validating them (validation is skipped when `pre_execution_errors` is set)."""

    def __init__(self, max_selections: int) -> None:
        super().__init__()
        self.max_selections = max_selections

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        if document is not None and count_selections(document, self.max_selections) > self.max_selections:
            self.execution_context.pre_execution_errors = [GraphQLError(
                f"The operation has more than {self.max_selections} selections (fields and fragments); "
                "split it into several requests."
            )]
            yield
            return
        yield from super().on_validate()


SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def hide_suggestions(errors: list[GraphQLError]) -> None:
    """Drop graphql-core's "Did you mean …?" (fields, arguments, types, enum values, input fields): with
    introspection off they would reveal the schema one guess at a time."""
    for error in errors:
        error.message = SUGGESTION.sub("", error.message)
