"""`GET /r/{code}`: record the click of an affiliate link, set the attribution cookie, redirect.

Unknown or disabled codes redirect to AFFILIATE_DEFAULT_URL (default PUBLIC_URL) without a
cookie. The landing address was checked against AFFILIATE_ALLOWED_HOSTS (and the scheme and
port of PUBLIC_URL) when the link was saved, so this endpoint never redirects anywhere else
(no open redirect).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from partner_portal.resolvers.affiliates import record_click
from partner_portal.settings import Settings

COOKIE_NAME = "pp_affiliate"


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
            COOKIE_NAME,
            redirect.token,
            max_age=settings.affiliate_window_days * 86400,
            path="/",
            httponly=True,
            samesite="lax",
            secure=not settings.is_development,
        )
    return response
