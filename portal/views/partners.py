"""The public partner directory and the application for partner status.

`/partners` needs no sign-in; signed-in people who may choose their organization's service provider
see a button on each service partner. `/apply` shows the form, or plainly why the person cannot apply
(as REDDCRYPT's portal does): not in an organization yet, no permission to apply, the address not
verified, or an application already pending or approved."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.app import done
from partner_portal.portal.i18n import N_
from partner_portal.portal.layout import Layout
from partner_portal.portal.pages import text
from partner_portal.portal.problems import REFUSALS

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

PROGRAMS = ("AFFILIATE", "EXPERT", "RESELLER", "SERVICE_PARTNER")
APPLICATION_FIELDS = ("legal_name", "website", "country", "vat_id", "contact_name", "contact_email", "contact_phone")
FIELD_LENGTHS = {"message": 2000, "contact_email": 320, "country": 2, "vat_id": 30, "contact_phone": 40}
CHOOSE_PATH = "/organization/service-provider"

APPLY_NOTICES = {"applied": N_("Thank you: your application is sent. We review it shortly and tell you by mail.")}


# --- /partners -----------------------------------------------------------------------------------


async def directory(portal: Portal, request: Request) -> Response:
    country = request.query_params.get("country", "").strip().upper()[:2]
    program = request.query_params.get("program", "")
    program = program if program in PROGRAMS else ""
    after = request.query_params.get("after", "")[:200] or None
    problems = []
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        problems.append(text(request, "Enter the country as two letters, e.g. DE."))
        country = ""
    variables = {"country": country or None, "program": program or None, "after": after}
    result = await portal.call(request, "PartnerDirectory", variables)
    layout = Layout.of(request, result.data.get("viewer"), portal.organization_of(request))
    return portal.render(
        request,
        "directory.html",
        layout=layout,
        viewer=layout.viewer if layout else None,
        data=result.data,
        errors=result.errors,
        country=country,
        program=program,
        programs=PROGRAMS,
        may_choose=bool(layout and layout.may(CHOOSE_PATH)),
        problems=problems,
    )


# --- /apply --------------------------------------------------------------------------------------


async def apply_page(portal: Portal, request: Request, **values: Any) -> Response:
    return await portal.page(
        request,
        "ApplyPage",
        "apply.html",
        notices=APPLY_NOTICES,
        programs=PROGRAMS,
        standing=standing,
        verify_refusal=REFUSALS["VERIFIED_EMAIL"],
        **values,
    )


def standing(layout: Layout, data: dict[str, Any]) -> dict[str, Any]:
    """Where the acting organization stands: `refusal` (why the form is not shown: NO_ORGANIZATION,
    NO_PERMISSION, UNVERIFIED, PARTNER, PENDING) and its newest application."""
    if layout.membership is None:
        return {"refusal": "NO_ORGANIZATION", "application": None}
    organization_id = layout.organization_id
    organizations: list[dict[str, Any]] = [
        m["organization"] for m in (data.get("viewer") or {}).get("memberships") or []
    ]
    organization: dict[str, Any] = next((o for o in organizations if o["id"] == organization_id), {})
    application = organization.get("partnerApplication")
    if "REQUEST_PARTNER_STATUS" not in layout.membership["organizationPermissions"]:
        refusal = "NO_PERMISSION"
    elif not layout.viewer.get("emailVerified"):
        refusal = "UNVERIFIED"
    elif organization.get("partnerProfile"):
        refusal = "PARTNER"
    elif application and application["status"] in ("PENDING", "APPROVED"):
        refusal = "PENDING"
    else:
        refusal = ""
    return {"refusal": refusal, "application": application}


async def apply(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    entered = {name: form.get(name, "").strip()[: FIELD_LENGTHS.get(name, 200)] for name in APPLICATION_FIELDS}
    entered["country"] = entered["country"].upper()
    entered["message"] = form.get("message", "").strip()[:2000]
    programs = sorted({p for p in portal.form_list(request, "programs") if p in PROGRAMS})
    variables = {
        "input": {
            "organizationId": form.get("organization", "")[:100] or None,
            "legalName": entered["legal_name"],
            "website": entered["website"],
            "country": entered["country"],
            "vatId": entered["vat_id"] or None,
            "contactName": entered["contact_name"],
            "contactEmail": entered["contact_email"],
            "contactPhone": entered["contact_phone"] or None,
            "programs": programs,
            "message": entered["message"] or None,
        }
    }
    _, problems = await portal.send(request, "RequestPartnerStatus", variables)
    if problems:
        return await apply_page(
            portal, request, problems=problems, entered=entered, chosen_programs=programs, status_code=400
        )
    return done("/apply", "applied")


ROUTES = [
    ("/partners", directory, ["GET"]),
    ("/apply", apply_page, ["GET"]),
    ("/apply", apply, ["POST"]),
]
