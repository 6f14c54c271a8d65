"""Attribution carried from an affiliate link into the sign-up.

The API's `GET /r/{code}` sets its HttpOnly `pp_affiliate` cookie and sends the visitor to the landing
address with the same (signed) token as the `pp_affiliate` query parameter. The portal calls the API
without the browser's cookies, so it carries the token itself: any portal page opened with the
parameter keeps it in the portal's own HttpOnly `pp_affiliate` cookie (on the API's origin that is the
API's cookie, with the same value; on another origin it is the portal's), and creating an organization
passes it as `affiliateToken`. The API checks the token (signature, window, link, self-referral):
the portal only carries it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

TOKEN_NAME = "pp_affiliate"
MAX_TOKEN_LENGTH = 500
KEPT_DAYS = 90  # the API's default AFFILIATE_WINDOW_DAYS; the API decides whether a token still counts


def _plausible(token: str | None) -> str | None:
    if token and len(token) <= MAX_TOKEN_LENGTH and token.isascii() and token.isprintable() and " " not in token:
        return token
    return None


def landing_token(request: Request) -> str | None:
    """The token of the address the visitor landed on (`?pp_affiliate=…`), if any."""
    return _plausible(request.query_params.get(TOKEN_NAME))


def affiliate_token(request: Request) -> str | None:
    """The token to pass to `createOrganization`: the landing address's, else the kept cookie's."""
    return landing_token(request) or _plausible(request.cookies.get(TOKEN_NAME))


def keep_affiliate_token(request: Request, response: Response, *, secure: bool) -> Response:
    """Keeps a landing address's token in the HttpOnly cookie (a newer click replaces an older one)."""
    token = landing_token(request)
    if token and token != request.cookies.get(TOKEN_NAME):
        response.set_cookie(
            TOKEN_NAME, token, max_age=KEPT_DAYS * 86400, path="/", httponly=True, samesite="lax", secure=secure
        )
    return response
