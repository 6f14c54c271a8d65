"""The management session: partner staff with ADMINISTER_CUSTOMERS act in one customer's organization,
in a tab of its own, within what the customer granted (REDDCRYPT's "Management Session").

- `POST /manage/{id}/start` (My customers' button, `target="_blank"`): startManagementSession, then the
  session's page; a refusal is a page that says why.
- `GET /manage/{id}`: whose organization this is (a banner), the session's start and last activity,
  every delegated permission as allowed or not and the grant's end, and the customer's settings,
  members and license forms. What the grant does not allow stays visible: the API refuses it and the
  page says why beside that form ("Wieso kann ich nichts einstellen?"). Without an open session on the
  customer (ended, idled out after MANAGEMENT_SESSION_IDLE_MINUTES, or never started) the page says
  the session has ended and offers to start one.
- `POST /manage/{id}/settings|members|license`: updateOrganization, addMember, redeemCoupon with the
  customer's id (the API finds the session itself).
- `POST /manage/{id}/end`: endManagementSession, back to My customers.

One request per page: `ManagementPage` (the session comes from `viewerManagementSessions`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from babel.dates import format_datetime
from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.app import Page, done
from partner_portal.portal.i18n import LANGUAGES, N_
from partner_portal.portal.layout import Layout
from partner_portal.portal.pages import language_of, redirect, text
from partner_portal.portal.problems import refusal_text

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

# The API's DelegatedPermission values, in the order the customer's grant dialog shows them.
DELEGATED_PERMISSIONS = ("MANAGE_SETTINGS", "MANAGE_MEMBERS", "ORDER_LICENSES", "VIEW_BILLING")
MAX_ID = 200
NOTICES = {
    "started": N_("The management session has started."),
    "settings-saved": N_("The customer's settings are saved."),
    "member-invited": N_("The invitation is sent: the person becomes a member of the customer once they accept."),
    "license-ordered": N_("The license is ordered for the customer."),
}
# Where a refused form's reasons are shown: the form's name → the grant it needs.
FORMS = {"settings": "MANAGE_SETTINGS", "members": "MANAGE_MEMBERS", "license": "ORDER_LICENSES"}


def _customer_id(request: Request) -> str:
    """The customer's global id from the path; anything else than a short printable id is no customer."""
    raw = str(request.path_params.get("customer_id", ""))
    return raw if 0 < len(raw) <= MAX_ID and raw.isascii() and raw.isprintable() else ""


def _here(customer_id: str) -> str:
    return f"/manage/{quote(customer_id, safe='')}"


