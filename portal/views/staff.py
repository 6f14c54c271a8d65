"""Staff: the partner organization's members and their partner permissions ("Kunden administrieren",
"Organisationen für Kunden erstellen", "Verwalte Partnerportal"), a form per member to change them,
and inviting a colleague. The API decides: partner permissions are set by administrators and
MANAGE_PARTNER_PORTAL holders, inviting needs MANAGE_MEMBERS; a refusal is shown with its reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.app import Page, done
from partner_portal.portal.i18n import N_
from partner_portal.portal.problems import problem_texts
from partner_portal.portal.views.customers_common import cursor, short, show

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

PARTNER_PERMISSIONS = ("ADMINISTER_CUSTOMERS", "CREATE_CUSTOMER_ORGANIZATIONS", "MANAGE_PARTNER_PORTAL")
# What each permission lets a colleague do (the words of the partner programs' help pages).
EXPLANATIONS = {
    "ADMINISTER_CUSTOMERS": N_("Sees My customers and starts management sessions."),
    "CREATE_CUSTOMER_ORGANIZATIONS": N_("Also invites customers (includes administering them)."),
    "MANAGE_PARTNER_PORTAL": N_("Everything in the partner portal: dashboard, commission, payouts, staff."),
}
MAX_ID = 100
MAX_EMAIL = 320

NOTICES = {
    "saved": N_("The permissions are saved."),
    "invited": N_("The invitation is on its way; the colleague becomes a member once they accept."),
}


async def staff_page(portal: Portal, request: Request, *, status_code: int = 200, **values: Any) -> Response:
    chosen = portal.organization_of(request)
    after = cursor(request.query_params.get("after"))
    variables = {"organizationId": chosen or "", "chosen": chosen is not None, "after": after}
    values.setdefault("invite", {"email": "", "permissions": ["ADMINISTER_CUSTOMERS"]})
    return await show(
        portal,
        request,
        "Staff",
        "staff.html",
        variables,
        status_code=status_code,
        notices=NOTICES,
        permissions=PARTNER_PERMISSIONS,
        explanations=EXPLANATIONS,
        paged=bool(after),
        next_page=lambda end: f"/partner/staff?{urlencode({'after': end})}",
        **values,
    )


def _chosen_permissions(portal: Portal, request: Request) -> list[str]:
    return [p for p in PARTNER_PERMISSIONS if p in portal.form_list(request, "partner_permissions")]


async def set_permissions(portal: Portal, request: Request) -> Response:
    """Replaces the member's partner permissions; its organization permissions are read just before
    and sent back unchanged (the mutation replaces both)."""
    posted = await portal.form(request)
    membership_id = short(posted.get("membership"), MAX_ID)
    requested = _chosen_permissions(portal, request)
    current = await portal.call(request, "StaffMember", {"membershipId": membership_id})
    member = current.data.get("node")
    if not member or "organizationPermissions" not in member:
        return await staff_page(portal, request, status_code=400, problems=problem_texts(request, current.errors))
    variables = {
        "input": {
            "membershipId": membership_id,
            "organizationPermissions": member["organizationPermissions"],
            "partnerPermissions": requested,
        }
    }
    _, problems = await portal.send(request, "SetStaffPermissions", variables)
    if problems:
        return await staff_page(portal, request, status_code=400, problems=problems, failed=membership_id)
    return done("/partner/staff", "saved")


async def invite_colleague(portal: Portal, request: Request) -> Response:
    posted = await portal.form(request)
    organization_id = short(posted.get("organization"), MAX_ID)
    invite = {"email": short(posted.get("email"), MAX_EMAIL), "permissions": _chosen_permissions(portal, request)}
    variables = {
        "input": {
            "organizationId": organization_id,
            "email": invite["email"],
            "role": "MEMBER",
            "organizationPermissions": [],
            "partnerPermissions": invite["permissions"],
        }
    }
    _, problems = await portal.send(request, "InviteColleague", variables)
    if problems:
        return await staff_page(portal, request, status_code=400, problems=problems, invite=invite)
    return done("/partner/staff", "invited")


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/partner/staff", staff_page, ["GET"]),
    ("/partner/staff/permissions", set_permissions, ["POST"]),
    ("/partner/staff/invite", invite_colleague, ["POST"]),
]
