"""Organizations and their members: roles, permissions, the last-administrator rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import pycountry
from tortoise.transactions import in_transaction

from models.customers import CustomerRelationship
from models.identity import User
from models.organizations import Membership, Organization
from permissions import policy, scoping
from permissions.actor import Actor, MembershipInfo
from permissions.enums import OrganizationPermission, Role
from permissions.errors import Forbidden, NotFound
from resolvers import audit
from resolvers.errors import UserErrorCode, UserInputError, fail
from resolvers.identity import clean_name, normalize_email
from resolvers.pagination import Page, paginate

ORGANIZATION_FIELDS = ("id", "name", "website", "country", "language", "created_at")
MEMBERSHIP_FIELDS = ("id", "organization_id", "user_id", "role", "permissions", "created_at")
LANGUAGES = ("en", "de")
UNSET: Any = object()


# --- validation ----------------------------------------------------------------------


def search_key(name: str) -> str:
    """What name searches compare: case-folded here, because SQLite folds ASCII letters only."""
    return name.casefold()


def customer_names(name: str) -> dict[str, str]:
    """The copies of an organization's name its service-partner relationships keep (for a
    partner's customer list in name order and its search)."""
    return {"customer_name": name, "customer_search_name": search_key(name)}


def clean_website(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    url = raw.strip()
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme not in ("http", "https") or "." not in (parts.hostname or "") or len(url) > 500:
        raise fail("website", UserErrorCode.INVALID_VALUE, "Enter a web address such as https://example.com.")
    return parts.geturl()


def clean_country(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    code = raw.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise fail("country", UserErrorCode.INVALID_VALUE, "Use a two-letter ISO 3166 country code such as DE.")
    return code


def clean_language(raw: str) -> str:
    if raw not in LANGUAGES:
        raise fail("language", UserErrorCode.INVALID_VALUE, f"Supported languages: {', '.join(LANGUAGES)}.")
    return raw


def _collect(**checks: Any) -> dict[str, Any]:
    """Run each (cleaner, value) pair, gathering every problem before failing."""
    cleaned, problems = {}, []
    for field, (cleaner, value) in checks.items():
        if value is UNSET:
            continue
        try:
            cleaned[field] = cleaner(value)
        except UserInputError as error:
            problems.extend(error.problems)
    if problems:
        raise UserInputError(*problems)
    return cleaned


# --- organizations -------------------------------------------------------------------


async def create_organization(
    actor: Actor, *, name: str, website: str | None = None, country: str | None = None, language: str = "en",
    affiliate_token: str | None = None, settings: Any = None,
) -> dict[str, Any]:
    """A new organization with the creator as its administrator (and its AFFILIATE referral when
    `affiliate_token` is a valid click within the window: resolvers/affiliates.py)."""
    user_id = policy.require_user(actor)
    values = _collect(
        name=(clean_name, name),
        website=(clean_website, website),
        country=(clean_country, country),
        language=(clean_language, language),
    )
    async with in_transaction():
        organization = await Organization.create(**values, search_name=search_key(values["name"]))
        membership = await Membership.create(
            organization_id=organization.id, user_id=user_id, role=Role.ADMINISTRATOR, permissions=[]
        )
        await audit.record(actor, "organization.create", "Organization", organization.id,
                           organization_id=organization.id, changes=values)
        await audit.record(actor, "membership.create", "Membership", membership.id,
                           organization_id=organization.id, changes={"role": Role.ADMINISTRATOR.value})
        if affiliate_token and settings is not None:
            from resolvers.affiliates import refer_new_organization  # noqa: PLC0415 — avoids an import cycle

            await refer_new_organization(settings, organization.id, affiliate_token)
    actor.forget_memberships()
    return {field: getattr(organization, field) for field in ORGANIZATION_FIELDS}


async def update_organization(
    actor: Actor, organization_id: int, *, name: Any = UNSET, website: Any = UNSET, country: Any = UNSET,
    language: Any = UNSET,
) -> dict[str, Any]:
    membership = await scoping.acting_membership(actor, organization_id)
    policy.require_permission(membership, OrganizationPermission.MANAGE_SETTINGS)
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
            await audit.record(actor, "organization.update", "Organization", organization_id,
                               acting=membership, changes=changes)
    return await Organization.filter(id=organization_id).first().values(*ORGANIZATION_FIELDS)


async def get_organization(actor: Actor, organization_id: int) -> dict[str, Any] | None:
    return await (await scoping.visible_organizations(actor)).filter(id=organization_id).first().values(
        *ORGANIZATION_FIELDS
    )


async def default_organization(actor: Actor) -> dict[str, Any]:
    membership = await policy.acting_membership(actor, None)
    return await Organization.filter(id=membership.organization_id).first().values(*ORGANIZATION_FIELDS)


async def list_organizations(actor: Actor, *, first: int | None, after: str | None) -> Page:
    policy.require_user(actor)
    queryset = await scoping.visible_organizations(actor)
    return await paginate(queryset, fields=ORGANIZATION_FIELDS, first=first, after=after)


async def viewer_membership(actor: Actor, organization_id: int) -> MembershipInfo | None:
    """The actor's own membership in an organization (from the per-request cache)."""
    return (await actor.memberships()).get(organization_id)


# --- members -------------------------------------------------------------------------


async def list_members(actor: Actor, organization_id: int, *, first: int | None, after: str | None) -> Page:
    queryset = (await scoping.visible_memberships(actor)).filter(organization_id=organization_id)
    return await paginate(queryset, fields=MEMBERSHIP_FIELDS, first=first, after=after)


async def get_membership(actor: Actor, membership_id: int) -> dict[str, Any] | None:
    return await (await scoping.visible_memberships(actor)).filter(id=membership_id).first().values(
        *MEMBERSHIP_FIELDS
    )


def _permission_names(permissions: Iterable[str]) -> list[str]:
    return sorted({str(p) for p in permissions})


async def _target(actor: Actor, membership_id: int) -> tuple[Membership, MembershipInfo]:
    """The membership to change and the actor's own membership in that organization."""
    policy.require_user(actor)
    target = await (await scoping.visible_memberships(actor)).filter(id=membership_id).select_for_update().first()
    if target is None:
        raise NotFound()
    mine = await policy.membership_in(actor, target.organization_id)
    if mine is None:  # visible (an operator), but not a member: operators do not manage members
        raise Forbidden()
    return target, mine


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


async def add_member(
    actor: Actor, organization_id: int, *, email: str, role: Role, permissions: Iterable[str]
) -> dict[str, Any]:
    """Add an existing user to the organization."""
    mine = await scoping.acting_membership(actor, organization_id)
    policy.check_role_change(mine, Role.MEMBER, role)
    requested = _permission_names(permissions)
    policy.check_grant(mine, [], requested)
    normalized = normalize_email(email)
    user_id = await User.filter(email=normalized).first().values_list("id", flat=True)
    if user_id is None:
        raise fail("email", UserErrorCode.USER_NOT_FOUND, "No account uses this email address; ask them to register first.")
    if mine.partner_organization_id is not None and await Membership.filter(
        organization_id=mine.partner_organization_id, user_id=user_id
    ).exists():
        # A grant is lent, not given: partner staff never turn it into memberships of their own.
        raise Forbidden("In a management session you cannot make yourself or your colleagues members.")
    async with in_transaction():
        if await Membership.filter(organization_id=organization_id, user_id=user_id).exists():
            raise fail("email", UserErrorCode.ALREADY_MEMBER, "This person is a member already.")
        membership = await Membership.create(
            organization_id=organization_id, user_id=user_id, role=role, permissions=requested
        )
        await audit.record(actor, "membership.create", "Membership", membership.id, acting=mine,
                           changes={"user_id": user_id, "role": role.value, "permissions": requested})
    return await Membership.filter(id=membership.id).first().values(*MEMBERSHIP_FIELDS)


async def set_member_permissions(actor: Actor, membership_id: int, permissions: Iterable[str]) -> dict[str, Any]:
    requested = _permission_names(permissions)
    async with in_transaction():
        target, mine = await _target(actor, membership_id)
        policy.check_grant(mine, target.permissions, requested)
        changes = audit.diff({"permissions": sorted(target.permissions)}, {"permissions": requested})
        if changes:
            await Membership.filter(id=membership_id).update(permissions=requested)
            await audit.record(actor, "membership.set_permissions", "Membership", membership_id,
                               acting=mine, changes=changes)
    if target.user_id == actor.user_id:
        actor.forget_memberships()
    return await Membership.filter(id=membership_id).first().values(*MEMBERSHIP_FIELDS)


async def set_member_role(actor: Actor, membership_id: int, role: Role) -> dict[str, Any]:
    async with in_transaction():
        target, mine = await _target(actor, membership_id)
        current = Role(target.role)
        policy.check_role_change(mine, current, role)
        if current is not role:
            if policy.is_last_administrator(current, await _administrator_count(target.organization_id)):
                raise _last_administrator()
            await Membership.filter(id=membership_id).update(role=role)
            await audit.record(actor, "membership.set_role", "Membership", membership_id, acting=mine,
                               changes={"role": {"from": current.value, "to": role.value}})
    if target.user_id == actor.user_id:
        actor.forget_memberships()
    return await Membership.filter(id=membership_id).first().values(*MEMBERSHIP_FIELDS)


async def _delete_membership(actor: Actor, target: Membership, action: str, acting: MembershipInfo) -> None:
    if policy.is_last_administrator(Role(target.role), await _administrator_count(target.organization_id)):
        raise _last_administrator()
    await Membership.filter(id=target.id).delete()
    await audit.record(actor, action, "Membership", target.id, acting=acting,
                       changes={"user_id": target.user_id, "role": target.role})


async def remove_member(actor: Actor, membership_id: int) -> int:
    """Returns the id of the removed membership."""
    async with in_transaction():
        target, mine = await _target(actor, membership_id)
        policy.check_removal(mine, Role(target.role))
        await _delete_membership(actor, target, "membership.remove", mine)
    if target.user_id == actor.user_id:
        actor.forget_memberships()
    return membership_id


async def leave_organization(actor: Actor, organization_id: int) -> int:
    """Anyone may leave, except the last administrator. Returns the ended membership's id."""
    policy.require_user(actor)
    mine = (await actor.memberships()).get(organization_id)
    if mine is None:
        raise NotFound()
    async with in_transaction():
        target = await Membership.select_for_update().get(id=mine.membership_id)
        await _delete_membership(actor, target, "membership.leave", mine)
    actor.forget_memberships()
    return mine.membership_id


