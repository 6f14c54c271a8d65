"""How failures reach the client.

Access errors and bad arguments keep their message and get `extensions.code` (a refusal that says what
is missing also `extensions.missing`, its message naming the organization: `permissions/refusals.py`), and so do inputs
strawberry could not convert for a resolver (BAD_USER_INPUT); GraphQL syntax and validation errors
pass unchanged; anything unexpected is
logged with its traceback and shown only as "Unexpected error." with
`extensions.code = INTERNAL_SERVER_ERROR`, or, when the database does not answer at that
moment, "The database is unavailable…" with `SERVICE_UNAVAILABLE` (the view answers 503); so is
a failure to reach the rate-limit storage (`RATE_LIMIT_STORAGE`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping

from graphql import GraphQLError
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import SchemaExtension

from partner_portal.permissions.errors import AccessError
from partner_portal.permissions.refusals import Refusal
from partner_portal.resolvers.errors import BadArgument
from partner_portal.resolvers.health import database_answers
from partner_portal.resolvers.refusals import organization_names
from partner_portal.resolvers.throttle import LIMITS_UNAVAILABLE, LimitsUnavailable

logger = logging.getLogger("partner_portal.graphql")
DATABASE_UNAVAILABLE = "The database is unavailable at the moment; try again shortly."
CODED_ERRORS = (AccessError, BadArgument)


def _with_code(error: GraphQLError, message: str, code: str, **more: object) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), "code": code, **more},
    )


def is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, *CODED_ERRORS))


def present(error: GraphQLError, database_down: bool = False, names: Mapping[int, str] | None = None) -> GraphQLError:
    """The error as the client sees it; `names` are the names of the organizations refusals name."""
    original = error.original_error
    if isinstance(original, StrawberryInputCoercionError):  # e.g. an `ID` argument that is no global id
        return _with_code(error, error.message, "BAD_USER_INPUT")
    if original is None or isinstance(original, GraphQLError):
        return error
    if isinstance(original, AccessError) and original.missing is not None:
        message = str(original)
        if isinstance(original, Refusal) and names and original.organization_id in names:
            message = original.message(names[original.organization_id])
        return _with_code(error, message, original.code, missing=original.missing.as_extension())
    if isinstance(original, CODED_ERRORS):
        return _with_code(error, str(original), original.code)
    if isinstance(original, LimitsUnavailable):
        logger.warning("Rate-limit storage unavailable in %s: %r", error.path, original.storage_error)
        return _with_code(error, LIMITS_UNAVAILABLE, "SERVICE_UNAVAILABLE")
    if database_down:
        logger.warning("Database unavailable in %s: %r", error.path, original)
        return _with_code(error, DATABASE_UNAVAILABLE, "SERVICE_UNAVAILABLE")
    logger.error("Unexpected error in %s", error.path, exc_info=original)
    return _with_code(error, "Unexpected error.", "INTERNAL_SERVER_ERROR")


class ErrorPresenter(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            # An unexpected error while the database does not answer is an outage, not a bug.
            database_down = any(is_unexpected(e) for e in result.errors) and not await database_answers()
            refused_in = {
                e.original_error.organization_id
                for e in result.errors
                if isinstance(e.original_error, Refusal) and e.original_error.organization_id is not None
            }
            names = await organization_names(refused_in) if refused_in and not database_down else {}
            result.errors = [present(error, database_down, names) for error in result.errors]
