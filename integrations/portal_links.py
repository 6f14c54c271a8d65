"""The pages every mailed link points to: one list, so mails, docs and the portal agree.

Each page lives at `PUBLIC_URL` + its path, with the token (or other values) as query parameters. The
server's portal serves them (issue 17); a vendor who runs its own frontend serves the same paths, and
docs/mail-links.md names them with what each page does with its parameters.
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlencode


class PortalPage(StrEnum):
    """A page that a mail links to, by its path."""

    ACCEPT_INVITATION = "/invitations/accept"  # token: accept a partner's invitation (customer sign-up)
    ACCEPT_MEMBERSHIP = "/memberships/accept"  # token: join an organization
    CONFIRM_REGISTRATION = "/register/confirm"  # token: confirm a registration (CONFIRM_REGISTRATIONS)
    UNLOCK_ACCOUNT = "/unlock"  # token: end a sign-in lock
    RESET_PASSWORD = "/password/reset"  # token: choose a new password
    VERIFY_EMAIL = "/email/verify"  # token: verify an address (after registering or changing it)
    SIGN_IN = "/sign-in"  # no parameters: where a notice mail sends its reader


def portal_link(public_url: str, page: PortalPage, **params: str) -> str:
    """The absolute address of `page` under `public_url`, with `params` as its query."""
    query = f"?{urlencode(params)}" if params else ""
    return f"{public_url.rstrip('/')}{page.value}{query}"
