"""What the portal says when the API refuses: the API's messages are English, so the codes a person
meets on the portal's forms have their own (translated) message; any other falls back to the API's."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from partner_portal.portal.i18n import N_
from partner_portal.portal.pages import label, language_of, text

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
    "BELOW_THRESHOLD": N_("Your approved balance does not reach the payout threshold yet."),
    "NO_PAYOUT_SETTINGS": N_("Set how you want to be paid first."),
    "NO_EXCHANGE_RATE": N_("The payout threshold in your currency is not known yet; try again later."),
    "LINK_CODE_TAKEN": N_("Another affiliate link uses this code: choose another."),
    "EMAIL_TAKEN": N_("An account with this email address exists already."),
    "ALREADY_VERIFIED": N_("Your email address is verified already."),
    "TWO_FACTOR_ENABLED": N_("Two-factor sign-in is on already."),
    "TWO_FACTOR_NOT_ENABLED": N_("Two-factor sign-in is not on: set it up first."),
    "LAST_ADMINISTRATOR": N_(
        "You are the only administrator of an organization with other members: make another member administrator first."
    ),
    "OPERATOR_ACCOUNT": N_("The vendor's staff cannot delete their account here; ask another operator."),
}


# A FORBIDDEN's `extensions.missing.kind` → why the person may not (`%(name)s`: the missing permission,
# program or scope, as its label). The API's own message names the organization; these say what to do.
REFUSALS = {
    "ORGANIZATION_PERMISSION": N_("You need the permission “%(name)s” in this organization."),
    "MEMBERSHIP": N_("Only members of the organization may do this."),
    "ADMINISTRATOR": N_("Only the organization's administrators may do this."),
    "PARTNER_PERMISSION": N_("You need the partner permission “%(name)s”; ask your partner administrator."),
    "PARTNER_STATUS": N_("Only approved partners may do this."),
    "PROGRAM": N_("Your organization is not in the %(name)s program."),
    "GRANT": N_("The customer has not granted “%(name)s” to you: only the customer can change that."),
    "OPERATOR_PERMISSION": N_("Only the vendor's staff may do this."),
    "API_KEY_SCOPE": N_("The API key lacks the scope %(name)s."),
    "VERIFIED_EMAIL": N_("Verify your email address first: we sent you a link."),
    "SECOND_FACTOR": N_("Turn on two-factor sign-in and sign in with it first."),
    "OUTSIDE_MANAGEMENT_SESSION": N_("This is not possible in a management session."),
}


def refusal_text(request: Request, missing: dict[str, Any]) -> str | None:
    """Why the API refused, from a FORBIDDEN's `extensions.missing`; None for a kind it does not know."""
    message = REFUSALS.get(str(missing.get("kind")))
    if message is None:
        return None
    return text(request, message, name=label(language_of(request), missing.get("name") or ""))


def problem_texts(request: Request, errors: list[dict[str, Any]]) -> list[str]:
    """The messages to show for a payload's `errors` or a response's GraphQL errors."""
    shown = []
    for error in errors:
        extensions = error.get("extensions") or {}
        code = error.get("code") or extensions.get("code")
        refusal = refusal_text(request, extensions["missing"]) if isinstance(extensions.get("missing"), dict) else None
        if refusal:
            shown.append(refusal)
        else:
            shown.append(text(request, MESSAGES[code]) if code in MESSAGES else error.get("message", ""))
    return shown or [text(request, "That did not work; try again.")]
