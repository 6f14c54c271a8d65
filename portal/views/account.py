"""The person's own account (the name in the header links here), with its own sub-navigation:
profile (name, address and its verification), password, two-factor sign-in (QR code made on the
server as inline SVG), the open sessions, the data export and the deletion of the account."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import segno
from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal import security
from partner_portal.portal.app import Page, done
from partner_portal.portal.i18n import N_
from partner_portal.portal.pages import redirect, text
from partner_portal.portal.problems import problem_texts

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

MAX_PASSWORD = 1024
MAX_NAME = 200
MAX_EMAIL = 320
MAX_CODE = 40
MAX_ID = 200
EXPORT_FILE = "partner-portal-my-data.json"
CONFIRMATION = "DELETE"  # the word the API wants typed


@dataclass(frozen=True)
class Section:
    path: str
    label: str  # a message of the catalog


SECTIONS = (
    Section("/account", N_("Profile")),
    Section("/account/password", N_("Password")),
    Section("/account/two-factor", N_("Two-factor sign-in")),
    Section("/account/sessions", N_("Sessions")),
    Section("/account/data", N_("My data")),
)

NOTICES = {
    "name-saved": N_("Your name is saved."),
    "link-sent": N_("We sent a new verification link. Open it from your mailbox."),
    "email-pending": N_("We sent a link to your new address. Your address changes when you open it."),
    "password-changed": N_("Your password is changed. Your other sessions were signed out."),
    "two-factor-off": N_("Two-factor sign-in is off."),
    "session-ended": N_("The session is signed out."),
    "others-ended": N_("Every other session is signed out."),
}


def sections(request: Request) -> list[dict[str, Any]]:
    """The sub-navigation of the account pages, the one shown marked."""
    here = request.url.path.rstrip("/") or "/"
    return [
        {"path": section.path, "label": text(request, section.label), "current": here == section.path}
        for section in SECTIONS
    ]


async def account_page(
    portal: Portal,
    request: Request,
    operation: str,
    template: str,
    *,
    status_code: int = 200,
    **values: Any,
) -> Response:
    return await portal.page(
        request,
        operation,
        template,
        status_code=status_code,
        notices=NOTICES,
        sections=sections(request),
        **values,
    )


# --- profile -----------------------------------------------------------------------------------


async def profile(portal: Portal, request: Request) -> Response:
    return await account_page(portal, request, "AccountProfile", "account_profile.html")


async def update_name(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    name = form.get("name", "")[:MAX_NAME]
    _, problems = await portal.send(request, "AccountUpdateProfile", {"input": {"name": name}})
    if problems:
        return await account_page(
            portal, request, "AccountProfile", "account_profile.html", status_code=400, problems=problems, name=name
        )
    return done("/account", "name-saved")


async def change_email(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    new_email = form.get("new_email", "").strip()[:MAX_EMAIL]
    variables = {"input": {"newEmail": new_email, "password": form.get("password", "")[:MAX_PASSWORD]}}
    _, problems = await portal.send(request, "AccountChangeEmail", variables)
    if problems:
        return await account_page(
            portal,
            request,
            "AccountProfile",
            "account_profile.html",
            status_code=400,
            email_problems=problems,
            new_email=new_email,
        )
    return done("/account", "email-pending")


async def resend_verification(portal: Portal, request: Request) -> Response:
    await portal.form(request)
    _, problems = await portal.send(request, "AccountResendVerification")
    if problems:
        return await account_page(
            portal, request, "AccountProfile", "account_profile.html", status_code=400, problems=problems
        )
    return done("/account", "link-sent")


# --- password ----------------------------------------------------------------------------------


async def password(portal: Portal, request: Request) -> Response:
    return await account_page(portal, request, "AccountPassword", "account_password.html")


async def change_password(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    variables = {
        "input": {
            "currentPassword": form.get("current_password", "")[:MAX_PASSWORD],
            "newPassword": form.get("new_password", "")[:MAX_PASSWORD],
        }
    }
    _, problems = await portal.send(request, "AccountChangePassword", variables)
    if problems:
        return await account_page(
            portal, request, "AccountPassword", "account_password.html", status_code=400, problems=problems
        )
    return done("/account/password", "password-changed")


# --- two-factor sign-in ------------------------------------------------------------------------


def qr_code(request: Request, uri: str) -> str:
    """The provisioning URI as a QR code: inline SVG made here (no script, no other origin); the
    template marks it safe (segno writes the markup, the title is one of our messages)."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, border=4, dark="#000", light="#fff", title=text(request, "QR code for your authenticator app")
    )
    return str(svg).replace("<svg ", '<svg role="img" class="account-qr" ', 1)


