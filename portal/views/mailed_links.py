"""The pages mails link to: a button to press, not an action on opening (mail scanners open links,
people press buttons). Address verification, unlocking, confirming a registration, a partner's
invitation, a membership."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal import security
from partner_portal.portal.i18n import N_
from partner_portal.portal.pages import redirect, text

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal


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


async def mailed_link(
    portal: Portal, request: Request, operation: str, texts: MailedLink
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
        return portal.render(request, "mailed_link.html", token=token, **values), {}
    form = await portal.form(request)
    token = form.get("token", "")[:200]
    payload, problems = await portal.send(request, operation, {"input": {"token": token}})
    if problems:
        return portal.render(request, "mailed_link.html", 400, problems=problems, token=token, **values), {}
    return None, payload


async def verify_email(portal: Portal, request: Request) -> Response:
    page, payload = await mailed_link(portal, request, "VerifyEmail", VERIFY_EMAIL)
    if page is not None:
        return page
    notice = text(request, "Your address %(email)s is verified.", email=payload["user"]["email"])
    return portal.render(
        request, "mailed_link.html", done=True, heading=text(request, VERIFY_EMAIL.heading), notice=notice
    )


async def unlock_account(portal: Portal, request: Request) -> Response:
    page, _ = await mailed_link(portal, request, "UnlockAccount", UNLOCK_ACCOUNT)
    if page is not None:
        return page
    notice = text(request, "Your account is unlocked: sign in again.")
    return portal.render(request, "sign_in.html", email="", next="/", notice=notice)


async def confirm_registration(portal: Portal, request: Request) -> Response:
    page, payload = await mailed_link(portal, request, "ConfirmRegistration", CONFIRM_REGISTRATION)
    return page if page is not None else portal.start_session(redirect("/"), payload)


async def invitation_page(portal: Portal, request: Request, token: str | None = None, **values: Any) -> Response:
    """A partner's invitation: who invites, for which address and organization; the form to accept."""
    token = (token or request.query_params.get("token", ""))[:200]
    result = await portal.call(request, "AcceptInvitationPage", {"token": token})
    invitation = result.data.get("invitationPreview")
    closed = text(request, INVITATION_CLOSED.get(invitation["status"], "")) if invitation else ""
    here = f"/invitations/accept?{urlencode({'token': token})}"
    return portal.render(
        request,
        "accept_invitation.html",
        viewer=result.data.get("viewer"),
        invitation=invitation,
        closed=closed,
        token=token,
        here=here,
        **values,
    )


async def accept_invitation(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    token = form.get("token", "")[:200]
    signed_in = bool(request.cookies.get(security.SESSION_COOKIE))
    account = {} if signed_in else {"name": form.get("name", "")[:200], "password": form.get("password", "")[:1024]}
    variables = {"input": {"token": token, "organizationName": form.get("organization_name", "")[:200], **account}}
    payload, problems = await portal.send(request, "AcceptInvitation", variables)
    if problems:
        return await invitation_page(portal, request, token, problems=problems)
    return portal.start_session(redirect("/"), payload) if payload.get("token") else redirect("/")


async def accept_membership(portal: Portal, request: Request) -> Response:
    """An invitation to join an organization: accepted signed in with the invited address."""
    if not request.cookies.get(security.SESSION_COOKIE):
        here = f"/memberships/accept?{urlencode({'token': request.query_params.get('token', '')[:200]})}"
        return redirect(f"/sign-in?{urlencode({'next': here})}")
    page, _ = await mailed_link(portal, request, "AcceptMembership", ACCEPT_MEMBERSHIP)
    return page if page is not None else redirect("/")


ROUTES = [
    ("/email/verify", verify_email, ["GET", "POST"]),
    ("/unlock", unlock_account, ["GET", "POST"]),
    ("/register/confirm", confirm_registration, ["GET", "POST"]),
    ("/invitations/accept", invitation_page, ["GET"]),
    ("/invitations/accept", accept_invitation, ["POST"]),
    ("/memberships/accept", accept_membership, ["GET", "POST"]),
]
