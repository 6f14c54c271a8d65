"""The portal's routes: `build_portal(settings)` gives the routes to mount at `/` and the API client
to bind to the server's app (or to `PORTAL_API_URL`)."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles

from partner_portal.portal import security
from partner_portal.portal.graphql_client import ApiUnavailable, PortalApi, Result
from partner_portal.portal.i18n import LANGUAGE_COOKIE, LANGUAGES
from partner_portal.portal.pages import N_, browser_of, redirect, render, text
from partner_portal.portal.problems import problem_texts
from partner_portal.settings import Settings

STATIC_FOLDER = Path(__file__).parent / "static"


@dataclass(frozen=True)
class MailedLink:
    """The texts of a page a mailed link opens (messages of the catalog)."""

    heading: str
    explanation: str
    button: str


VERIFY_EMAIL = MailedLink(
    N_("Verify your email address"),
    N_("Confirm that this address is yours: then you can apply for partner status and be paid out."),
    N_("Verify my address"),
)
UNLOCK_ACCOUNT = MailedLink(
    N_("Unlock your account"),
    N_("Your account was locked after too many failed sign-ins. Unlock it to sign in again."),
    N_("Unlock my account"),
)
ACCEPT_MEMBERSHIP = MailedLink(
    N_("Join an organization"),
    N_("You were invited to become a member of an organization. Accept to join it."),
    N_("Join"),
)
INVITATION_CLOSED = {
    "ACCEPTED": N_("This invitation was accepted already: sign in instead."),
    "EXPIRED": N_("This invitation has expired: ask the partner who invited you to send it again."),
    "REVOKED": N_("The partner withdrew this invitation."),
}
CONFIRM_REGISTRATION = MailedLink(
    N_("Confirm your registration"),
    N_("One step left: confirm the registration to create your account and sign in."),
    N_("Create my account"),
)
MAX_FORM_FIELDS = 50


class Portal:
    def __init__(self, settings: Settings) -> None:
        self.api = PortalApi(settings.portal_api_url)
        self.secure = not settings.is_development

    # --- plumbing ------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The portal's pages beside the server's own routes, each with the security headers."""
        pages = [
            ("/", self.home, ["GET"]),
            ("/sign-in", self.sign_in_page, ["GET"]),
            ("/sign-in", self.sign_in, ["POST"]),
            ("/sign-in/second-factor", self.second_factor, ["POST"]),
            ("/sign-out", self.sign_out, ["POST"]),
            ("/password/forgot", self.forgot_password_page, ["GET"]),
            ("/password/forgot", self.forgot_password, ["POST"]),
            ("/password/reset", self.reset_password_page, ["GET"]),
            ("/password/reset", self.reset_password, ["POST"]),
            ("/email/verify", self.verify_email, ["GET", "POST"]),
            ("/unlock", self.unlock_account, ["GET", "POST"]),
            ("/register/confirm", self.confirm_registration, ["GET", "POST"]),
            ("/invitations/accept", self.invitation_page, ["GET"]),
            ("/invitations/accept", self.accept_invitation, ["POST"]),
            ("/memberships/accept", self.accept_membership, ["GET", "POST"]),
            ("/language", self.change_language, ["POST"]),
        ]
        routes: list[BaseRoute] = [
            Route(path, security.SecurityHeaders(request_response(page)), methods=methods)
            for path, page, methods in pages
        ]
        routes.append(Mount("/static", security.SecurityHeaders(StaticFiles(directory=STATIC_FOLDER))))
        return routes

    def render(self, request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
        return render(request, template, secure=self.secure, status_code=status_code, **values)

    async def call(self, request: Request, operation: str, variables: dict[str, Any] | None = None) -> Result:
        return await self.api.call(
            operation, variables, token=request.cookies.get(security.SESSION_COOKIE), browser=browser_of(request)
        )

    async def form(self, request: Request) -> dict[str, Any] | None:
        """The posted form, or None when its CSRF token is missing or wrong."""
        async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
            values = {key: value for key, value in form.items() if isinstance(value, str)}
        return values if security.csrf_valid(request, values.get(security.CSRF_FIELD)) else None

    def refused_form(self, request: Request) -> Response:
        return self.render(
            request,
            "problem.html",
            status_code=403,
            heading=text(request, "This form has expired"),
            message=text(request, "Go back, reload the page and send the form again."),
        )

    # --- pages -----------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        try:
            result = await self.call(request, "Viewer")
        except ApiUnavailable:
            return self.unavailable(request)
        viewer = result.data.get("viewer")
        if viewer is None:
            return redirect("/sign-in")
        return self.render(request, "home.html", viewer=viewer)

    async def sign_in_page(self, request: Request) -> Response:
        return self.render(
            request, "sign_in.html", email="", next=security.local_path(request.query_params.get("next"))
        )

    async def sign_in(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.refused_form(request)
        email = form.get("email", "")[:320]
        target = security.local_path(form.get("next"))
        try:
            result = await self.call(
                request, "SignIn", {"input": {"email": email, "password": form.get("password", "")[:1024]}}
            )
        except ApiUnavailable:
            return self.unavailable(request)
        payload = result.data.get("login") or {}
        if payload.get("secondFactorRequired") and payload.get("challenge"):
            return self.render(request, "second_factor.html", challenge=payload["challenge"], next=target)
        if result.errors or payload.get("errors") or not payload.get("token"):
            problems = problem_texts(request, payload.get("errors") or result.errors)
            return self.render(request, "sign_in.html", status_code=400, problems=problems, email=email, next=target)
        return self.start_session(redirect(target), payload)

    async def second_factor(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.refused_form(request)
        challenge, target = form.get("challenge", "")[:200], security.local_path(form.get("next"))
        recovery_code = form.get("recovery_code", "").strip()[:40]
        code = {"recoveryCode": recovery_code} if recovery_code else {"code": form.get("code", "").replace(" ", "")[:8]}
        try:
            result = await self.call(request, "CompleteSignIn", {"input": {"challenge": challenge, **code}})
        except ApiUnavailable:
            return self.unavailable(request)
        payload = result.data.get("completeSignIn") or {}
        if result.errors or payload.get("errors") or not payload.get("token"):
            problems = problem_texts(request, payload.get("errors") or result.errors)
            return self.render(
                request, "second_factor.html", status_code=400, problems=problems, challenge=challenge, next=target
            )
        return self.start_session(redirect(target), payload)

    def start_session(self, response: Response, payload: dict[str, Any]) -> Response:
        """The API session of a sign-in payload (`token`, `expiresAt`) becomes the browser's cookie."""
        response.set_cookie(
            security.SESSION_COOKIE,
            payload["token"],
            expires=datetime.fromisoformat(payload["expiresAt"]),
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )
        return response

    async def forgot_password_page(self, request: Request) -> Response:
        return self.render(request, "forgot_password.html")

    async def forgot_password(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.refused_form(request)
        try:
            result = await self.call(request, "RequestPasswordReset", {"input": {"email": form.get("email", "")[:320]}})
        except ApiUnavailable:
            return self.unavailable(request)
        payload = result.data.get("requestPasswordReset") or {}
        if result.errors or payload.get("errors"):
            problems = problem_texts(request, payload.get("errors") or result.errors)
            return self.render(request, "forgot_password.html", status_code=400, problems=problems)
        return self.render(request, "forgot_password.html", requested=True)

    async def reset_password_page(self, request: Request) -> Response:
        return self.render(request, "reset_password.html", token=request.query_params.get("token", "")[:200])

    async def reset_password(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.refused_form(request)
        token = form.get("token", "")[:200]
        variables = {"input": {"token": token, "newPassword": form.get("new_password", "")[:1024]}}
        try:
            result = await self.call(request, "ResetPassword", variables)
        except ApiUnavailable:
            return self.unavailable(request)
        payload = result.data.get("resetPassword") or {}
        if result.errors or payload.get("errors") or not payload.get("passwordChanged"):
            problems = problem_texts(request, payload.get("errors") or result.errors)
            return self.render(request, "reset_password.html", status_code=400, problems=problems, token=token)
        if payload.get("token"):
            return self.start_session(redirect("/"), payload)
        return self.render(  # two-factor accounts sign in again, with their second factor
            request,
            "sign_in.html",
            email="",
            next="/",
            notice=text(request, "Your new password is saved. Sign in with it."),
        )

    async def sign_out(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.refused_form(request)
        if request.cookies.get(security.SESSION_COOKIE):
            with suppress(ApiUnavailable):  # the cookie goes anyway; the session expires on its own
                await self.call(request, "SignOut")
        response = redirect("/sign-in")
        response.delete_cookie(security.SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure)
        return response

    # --- the links in mails: a page with one button (mail scanners open links, people press buttons) --

    async def mailed_link(
        self, request: Request, operation: str, texts: MailedLink
    ) -> tuple[Response | None, dict[str, Any]]:
        """GET shows the button; POST sends `operation` with the link's token. Answers a response to
        give (the page, a problem) or None and the payload when the operation succeeded."""
        values: dict[str, Any] = {
            "heading": text(request, texts.heading),
            "button": text(request, texts.button),
            "explanation": text(request, texts.explanation),
        }
        if request.method == "GET":
            token = request.query_params.get("token", "")[:200]
            return self.render(request, "mailed_link.html", token=token, **values), {}
        form = await self.form(request)
        if form is None:
            return self.refused_form(request), {}
        token = form.get("token", "")[:200]
        try:
            result = await self.call(request, operation, {"input": {"token": token}})
        except ApiUnavailable:
            return self.unavailable(request), {}
        payload = next(iter(result.data.values()), None) or {}
        if result.errors or payload.get("errors"):
            problems = problem_texts(request, payload.get("errors") or result.errors)
            return self.render(request, "mailed_link.html", 400, problems=problems, token=token, **values), {}
        return None, payload

    async def verify_email(self, request: Request) -> Response:
        page, payload = await self.mailed_link(request, "VerifyEmail", VERIFY_EMAIL)
        if page is not None:
            return page
        notice = text(request, "Your address %(email)s is verified.", email=payload["user"]["email"])
        return self.render(
            request, "mailed_link.html", done=True, heading=text(request, VERIFY_EMAIL.heading), notice=notice
        )

    async def unlock_account(self, request: Request) -> Response:
        page, _ = await self.mailed_link(request, "UnlockAccount", UNLOCK_ACCOUNT)
        if page is not None:
            return page
        notice = text(request, "Your account is unlocked: sign in again.")
        return self.render(request, "sign_in.html", email="", next="/", notice=notice)

    async def confirm_registration(self, request: Request) -> Response:
        page, payload = await self.mailed_link(request, "ConfirmRegistration", CONFIRM_REGISTRATION)
        return page if page is not None else self.start_session(redirect("/"), payload)

    async def invitation_page(self, request: Request, token: str | None = None, **values: Any) -> Response:
        """A partner's invitation: who invites, for which address and organization; the form to accept."""
        token = (token or request.query_params.get("token", ""))[:200]
        try:
            result = await self.call(request, "AcceptInvitationPage", {"token": token})
        except ApiUnavailable:
            return self.unavailable(request)
        invitation = result.data.get("invitationPreview")
        closed = text(request, INVITATION_CLOSED.get(invitation["status"], "")) if invitation else ""
        here = f"/invitations/accept?{urlencode({'token': token})}"
        return self.render(
            request,
            "accept_invitation.html",
            viewer=result.data.get("viewer"),
            invitation=invitation,
            closed=closed,
            token=token,
            here=here,
            **values,
        )

    async def accept_invitation(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.refused_form(request)
        token = form.get("token", "")[:200]
        signed_in = bool(request.cookies.get(security.SESSION_COOKIE))
        account = {} if signed_in else {"name": form.get("name", "")[:200], "password": form.get("password", "")[:1024]}
        variables = {"input": {"token": token, "organizationName": form.get("organization_name", "")[:200], **account}}
        try:
            result = await self.call(request, "AcceptInvitation", variables)
        except ApiUnavailable:
            return self.unavailable(request)
        payload = result.data.get("acceptInvitation") or {}
        if result.errors or payload.get("errors"):
            problems = problem_texts(request, payload.get("errors") or result.errors)
            return await self.invitation_page(request, token, problems=problems)
        return self.start_session(redirect("/"), payload) if payload.get("token") else redirect("/")

    async def accept_membership(self, request: Request) -> Response:
        """An invitation to join an organization: accepted signed in with the invited address."""
        if not request.cookies.get(security.SESSION_COOKIE):
            here = f"/memberships/accept?{urlencode({'token': request.query_params.get('token', '')[:200]})}"
            return redirect(f"/sign-in?{urlencode({'next': here})}")
        page, _ = await self.mailed_link(request, "AcceptMembership", ACCEPT_MEMBERSHIP)
        return page if page is not None else redirect("/")

    async def change_language(self, request: Request) -> Response:
        form = await self.form(request)
        if form is None:
            return self.refused_form(request)
        response = redirect(security.local_path(form.get("next")))
        if form.get("language") in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE, form["language"], max_age=365 * 86400, samesite="lax", secure=self.secure, path="/"
            )
        return response

    def unavailable(self, request: Request) -> Response:
        return self.render(
            request,
            "problem.html",
            status_code=503,
            heading=text(request, "The portal is unavailable"),
            message=text(request, "The service does not answer at the moment; try again shortly."),
        )
