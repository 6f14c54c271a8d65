"""Organizations and their members: roles, permissions, the last-administrator rule, and the
invitations through which people consent to become members."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.transactions import in_transaction

from partner_portal.integrations.portal_links import PortalPage, portal_link
from partner_portal.models.audit import AuditEvent
from partner_portal.models.clock import now
from partner_portal.models.customers import CustomerRelationship, ManagementSession
from partner_portal.models.enums import MembershipInvitationStatus
from partner_portal.models.identity import User
from partner_portal.models.organizations import Membership, MembershipInvitation, Organization
from partner_portal.permissions import policy, scoping
from partner_portal.permissions.actor import Actor, MembershipInfo
from partner_portal.permissions.enums import Role, Via
from partner_portal.permissions.errors import AccessError, Missing, NotFound, Throttled
from partner_portal.permissions.partners import grant_lets_manage_members
from partner_portal.permissions.refusals import Refusal
from partner_portal.permissions.requirements import MEMBER, MEMBER_MANAGER, SETTINGS_MANAGER, SIGNED_IN
from partner_portal.resolvers import audit
from partner_portal.resolvers.email_verification import mark_verified
from partner_portal.resolvers.errors import UserErrorCode, UserInputError, fail
from partner_portal.resolvers.identity import token_digest
from partner_portal.resolvers.mail import MailLimits, queue_mail
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.resolvers.per_parent import count_per_parent, page_per_parent
from partner_portal.resolvers.validation import (
    Checks,
    clean_country,
    clean_language,
    clean_name,
    clean_website,
    normalize_email,
)
from partner_portal.settings import Settings

ORGANIZATION_FIELDS = ("id", "name", "website", "country", "language", "created_at")
MEMBERSHIP_FIELDS = ("id", "organization_id", "user_id", "role", "permissions", "created_at", "relationship_id")
MEMBERSHIP_INVITATION_FIELDS = (
    "id",
    "organization_id",
    "email",
    "role",
    "permissions",
    "status",
    "expires_at",
    "created_at",
    "decided_at",
    "relationship_id",
)
MEMBERSHIP_INVITATION_PREFIX = "ppm_"
MAX_LISTED_MEMBERSHIPS = 100  # `User.memberships`, oldest first; `organizations` pages through all
UNSET: Any = object()


# --- validation ----------------------------------------------------------------------


def search_key(name: str) -> str:
    """What name searches compare: case-folded here, because SQLite folds ASCII letters only."""
    return name.casefold()


def customer_names(name: str) -> dict[str, str]:
    """The copies of an organization's name its service-partner relationships keep (for a
    partner's customer list in name order and its search)."""
    return {"customer_name": name, "customer_search_name": search_key(name)}


def _collect(**checks: Any) -> dict[str, Any]:
    """Run each (cleaner, value) pair whose value is set, gathering every problem before failing."""
    collected = Checks()
    for field, (cleaner, value) in checks.items():
        if value is not UNSET:
            collected.run(field, cleaner, value)
    return collected.result()


# --- organizations -------------------------------------------------------------------


