"""The customer administrator's pages: the organization's settings, its members (roles, permissions,
invitations) and what its service partner did in it. The service provider page is in
`service_provider.py`; both use `acting_organization` and `refusal` from here."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.app import done
from partner_portal.portal.i18n import N_
from partner_portal.portal.layout import Layout
from partner_portal.portal.pages import label, language_of, text

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

ORGANIZATION_PERMISSIONS = (
    "MANAGE_MEMBERS",
    "MANAGE_SETTINGS",
    "ORDER_LICENSES",
    "VIEW_BILLING",
    "REQUEST_PARTNER_STATUS",
    "MANAGE_SERVICE_PROVIDER",
)
PARTNER_PERMISSIONS = ("ADMINISTER_CUSTOMERS", "CREATE_CUSTOMER_ORGANIZATIONS", "MANAGE_PARTNER_PORTAL")
ROLES = ("MEMBER", "ADMINISTRATOR")
MAIL_LANGUAGES = ("en", "de")

NOTICES = {
    "saved": N_("The settings are saved."),
    "invited": N_("The invitation is on its way."),
    "revoked": N_("The invitation is withdrawn."),
    "role": N_("The role is changed."),
    "permissions": N_("The permissions are changed."),
    "removed": N_("The member is removed."),
}

# Why a person does not see a page of the menu: (permission label or None for administrators).
REQUIREMENTS = {
    "/organization": "MANAGE_SETTINGS",
    "/organization/members": "MANAGE_MEMBERS",
    "/organization/service-provider": "MANAGE_SERVICE_PROVIDER",
    "/organization/activity": None,
}


async def acting_organization(portal: Portal, request: Request) -> str | None:
    """The organization the person acts for: the one chosen with the switch, else (like the menu) the
    first of theirs, which asks the API once more; None for anonymous people and those without one."""
    chosen = portal.organization_of(request)
    if chosen:
        return chosen
    result = await portal.call(request, "Home")
    layout = Layout.of(request, result.data.get("viewer"), None)
    return layout.organization_id if layout else None


def refusal(request: Request, layout: Layout | None, path: str) -> str | None:
    """Why the person may not use the page at `path` here (None: they may), said as the API would."""
    if layout is None or layout.may(path):
        return None
    if layout.membership is None:
        return text(request, "Your account is not in an organization yet.")
    permission = REQUIREMENTS[path]
    if permission is None:
        return text(request, "Only the organization's administrators may do this.")
    name = label(language_of(request), permission)
    return text(request, "You need the permission “%(name)s” in this organization.", name=name)


async def organization_page(
    portal: Portal,
    request: Request,
    operation: str,
    template: str,
    path: str,
    variables: dict[str, Any] | None = None,
    *,
    notices: dict[str, str] | None = None,
    status_code: int = 200,
    **values: Any,
) -> Response:
    """A page about the organization the person acts for, with the reason when they may not use it."""
    organization_id = await acting_organization(portal, request)
    return await portal.page(
        request,
        operation,
        template,
        {"organizationId": organization_id or "", **(variables or {})},
        notices=notices,
        status_code=status_code,
        why_not=lambda layout: refusal(request, layout, path),
        **values,
    )


def checked(request: Request, name: str, allowed: tuple[str, ...]) -> list[str]:
    """The ticked checkboxes of a list that are among `allowed` (anything else is dropped)."""
    return sorted({value for value in getattr(request.state, "form_lists", {}).get(name, []) if value in allowed})


# --- /organization: settings ---------------------------------------------------------------------


async def settings_page(portal: Portal, request: Request, **values: Any) -> Response:
    return await organization_page(
        portal, request, "OrganizationSettings", "organization.html", "/organization", notices=NOTICES, **values
    )


async def update_settings(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    entered = {
        "name": form.get("name", "").strip()[:200],
        "website": form.get("website", "").strip()[:500],
        "country": form.get("country", "").strip().upper()[:2],
        "language": form.get("language", "")[:5],
    }
    variables = {
        "input": {
            "organizationId": form.get("organization", "")[:100],
            "name": entered["name"],
            "website": entered["website"] or None,
            "country": entered["country"] or None,
            "language": entered["language"] if entered["language"] in MAIL_LANGUAGES else "en",
        }
    }
    _, problems = await portal.send(request, "UpdateOrganization", variables)
    if problems:
        return await settings_page(portal, request, problems=problems, entered=entered, status_code=400)
    return done("/organization", "saved")


# --- /organization/members -----------------------------------------------------------------------


async def members_page(portal: Portal, request: Request, **values: Any) -> Response:
    after = request.query_params.get("after", "")[:200] or None
    return await organization_page(
        portal,
        request,
        "OrganizationMembers",
        "organization_members.html",
        "/organization/members",
        {"after": after},
        notices=NOTICES,
        roles=ROLES,
        organization_permissions=ORGANIZATION_PERMISSIONS,
        **values,
    )


async def _members_action(
    portal: Portal, request: Request, operation: str, variables: dict[str, Any], notice: str, **entered: Any
) -> Response:
    _, problems = await portal.send(request, operation, {"input": variables})
    if problems:
        return await members_page(portal, request, problems=problems, status_code=400, **entered)
    return done("/organization/members", notice)


async def invite_member(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    email = form.get("email", "").strip()[:320]
    role = form.get("role", "MEMBER")
    permissions = checked(request, "permissions", ORGANIZATION_PERMISSIONS)
    variables = {
        "organizationId": form.get("organization", "")[:100],
        "email": email,
        "role": role if role in ROLES else "MEMBER",
        "organizationPermissions": permissions,
    }
    return await _members_action(
        portal, request, "AddMember", variables, "invited", invite={"email": email, "permissions": permissions}
    )


async def revoke_invitation(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    variables = {"invitationId": form.get("invitation", "")[:200]}
    return await _members_action(portal, request, "RevokeMembershipInvitation", variables, "revoked")


async def set_role(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    role = form.get("role", "")
    variables = {"membershipId": form.get("membership", "")[:200], "role": role if role in ROLES else "MEMBER"}
    return await _members_action(portal, request, "SetMemberRole", variables, "role")


async def set_permissions(portal: Portal, request: Request) -> Response:
    """The organization permissions ticked; the member's partner permissions stay as they are (the
    partner's staff page sets those)."""
    form = await portal.form(request)
    variables = {
        "membershipId": form.get("membership", "")[:200],
        "organizationPermissions": checked(request, "permissions", ORGANIZATION_PERMISSIONS),
        "partnerPermissions": checked(request, "partner_permissions", PARTNER_PERMISSIONS),
    }
    return await _members_action(portal, request, "SetMemberPermissions", variables, "permissions")


