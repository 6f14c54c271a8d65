"""The start page and the switch between the organizations a person acts for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal import security
from partner_portal.portal.layout import ORGANIZATION_COOKIE
from partner_portal.portal.pages import redirect

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal


async def home(portal: Portal, request: Request) -> Response:
    return await portal.page(request, "Home", "home.html")


async def switch_organization(portal: Portal, request: Request) -> Response:
    """Acts for another of the person's organizations from now on (the API decides what that allows)."""
    form = await portal.form(request)
    response = redirect(security.local_path(form.get("next")))
    chosen = form.get("organization", "")[:100]
    if chosen:
        response.set_cookie(ORGANIZATION_COOKIE, chosen, samesite="lax", httponly=True, secure=portal.secure, path="/")
    return response


ROUTES = [
    ("/", home, ["GET"]),
    ("/organization/switch", switch_organization, ["POST"]),
]
