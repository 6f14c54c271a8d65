"""The HTTP application: `build_app(settings)` returns the Starlette app.

Endpoints: `/graphql` (POST JSON, GET for queries; GraphiQL when enabled),
`/healthz` (the process is up), `/readyz` (the database answers), `/webhooks/stripe`
(signed billing events, integrations/stripe_webhooks.py), `/reports/{name}.csv` (streamed
CSV reports, integrations/report_csv.py). The lifespan opens
the database and runs the outbox worker every OUTBOX_POLL_SECONDS (unless 0); at shutdown
the worker ends after the message in flight and hands the rest of its batch back.

Idempotency: a POSTed mutation with an `Idempotency-Key` header runs at most once per
(principal, key); see `GraphQLView.execute_single`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any, NamedTuple

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from cross_web import HTTPException
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET
from tortoise.contrib.starlette import RegisterTortoise

from partner_portal.integrations.affiliate_redirect import affiliate_redirect
from partner_portal.integrations.report_csv import report_csv
from partner_portal.integrations.stripe_webhooks import stripe_webhook
from partner_portal.models.db import ensure_sqlite_folder, tortoise_config
from partner_portal.resolvers import idempotency
from partner_portal.resolvers.budget import QueryBudget
from partner_portal.resolvers.context import RequestContext
from partner_portal.resolvers.health import MIGRATE_COMMAND, database_answers, missing_migrations, readiness
from partner_portal.resolvers.identity import Authenticator
from partner_portal.resolvers.jobs import PeriodicJob
from partner_portal.resolvers.mail import MailLimits
from partner_portal.resolvers.throttle import LIMITS_UNAVAILABLE, LimitsUnavailable, Throttle, limits_storage
from partner_portal.schema import build_schema
from partner_portal.schema.errors import DATABASE_UNAVAILABLE
from partner_portal.schema.lru import LruCache
from partner_portal.settings import Settings, SettingsRefused, settings_from_environment

logger = logging.getLogger("partner_portal")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
LEGACY_JSON = "application/json"


def media_ranges(accept: str) -> list[tuple[str, float]]:
    """The `Accept` header's media ranges with their quality (RFC 9110): `[("application/json", 0.9), …]`.
    A range with a malformed `q` counts as not acceptable."""
    ranges = []
    for part in accept.split(","):
        media_range, *parameters = (piece.strip() for piece in part.split(";"))
        if not media_range:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                quality = quality if 0.0 <= quality <= 1.0 else 0.0
        ranges.append((media_range.lower(), quality))
    return ranges


def quality_of(media_type: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """(quality, specificity) of `media_type` by the most specific range that matches it
    (exact 2, `type/*` 1, `*/*` 0); (0, -1) when none does."""
    kind = media_type.split("/")[0]
    matches = {media_type: 2, f"{kind}/*": 1, "*/*": 0}
    best = max(((matches[name], quality) for name, quality in ranges if name in matches), default=None)
    return (0.0, -1) if best is None else (best[1], best[0])


def negotiate(accept: str | None) -> str | None:
    """GraphQL over HTTP: the acceptable media type of highest quality, None when neither is acceptable.
    No `Accept` means `application/json`. On equal quality the more specifically named type wins;
    both named: `application/graphql-response+json`; both only through a wildcard: `application/json`."""
    if not accept or not accept.strip():
        return LEGACY_JSON
    ranges = media_ranges(accept)
    graphql_response, legacy = quality_of(GRAPHQL_RESPONSE_JSON, ranges), quality_of(LEGACY_JSON, ranges)
    if graphql_response[0] <= 0 and legacy[0] <= 0:
        return None
    named_both = graphql_response[1] == legacy[1] == 2
    if graphql_response > legacy or (graphql_response == legacy and named_both):
        return GRAPHQL_RESPONSE_JSON
    return LEGACY_JSON


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


class OperationChoice(NamedTuple):
    """The type of the operation a request runs, or why no operation can be chosen (a request error)."""

    type: OperationType | None
    error: str | None = None


def choose_operation(query: str | None, operation_name: str | None, max_tokens: int) -> OperationChoice:
    """GraphQL's GetOperation(): the operation named `operation_name`, else the document's only one.
    Several operations and no name, or an unknown name, is a request error (nothing runs).
    Parsed with the token limit, like execution: an unlimited parse of a flood costs seconds. A missing
    query or one that does not parse gives no choice and no error: execution refuses it."""
    if not query:
        return OperationChoice(None)
    try:
        document = parse(query, max_tokens=max_tokens)
    except GraphQLError:
        return OperationChoice(None)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
        if not operations:
            return OperationChoice(None, f'The document has no operation named "{operation_name}".')
    elif len(operations) > 1:
        return OperationChoice(None, "The document has several operations: name the one to run in `operationName`.")
    elif not operations:
        return OperationChoice(None, "The document has no operation to run.")
    return OperationChoice(operations[0].operation)


def request_digest(query: str | None, variables: dict | None, operation_name: str | None) -> str:
    body = {"query": query, "variables": variables or {}, "operationName": operation_name}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def refusal(message: str, code: str) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


def http_error(status: int, message: str, accept: str | None) -> JSONResponse:
    """A request refused before GraphQL runs (not JSON, no query, a mutation over GET, nothing
    acceptable, …): a GraphQL error body without `data`, in the negotiated media type."""
    body = {"errors": [{"message": message, "extensions": {"code": HTTPStatus(status).name}}]}
    headers = {"content-type": f"{negotiate(accept) or LEGACY_JSON}; charset=utf-8"}
    if status == HTTPStatus.METHOD_NOT_ALLOWED:
        headers["allow"] = "GET, POST"
    return JSONResponse(body, status_code=status, headers=headers)


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
        storage = self.limits_storage = limits_storage(settings)
        self.throttle = Throttle(settings, storage)
        self.mail_limits = MailLimits(settings, storage)
        self.query_budget = QueryBudget(settings, storage) if settings.query_budget else None
        self.operation_choices: LruCache[OperationChoice] = LruCache()

    async def get_context(self, request: Request, response: Any) -> RequestContext:  # type: ignore[override]
        actor = await self.authenticator.authenticate(
            request.headers.get("authorization"), request.headers.get("x-api-key")
        )
        return RequestContext(actor=actor, settings=self.settings, request=request, response=response,
                              throttle=self.throttle, mail_limits=self.mail_limits, client_address=request.client.host if request.client else None,
                              query_budget=self.query_budget)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """strawberry answers its refusals of a request (not JSON, a missing query, a mutation over GET, …)
        in `text/plain`: here they are GraphQL error bodies (`http_error`)."""
        try:
            return await super().run(request, context, root_value)
        except HTTPException as error:
            return http_error(error.status_code, error.reason, request.headers.get("accept"))

    async def get_sub_response(self, request: Request) -> Response:  # type: ignore[override]
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = negotiate(request.headers.get("accept")) or LEGACY_JSON
        request.state.sub_response = sub_response
        return sub_response

    async def parse_http_body(self, request_adapter: Any) -> Any:
        """After GraphiQL had its chance (a browser's `Accept: text/html`): 406 when the client accepts
        neither `application/graphql-response+json` nor `application/json`."""
        if negotiate(request_adapter.headers.get("accept")) is None:
            raise HTTPException(406, f"Accept {GRAPHQL_RESPONSE_JSON} or {LEGACY_JSON}.")
        return await super().parse_http_body(request_adapter)

    async def execute_single(  # type: ignore[override]
        self, request: Request, request_adapter: Any, sub_response: Any, context: Any, root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """The operation is chosen first (`choose_operation`): a document it cannot choose from runs nothing.

        A POSTed mutation with an `Idempotency-Key` runs once per (principal, key): the key is
        reserved before it runs, and its response is kept unless it has GraphQL errors (typed
        payload `errors` are kept). A repeat with the same body gets the kept response without
        running; another body, or a repeat while the first is still running, gets CONFLICT."""
        query, operation_name = request_data.query, request_data.operation_name
        if not isinstance(operation_name, str | None):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null, if provided.")
        choice = self.operation_choices.get(
            (query, operation_name), lambda: choose_operation(query, operation_name, self.settings.max_tokens))
        if choice.error is not None:
            return refusal(choice.error, "BAD_REQUEST")
        if choice.type is OperationType.MUTATION and request_adapter.method == "GET":
            raise HTTPException(405, "A mutation cannot be sent with GET: POST it.")
        key = request.headers.get(IDEMPOTENCY_HEADER)
        principal = idempotency.principal_of(context.actor)
        if (key is None or principal is None or request_adapter.method != "POST"
                or choice.type is not OperationType.MUTATION):
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
        if is_request_error(result):
            del response["data"]  # GraphQL: a request error (nothing ran) has no `data` entry
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


class Outage:
    """ASGI middleware: a request that fails while the database does not answer, or because the
    rate-limit storage (`RATE_LIMIT_STORAGE`) does not, gets a 503 with `Retry-After` and a
    GraphQL-shaped body (code SERVICE_UNAVAILABLE) instead of a bare 500, e.g. when authentication
    cannot read the session or the query budget cannot be counted. Failures inside GraphQL
    execution are presented by `schema/errors.py` the same way. Anything else propagates as before."""

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
        except LimitsUnavailable as error:
            if started:
                raise
            logger.warning("%s failed: the rate-limit storage does not answer: %r", scope.get("path"),
                           error.storage_error)
            await unavailable(LIMITS_UNAVAILABLE)(scope, receive, send)
        except Exception:
            if started or await database_answers():
                raise
            logger.warning("%s failed: the database does not answer", scope.get("path"))
            await unavailable(DATABASE_UNAVAILABLE)(scope, receive, send)


def unavailable(message: str) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": "SERVICE_UNAVAILABLE"}}]}
    return JSONResponse(body, status_code=503, headers={"retry-after": RETRY_AFTER_SECONDS})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 while the database answers `SELECT 1` within 2 s and has every migration applied, and the
    rate-limit storage answers; else 503 with what is wrong (`resolvers.health.readiness`), and 200
    again once it is right, without a restart."""
    ready, report = await readiness(request.app.state.limits_storage)
    if not ready:
        logger.warning("readiness check failed: %s", report)
    return JSONResponse(report, status_code=200 if ready else 503)


async def warn_of_missing_migrations() -> None:
    """At start-up (`serve` on PostgreSQL without `--migrate`, or uvicorn): a database that lacks
    migrations fails requests, so say so at once; `/readyz` answers 503 until they are applied."""
    missing = await missing_migrations()
    if missing:
        logger.warning("The database lacks %d migration(s) this version needs (%s): run `%s`. Until then "
                       "/readyz answers 503 and requests fail.", len(missing), ", ".join(missing), MIGRATE_COMMAND)


def build_app(settings: Settings) -> Starlette:
    authenticator = Authenticator(settings)
    graphql = GraphQLView(settings, authenticator)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ensure_sqlite_folder(settings.database_url)
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            await warn_of_missing_migrations()
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
        middleware=[Middleware(Outage)],
    )
    app.state.settings = settings
    app.state.limits_storage = graphql.limits_storage  # readiness asks it too
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
    try:
        return build_app(settings_from_environment())
    except SettingsRefused as error:  # one line per problem, no traceback repeating the values
        raise SystemExit(f"Refused to start: the configuration is not valid.\n{error}") from None
