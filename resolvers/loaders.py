"""Per-request dataloaders: a list's nested objects load in one query, never one per row.

Each loader reads through the actor's scoped queryset, so a nested edge can never
reach further than a root field could.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from strawberry.dataloader import DataLoader
from tortoise.queryset import QuerySet

from partner_portal.models.partners import PartnerProfile
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.partners import PROFILE_FIELDS
from partner_portal.resolvers.billing import PAYMENT_FIELDS, licenses_of
from partner_portal.resolvers.catalog import PRODUCT_FIELDS, plans_of
from partner_portal.resolvers.customers import (
    current_relationships,
    relationship_histories,
    service_provider_activities,
    service_provider_activity_counts,
)
from partner_portal.resolvers.errors import BadArgument
from partner_portal.resolvers.identity import USER_FIELDS
from partner_portal.resolvers.organizations import (
    MAX_LISTED_MEMBERSHIPS,
    MEMBERSHIP_FIELDS,
    ORGANIZATION_FIELDS,
    member_counts,
    member_pages,
    membership_invitation_counts,
    membership_invitation_pages,
)
from partner_portal.resolvers.pagination import Page
from partner_portal.resolvers.partners import APPLICATION_FIELDS, enrolled_programs
from partner_portal.resolvers.payouts import PAYOUT_FIELDS
from partner_portal.resolvers.per_parent import ParentPage, first_rows_per_parent

Scope = Callable[[Actor], Awaitable[QuerySet]]


def _by_id_loader(actor: Actor, scope: Scope, fields: Sequence[str]) -> DataLoader[int, dict[str, Any] | None]:
    async def load(ids: list[int]) -> list[dict[str, Any] | None]:
        rows = await (await scope(actor)).filter(id__in=ids).values(*fields)
        by_id = {row["id"]: row for row in rows}
        return [by_id.get(i) for i in ids]

    return DataLoader(load_fn=load)


def _memberships_of_user_loader(actor: Actor) -> DataLoader[int, list[dict[str, Any]]]:
    async def load(user_ids: list[int]) -> list[list[dict[str, Any]]]:
        by_user = await first_rows_per_parent(
            await scoping.visible_memberships(actor),
            parent="user_id",
            parents=user_ids,
            fields=MEMBERSHIP_FIELDS,
            order=("id",),
            limit=MAX_LISTED_MEMBERSHIPS,
        )
        return [by_user[i] for i in user_ids]

    return DataLoader(load_fn=load)


PageKey = tuple[int, int | None, str | None]  # (parent id, first, after)


def _pages_loader(
    pages_of: Callable[[list[int], int | None, str | None], Awaitable[dict[int, Any]]], count: DataLoader[int, int]
) -> DataLoader[PageKey, Page]:
    """One page of a nested connection per parent: the parents asking for the same page (`first`,
    `after`) load together, in one query; their `totalCount`s in one more. `pages_of` maps a parent
    the actor may not read to the error to raise."""

    async def load(keys: list[PageKey]) -> list[Page | BaseException]:
        parents_by_page: dict[tuple[int | None, str | None], list[int]] = {}
        for parent, first, after in keys:
            parents_by_page.setdefault((first, after), []).append(parent)
        found: dict[PageKey, Page | BaseException] = {}
        for (first, after), parents in parents_by_page.items():
            try:
                pages = await pages_of(parents, first, after)
            except BadArgument as error:
                found.update({(parent, first, after): error for parent in parents})
                continue
            for parent, page in pages.items():
                if isinstance(page, ParentPage):
                    page.count = functools.partial(count.load, parent)
                found[(parent, first, after)] = page
        return [found[key] for key in keys]

    return DataLoader(load_fn=load)


def _keyed_loader(
    actor: Actor, fetch: Callable[[Actor, list[int]], Awaitable[dict[int, Any]]], default: Any = None
) -> DataLoader[int, Any]:
    """A loader over a function returning {key: value} for a list of keys in one query."""

    async def load(keys: list[int]) -> list[Any]:
        found = await fetch(actor, keys)
        return [found.get(key, default) for key in keys]

    return DataLoader(load_fn=load)


async def _partner_profiles(actor: Actor, organization_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Partner profiles of the organizations the actor may see."""
    visible = (
        await (await scoping.visible_organizations(actor)).filter(id__in=organization_ids).values_list("id", flat=True)
    )
    rows = await PartnerProfile.filter(organization_id__in=list(visible)).values(*PROFILE_FIELDS) if visible else []
    return {row["organization_id"]: row for row in rows}


async def _latest_applications(actor: Actor, organization_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each organization's newest application the actor may see (`scoping.visible_partner_applications`)."""
    visible = await scoping.visible_partner_applications(actor)
    latest: dict[int, dict[str, Any]] = {}
    for row in await visible.filter(organization_id__in=organization_ids).order_by("id").values(*APPLICATION_FIELDS):
        latest[row["organization_id"]] = row  # ascending ids: the newest wins
    return latest


class Loaders:
    """Created once per request in the context."""

    def __init__(self, actor: Actor) -> None:
        self.user = _by_id_loader(actor, scoping.visible_users, USER_FIELDS)
        if actor.user_row is not None:  # read with the credentials: the viewer itself costs no query
            self.user.prime(actor.user_id, actor.user_row)
        self.organization = _by_id_loader(actor, scoping.visible_organizations, ORGANIZATION_FIELDS)
        self.membership = _by_id_loader(actor, scoping.visible_memberships, MEMBERSHIP_FIELDS)
        self.memberships_of_user = _memberships_of_user_loader(actor)
        self.member_count = _keyed_loader(actor, member_counts, default=0)
        self.members = _pages_loader(functools.partial(member_pages, actor), self.member_count)
        self.membership_invitations = _pages_loader(
            functools.partial(membership_invitation_pages, actor),
            _keyed_loader(actor, membership_invitation_counts, default=0),
        )
        self.license = _keyed_loader(actor, licenses_of)
        self.programs = _keyed_loader(actor, lambda _actor, ids: enrolled_programs(ids), default=[])
        self.plans = _keyed_loader(actor, plans_of, default=[])
        self.service_partner = _keyed_loader(actor, current_relationships)
        self.service_partner_history = _keyed_loader(actor, relationship_histories)
        self.service_provider_activity = _pages_loader(
            functools.partial(service_provider_activities, actor),
            _keyed_loader(actor, service_provider_activity_counts, default=0),
        )
        self.partner_profile = _keyed_loader(actor, _partner_profiles)
        self.partner_application = _keyed_loader(actor, _latest_applications)
        self.payment = _by_id_loader(actor, scoping.visible_payments, PAYMENT_FIELDS)
        self.product = _by_id_loader(actor, scoping.visible_products, PRODUCT_FIELDS)
        self.payout = _by_id_loader(actor, scoping.visible_payouts, PAYOUT_FIELDS)
