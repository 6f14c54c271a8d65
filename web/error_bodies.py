"""How the web edge answers what it refuses: GraphQL-shaped error bodies (`{"errors": [...]}`, no
`data`), and what a GraphQL result says about the HTTP answer (a request error, a `Retry-After`)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from graphql import GraphQLError
from starlette.responses import JSONResponse
from strawberry.types import ExecutionResult

from partner_portal.web.media_types import LEGACY_JSON, negotiate


def error_body(message: str, code: str) -> dict[str, Any]:
    """One GraphQL error with its `extensions.code`, the body of every refusal outside GraphQL."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def http_error(status: int, message: str, accept: str | None) -> JSONResponse:
    """A request refused before GraphQL runs (not JSON, no query, a mutation over GET, nothing
    acceptable, …): a GraphQL error body without `data`, in the negotiated media type."""
    headers = {"content-type": f"{negotiate(accept) or LEGACY_JSON}; charset=utf-8"}
    if status == HTTPStatus.METHOD_NOT_ALLOWED:
        headers["allow"] = "GET, POST"
    return JSONResponse(error_body(message, HTTPStatus(status).name), status_code=status, headers=headers)


def refusal(message: str, code: str) -> ExecutionResult:
    """A request error as a GraphQL result: nothing ran."""
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


def is_request_error(result: ExecutionResult) -> bool:
    """Parse and validation errors: no data, and no error tied to a field path."""
    return result.data is None and bool(result.errors) and all(e.path is None for e in result.errors or ())


def retry_after_of(result: ExecutionResult) -> int | None:
    """The `retryAfter` of a THROTTLED refusal by the query budget (schema/guards/cost.py), if any."""
    for error in result.errors or ():
        if error.extensions and "retryAfter" in error.extensions:
            return error.extensions["retryAfter"]
    return None
