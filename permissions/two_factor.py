"""Two-factor sign-in as a requirement the vendor may set (`REQUIRE_TWO_FACTOR`).

With `operators`, operator permissions are in force only in a session that proved a second factor;
with `management-sessions`, partner staff open management sessions, and act in them, only from such a
session. Microsoft's GDAP requires multi-factor authentication for delegated administration likewise,
after standing partner rights were abused. A token of the vendor's identity provider counts as proved:
the provider is trusted to have asked for a second factor where the vendor wants one.

Elsewhere the actor's permissions are simply not in force (an operator without a second factor is
treated as no operator); where an operation needs them, the refusal says what is missing:
FORBIDDEN with `missing = SECOND_FACTOR`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from partner_portal.permissions.enums import OperatorPermission, Via
from partner_portal.permissions.errors import Forbidden, Missing
from partner_portal.settings import TwoFactorRequirement

if TYPE_CHECKING:
    from partner_portal.permissions.actor import Actor

SET_UP_FIRST = "Set up two-factor sign-in first"
SIGN_IN_WITH_IT = "Sign in with your second factor"
_WHY = {
    TwoFactorRequirement.OPERATORS: "operators act with their permissions only when signed in with a second factor",
    TwoFactorRequirement.MANAGEMENT_SESSIONS: "partner staff open and act in management sessions only when signed "
    "in with a second factor",
}


def proved(actor: Actor, requirement: TwoFactorRequirement) -> bool:
    """Whether the actor's sign-in meets the vendor's `requirement`: not required, a session that
    proved a second factor, or the identity provider's token."""
    return requirement not in actor.two_factor_required or actor.via is Via.JWT or actor.two_factor_at is not None


def require(actor: Actor, requirement: TwoFactorRequirement) -> None:
    """FORBIDDEN, missing SECOND_FACTOR, unless `proved`; the message says the next step: set a
    second factor up, or sign in again with it."""
    if not proved(actor, requirement):
        enabled = (actor.user_row or {}).get("totp_enabled_at") is not None
        step = SIGN_IN_WITH_IT if enabled else SET_UP_FIRST
        raise Forbidden(f"{step}: {_WHY[requirement]}.", missing=Missing("SECOND_FACTOR"))


async def refuse_withheld_operator_permission(actor: Actor, permission: OperatorPermission) -> None:
    """Where `permission` is not in force: SECOND_FACTOR when the actor holds it but the session has
    not proved the second factor the vendor requires of operators."""
    if permission in await actor.held_operator_permissions():
        require(actor, TwoFactorRequirement.OPERATORS)


async def refuse_withheld_delegation(actor: Actor, organization_id: int) -> None:
    """Where the actor does not act in the organization: SECOND_FACTOR when it has an open management
    session there that waits for the second factor the vendor requires of management sessions."""
    if organization_id in await actor.held_delegations():
        require(actor, TwoFactorRequirement.MANAGEMENT_SESSIONS)
