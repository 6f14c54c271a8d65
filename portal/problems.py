"""What the portal says when the API refuses: the API's messages are English, so the codes a person
meets on the portal's forms have their own (translated) message; any other falls back to the API's."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from partner_portal.portal.pages import N_, text

# UserErrorCode (payload errors) and extensions.code (GraphQL errors) → the portal's message.
MESSAGES = {
    "INVALID_EMAIL": N_("The email address is not valid."),
    "PASSWORD_TOO_SHORT": N_("The password is too short: use at least 10 characters."),
    "PASSWORD_TOO_COMMON": N_("The password is too easy to guess: choose another."),
    "INVALID_CREDENTIALS": N_("The email address or the password is wrong."),
    "TOO_MANY_ATTEMPTS": N_("Too many failed sign-ins: the address is locked for a while."),
    "INVALID_TOKEN": N_("This link is not valid. Ask for a new one."),
    "TOKEN_EXPIRED": N_("This link has expired. Ask for a new one."),
    "TOKEN_USED": N_("This link was used already; it works once."),
    "INVALID_CODE": N_("The code is not right. Enter the code your app shows now."),
    "INVITATION_EXPIRED": N_("This invitation has expired: ask the partner who invited you to send it again."),
    "INVITATION_REVOKED": N_("The partner withdrew this invitation."),
    "INVITATION_USED": N_("This invitation was accepted already: sign in instead."),
    "THROTTLED": N_("Too many requests; try again in a few minutes."),
}


def problem_texts(request: Request, errors: list[dict[str, Any]]) -> list[str]:
    """The messages to show for a payload's `errors` or a response's GraphQL errors."""
    shown = []
    for error in errors:
        code = error.get("code") or error.get("extensions", {}).get("code")
        shown.append(text(request, MESSAGES[code]) if code in MESSAGES else error.get("message", ""))
    return shown or [text(request, "That did not work; try again.")]
