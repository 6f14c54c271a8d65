"""Limits on a request's body before anything parses it: its size (`LimitedBody`, 413) and the
shape of its JSON (`decode_request_json`, 400)."""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from starlette.responses import JSONResponse

from partner_portal.web.error_bodies import error_body

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


def decode_request_json(data: str | bytes) -> object:
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
        await JSONResponse(error_body(message, "BAD_USER_INPUT"), status_code=413)(scope, receive, send)