async def create_organization(
    actor: Actor,
    *,
    name: str,
    website: str | None = None,
    country: str | None = None,
    language: str = "en",
    affiliate_token: str | None = None,
    affiliate_cookie: str | None = None,
    settings: Any = None,
) -> dict[str, Any]:
    """A new organization with the creator as its administrator (and its AFFILIATE referral when
    `affiliate_token`, else the request's `affiliate_cookie`, is a valid click within the window:
    resolvers/affiliates.py). The row holds besides `attribution`: what the token did, or None."""
    user_id = await SIGNED_IN.enforce(actor)
    values = _collect(
        name=(clean_name, name),
        website=(clean_website, website),
        country=(clean_country, country),
        language=(clean_language, language),
    )
    async with in_transaction():
        if settings is not None:  # (the demo and property tests seed without limits)
            await _check_room_for_an_organization(user_id, settings)
        organization = await Organization.create(**values, search_name=search_key(values["name"]))
        membership = await Membership.create(
            organization_id=organization.id, user_id=user_id, role=Role.ADMINISTRATOR, permissions=[]
        )
        await audit.record(
            actor,
            "organization.create",
            "Organization",
            organization.id,
            organization_id=organization.id,
            changes=values,
        )
        await audit.record(
            actor,
            "membership.create",
            "Membership",
            membership.id,
            organization_id=organization.id,
            changes={"role": Role.ADMINISTRATOR.value},
        )
        attribution = None
        if (affiliate_token or affiliate_cookie) and settings is not None:
            from partner_portal.resolvers.affiliates import refer_new_organization  # noqa: PLC0415 — avoids an import cycle

            attribution = await refer_new_organization(settings, organization.id, affiliate_token, affiliate_cookie)
    actor.forget_memberships()
    return {**{field: getattr(organization, field) for field in ORGANIZATION_FIELDS}, "attribution": attribution}


