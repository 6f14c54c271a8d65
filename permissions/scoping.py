"""Querysets restricted to what an actor may see.

Every read in `resolvers/` starts here, so an object outside the actor's lane is
simply absent: NOT_FOUND, the same as an object that does not exist.
"""

from __future__ import annotations

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from models.audit import AuditEvent
from models.identity import ApiKey, Operator, User
from models.organizations import Membership, Organization
from permissions.actor import Actor, MembershipInfo
from permissions.enums import ApiKeyScope, OperatorPermission, Role
from permissions.policy import effective_permissions, is_operator_with


async def load_memberships(user_id: int) -> dict[int, MembershipInfo]:
    """All of a user's memberships in one query."""
    rows = await Membership.filter(user_id=user_id).values("id", "organization_id", "role", "permissions")
    memberships = {}
    for row in rows:
        role = Role(row["role"])
        memberships[row["organization_id"]] = MembershipInfo(
            membership_id=row["id"],
            organization_id=row["organization_id"],
            role=role,
            permissions=effective_permissions(role, row["permissions"]),
        )
    return memberships


async def load_operator_permissions(user_id: int) -> frozenset[OperatorPermission]:
    row = await Operator.filter(user_id=user_id).first().values("permissions")
    if row is None:
        return frozenset()
    return frozenset(OperatorPermission(p) for p in row["permissions"])


async def _is_any_operator(actor: Actor) -> bool:
    return bool(actor.user_id is not None and await actor.operator_permissions())


async def visible_organizations(actor: Actor) -> QuerySet[Organization]:
    """Operators see every organization; users the ones they belong to."""
    if await _is_any_operator(actor):
        return Organization.all()
    return Organization.filter(id__in=list(await actor.memberships()))


async def visible_memberships(actor: Actor) -> QuerySet[Membership]:
    """Members see the members of their organizations; operators every membership."""
    if await _is_any_operator(actor):
        return Membership.all()
    return Membership.filter(organization_id__in=list(await actor.memberships()))


async def visible_users(actor: Actor) -> QuerySet[User]:
    """A user sees itself and the people it shares an organization with."""
    if actor.user_id is None:
        return User.none()
    if await _is_any_operator(actor):
        return User.all()
    colleagues = Membership.filter(organization_id__in=list(await actor.memberships())).values("user_id")
    return User.filter(Q(id=actor.user_id) | Q(id__in=Subquery(colleagues)))


async def visible_audit_events(actor: Actor) -> QuerySet[AuditEvent]:
    """Operators and `reports:read` API keys read every event; administrators their organization's."""
    if ApiKeyScope.REPORTS_READ in actor.scopes or await is_operator_with(
        actor, OperatorPermission.VIEW_ALL_REPORTS
    ):
        return AuditEvent.all()
    administered = [
        org_id for org_id, m in (await actor.memberships()).items() if m.role is Role.ADMINISTRATOR
    ]
    return AuditEvent.filter(organization_id__in=administered)


async def visible_api_keys(actor: Actor) -> QuerySet[ApiKey]:
    if await is_operator_with(actor, OperatorPermission.MANAGE_PROGRAMS):
        return ApiKey.all()
    return ApiKey.none()
