"""`Idempotency-Key` over HTTP: a POSTed mutation with the header runs at most once per (principal, key).

The key is reserved before the mutation runs, and its response is kept unless it has GraphQL
errors (typed payload `errors` are kept). A repeat with the same body gets the kept response
without running; another body, or a repeat while the first is still running, gets CONFLICT.
The records themselves are kept by `resolvers/idempotency.py`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from partner_portal.permissions.actor import Actor
from partner_portal.resolvers import idempotency
from partner_portal.web.error_bodies import refusal

IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY_LENGTH = 200


def request_digest(query: str | None, variables: dict | None, operation_name: str | None) -> str:
    body = {"query": query, "variables": variables or {}, "operationName": operation_name}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def execute_once(
    request: Request,
    actor: Actor,
    request_data: Any,
    execute: Callable[[], Awaitable[ExecutionResult]],
) -> ExecutionResult:
    """Run a POSTed mutation (`execute`) once per (principal, key); without a key or a principal it
    simply runs. A kept response is noted on `request.state` for `replayed_response`, a fresh
    reservation for `keep_or_release`."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    principal = idempotency.principal_of(actor)
    if key is None or principal is None:
        return await execute()
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        return refusal(f"An Idempotency-Key has 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters.", "BAD_USER_INPUT")
    digest = request_digest(request_data.query, request_data.variables, request_data.operation_name)
    reservation = await idempotency.reserve(principal, key, digest)
    record_id = reservation.record_id
    if record_id is None:  # not reserved: a kept response to repeat, or a refusal
        if reservation.replay is None:
            return refusal(str(reservation.refusal), "CONFLICT")
        request.state.idempotent_replay = reservation.replay
        return ExecutionResult(data=reservation.replay.get("data"), errors=None)
    request.state.idempotency_record = record_id
    try:
        return await execute()
    except BaseException:
        await idempotency.release(record_id)
        raise


def replayed_response(request: Request) -> GraphQLHTTPResponse | None:
    """The kept response a repeated request answers with, as it was."""
    return getattr(request.state, "idempotent_replay", None)


async def keep_or_release(request: Request, response: GraphQLHTTPResponse) -> None:
    """Keep the response of a reserved request for its repeats; free the key if it has GraphQL
    errors (not a result to repeat: a retry may run)."""
    record_id = getattr(request.state, "idempotency_record", None)
    if record_id is None:
        return
    if response.get("errors"):
        await idempotency.release(record_id)
    else:
        await idempotency.keep(record_id, dict(response))
