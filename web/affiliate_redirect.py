"""`GET /r/{code}`: record the click of an affiliate link, set the attribution cookie, redirect to
the landing address with the same token as its `pp_affiliate` query parameter.

The cookie serves a frontend on this origin (the server reads it on createOrganization); the
parameter a single-page frontend on another origin, which cannot read an HttpOnly cookie of ours.
Unknown or disabled codes redirect to AFFILIATE_DEFAULT_URL (default PUBLIC_URL) without either.
The landing address was checked against AFFILIATE_ALLOWED_HOSTS (and the scheme and port of
PUBLIC_URL) when the link was saved and only gains a query parameter here, so this endpoint never
redirects anywhere else (no open redirect).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from partner_portal.resolvers.affiliates import TOKEN_NAME, record_click
from partner_portal.settings import Settings


async def affiliate_redirect(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    redirect = await record_click(
        settings,
        request.path_params["code"],
        address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        referrer=request.headers.get("referer"),
    )
    response = RedirectResponse(redirect.url, status_code=302, headers={"Cache-Control": "no-store"})
    if redirect.token is not None:
        response.set_cookie(
            TOKEN_NAME,
            redirect.token,
            max_age=settings.affiliate_window_days * 86400,
            path="/",
            httponly=True,
            samesite="lax",
            secure=not settings.is_development,
        )
    return response