def _moment(language: str, value: str | None) -> str:
    """A DateTime of the API in the page's language (UTC, said so)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return f"{format_datetime(moment, format='medium', tzinfo=UTC, locale=language)} UTC"


async def session_page(portal: Portal, request: Request) -> Response:
    return await _show(portal, request)


async def _show(portal: Portal, request: Request, *, status_code: int = 200, **values: Any) -> Response:
    """The session's page from its one operation; `values` carry a refused form's problems and input."""
    customer_id = _customer_id(request)
    result = await portal.call(request, "ManagementPage", {"customerId": customer_id or "-"})
    layout = Layout.of(request, result.data.get("viewer"), portal.organization_of(request))
    if layout is None:
        return portal.sign_in_first(request)
    customer = result.data.get("customer")
    if not customer or not customer.get("id") or not customer.get("servicePartner"):
        return portal.render(
            request,
            "management_refused.html",
            status_code=404,
            layout=layout,
            viewer=layout.viewer,
            heading=text(request, "This customer is not yours to manage"),
            problems=[
                text(
                    request,
                    "Only the staff of the customer's current service partner with the partner permission "
                    "“Administer customers” open management sessions on it.",
                )
            ],
        )
    if any(m["organization"]["id"] == customer["id"] for m in layout.viewer["memberships"]):
        return portal.render(
            request,
            "management_refused.html",
            status_code=403,
            layout=layout,
            viewer=layout.viewer,
            heading=text(request, "This is your own organization"),
            problems=[
                text(
                    request,
                    "Management sessions are for your service partner's staff; change your own under Organization.",
                )
            ],
        )
    session = next(
        (
            found
            for found in result.data.get("viewerManagementSessions") or []
            if (found.get("customer") or {}).get("id") == customer["id"] and found.get("isOpen")
        ),
        None,
    )
    relationship = customer.get("servicePartner") or {}
    granted = set(session["permissions"]) if session else set()
    language = language_of(request)
    notice_key = request.query_params.get("notice", "")
    if notice_key in NOTICES:
        values.setdefault("notice", text(request, NOTICES[notice_key]))
    return portal.render(
        request,
        "management.html",
        status_code=status_code,
        layout=layout,
        viewer=layout.viewer,
        data=result.data,
        errors=result.errors,
        customer=customer,
        session=session,
        partner=(relationship.get("partner") or {}).get("name", ""),
        grant=relationship.get("grant") or {},
        permissions=[(permission, permission in granted) for permission in DELEGATED_PERMISSIONS],
        granted=granted,
        not_granted={form: _not_granted(request, permission) for form, permission in FORMS.items()},
        may_start=any("ADMINISTER_CUSTOMERS" in m["partnerPermissions"] for m in layout.viewer["memberships"]),
        here=_here(customer["id"]),
        moment=lambda value: _moment(language, value),
        languages=LANGUAGES,
        **values,
    )


def _not_granted(request: Request, permission: str) -> str:
    """What the API answers when the grant lacks `permission`, said before the form is sent."""
    return refusal_text(request, {"kind": "GRANT", "name": permission}) or ""


async def start(portal: Portal, request: Request) -> Response:
    await portal.form(request)
    customer_id = _customer_id(request)
    payload, problems = await portal.send(request, "StartManagementSession", {"input": {"customerId": customer_id}})
    if problems or not payload.get("session"):
        return await _refused(portal, request, text(request, "The management session could not start"), problems)
    return done(_here(customer_id), "started")


async def _refused(portal: Portal, request: Request, heading: str, problems: list[str]) -> Response:
    """Why the API refused, as a page of its own (the menu from `Home`, when somebody is signed in)."""
    viewer = (await portal.call(request, "Home")).data.get("viewer")
    layout = Layout.of(request, viewer, portal.organization_of(request))
    if layout is None:
        return portal.sign_in_first(request)
    return portal.render(
        request,
        "management_refused.html",
        status_code=403,
        layout=layout,
        viewer=layout.viewer,
        heading=heading,
        problems=problems or [text(request, "That did not work; try again.")],
    )


async def end(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    session_id = form.get("session", "")[:MAX_ID]
    _, problems = await portal.send(request, "EndManagementSession", {"input": {"sessionId": session_id}})
    if problems:
        return await _refused(portal, request, text(request, "The management session could not end"), problems)
    return done("/partner/customers", "management-ended")


async def update_settings(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    typed = {
        "name": form.get("name", "")[:200],
        "website": form.get("website", "")[:500],
        "country": form.get("country", "")[:2],
        "language": form.get("language", "")[:10],
    }
    change = {
        "organizationId": _customer_id(request),
        "name": typed["name"],
        "website": typed["website"].strip() or None,  # empty clears it
        "country": typed["country"].strip().upper() or None,
        "language": typed["language"],
    }
    return await _send(portal, request, "settings", "ManagementUpdateOrganization", change, typed, "settings-saved")


async def add_member(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    typed = {"email": form.get("email", "").strip()[:320]}
    change = {"organizationId": _customer_id(request), "email": typed["email"], "role": "MEMBER"}
    return await _send(portal, request, "members", "ManagementAddMember", change, typed, "member-invited")


async def order_license(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    typed = {"code": form.get("code", "").strip()[:100]}
    change = {"organizationId": _customer_id(request), "code": typed["code"]}
    return await _send(portal, request, "license", "ManagementRedeemCoupon", change, typed, "license-ordered")


async def _send(
    portal: Portal,
    request: Request,
    form: str,
    operation: str,
    change: dict[str, Any],
    typed: dict[str, str],
    notice: str,
) -> Response:
    """One of the session's forms sent; refused, the page again with the reasons beside that form."""
    _, problems = await portal.send(request, operation, {"input": change})
    if problems:
        return await _show(portal, request, status_code=400, refused={form: problems}, typed={form: typed})
    return done(_here(_customer_id(request)), notice)


async def no_get(portal: Portal, request: Request) -> Response:
    """A form's address opened as a page (a reload after a refusal): the session's page."""
    return redirect(_here(_customer_id(request)))


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/manage/{customer_id}", session_page, ["GET"]),
    ("/manage/{customer_id}/start", start, ["POST"]),
    ("/manage/{customer_id}/end", end, ["POST"]),
    ("/manage/{customer_id}/settings", update_settings, ["POST"]),
    ("/manage/{customer_id}/members", add_member, ["POST"]),
    ("/manage/{customer_id}/license", order_license, ["POST"]),
    ("/manage/{customer_id}/{form:str}", no_get, ["GET"]),
]
