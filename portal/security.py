"""What makes the portal safe in a browser: the session cookie, CSRF tokens, security headers.

- The session is the API's own session token, kept in an `HttpOnly`, `SameSite=Lax` cookie
  (`Secure` outside development): page scripts never see it.
- Every form carries a CSRF token that must equal the `pp_csrf` cookie (double submit; the cookie is
  `HttpOnly` and `SameSite=Strict`, so another site can neither read nor send it).
- Every response has a Content-Security-Policy without inline script or style and with
  `frame-ancestors 'none'`, and nothing is loaded from another origin.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "pp_session"
CSRF_COOKIE = "pp_csrf"
CSRF_FIELD = "csrf"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


def csrf_token(request: Request) -> str:
    """The browser's CSRF token: its cookie's, or a new one that `keep_csrf_token` sets."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 100:
        token = request.state.new_csrf_token = secrets.token_urlsafe(32)
    return token


def keep_csrf_token(request: Request, response: Response, secure: bool) -> None:
    token = getattr(request.state, "new_csrf_token", None)
    if token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/")


def csrf_valid(request: Request, submitted: object) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not isinstance(submitted, str):
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every response of the portal (pages, redirects, static files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def local_path(target: object, default: str = "/") -> str:
    """`target` when it is a path on this site (`/…`, not `//host` or a scheme): no open redirect."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default
