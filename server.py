"""The HTTP application: `build_app(settings)` returns the Starlette app.

Endpoints: `/graphql` (POST JSON, GET for queries; GraphiQL when enabled),
`/healthz` (the process is up), `/readyz` (the database answers), `/webhooks/stripe`
(signed billing events, integrations/stripe_webhooks.py). The lifespan opens
the database and runs the outbox worker every OUTBOX_POLL_SECONDS (unless 0).

Idempotency: a POSTed mutation with an `Idempotency-Key` header runs at most once per
(principal, key); see `GraphQLView.execute_single`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from tortoise import connections
from tortoise.contrib.starlette import RegisterTortoise

from integrations.affiliate_redirect import affiliate_redirect
from integrations.stripe_webhooks import stripe_webhook
from models.db import ensure_sqlite_folder, tortoise_config
from resolvers import idempotency
from resolvers.context import RequestContext
from resolvers.identity import Authenticator
from resolvers.jobs import PeriodicJob
from resolvers.throttle import Throttle
from schema import build_schema
from settings import Settings

logger = logging.getLogger("partner_portal")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
LEGACY_JSON = "application/json"


def negotiate(accept: str) -> str:
    """GraphQL over HTTP: `application/graphql-response+json` when the client accepts it."""
    offered = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return GRAPHQL_RESPONSE_JSON if GRAPHQL_RESPONSE_JSON in offered else LEGACY_JSON


def is_request_error(result: ExecutionResult) -> bool:
    """Parse and validation errors: no data, and no error tied to a field path."""
    return result.data is None and bool(result.errors) and all(e.path is None for e in result.errors)


IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY_LENGTH = 200


def is_mutation(query: str | None, operation_name: str | None) -> bool:
    try:
        operation = get_operation_ast(parse(query or ""), operation_name)
    except GraphQLError:
        return False  # execution reports the syntax error
    return operation is not None and operation.operation is OperationType.MUTATION


def request_digest(query: str | None, variables: dict | None, operation_name: str | None) -> str:
    body = {"query": query, "variables": variables or {}, "operationName": operation_name}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def refusal(message: str, code: str) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


class GraphQLView(GraphQL):
    """strawberry's ASGI view with authentication, our context and the GraphQL-over-HTTP media type."""

    def __init__(self, settings: Settings, authenticator: Authenticator) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,
            multipart_uploads_enabled=False,
        )
        self.settings = settings
        self.authenticator = authenticator
        self.throttle = Throttle(settings)

    async def get_context(self, request: Request, response: Any) -> RequestContext:  # type: ignore[override]
        actor = await self.authenticator.authenticate(
            request.headers.get("authorization"), request.headers.get("x-api-key")
        )
        return RequestContext(actor=actor, settings=self.settings, request=request, response=response,
                              throttle=self.throttle, client_address=request.client.host if request.client else None)

    async def get_sub_response(self, request: Request) -> Response:  # type: ignore[override]
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = negotiate(request.headers.get("accept", ""))
        request.state.sub_response = sub_response
        return sub_response

    async def execute_single(  # type: ignore[override]
        self, request: Request, request_adapter: Any, sub_response: Any, context: Any, root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """A POSTed mutation with an `Idempotency-Key` runs once per (principal, key): the key is
        reserved before it runs, and its response is kept unless it has GraphQL errors (typed
        payload `errors` are kept). A repeat with the same body gets the kept response without
        running; another body, or a repeat while the first is still running, gets CONFLICT."""
        key = request.headers.get(IDEMPOTENCY_HEADER)
        principal = idempotency.principal_of(context.actor)
        if (key is None or principal is None or request_adapter.method != "POST"
                or not is_mutation(request_data.query, request_data.operation_name)):
            return await super().execute_single(request, request_adapter, sub_response, context, root_value,
                                                request_data)
        key = key.strip()
        if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            return refusal(f"An Idempotency-Key has 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters.", "BAD_USER_INPUT")
        digest = request_digest(request_data.query, request_data.variables, request_data.operation_name)
        reservation = await idempotency.reserve(principal, key, digest)
        if reservation.refusal is not None:
            return refusal(reservation.refusal, "CONFLICT")
        if reservation.replay is not None:
            request.state.idempotent_replay = reservation.replay
            return ExecutionResult(data=reservation.replay.get("data"), errors=None)
        request.state.idempotency_record = reservation.record_id
        try:
            return await super().execute_single(request, request_adapter, sub_response, context, root_value,
                                                request_data)
        except BaseException:
            await idempotency.release(reservation.record_id)
            raise

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:  # type: ignore[override]
        replay = getattr(request.state, "idempotent_replay", None)
        if replay is not None:
            return replay
        sub_response = request.state.sub_response
        if sub_response.media_type == GRAPHQL_RESPONSE_JSON and is_request_error(result):
            sub_response.status_code = 400
        response = await super().process_result(request, result)
        record_id = getattr(request.state, "idempotency_record", None)
        if record_id is not None:
            if response.get("errors"):  # not a result to repeat: free the key for a retry
                await idempotency.release(record_id)
            else:
                await idempotency.keep(record_id, response)
        return response

    def create_response(self, response_data: Any, sub_response: Response) -> Response:  # type: ignore[override]
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = f"{sub_response.media_type}; charset=utf-8"
        return response


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:  # noqa: BLE001 — any failure means "not ready"
        logger.warning("readiness check failed", exc_info=True)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


def build_app(settings: Settings) -> Starlette:
    authenticator = Authenticator(settings)
    graphql = GraphQLView(settings, authenticator)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ensure_sqlite_folder(settings.database_url)
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            worker = None
            if settings.outbox_poll_seconds > 0:  # the in-process outbox worker; 0 turns it off
                worker = PeriodicJob("outbox", settings, settings.outbox_poll_seconds).start()
            try:
                yield
            finally:
                if worker is not None:
                    await worker.stop()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
            Route("/r/{code}", affiliate_redirect, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app


def log_to_console(level: int = logging.INFO) -> Callable[[], None]:
    """Show the portal's own log (e.g. the mails logged in development without SMTP_URL)
    on stderr next to uvicorn's, unless logging is configured already. Returns the undo."""
    if logger.handlers or logging.getLogger().handlers:
        return lambda: None
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     [%(name)s] %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    return undo


def create_app() -> Starlette:
    """uvicorn's factory: settings from the environment (`uvicorn --factory server:create_app`)."""
    log_to_console()
    return build_app(Settings())
