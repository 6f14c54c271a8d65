"""Signing up: registering an account (public) and creating one's first organization (signed in),
which carries the attribution of an affiliate link the visitor came through (`portal/affiliate.py`)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import pycountry
from babel import Locale
from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal import security
from partner_portal.portal.affiliate import affiliate_token
from partner_portal.portal.app import Page, done
from partner_portal.portal.i18n import N_
from partner_portal.portal.layout import ORGANIZATION_COOKIE
from partner_portal.portal.pages import language_of, redirect

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

MAX_NAME = 200
MAX_EMAIL = 320
MAX_PASSWORD = 1024
MAX_WEBSITE = 500

NOTICES = {
    "created": N_("Your organization is created."),
    "created-referred": N_("Your organization is created. You came through a partner's link: the partner is credited."),
}


# --- register ----------------------------------------------------------------------------------


async def register_page(portal: Portal, request: Request) -> Response:
    if request.cookies.get(security.SESSION_COOKIE):
        return redirect("/")
    return portal.render(
        request, "register.html", name="", email="", next=security.local_path(request.query_params.get("next"))
    )


async def register(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    name, email = form.get("name", "")[:MAX_NAME], form.get("email", "").strip()[:MAX_EMAIL]
    target = security.local_path(form.get("next"))
    variables = {"input": {"name": name, "email": email, "password": form.get("password", "")[:MAX_PASSWORD]}}
    payload, problems = await portal.send(request, "RegisterAccount", variables)
    if problems:
        return portal.render(
            request, "register.html", status_code=400, problems=problems, name=name, email=email, next=target
        )
    if payload.get("token"):  # signed in at once; the address is verified with the mailed link
        return portal.start_session(redirect(target), payload)
    return portal.render(request, "register.html", mailed=True, email=email)  # confirmed by mail first


# --- create an organization --------------------------------------------------------------------


@cache
def countries(language: str) -> list[tuple[str, str]]:
    """(ISO 3166 alpha-2 code, name in the language), by name."""
    names = Locale.parse(language).territories
    found = [(country.alpha_2, names.get(country.alpha_2, country.name)) for country in pycountry.countries]
    return sorted(found, key=lambda pair: pair[1].casefold())


async def organization_page(portal: Portal, request: Request, *, status_code: int = 200, **values: Any) -> Response:
    notice = request.query_params.get("notice", "")
    return await portal.page(
        request,
        "NewOrganizationPage",
        "register_organization.html",
        status_code=status_code,
        notices=NOTICES,
        countries=countries(language_of(request)),
        created=notice in NOTICES,
        referred=notice == "created-referred",
        **values,
    )


async def new_organization(portal: Portal, request: Request) -> Response:
    return await organization_page(portal, request, fields={})


async def create_organization(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    fields = {
        "name": form.get("name", "")[:MAX_NAME],
        "website": form.get("website", "").strip()[:MAX_WEBSITE],
        "country": form.get("country", "").strip().upper()[:2],
    }
    variables = {
        "input": {
            "name": fields["name"],
            "website": fields["website"] or None,
            "country": fields["country"] or None,
            "language": language_of(request),
            "affiliateToken": affiliate_token(request),
        }
    }
    payload, problems = await portal.send(request, "NewOrganization", variables)
    if problems or not payload.get("organization"):
        return await organization_page(portal, request, status_code=400, problems=problems, fields=fields)
    referred = bool((payload.get("attribution") or {}).get("attributed"))
    response = done("/organization/new", "created-referred" if referred else "created")
    response.set_cookie(  # act for the new organization from now on (the switch in the menu)
        ORGANIZATION_COOKIE,
        payload["organization"]["id"],
        samesite="lax",
        httponly=True,
        secure=portal.secure,
        path="/",
    )
    return response


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/register", register_page, ["GET"]),
    ("/register", register, ["POST"]),
    ("/organization/new", new_organization, ["GET"]),
    ("/organization/new", create_organization, ["POST"]),
]