async def _check_room_for_an_organization(user_id: int, settings: Settings) -> None:
    """MAX_ORGANIZATIONS_PER_USER (LIMIT_REACHED) and ORGANIZATIONS_PER_HOUR (THROTTLED),
    counted under a lock of the user's row, so that one user's concurrent requests queue."""
    await User.select_for_update().filter(id=user_id).first()
    held = await Membership.filter(user_id=user_id).values_list("organization_id", flat=True)
    if len(held) >= settings.max_organizations_per_user:
        raise fail(
            None,
            UserErrorCode.LIMIT_REACHED,
            f"You belong to {len(held)} organizations, the most allowed: leave one before creating another.",
        )
    # the creation events of organizations the user still belongs to (indexed by organization)
    hour_ago = now() - timedelta(hours=1)
    created = (
        await AuditEvent.filter(
            organization_id__in=held, actor_user_id=user_id, action="organization.create", created_at__gt=hour_ago
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    rate = settings.organizations_per_hour
    if len(created) >= rate:
        minutes = math.ceil((created[len(created) - rate] - hour_ago).total_seconds() / 60)
        raise Throttled(
            f"You created {len(created)} organizations in the last hour, the most allowed; "
            f"try again in {minutes} minutes."
        )


async def update_organization(
    actor: Actor,
    organization_id: int,
    *,
    name: Any = UNSET,
    website: Any = UNSET,
    country: Any = UNSET,
    language: Any = UNSET,
) -> dict[str, Any]:
    membership = await SETTINGS_MANAGER.enforce(actor, organization_id)
    values = _collect(
        name=(clean_name, name),
        website=(clean_website, website),
        country=(clean_country, country),
        language=(clean_language, language),
    )
    async with in_transaction():
        organization = await Organization.select_for_update().get(id=organization_id)
        before = {field: getattr(organization, field) for field in values}
        changes = audit.diff(before, values)
        if changes:
            searchable = {"search_name": search_key(values["name"])} if "name" in values else {}
            await Organization.filter(id=organization_id).update(**values, **searchable)
            if "name" in values:
                await CustomerRelationship.filter(customer_id=organization_id).update(**customer_names(values["name"]))
            await audit.record(
                actor, "organization.update", "Organization", organization_id, acting=membership, changes=changes
            )
    return await Organization.filter(id=organization_id).first().values(*ORGANIZATION_FIELDS)


async def get_organization(actor: Actor, organization_id: int) -> dict[str, Any] | None:
    return (
        await (await scoping.visible_organizations(actor))
        .filter(id=organization_id)
        .first()
        .values(*ORGANIZATION_FIELDS)
    )


async def default_organization(actor: Actor) -> dict[str, Any]:
    membership = await MEMBER.enforce(actor, None)
    return await Organization.filter(id=membership.organization_id).first().values(*ORGANIZATION_FIELDS)


async def list_organizations(actor: Actor, *, first: int | None, after: str | None) -> Page:
    await SIGNED_IN.enforce(actor)
    queryset = await scoping.visible_organizations(actor)
    return await paginate(queryset, fields=ORGANIZATION_FIELDS, first=first, after=after)


async def viewer_membership(actor: Actor, organization_id: int) -> MembershipInfo | None:
    """The actor's own membership in an organization (from the per-request cache)."""
    return (await actor.memberships()).get(organization_id)


# --- members -------------------------------------------------------------------------


async def member_pages(
    actor: Actor, organization_ids: list[int], first: int | None, after: str | None
) -> dict[int, Page]:
    """The same page of each organization's members, in one query (`Organization.members` under a list)."""
    return await page_per_parent(
        await scoping.visible_memberships(actor),
        parent="organization_id",
        parents=organization_ids,
        fields=MEMBERSHIP_FIELDS,
        first=first,
        after=after,
    )


async def member_counts(actor: Actor, organization_ids: list[int]) -> dict[int, int]:
    """How many members each organization has that the actor sees, in one query."""
    return await count_per_parent(
        await scoping.visible_memberships(actor), parent="organization_id", parents=organization_ids
    )


async def get_membership(actor: Actor, membership_id: int) -> dict[str, Any] | None:
    return await (await scoping.visible_memberships(actor)).filter(id=membership_id).first().values(*MEMBERSHIP_FIELDS)


def _permission_names(permissions: Iterable[str]) -> list[str]:
    return sorted({str(p) for p in permissions})


async def _target(actor: Actor, membership_id: int) -> tuple[Membership, MembershipInfo]:
    """The membership to change and the actor's own membership in that organization (visible, but
    not a member there: FORBIDDEN, operators do not manage members)."""
    await MEMBER.admit(actor)
    target = await (await scoping.visible_memberships(actor)).filter(id=membership_id).select_for_update().first()
    if target is None:
        raise NotFound()
    return target, await MEMBER.enforce(actor, target.organization_id)


async def _administrator_count(organization_id: int) -> int:
    # Lock the organization row so that concurrent demotions queue on PostgreSQL
    # (SQLite serializes writers anyway).
    await Organization.select_for_update().filter(id=organization_id).first()
    return await Membership.filter(organization_id=organization_id, role=Role.ADMINISTRATOR).count()


def _last_administrator() -> UserInputError:
    return fail(
        None,
        UserErrorCode.LAST_ADMINISTRATOR,
        "An organization needs an administrator: make someone else administrator first.",
    )


@dataclass(frozen=True, slots=True)
class IssuedMembershipInvitation:
    """The invitation and its link token (which only the mail carries to the invitee)."""

    row: dict[str, Any]
    token: str


async def add_member(
    actor: Actor,
    settings: Settings,
    limits: MailLimits | None,
    organization_id: int,
    *,
    email: str,
    role: Role,
    permissions: Iterable[str],
) -> IssuedMembershipInvitation:
    """Invite a person by email to become a member; the membership exists once they accept
    (`accept_membership_invitation`). The answer is the same whether or not the address has an
    account. Invited in a management session, the membership will end with the customer's grant."""
    mine = await MEMBER.enforce(actor, organization_id)
    policy.check_role_change(mine, Role.MEMBER, role)
    requested = _permission_names(permissions)
    policy.check_grant(mine, [], requested)
    normalized = normalize_email(email)
    if (
        mine.partner_organization_id is not None
        and await Membership.filter(organization_id=mine.partner_organization_id, user__email=normalized).exists()
    ):
        # A grant is lent, not given: partner staff never turn it into memberships of their own.
        raise Refusal(
            Missing("OUTSIDE_MANAGEMENT_SESSION"),
            organization_id,
            because="You cannot make yourself or your colleagues members of the customer.",
        )
    if await Membership.filter(organization_id=organization_id, user__email=normalized).exists():
        raise fail("email", UserErrorCode.ALREADY_MEMBER, "This person is a member already.")
    if await MembershipInvitation.filter(
        organization_id=organization_id, email=normalized, status=MembershipInvitationStatus.OPEN, expires_at__gt=now()
    ).exists():
        raise fail(
            "email", UserErrorCode.ALREADY_INVITED, "This address has an open invitation: revoke it to invite again."
        )
    if limits is not None:
        await limits.take_invitation(organization_id, normalized)
    relationship_id = None
    if mine.management_session_id is not None:
        relationship_id = (
            await ManagementSession.filter(id=mine.management_session_id)
            .first()
            .values_list("relationship_id", flat=True)
        )
    token = MEMBERSHIP_INVITATION_PREFIX + secrets.token_urlsafe(32)
    moment = now()
    async with in_transaction():
        invitation = await MembershipInvitation.create(
            organization_id=organization_id,
            email=normalized,
            role=role,
            permissions=requested,
            token_hash=token_digest(token),
            status=MembershipInvitationStatus.OPEN,
            expires_at=moment + settings.invitation_ttl,
            created_by_id=actor.user_id,
            created_at=moment,
            relationship_id=relationship_id,
        )
        row = {field: getattr(invitation, field) for field in MEMBERSHIP_INVITATION_FIELDS}
        await _send_membership_invitation(settings, row, token, actor.user_id, mine.partner_organization_id)
        await audit.record(
            actor,
            "membership_invitation.create",
            "MembershipInvitation",
            invitation.id,
            acting=mine,
            changes={"email": normalized, "role": role.value, "permissions": requested},
        )
    return IssuedMembershipInvitation(row, token)


async def _send_membership_invitation(
    settings: Settings, invitation: dict[str, Any], token: str, inviter_id: int, partner_id: int | None
) -> None:
    names = dict(
        await Organization.filter(id__in=[invitation["organization_id"], partner_id or 0]).values_list("id", "name")
    )
    inviter = await User.filter(id=inviter_id).first().values("name")
    invitee_language = await User.filter(email=invitation["email"]).first().values_list("language", flat=True)
    language = invitee_language or await Organization.filter(id=invitation["organization_id"]).first().values_list(
        "language", flat=True
    )
    link = portal_link(settings.public_url, PortalPage.ACCEPT_MEMBERSHIP, token=token)
    await queue_mail(
        to=invitation["email"],
        template="membership_invitation",
        language=language,
        context={
            "organization_name": names[invitation["organization_id"]],
            "inviter_name": inviter["name"],
            "partner_name": names.get(partner_id, ""),
            "role": invitation["role"],
            "permissions": invitation["permissions"],
            "email": invitation["email"],
            "link": link,
            "expires_at": invitation["expires_at"],
        },
    )


async def set_member_permissions(actor: Actor, membership_id: int, permissions: Iterable[str]) -> dict[str, Any]:
    requested = _permission_names(permissions)
    async with in_transaction():
        target, mine = await _target(actor, membership_id)
        policy.check_grant(mine, target.permissions, requested)
        changes = audit.diff({"permissions": sorted(target.permissions)}, {"permissions": requested})
        if changes:
            await Membership.filter(id=membership_id).update(permissions=requested)
            await audit.record(
                actor, "membership.set_permissions", "Membership", membership_id, acting=mine, changes=changes
            )
    if target.user_id == actor.user_id:
        actor.forget_memberships()
    return await Membership.filter(id=membership_id).first().values(*MEMBERSHIP_FIELDS)


async def set_member_role(actor: Actor, membership_id: int, role: Role) -> dict[str, Any]:
    async with in_transaction():
        target, mine = await _target(actor, membership_id)
        current = target.role
        policy.check_role_change(mine, current, role)
        if current is not role:
            if policy.is_last_administrator(current, await _administrator_count(target.organization_id)):
                raise _last_administrator()
            # An administrator the customer made itself no longer depends on a partner's grant.
            adopted = {"relationship_id": None} if role is Role.ADMINISTRATOR else {}
            await Membership.filter(id=membership_id).update(role=role, **adopted)
            await audit.record(
                actor,
                "membership.set_role",
                "Membership",
                membership_id,
                acting=mine,
                changes={"role": {"from": current.value, "to": role.value}},
            )
    if target.user_id == actor.user_id:
        actor.forget_memberships()
    return await Membership.filter(id=membership_id).first().values(*MEMBERSHIP_FIELDS)


async def _delete_membership(actor: Actor, target: Membership, action: str, acting: MembershipInfo) -> None:
    if policy.is_last_administrator(target.role, await _administrator_count(target.organization_id)):
        raise _last_administrator()
    await Membership.filter(id=target.id).delete()
    await audit.record(
        actor, action, "Membership", target.id, acting=acting, changes={"user_id": target.user_id, "role": target.role}
    )


async def remove_member(actor: Actor, membership_id: int) -> int:
    """Returns the id of the removed membership."""
    async with in_transaction():
        target, mine = await _target(actor, membership_id)
        policy.check_removal(mine, target.role)
        await _delete_membership(actor, target, "membership.remove", mine)
    if target.user_id == actor.user_id:
        actor.forget_memberships()
    return membership_id


async def leave_organization(actor: Actor, organization_id: int) -> int:
    """Anyone may leave, except the last administrator. Returns the ended membership's id."""
    await SIGNED_IN.enforce(actor)
    mine = (await actor.memberships()).get(organization_id)
    if mine is None:
        raise NotFound()
    async with in_transaction():
        target = await Membership.select_for_update().get(id=mine.membership_id)
        await _delete_membership(actor, target, "membership.leave", mine)
    actor.forget_memberships()
    return mine.membership_id


# --- membership invitations ----------------------------------------------------------


def membership_invitation_status(row: dict[str, Any]) -> MembershipInvitationStatus:
    """An open invitation past its expiry is EXPIRED even before the expiry job has run."""
    status = row["status"]
    if status is MembershipInvitationStatus.OPEN and row["expires_at"] <= now():
        return MembershipInvitationStatus.EXPIRED
    return status


async def _open_membership_invitation(token: str) -> MembershipInvitation:
    """The invitation behind a link token, or a distinct error for each way it is unusable."""
    invalid = fail("token", UserErrorCode.INVALID_TOKEN, "This invitation link is not valid.")
    if not token.startswith(MEMBERSHIP_INVITATION_PREFIX) or len(token) > 100:
        raise invalid
    invitation = await MembershipInvitation.filter(token_hash=token_digest(token)).first()
    if invitation is None:
        raise invalid
    status = membership_invitation_status({"status": invitation.status, "expires_at": invitation.expires_at})
    if status is MembershipInvitationStatus.EXPIRED:
        raise fail("token", UserErrorCode.INVITATION_EXPIRED, "This invitation has expired: ask for a new one.")
    if status is MembershipInvitationStatus.REVOKED:
        raise fail("token", UserErrorCode.INVITATION_REVOKED, "This invitation was withdrawn.")
    if status is not MembershipInvitationStatus.OPEN:
        raise fail("token", UserErrorCode.INVITATION_USED, "This invitation was answered already.")
    return invitation


async def _grant_lets_manage_members(relationship_id: int) -> bool:
    """Whether the customer still lets its partner manage members (locks the relationship, so that
    an acceptance and a revocation of the grant queue)."""
    relationship = await CustomerRelationship.select_for_update().filter(id=relationship_id, ended_at=None).first()
    return grant_lets_manage_members(
        None
        if relationship is None
        else {"grant_permissions": relationship.grant_permissions, "grant_expires_at": relationship.grant_expires_at}
    )


async def accept_membership_invitation(actor: Actor, settings: Settings, token: str) -> dict[str, Any]:
    """The signed-in user the invitation was sent to becomes a member (within
    MAX_ORGANIZATIONS_PER_USER, as for creating one). Returns the membership."""
    user_id = await SIGNED_IN.enforce(actor)
    invitation = await _open_membership_invitation(token)
    if await User.filter(id=user_id).first().values_list("email", flat=True) != invitation.email:
        raise fail(
            "token",
            UserErrorCode.INVALID_TOKEN,
            "This invitation is for another address: sign in with the address it was sent to.",
        )
    moment = now()
    async with in_transaction():
        if invitation.relationship_id is not None and not await _grant_lets_manage_members(invitation.relationship_id):
            raise fail(
                "token",
                UserErrorCode.INVITATION_REVOKED,
                "The service partner that invited you may no longer manage this organization's members.",
            )
        claimed = await MembershipInvitation.filter(
            id=invitation.id, status=MembershipInvitationStatus.OPEN, expires_at__gt=moment
        ).update(status=MembershipInvitationStatus.ACCEPTED, decided_at=moment)
        if not claimed:
            raise fail("token", UserErrorCode.INVITATION_USED, "This invitation was answered already.")
        if await Membership.filter(organization_id=invitation.organization_id, user_id=user_id).exists():
            raise fail("token", UserErrorCode.ALREADY_MEMBER, "You are a member already.")
        if await Membership.filter(user_id=user_id).count() >= settings.max_organizations_per_user:
            raise fail(
                None,
                UserErrorCode.LIMIT_REACHED,
                "You belong to the most organizations allowed: leave one before joining another.",
            )
        membership = await Membership.create(
            organization_id=invitation.organization_id,
            user_id=user_id,
            role=invitation.role,
            permissions=invitation.permissions,
            relationship_id=invitation.relationship_id,
        )
        await mark_verified(user_id, invitation.email)  # the link came to this address
        await audit.record(
            actor,
            "membership_invitation.accept",
            "MembershipInvitation",
            invitation.id,
            organization_id=invitation.organization_id,
        )
        await audit.record(
            actor,
            "membership.create",
            "Membership",
            membership.id,
            organization_id=invitation.organization_id,
            changes={
                "user_id": user_id,
                "role": invitation.role,
                "permissions": invitation.permissions,
                "invitation_id": invitation.id,
            },
        )
    actor.forget_memberships()
    return await Membership.filter(id=membership.id).first().values(*MEMBERSHIP_FIELDS)


async def decline_membership_invitation(actor: Actor, token: str) -> None:
    """Whoever holds the link may decline it, signed in or not."""
    invitation = await _open_membership_invitation(token)
    async with in_transaction():
        declined = await MembershipInvitation.filter(id=invitation.id, status=MembershipInvitationStatus.OPEN).update(
            status=MembershipInvitationStatus.DECLINED, decided_at=now()
        )
        if not declined:
            raise fail("token", UserErrorCode.INVITATION_USED, "This invitation was answered already.")
        await audit.record(
            actor,
            "membership_invitation.decline",
            "MembershipInvitation",
            invitation.id,
            organization_id=invitation.organization_id,
        )


async def revoke_membership_invitation(actor: Actor, invitation_id: int) -> dict[str, Any]:
    """MANAGE_MEMBERS holders withdraw an open (or expired) invitation: its link stops working."""
    await MEMBER_MANAGER.admit(actor)
    organization_id = (
        await MembershipInvitation.filter(id=invitation_id).first().values_list("organization_id", flat=True)
    )
    if organization_id is None:
        raise NotFound()
    mine = await MEMBER_MANAGER.enforce(actor, organization_id)
    async with in_transaction():
        revoked = await MembershipInvitation.filter(id=invitation_id, status=MembershipInvitationStatus.OPEN).update(
            status=MembershipInvitationStatus.REVOKED, decided_at=now()
        )
        if not revoked:
            raise fail(None, UserErrorCode.INVITATION_CLOSED, "Answered or revoked invitations cannot be revoked.")
        await audit.record(actor, "membership_invitation.revoke", "MembershipInvitation", invitation_id, acting=mine)
    return await MembershipInvitation.filter(id=invitation_id).first().values(*MEMBERSHIP_INVITATION_FIELDS)


async def _managed(actor: Actor, organization_ids: list[int]) -> tuple[list[int], dict[int, AccessError]]:
    """The organizations where the actor manages members, and the refusal for each other one."""
    managed, refused = [], {}
    for organization_id in organization_ids:
        try:
            await MEMBER_MANAGER.enforce(actor, organization_id)
            managed.append(organization_id)
        except AccessError as error:
            refused[organization_id] = error
    return managed, refused


async def membership_invitation_pages(
    actor: Actor, organization_ids: list[int], first: int | None, after: str | None
) -> dict[int, Page | AccessError]:
    """The same page of each organization's membership invitations, newest first, in one query
    (MANAGE_MEMBERS; the others are refused)."""
    managed, refused = await _managed(actor, organization_ids)
    pages = await page_per_parent(
        await scoping.visible_membership_invitations(actor),
        parent="organization_id",
        parents=managed,
        fields=MEMBERSHIP_INVITATION_FIELDS,
        first=first,
        after=after,
        order=("-id",),
    )
    return {**pages, **refused}


async def membership_invitation_counts(actor: Actor, organization_ids: list[int]) -> dict[int, int]:
    """How many membership invitations each organization the actor manages members in has, in one query."""
    managed, _ = await _managed(actor, organization_ids)
    return await count_per_parent(
        await scoping.visible_membership_invitations(actor), parent="organization_id", parents=managed
    )


async def get_membership_invitation(actor: Actor, invitation_id: int) -> dict[str, Any] | None:
    visible = await scoping.visible_membership_invitations(actor)
    return await visible.filter(id=invitation_id).first().values(*MEMBERSHIP_INVITATION_FIELDS)


async def expire_membership_invitations() -> int:
    """OPEN past expiry becomes EXPIRED (the invitations job); returns how many."""
    return await MembershipInvitation.filter(status=MembershipInvitationStatus.OPEN, expires_at__lte=now()).update(
        status=MembershipInvitationStatus.EXPIRED
    )


async def end_granted_memberships(actor: Actor, acting: MembershipInfo | None, relationship_id: int) -> int:
    """End what a service partner's grant brought into its customer (inside the caller's
    transaction, audited in the customer's log): the memberships its staff invited in management
    sessions, and their open invitations. Returns how many memberships ended."""
    memberships = await Membership.filter(relationship_id=relationship_id).values(
        "id", "organization_id", "user_id", "role"
    )
    invitations = await MembershipInvitation.filter(
        relationship_id=relationship_id, status=MembershipInvitationStatus.OPEN
    ).values_list("id", "organization_id")
    await Membership.filter(id__in=[row["id"] for row in memberships]).delete()
    await MembershipInvitation.filter(id__in=[row[0] for row in invitations]).update(
        status=MembershipInvitationStatus.REVOKED, decided_at=now()
    )
    for row in memberships:
        await audit.record(
            actor,
            "membership.end_with_grant",
            "Membership",
            row["id"],
            acting=acting,
            organization_id=row["organization_id"],
            changes={"user_id": row["user_id"], "role": row["role"], "relationship_id": relationship_id},
        )
    for invitation_id, organization_id in invitations:
        await audit.record(
            actor,
            "membership_invitation.end_with_grant",
            "MembershipInvitation",
            invitation_id,
            acting=acting,
            organization_id=organization_id,
        )
    return len(memberships)


async def end_lapsed_grant_memberships() -> int:
    """End the memberships whose service partner's grant has expired (the invitations job);
    returns how many."""
    relationship_ids = set(
        await Membership.filter(relationship__grant_expires_at__lte=now()).values_list("relationship_id", flat=True)
    )
    ended = 0
    for relationship_id in relationship_ids:
        async with in_transaction():
            ended += await end_granted_memberships(Actor(via=Via.CLI), None, relationship_id)
    return ended
