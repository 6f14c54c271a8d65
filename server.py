"""The HTTP application: `build_app(settings)` returns the Starlette app.

Endpoints: `/graphql` (POST JSON, GET for queries; GraphiQL when enabled),
`/healthz` (the process is up), `/readyz` (the database answers), `/webhooks/stripe`
(signed billing events, integrations/stripe_webhooks.py), `/reports/{name}.csv` (streamed
CSV reports, integrations/report_csv.py). The lifespan opens
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
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from cross_web import HTTPException
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from tortoise.contrib.starlette import RegisterTortoise

from integrations.affiliate_redirect import affiliate_redirect
from integrations.report_csv import report_csv
from integrations.stripe_webhooks import stripe_webhook
from models.db import ensure_sqlite_folder, tortoise_config
from resolvers import idempotency
from resolvers.budget import QueryBudget
from resolvers.context import RequestContext
from resolvers.health import database_answers
from resolvers.identity import Authenticator
from resolvers.jobs import PeriodicJob
from resolvers.throttle import Throttle, limits_storage
from schema import build_schema
from schema.errors import DATABASE_UNAVAILABLE
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


def retry_after_of(result: ExecutionResult) -> int | None:
    """The `retryAfter` of a THROTTLED refusal by the query budget (schema/cost.py), if any."""
    for error in result.errors or ():
        if error.extensions and "retryAfter" in error.extensions:
            return error.extensions["retryAfter"]
    return None


IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY_LENGTH = 200


def is_mutation(query: str | None, operation_name: str | None, max_tokens: int) -> bool:
    """Parsed with the token limit, like execution: an unlimited parse of a flood costs seconds."""
    try:
        operation = get_operation_ast(parse(query or "", max_tokens=max_tokens), operation_name)
    except GraphQLError:
        return False  # execution reports the syntax error
    return operation is not None and operation.operation is OperationType.MUTATION


def request_digest(query: str | None, variables: dict | None, operation_name: str | None) -> str:
    body = {"query": query, "variables": variables or {}, "operationName": operation_name}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def refusal(message: str, code: str) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


# The shape of a request's JSON (query, variables): no input of this API nests deeper or has more items.
MAX_JSON_DEPTH = 32
MAX_JSON_ITEMS = 1000


def check_json_shape(value: object) -> None:
    """HTTP 400 for JSON nested deeper than MAX_JSON_DEPTH or with a list or object of more than
    MAX_JSON_ITEMS items, before GraphQL spends time coercing it (an iterative walk)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise HTTPException(400, f"The request's JSON nests deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(current, list | dict):
            if len(current) > MAX_JSON_ITEMS:
                raise HTTPException(400, f"A list or object in the request has more than {MAX_JSON_ITEMS} items.")
            stack.extend((item, depth + 1) for item in (current.values() if isinstance(current, dict) else current))


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
        storage = limits_storage(settings)
        self.throttle = Throttle(settings, storage)
        self.query_budget = QueryBudget(settings, storage) if settings.query_budget else None

    async def get_context(self, request: Request, response: Any) -> RequestContext:  # type: ignore[override]
        actor = await self.authenticator.authenticate(
            request.headers.get("authorization"), request.headers.get("x-api-key")
        )
        return RequestContext(actor=actor, settings=self.settings, request=request, response=response,
                              throttle=self.throttle, client_address=request.client.host if request.client else None,
                              query_budget=self.query_budget)

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
                or not is_mutation(request_data.query, request_data.operation_name, self.settings.max_tokens)):
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
        retry_after = retry_after_of(result)
        if retry_after is not None:
            sub_response.headers["retry-after"] = str(retry_after)
        if any((e.extensions or {}).get("code") == "SERVICE_UNAVAILABLE" for e in result.errors or ()):
            sub_response.status_code = 503
            sub_response.headers["retry-after"] = RETRY_AFTER_SECONDS
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

    def decode_json(self, data: str | bytes) -> object:
        """The request's JSON (POST body or GET `variables`): too deep for the parser (RecursionError)
        or of an abusive shape is a 400, not a 500."""
        try:
            decoded = json.loads(data)
        except RecursionError as error:
            raise HTTPException(400, f"The request's JSON nests deeper than {MAX_JSON_DEPTH} levels.") from error
        check_json_shape(decoded)
        return decoded


class LimitedBody:
    """ASGI wrapper: a request body over `max_bytes` is refused with 413 before anything parses it
    (declared by Content-Length or counted while it streams in); the body is then replayed to `app`."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Any, receive: Any, send: Any) -> None:
        message = f"The request body is larger than {self.max_bytes} bytes."
        await JSONResponse({"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]},
                           status_code=413)(scope, receive, send)


RETRY_AFTER_SECONDS = "5"


class DatabaseOutage:
    """ASGI middleware: a request that fails while the database does not answer gets a 503 with
    `Retry-After` and a GraphQL-shaped body (code SERVICE_UNAVAILABLE) instead of a bare 500,
    e.g. when authentication cannot read the session. Failures inside GraphQL execution are
    presented by `schema/errors.py` the same way. Anything else propagates as before."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started or await database_answers():
                raise
            logger.warning("%s failed: the database does not answer", scope.get("path"))
            body = {"errors": [{"message": DATABASE_UNAVAILABLE, "extensions": {"code": "SERVICE_UNAVAILABLE"}}]}
            await JSONResponse(body, status_code=503, headers={"retry-after": RETRY_AFTER_SECONDS})(
                scope, receive, send)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 while the database answers `SELECT 1` within 2 s, else 503 (and 200 again once it is back)."""
    if not await database_answers():
        logger.warning("readiness check failed: the database does not answer")
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
            Route("/graphql", LimitedBody(graphql, settings.max_request_bytes), methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/webhooks/stripe", LimitedBody(request_response(stripe_webhook), settings.max_request_bytes),
                  methods=["POST"]),
            Route("/r/{code}", affiliate_redirect, methods=["GET"]),
            Route("/reports/{name}.csv", report_csv, methods=["GET"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(DatabaseOutage)],
    )
    app.state.settings = settings
    app.state.authenticator = authenticator  # the CSV reports authenticate as /graphql does
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
