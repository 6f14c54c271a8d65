"""What an account may not do until its email address is verified.

An address is verified (`User.email_verified_at`) when its owner proved that mail to it arrives: the
link mailed after `register` or `changeEmail`, a confirmed registration, an invitation accepted by the
address it was sent to, or an identity provider that says so. Until then the account:

- does not apply for partner status (`requirements.PARTNER_APPLICANT`);
- acts on no partner's side: its partner permissions, the ones its ADMINISTRATOR role brings included,
  are not in force (`in_force`, applied where memberships are loaded), so it is no partner
  administrator, requests no payout, changes no payout settings, invites and administers no customers;
  the partner-side operations refuse it with VERIFIED_EMAIL (`partners.partner_side_membership`).

Everything else (its own organizations as a customer, its profile, verifying) stays open.
"""

from __future__ import annotations

from partner_portal.models.identity import User
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import PartnerPermission
from partner_portal.permissions.errors import Forbidden, Missing

PARTNER_PERMISSIONS = frozenset(PartnerPermission)
_VERIFIED = "email verified"  # the answer kept in `actor.derived` when no user row came with the credentials


def in_force(permissions: frozenset[str], email_verified: bool) -> frozenset[str]:
    """The permissions of a membership that hold: without a verified address, none of the partner side."""
    return permissions if email_verified else permissions - PARTNER_PERMISSIONS


async def email_verified(actor: Actor) -> bool:
    """Whether the signed-in user's address is verified: from the user row the credentials came with,
    else read once per request."""
    row = actor.user_row
    if row is not None and "email_verified_at" in row:
        return row["email_verified_at"] is not None
    if actor.user_id is None:
        return False
    if _VERIFIED not in actor.derived:
        actor.derived[_VERIFIED] = await User.filter(id=actor.user_id, email_verified_at__isnull=False).exists()
    return actor.derived[_VERIFIED]


async def require_verified_email(actor: Actor, action: str) -> None:
    """FORBIDDEN (missing VERIFIED_EMAIL) unless the address is verified; `action` says what waits for it."""
    if not await email_verified(actor):
        raise Forbidden(
            f"Verify your email address first: {action} needs an address proved to be yours. Open the link "
            "mailed to you, or ask for a new one (resendVerificationEmail).",
            missing=Missing("VERIFIED_EMAIL"),
        )
