"""Pure decisions: given what is known about the actor, may it do this?

Every function either returns a decision or raises an `AccessError`; none touches
the database, so the same rules serve GraphQL, HTTP endpoints, jobs and the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable

from partner_portal.permissions import two_factor
from partner_portal.permissions.actor import Actor, MembershipInfo
from partner_portal.permissions.enums import (
    MEMBER_PERMISSIONS,
    ApiKeyScope,
    OperatorPermission,
    OrganizationPermission,
    PartnerPermission,
    Role,
)
from partner_portal.permissions.errors import Missing, NoOrganization, NotFound, Unauthenticated
from partner_portal.permissions.refusals import Refusal, lacking_permission

# A partner permission includes the narrower ones below it.
PARTNER_IMPLIES: dict[str, frozenset[str]] = {
    PartnerPermission.MANAGE_PARTNER_PORTAL: frozenset(PartnerPermission),
    PartnerPermission.CREATE_CUSTOMER_ORGANIZATIONS: frozenset(
        {PartnerPermission.CREATE_CUSTOMER_ORGANIZATIONS, PartnerPermission.ADMINISTER_CUSTOMERS}
    ),
}


def effective_permissions(role: Role, stored: Iterable[str]) -> frozenset[str]:
    """An administrator holds everything; a partner permission brings the ones it includes."""
    if role is Role.ADMINISTRATOR:
        return MEMBER_PERMISSIONS
    held = set(stored) & MEMBER_PERMISSIONS
    for permission in list(held):
        held |= PARTNER_IMPLIES.get(permission, frozenset())
    return frozenset(held)


def require_user(actor: Actor) -> int:
    """The signed-in user's id, or UNAUTHENTICATED (API keys are not users)."""
    if actor.user_id is None:
        raise Unauthenticated(actor.rejected_credentials)
    return actor.user_id


def require_scope(actor: Actor, scope: ApiKeyScope) -> None:
    if actor.api_key_id is None:
        raise Unauthenticated(actor.rejected_credentials or "This operation needs an API key.")
    if scope not in actor.scopes:
        raise Refusal(Missing("API_KEY_SCOPE", scope.value))


async def require_operator(actor: Actor, permission: OperatorPermission) -> None:
    require_user(actor)
    if permission not in await actor.operator_permissions():
        await two_factor.refuse_withheld_operator_permission(actor, permission)
        raise Refusal(Missing("OPERATOR_PERMISSION", permission.value))


async def is_operator_with(actor: Actor, permission: OperatorPermission) -> bool:
    return actor.user_id is not None and permission in await actor.operator_permissions()


async def membership_in(actor: Actor, organization_id: int) -> MembershipInfo | None:
    """The actor's own membership in the organization, else its delegated access through an
    open management session, else None."""
    membership = (await actor.memberships()).get(organization_id)
    if membership is None:
        membership = (await actor.delegations()).get(organization_id)
    return membership


async def acting_membership(actor: Actor, organization_id: int | None) -> MembershipInfo:
    """The membership (or management session) the actor acts through.

    Without an organization id, the actor's first organization (the one joined first);
    no organization at all is NO_ORGANIZATION; an organization the actor is not in is
    NOT_FOUND, exactly like one that does not exist. Resolvers call `scoping.acting_membership`,
    which turns that into FORBIDDEN where the actor sees the organization.
    """
    require_user(actor)
    if organization_id is None:
        memberships = await actor.memberships()
        if not memberships:
            raise NoOrganization()
        return min(memberships.values(), key=lambda m: m.membership_id or 0)
    membership = await membership_in(actor, organization_id)
    if membership is None:
        raise NotFound()
    return membership


def require_permission(membership: MembershipInfo, permission: str) -> None:
    """FORBIDDEN, naming the permission (in a management session: the customer's grant), unless held."""
    if permission not in membership.permissions:
        raise Refusal(lacking_permission(membership, permission), membership.organization_id)


def require_administrator(membership: MembershipInfo) -> None:
    if membership.role is not Role.ADMINISTRATOR:
        raise Refusal(Missing("ADMINISTRATOR"), membership.organization_id)


def require_member_manager(membership: MembershipInfo) -> None:
    require_permission(membership, OrganizationPermission.MANAGE_MEMBERS)


def check_grant(granter: MembershipInfo, current: Iterable[str], requested: Iterable[str]) -> None:
    """May `granter` change a member's permissions from `current` to `requested`?

    Nobody grants or takes away a permission it does not hold itself; partner
    permissions are set by administrators and MANAGE_PARTNER_PORTAL holders only.
    """
    changed = set(current) ^ set(requested)
    not_held = sorted(changed - granter.permissions)
    if not_held:
        raise Refusal(
            lacking_permission(granter, not_held[0]),
            granter.organization_id,
            because=f"Nobody grants or withdraws a permission they do not hold; you lack {', '.join(not_held)}.",
        )
    if changed & set(PartnerPermission):
        require_permission(granter, PartnerPermission.MANAGE_PARTNER_PORTAL)
    if changed - set(PartnerPermission):
        require_member_manager(granter)


def check_role_change(granter: MembershipInfo, target_role: Role, new_role: Role) -> None:
    """Only administrators make or unmake administrators; managers change members only."""
    if Role.ADMINISTRATOR in (target_role, new_role):
        require_administrator(granter)
    else:
        require_member_manager(granter)


def check_removal(remover: MembershipInfo, target_role: Role) -> None:
    if target_role is Role.ADMINISTRATOR:
        require_administrator(remover)
    else:
        require_member_manager(remover)


def is_last_administrator(target_role: Role, administrator_count: int) -> bool:
    """True when taking this member's administrator role would leave the organization without one."""
    return target_role is Role.ADMINISTRATOR and administrator_count <= 1


async def manages_webhooks(actor: Actor) -> bool:
    """API keys with webhooks:manage and operators with MANAGE_PROGRAMS administer every subscription."""
    if actor.api_key_id is not None:
        return ApiKeyScope.WEBHOOKS_MANAGE in actor.scopes
    return await is_operator_with(actor, OperatorPermission.MANAGE_PROGRAMS)


async def require_webhook_manager(actor: Actor) -> None:
    """As `manages_webhooks`, refusing with FORBIDDEN (no credentials: UNAUTHENTICATED)."""
    if actor.api_key_id is not None:
        require_scope(actor, ApiKeyScope.WEBHOOKS_MANAGE)
    else:
        await require_operator(actor, OperatorPermission.MANAGE_PROGRAMS)


async def reads_all_reports(actor: Actor) -> bool:
    """Reports: API keys with `reports:read` and operators with VIEW_ALL_REPORTS read every
    partner's (True); any other API key is FORBIDDEN; no credentials are UNAUTHENTICATED;
    other users (False) read the partners they hold MANAGE_PARTNER_PORTAL in."""
    if actor.api_key_id is not None:
        require_scope(actor, ApiKeyScope.REPORTS_READ)
        return True
    require_user(actor)
    return await is_operator_with(actor, OperatorPermission.VIEW_ALL_REPORTS)


def require_all_reports(reads_all: bool, what: str) -> None:
    """Comparing partners (the leaderboard, a breakdown by partner) is for those who read them all."""
    if not reads_all:
        raise Refusal(
            Missing("OPERATOR_PERMISSION", OperatorPermission.VIEW_ALL_REPORTS.value),
            because=f"{what} compares partners; API keys with the scope {ApiKeyScope.REPORTS_READ.value} read it too.",
        )
