"""Signing in (with the second factor), out, a forgotten password, the language switch."""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal import security
from partner_portal.portal.graphql_client import ApiUnavailable
from partner_portal.portal.i18n import LANGUAGE_COOKIE, LANGUAGES, N_
from partner_portal.portal.pages import redirect, text
from partner_portal.portal.problems import problem_texts

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal


NOTICES = {"account-deleted": N_("Your account is deleted. Thank you for having been with us.")}


async def sign_in_page(portal: Portal, request: Request) -> Response:
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return portal.render(
        request,
        "sign_in.html",
        email="",
        next=security.local_path(request.query_params.get("next")),
        notice=text(request, notice) if notice else None,
    )


async def sign_in(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    email = form.get("email", "")[:320]
    target = security.local_path(form.get("next"))
    result = await portal.call(
        request, "SignIn", {"input": {"email": email, "password": form.get("password", "")[:1024]}}
    )
    payload = result.data.get("login") or {}
    if payload.get("secondFactorRequired") and payload.get("challenge"):
        return portal.render(request, "second_factor.html", challenge=payload["challenge"], next=target)
    if result.errors or payload.get("errors") or not payload.get("token"):
        problems = problem_texts(request, payload.get("errors") or result.errors)
        return portal.render(request, "sign_in.html", status_code=400, problems=problems, email=email, next=target)
    return portal.start_session(redirect(target), payload)


async def second_factor(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    challenge, target = form.get("challenge", "")[:200], security.local_path(form.get("next"))
    recovery_code = form.get("recovery_code", "").strip()[:40]
    code = {"recoveryCode": recovery_code} if recovery_code else {"code": form.get("code", "").replace(" ", "")[:8]}
    payload, problems = await portal.send(request, "CompleteSignIn", {"input": {"challenge": challenge, **code}})
    if problems or not payload.get("token"):
        return portal.render(
            request, "second_factor.html", status_code=400, problems=problems, challenge=challenge, next=target
        )
    return portal.start_session(redirect(target), payload)


async def forgot_password_page(portal: Portal, request: Request) -> Response:
    return portal.render(request, "forgot_password.html")


async def forgot_password(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    _, problems = await portal.send(request, "RequestPasswordReset", {"input": {"email": form.get("email", "")[:320]}})
    if problems:
        return portal.render(request, "forgot_password.html", status_code=400, problems=problems)
    return portal.render(request, "forgot_password.html", requested=True)


async def reset_password_page(portal: Portal, request: Request) -> Response:
    return portal.render(request, "reset_password.html", token=request.query_params.get("token", "")[:200])


async def reset_password(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    token = form.get("token", "")[:200]
    variables = {"input": {"token": token, "newPassword": form.get("new_password", "")[:1024]}}
    payload, problems = await portal.send(request, "ResetPassword", variables)
    if problems or not payload.get("passwordChanged"):
        return portal.render(request, "reset_password.html", status_code=400, problems=problems, token=token)
    if payload.get("token"):
        return portal.start_session(redirect("/"), payload)
    return portal.render(  # two-factor accounts sign in again, with their second factor
        request,
        "sign_in.html",
        email="",
        next="/",
        notice=text(request, "Your new password is saved. Sign in with it."),
    )


async def sign_out(portal: Portal, request: Request) -> Response:
    await portal.form(request)
    if request.cookies.get(security.SESSION_COOKIE):
        with suppress(ApiUnavailable):  # the cookie goes anyway; the session expires on its own
            await portal.call(request, "SignOut")
    response = redirect("/sign-in")
    response.delete_cookie(security.SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=portal.secure)
    return response


async def change_language(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    response = redirect(security.local_path(form.get("next")))
    if form.get("language") in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, form["language"], max_age=365 * 86400, samesite="lax", secure=portal.secure, path="/"
        )
    return response


ROUTES = [
    ("/sign-in", sign_in_page, ["GET"]),
    ("/sign-in", sign_in, ["POST"]),
    ("/sign-in/second-factor", second_factor, ["POST"]),
    ("/sign-out", sign_out, ["POST"]),
    ("/password/forgot", forgot_password_page, ["GET"]),
    ("/password/forgot", forgot_password, ["POST"]),
    ("/password/reset", reset_password_page, ["GET"]),
    ("/password/reset", reset_password, ["POST"]),
    ("/language", change_language, ["POST"]),
]