def setup_values(request: Request, secret: str, uri: str) -> dict[str, Any]:
    """What the confirm step shows: the secret to type and the QR code to scan (only an otpauth URI)."""
    if not uri.startswith("otpauth://") or len(uri) > 1000:
        uri = ""
    return {"secret": secret[:200], "uri": uri, "qr": qr_code(request, uri) if uri else ""}


async def two_factor(portal: Portal, request: Request) -> Response:
    return await account_page(portal, request, "AccountTwoFactor", "account_two_factor.html")


async def begin_two_factor(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    variables = {"input": {"password": form.get("password", "")[:MAX_PASSWORD]}}
    payload, problems = await portal.send(request, "AccountBeginTwoFactor", variables)
    if problems or not payload.get("secret"):
        return await account_page(
            portal, request, "AccountTwoFactor", "account_two_factor.html", status_code=400, problems=problems
        )
    values = setup_values(request, payload["secret"], payload.get("provisioningUri") or "")
    return await account_page(portal, request, "AccountTwoFactor", "account_two_factor.html", setup=values)


def _code(form: dict[str, str], field: str = "code") -> str:
    return form.get(field, "").replace(" ", "").strip()[:MAX_CODE]


async def confirm_two_factor(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    payload, problems = await portal.send(request, "AccountConfirmTwoFactor", {"input": {"code": _code(form)}})
    if problems or not payload.get("recoveryCodes"):
        # A wrong code: the setup stays begun; show the same secret again (the person has seen it).
        values = setup_values(request, form.get("secret", ""), form.get("uri", ""))
        return await account_page(
            portal,
            request,
            "AccountTwoFactor",
            "account_two_factor.html",
            status_code=400,
            problems=problems,
            setup=values,
        )
    return await account_page(
        portal,
        request,
        "AccountTwoFactor",
        "account_two_factor.html",
        recovery_codes=payload["recoveryCodes"],
        notice=text(request, "Two-factor sign-in is on."),
    )


async def regenerate_recovery_codes(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    payload, problems = await portal.send(request, "AccountRegenerateRecoveryCodes", {"input": {"code": _code(form)}})
    if problems or not payload.get("recoveryCodes"):
        return await account_page(
            portal, request, "AccountTwoFactor", "account_two_factor.html", status_code=400, problems=problems
        )
    return await account_page(
        portal,
        request,
        "AccountTwoFactor",
        "account_two_factor.html",
        recovery_codes=payload["recoveryCodes"],
        notice=text(request, "New recovery codes are made; the old ones no longer work."),
    )


async def disable_two_factor(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    variables = {"input": {"password": form.get("password", "")[:MAX_PASSWORD], "code": _code(form)}}
    _, problems = await portal.send(request, "AccountDisableTwoFactor", variables)
    if problems:
        return await account_page(
            portal, request, "AccountTwoFactor", "account_two_factor.html", status_code=400, problems=problems
        )
    return done("/account/two-factor", "two-factor-off")


# --- sessions ----------------------------------------------------------------------------------


async def sessions(portal: Portal, request: Request) -> Response:
    return await account_page(portal, request, "AccountSessions", "account_sessions.html")


def _signed_out(portal: Portal, request: Request) -> Response:
    response = redirect("/sign-in")
    response.delete_cookie(security.SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=portal.secure)
    return response


async def end_session(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    session_id = form.get("session", "")[:MAX_ID]
    payload, problems = await portal.send(request, "AccountEndSession", {"input": {"sessionId": session_id}})
    if problems:
        return await account_page(
            portal, request, "AccountSessions", "account_sessions.html", status_code=400, problems=problems
        )
    if (payload.get("session") or {}).get("current"):  # this device signed out
        return _signed_out(portal, request)
    return done("/account/sessions", "session-ended")


async def end_other_sessions(portal: Portal, request: Request) -> Response:
    """The API ends one session at a time (`logoutEverywhere` would end this one too): each other one."""
    await portal.form(request)
    result = await portal.call(request, "AccountSessions")
    if result.data.get("viewer") is None:
        return portal.sign_in_first(request)
    edges = ((result.data.get("viewerSessions") or {}).get("edges")) or []
    problems: list[str] = []
    for edge in edges:
        if not edge["node"]["current"]:
            _, found = await portal.send(request, "AccountEndSession", {"input": {"sessionId": edge["node"]["id"]}})
            problems += found
    if problems:
        return await account_page(
            portal, request, "AccountSessions", "account_sessions.html", status_code=400, problems=problems
        )
    return done("/account/sessions", "others-ended")


# --- my data -----------------------------------------------------------------------------------


async def my_data(portal: Portal, request: Request) -> Response:
    return await account_page(portal, request, "AccountData", "account_data.html")


async def export_data(portal: Portal, request: Request) -> Response:
    """The API's export of everything it holds about the person, as a file to download."""
    if not request.cookies.get(security.SESSION_COOKIE):
        return portal.sign_in_first(request)
    result = await portal.call(request, "AccountDataExport")
    if "UNAUTHENTICATED" in result.error_codes() or (result.data.get("viewer") is None and not result.errors):
        return portal.sign_in_first(request)
    if result.errors or result.data.get("viewerDataExport") is None:
        problems = problem_texts(request, result.errors)
        return await account_page(
            portal, request, "AccountData", "account_data.html", status_code=400, problems=problems
        )
    body = json.dumps(result.data["viewerDataExport"], ensure_ascii=False, indent=2)
    return Response(
        body,
        media_type="application/json; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{EXPORT_FILE}"',
            "cache-control": "no-store",
        },
    )


async def delete_account(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    confirmation = form.get("confirmation", "")[:20]
    variables = {"input": {"confirmation": confirmation, "password": form.get("password", "")[:MAX_PASSWORD]}}
    payload: dict[str, Any] = {}
    problems = [text(request, "Type DELETE to confirm.")] if confirmation.strip() != CONFIRMATION else []
    if not problems:
        payload, problems = await portal.send(request, "AccountDelete", variables)
    if problems or not payload.get("deletedAt"):
        return await account_page(
            portal,
            request,
            "AccountData",
            "account_data.html",
            status_code=400,
            problems=problems,
            confirmation=confirmation,
        )
    response = redirect("/sign-in?notice=account-deleted")
    response.delete_cookie(security.SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=portal.secure)
    return response


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/account", profile, ["GET"]),
    ("/account/name", update_name, ["POST"]),
    ("/account/email", change_email, ["POST"]),
    ("/account/email/resend", resend_verification, ["POST"]),
    ("/account/password", password, ["GET"]),
    ("/account/password", change_password, ["POST"]),
    ("/account/two-factor", two_factor, ["GET"]),
    ("/account/two-factor/begin", begin_two_factor, ["POST"]),
    ("/account/two-factor/confirm", confirm_two_factor, ["POST"]),
    ("/account/two-factor/recovery-codes", regenerate_recovery_codes, ["POST"]),
    ("/account/two-factor/disable", disable_two_factor, ["POST"]),
    ("/account/sessions", sessions, ["GET"]),
    ("/account/sessions/end", end_session, ["POST"]),
    ("/account/sessions/end-others", end_other_sessions, ["POST"]),
    ("/account/data", my_data, ["GET"]),
    ("/account/data/export", export_data, ["GET"]),
    ("/account/data/delete", delete_account, ["POST"]),
]
