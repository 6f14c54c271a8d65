"""Invitations: partner staff with CREATE_CUSTOMER_ORGANIZATIONS invite a prospective customer by
email ("Organisation erstellen"); the list of invitations with resend and revoke."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.app import Page, done
from partner_portal.portal.i18n import LANGUAGES, N_
from partner_portal.portal.pages import language_of
from partner_portal.portal.views.customers_common import PAGE_SIZE, choice, cursor, short, show

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

STATUSES = ("OPEN", "ACCEPTED", "EXPIRED", "REVOKED")
MAX_EMAIL = 320
MAX_NAME = 200
MAX_MESSAGE = 2000
MAX_ID = 100

NOTICES = {
    "invited": N_("The invitation is on its way."),
    "resent": N_("The invitation was sent again with a new link; the previous link no longer works."),
    "revoked": N_("The invitation was withdrawn; its link no longer works."),
}


async def invitations_page(portal: Portal, request: Request, *, status_code: int = 200, **values: Any) -> Response:
    query = request.query_params
    status = choice(query.get("status"), STATUSES) or ""
    after = cursor(query.get("after"))
    variables = {
        "partnerId": portal.organization_of(request),
        "status": status or None,
        "first": PAGE_SIZE,
        "after": after,
    }
    kept = {"status": status} if status else {}
    values.setdefault("form", {"email": "", "organization_name": "", "message": "", "language": language_of(request)})
    return await show(
        portal,
        request,
        "Invitations",
        "invitations.html",
        variables,
        status_code=status_code,
        notices=NOTICES,
        status=status,
        statuses=STATUSES,
        languages=LANGUAGES,
        paged=bool(after),
        first_page=f"/partner/invitations?{urlencode(kept)}" if kept else "/partner/invitations",
        next_page=lambda end: f"/partner/invitations?{urlencode({**kept, 'after': end})}",
        **values,
    )


async def invite(portal: Portal, request: Request) -> Response:
    posted = await portal.form(request)
    form = {
        "email": short(posted.get("email"), MAX_EMAIL),
        "organization_name": short(posted.get("organization_name"), MAX_NAME),
        "message": short(posted.get("message"), MAX_MESSAGE),
        "language": choice(posted.get("language"), LANGUAGES) or language_of(request),
    }
    variables = {
        "input": {
            "partnerId": portal.organization_of(request),
            "email": form["email"],
            "organizationName": form["organization_name"],
            "message": form["message"] or None,
            "language": form["language"],
        }
    }
    _, problems = await portal.send(request, "InviteCustomer", variables)
    if problems:
        return await invitations_page(portal, request, status_code=400, problems=problems, form=form)
    return done("/partner/invitations", "invited")


async def _act(portal: Portal, request: Request, operation: str, notice: str) -> Response:
    posted = await portal.form(request)
    invitation_id = short(posted.get("invitation"), MAX_ID)
    _, problems = await portal.send(request, operation, {"input": {"invitationId": invitation_id}})
    if problems:
        return await invitations_page(portal, request, status_code=400, problems=problems)
    return done("/partner/invitations", notice)


async def resend(portal: Portal, request: Request) -> Response:
    return await _act(portal, request, "ResendInvitation", "resent")


async def revoke(portal: Portal, request: Request) -> Response:
    return await _act(portal, request, "RevokeInvitation", "revoked")


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/partner/invitations", invitations_page, ["GET"]),
    ("/partner/invitations", invite, ["POST"]),
    ("/partner/invitations/resend", resend, ["POST"]),
    ("/partner/invitations/revoke", revoke, ["POST"]),
]
