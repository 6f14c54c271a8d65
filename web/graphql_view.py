"""`/graphql`: strawberry's ASGI view with authentication, our context, GraphQL over HTTP's media
types and status codes, the operation chosen before anything runs, and `Idempotency-Key`."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import Response
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from partner_portal.resolvers.budget import QueryBudget
from partner_portal.resolvers.context import RequestContext
from partner_portal.resolvers.identity import Authenticator
from partner_portal.resolvers.mail import MailLimits
from partner_portal.resolvers.throttle import Throttle, limits_storage
from partner_portal.schema import build_schema
from partner_portal.schema.guards.lru import LruCache
from partner_portal.settings import Settings
from partner_portal.web import idempotency
from partner_portal.web.body_limits import decode_request_json
from partner_portal.web.error_bodies import http_error, is_request_error, refusal, retry_after_of
from partner_portal.web.media_types import GRAPHQL_RESPONSE_JSON, LEGACY_JSON, negotiate
from partner_portal.web.operation_choice import OperationChoice, choose_operation
from partner_portal.web.outage import RETRY_AFTER_SECONDS


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
        return RequestContext(
            actor=actor,
            settings=self.settings,
            request=request,
            response=response,
            throttle=self.throttle,
            mail_limits=self.mail_limits,
            client_address=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            query_budget=self.query_budget,
        )

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

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """The operation is chosen first (`choose_operation`): a document it cannot choose from runs
        nothing. A POSTed mutation runs through `idempotency.execute_once`."""
        query, operation_name = request_data.query, request_data.operation_name
        if not isinstance(operation_name, str | None):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null, if provided.")
        choice = self.operation_choices.get(
            (query, operation_name), lambda: choose_operation(query, operation_name, self.settings.max_tokens)
        )
        if choice.error is not None:
            return refusal(choice.error, "BAD_REQUEST")
        if choice.type is OperationType.MUTATION and request_adapter.method == "GET":
            raise HTTPException(405, "A mutation cannot be sent with GET: POST it.")
        execute = partial(
            super().execute_single, request, request_adapter, sub_response, context, root_value, request_data
        )
        if request_adapter.method == "POST" and choice.type is OperationType.MUTATION:
            return await idempotency.execute_once(request, context.actor, request_data, execute)
        return await execute()

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        replay = idempotency.replayed_response(request)
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
        await idempotency.keep_or_release(request, response)
        return response

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = f"{sub_response.media_type}; charset=utf-8"
        return response

    def decode_json(self, data: str | bytes) -> object:
        return decode_request_json(data)

    def encode_json(self, data: object) -> bytes:
        """orjson: the completed result holds only JSON's types (scalars are serialized by then); a value
        it cannot write (an integer beyond 64 bits) is a `TypeError`, as the stdlib's `json` raises."""
        return orjson.dumps(data)
