"""Refuses text PostgreSQL cannot store before any resolver sees it.

PostgreSQL's text types refuse the NUL character (U+0000), and no database stores a lone UTF-16
surrogate (U+D800–U+DFFF, which JSON can spell as an escape). Such input was an unexpected error
deep in whichever resolver wrote it (found by tests/test_fuzz.py); this extension refuses the
whole operation up front, with `BAD_USER_INPUT`, wherever the text comes from: the variables or
a string literal in the document.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

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


class RefuseUnstorableText(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        unstorable = has_unstorable_text(execution.variables or {})
        if not unstorable and document is not None:
            if execution.query is None:
                unstorable = _literals_unstorable(document)
            else:  # the document's literals are checked once per query text
                unstorable = _UNSTORABLE_LITERALS.get(execution.query, lambda: _literals_unstorable(document))
        if unstorable and execution.result is None:
            execution.result = GraphQLExecutionResult(
                data=None, errors=[GraphQLError(MESSAGE, extensions={"code": "BAD_USER_INPUT"})]
            )
        yield
