"""The partner side: the partner an actor acts for, the partner whose figures it reads, and what a
customer's grant still lets its service partner do.

Each function either returns what the operation acts through or raises an `AccessError`. The
partner profile they need is read here, with a statement built once (`models/compiled.py`).
"""

from __future__ import annotations

from typing import Any

from partner_portal.models.clock import now
from partner_portal.models.compiled import CompiledValues
from partner_portal.models.enums import Program
from partner_portal.models.partners import PartnerProfile, ProgramEnrollment
from partner_portal.permissions import policy, scoping
from partner_portal.permissions.actor import Actor, MembershipInfo
from partner_portal.permissions.enums import (
    DelegatedPermission,
    OperatorPermission,
    PartnerPermission,
)
from partner_portal.permissions.errors import Missing, NotFound
from partner_portal.permissions.refusals import Refusal, needed_permission
from partner_portal.permissions.verified_email import require_verified_email

PROFILE_FIELDS = ("id", "organization_id", "code", "payout_currency", "listed_in_directory", "tier", "approved_at")

# Read on every partner-side request: built once.
_PROFILE_LOOKUP = CompiledValues(
    PartnerProfile,
    PROFILE_FIELDS,
    lambda organization_id: PartnerProfile.filter(organization_id=organization_id).limit(1).values(*PROFILE_FIELDS),
    stand_ins=(-7_346_219,),
)


async def partner_profile(organization_id: int) -> dict[str, Any] | None:
    rows = await _PROFILE_LOOKUP.rows(organization_id)
    return rows[0] if rows else None


async def programs_of(organization_id: int) -> list[str]:
    return sorted(await ProgramEnrollment.filter(partner_id=organization_id).values_list("program", flat=True))


def require_partner(profile_field: object, organization_id: int) -> None:
    """FORBIDDEN (missing PARTNER_STATUS) unless the organization's partner profile (or a field of it) was found."""
    if profile_field is None:
        raise Refusal(Missing("PARTNER_STATUS"), organization_id)


async def partner_side_membership(actor: Actor, partner_id: int | None, permission: str) -> MembershipInfo:
    """The membership the actor acts through on the partner side, holding `permission`; whether its
    organization is a partner is the caller's to check (`acting_partner`, `require_partner`).

    No organization: NO_ORGANIZATION; not a member: NOT_FOUND, or FORBIDDEN where the actor
    sees the organization (`scoping.acting_membership`); an unverified address: FORBIDDEN (missing
    VERIFIED_EMAIL, `permissions/verified_email.py`); lacking the permission: FORBIDDEN.
    """
    membership = await scoping.acting_membership(actor, partner_id, needed_permission(permission))
    if membership.management_session_id is not None:
        raise Refusal(
            Missing("OUTSIDE_MANAGEMENT_SESSION"),
            membership.organization_id,
            because="A management session acts on the customer, never on the partner side.",
        )
    await require_verified_email(actor, "acting for a partner organization")
    policy.require_permission(membership, permission)
    return membership


async def acting_partner(
    actor: Actor, partner_id: int | None, permission: str, program: Program | None = None
) -> tuple[MembershipInfo, dict[str, Any]]:
    """The actor's membership in an approved partner and the partner's profile.

    As `partner_side_membership`, and FORBIDDEN when the organization is no partner (in that program).
    """
    membership = await partner_side_membership(actor, partner_id, permission)
    profile = await partner_profile(membership.organization_id)
    require_partner(profile, membership.organization_id)
    if program is not None and program not in await programs_of(membership.organization_id):
        raise Refusal(Missing("PROGRAM", program.value), membership.organization_id)
    return membership, profile


async def readable_partner(
    actor: Actor, partner_id: int | None, operator_permission: OperatorPermission
) -> dict[str, Any]:
    """The profile of the partner whose figures the actor reads (its `organization_id`, payout
    currency and tier come along): operators with `operator_permission` name any partner (NOT_FOUND
    when it is none); its MANAGE_PARTNER_PORTAL holders read their own."""
    if partner_id is not None and await policy.is_operator_with(actor, operator_permission):
        profile = await partner_profile(partner_id)
        if profile is None:
            raise NotFound()
        return profile
    _, profile = await acting_partner(actor, partner_id, PartnerPermission.MANAGE_PARTNER_PORTAL)
    return profile


async def listed_partner(actor: Actor, partner_id: int | None, operator_permission: OperatorPermission) -> int | None:
    """The partner whose list the actor reads: operators with `operator_permission` read every
    partner's (None) or the one they name; MANAGE_PARTNER_PORTAL holders their own partner's."""
    if await policy.is_operator_with(actor, operator_permission):
        return partner_id
    membership, _ = await acting_partner(actor, partner_id, PartnerPermission.MANAGE_PARTNER_PORTAL)
    return membership.organization_id


async def readable_program_partner(
    actor: Actor, partner_id: int | None, operator_permission: OperatorPermission, program: Program
) -> int:
    """The partner in `program` the actor reads for: its own (MANAGE_PARTNER_PORTAL), or any partner
    in the program it names when it is an operator with `operator_permission` and no member of it."""
    if (
        partner_id is not None
        and await policy.is_operator_with(actor, operator_permission)
        and await policy.membership_in(actor, partner_id) is None
    ):
        if not await ProgramEnrollment.filter(partner_id=partner_id, program=program).exists():
            raise NotFound()
        return partner_id
    membership, _ = await acting_partner(actor, partner_id, PartnerPermission.MANAGE_PARTNER_PORTAL, program)
    return membership.organization_id


async def report_partner(actor: Actor, partner_id: int | None) -> tuple[int | None, bool]:
    """(the partner, whether the actor reads every partner's reports). Those who read all
    (`policy.reads_all_reports`) may name a partner (NOT_FOUND when it is none); MANAGE_PARTNER_PORTAL
    holders read their own partner (default: their first organization)."""
    if await policy.reads_all_reports(actor):
        if partner_id is not None and not await PartnerProfile.filter(organization_id=partner_id).exists():
            raise NotFound()
        return partner_id, True
    membership, _ = await acting_partner(actor, partner_id, PartnerPermission.MANAGE_PARTNER_PORTAL)
    return membership.organization_id, False


# --- what a customer's grant lets its partner do -------------------------------------------------------


def grant_in_force(row: dict[str, Any]) -> list[str]:
    """The delegated permissions of a relationship row, empty once the grant has expired."""
    expires_at = row["grant_expires_at"]
    if expires_at is not None and expires_at <= now():
        return []
    return sorted(row["grant_permissions"])


def grant_lets_manage_members(row: dict[str, Any] | None) -> bool:
    """Whether a current relationship row (None: ended) still lets the partner manage the customer's
    members: memberships its staff invited end, and their open invitations stop working, without it."""
    return row is not None and DelegatedPermission.MANAGE_MEMBERS in grant_in_force(row)
