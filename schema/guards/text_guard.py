"""Refuses text PostgreSQL cannot store before any resolver sees it.

PostgreSQL's text types refuse the NUL character (U+0000), and no database stores a lone UTF-16
surrogate (U+D800–U+DFFF, which JSON can spell as an escape). Such input was an unexpected error
deep in whichever resolver wrote it (found by tests/test_fuzz.py); this check refuses the
whole operation up front, with `BAD_USER_INPUT`, wherever the text comes from: the variables or
a string literal in the document.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.types import ExecutionContext

from partner_portal.schema.guards.lru import LruCache

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "Text may not contain the NUL character (U+0000) or unpaired surrogates (U+D800 to U+DFFF)."


def has_unstorable_text(value: Any) -> bool:
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(has_unstorable_text(k) or has_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_unstorable_text(item) for item in value)
    return False


class _StringLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        self.found = self.found or has_unstorable_text(node.value)


def _literals_unstorable(document: DocumentNode) -> bool:
    literals = _StringLiterals()
    visit(document, literals)
    return literals.found


_UNSTORABLE_LITERALS: LruCache[bool] = LruCache()


def refuse_unstorable_text(execution: ExecutionContext) -> GraphQLExecutionResult | None:
    """BAD_USER_INPUT when the variables or the document's string literals hold unstorable text."""
    document = execution.graphql_document
    unstorable = has_unstorable_text(execution.variables or {})
    if not unstorable and document is not None:
        if execution.query is None:
            unstorable = _literals_unstorable(document)
        else:  # the document's literals are checked once per query text
            unstorable = _UNSTORABLE_LITERALS.get(execution.query, lambda: _literals_unstorable(document))
    if not unstorable:
        return None
    return GraphQLExecutionResult(data=None, errors=[GraphQLError(MESSAGE, extensions={"code": "BAD_USER_INPUT"})])