async def remove_member(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    variables = {"membershipId": form.get("membership", "")[:200]}
    return await _members_action(portal, request, "RemoveMember", variables, "removed")


# --- /organization/activity ----------------------------------------------------------------------


def session_number(global_id: str | None) -> str:
    """The number of a management session from its global id (`ManagementSession:12` → `12`)."""
    if not global_id:
        return ""
    try:
        decoded = base64.b64decode(global_id, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    type_name, _, number = decoded.partition(":")
    return number if type_name == "ManagementSession" and number.isdigit() else ""


async def activity_page(portal: Portal, request: Request) -> Response:
    after = request.query_params.get("after", "")[:200] or None
    return await organization_page(
        portal,
        request,
        "ServiceProviderActivity",
        "organization_activity.html",
        "/organization/activity",
        {"after": after},
        session_number=session_number,
        request_after=after,
    )


ROUTES = [
    ("/organization", settings_page, ["GET"]),
    ("/organization", update_settings, ["POST"]),
    ("/organization/members", members_page, ["GET"]),
    ("/organization/members/invite", invite_member, ["POST"]),
    ("/organization/members/revoke", revoke_invitation, ["POST"]),
    ("/organization/members/role", set_role, ["POST"]),
    ("/organization/members/permissions", set_permissions, ["POST"]),
    ("/organization/members/remove", remove_member, ["POST"]),
    ("/organization/activity", activity_page, ["GET"]),
]
