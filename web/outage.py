"""Outage answers: a request that fails because the database or the rate-limit storage does not
answer gets a 503 with `Retry-After` and a GraphQL-shaped body (code SERVICE_UNAVAILABLE)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import JSONResponse

from partner_portal.resolvers.health import database_answers
from partner_portal.resolvers.throttle import LIMITS_UNAVAILABLE, LimitsUnavailable
from partner_portal.schema.errors import DATABASE_UNAVAILABLE
from partner_portal.web.error_bodies import error_body

logger = logging.getLogger("partner_portal")

RETRY_AFTER_SECONDS = "5"


def unavailable(message: str) -> JSONResponse:
    return JSONResponse(
        error_body(message, "SERVICE_UNAVAILABLE"), status_code=503, headers={"retry-after": RETRY_AFTER_SECONDS}
    )


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
            logger.warning(
                "%s failed: the rate-limit storage does not answer: %r", scope.get("path"), error.storage_error
            )
            await unavailable(LIMITS_UNAVAILABLE)(scope, receive, send)
        except Exception:
            if started or await database_answers():
                raise
            logger.warning("%s failed: the database does not answer", scope.get("path"))
            await unavailable(DATABASE_UNAVAILABLE)(scope, receive, send)
