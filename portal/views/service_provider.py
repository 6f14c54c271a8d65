"""My service provider: the customer's current service partner (chosen by code or from the directory),
the grant dialog (what the partner may do here, until when), changing and removing the partner, and
the history. For administrators and MANAGE_SERVICE_PROVIDER holders, as the API decides."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.app import done
from partner_portal.portal.i18n import N_
from partner_portal.portal.pages import text
from partner_portal.portal.views.organization import acting_organization, checked, organization_page

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

PATH = "/organization/service-provider"
DELEGATED_PERMISSIONS = ("MANAGE_MEMBERS", "MANAGE_SETTINGS", "ORDER_LICENSES", "VIEW_BILLING")

NOTICES = {
    "chosen": N_("Your service provider is chosen. Grant it what it may do for you below."),
    "removed": N_("You no longer have a service provider."),
    "granted": N_("The permissions of your service provider are saved."),
    "revoked": N_("Your service provider may no longer do anything in your organization."),
}


async def service_provider_page(portal: Portal, request: Request, **values: Any) -> Response:
    values.setdefault("code", request.query_params.get("code", "").strip()[:20])
    return await organization_page(
        portal,
        request,
        "ServiceProvider",
        "service_provider.html",
        PATH,
        notices=NOTICES,
        delegated_permissions=DELEGATED_PERMISSIONS,
        **values,
    )


async def _send(
    portal: Portal, request: Request, operation: str, variables: dict[str, Any], notice: str, **entered: Any
) -> Response:
    _, problems = await portal.send(request, operation, {"input": variables})
    if problems:
        return await service_provider_page(portal, request, problems=problems, status_code=400, **entered)
    return done(PATH, notice)


async def choose(portal: Portal, request: Request) -> Response:
    """Chooses the partner with the entered code (the directory's buttons post here too)."""
    form = await portal.form(request)
    code = form.get("code", "").strip()[:20]
    organization = form.get("organization", "")[:100]
    if not organization:  # from the directory: the organization the person acts for
        organization = await acting_organization(portal, request) or ""
    variables = {"organizationId": organization, "partnerCode": code}
    return await _send(portal, request, "SetServicePartner", variables, "chosen", code=code)


async def remove(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    variables = {"organizationId": form.get("organization", "")[:100]}
    return await _send(portal, request, "RemoveServicePartner", variables, "removed")


def _end_of(day: str) -> str | None:
    """The end of an entered day (YYYY-MM-DD) in UTC, as ISO 8601; None when empty or not a date."""
    try:
        return datetime.combine(date.fromisoformat(day), time(23, 59, 59), tzinfo=UTC).isoformat()
    except ValueError:
        return None


async def grant(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    permissions = checked(request, "permissions", DELEGATED_PERMISSIONS)
    day = form.get("expires", "").strip()[:10]
    expires_at = _end_of(day) if day else None
    entered = {"granted": permissions, "expires": day}
    if day and expires_at is None:
        problems = [text(request, "Enter the date as YYYY-MM-DD, or leave it empty.")]
        return await service_provider_page(portal, request, problems=problems, status_code=400, **entered)
    variables = {
        "organizationId": form.get("organization", "")[:100],
        "permissions": permissions,
        "expiresAt": expires_at,
    }
    return await _send(portal, request, "SetDelegatedPermissions", variables, "granted", **entered)


async def revoke(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    variables = {"organizationId": form.get("organization", "")[:100]}
    return await _send(portal, request, "RevokeDelegatedPermissions", variables, "revoked")


ROUTES = [
    (PATH, service_provider_page, ["GET"]),
    (f"{PATH}/choose", choose, ["POST"]),
    (f"{PATH}/remove", remove, ["POST"]),
    (f"{PATH}/grant", grant, ["POST"]),
    (f"{PATH}/revoke", revoke, ["POST"]),
]
