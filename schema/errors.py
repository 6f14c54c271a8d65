"""How failures reach the client.

Access errors and bad arguments keep their message and get `extensions.code`;
GraphQL syntax and validation errors pass unchanged; anything unexpected is
logged with its traceback and shown only as "Unexpected error." with
`extensions.code = INTERNAL_SERVER_ERROR`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from permissions.errors import AccessError
from resolvers.errors import BadArgument

logger = logging.getLogger("partner_portal.graphql")
CODED_ERRORS = (AccessError, BadArgument)


def _with_code(error: GraphQLError, message: str, code: str) -> GraphQLError:
    return GraphQLError(
        message, nodes=error.nodes, source=error.source, positions=error.positions, path=error.path,
        extensions={**(error.extensions or {}), "code": code},
    )


def present(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return error
    if isinstance(original, CODED_ERRORS):
        return _with_code(error, str(original), original.code)
    logger.error("Unexpected error in %s", error.path, exc_info=original)
    return _with_code(error, "Unexpected error.", "INTERNAL_SERVER_ERROR")


class ErrorPresenter(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            result.errors = [present(error) for error in result.errors]
