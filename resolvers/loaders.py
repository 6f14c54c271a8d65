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
    """Created once per request in the context; each loader when a resolver first asks for it."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    @functools.cached_property
    def user(self) -> DataLoader[int, dict[str, Any] | None]:
        loader = _by_id_loader(self.actor, scoping.visible_users, USER_FIELDS)
        if self.actor.user_row is not None:  # read with the credentials: the viewer itself costs no query
            loader.prime(self.actor.user_id, self.actor.user_row)
        return loader

    @functools.cached_property
    def organization(self) -> DataLoader[int, dict[str, Any] | None]:
        return _by_id_loader(self.actor, scoping.visible_organizations, ORGANIZATION_FIELDS)

    @functools.cached_property
    def membership(self) -> DataLoader[int, dict[str, Any] | None]:
        return _by_id_loader(self.actor, scoping.visible_memberships, MEMBERSHIP_FIELDS)

    @functools.cached_property
    def memberships_of_user(self) -> DataLoader[int, list[dict[str, Any]]]:
        return _memberships_of_user_loader(self.actor)

    @functools.cached_property
    def member_count(self) -> DataLoader[int, Any]:
        return _keyed_loader(self.actor, member_counts, default=0)

    @functools.cached_property
    def members(self) -> DataLoader[PageKey, Page]:
        return _pages_loader(functools.partial(member_pages, self.actor), self.member_count)

    @functools.cached_property
    def membership_invitations(self) -> DataLoader[PageKey, Page]:
        return _pages_loader(
            functools.partial(membership_invitation_pages, self.actor),
            _keyed_loader(self.actor, membership_invitation_counts, default=0),
        )

    @functools.cached_property
    def license(self) -> DataLoader[int, Any]:
        return _keyed_loader(self.actor, licenses_of)

    @functools.cached_property
    def programs(self) -> DataLoader[int, Any]:
        return _keyed_loader(self.actor, lambda _actor, ids: enrolled_programs(ids), default=[])

    @functools.cached_property
    def plans(self) -> DataLoader[int, Any]:
        return _keyed_loader(self.actor, plans_of, default=[])

    @functools.cached_property
    def service_partner(self) -> DataLoader[int, Any]:
        return _keyed_loader(self.actor, current_relationships)

    @functools.cached_property
    def service_partner_history(self) -> DataLoader[int, Any]:
        return _keyed_loader(self.actor, relationship_histories)

    @functools.cached_property
    def service_provider_activity(self) -> DataLoader[PageKey, Page]:
        return _pages_loader(
            functools.partial(service_provider_activities, self.actor),
            _keyed_loader(self.actor, service_provider_activity_counts, default=0),
        )

    @functools.cached_property
    def partner_profile(self) -> DataLoader[int, Any]:
        return _keyed_loader(self.actor, _partner_profiles)

    @functools.cached_property
    def partner_application(self) -> DataLoader[int, Any]:
        return _keyed_loader(self.actor, _latest_applications)

    @functools.cached_property
    def payment(self) -> DataLoader[int, dict[str, Any] | None]:
        return _by_id_loader(self.actor, scoping.visible_payments, PAYMENT_FIELDS)

    @functools.cached_property
    def product(self) -> DataLoader[int, dict[str, Any] | None]:
        return _by_id_loader(self.actor, scoping.visible_products, PRODUCT_FIELDS)

    @functools.cached_property
    def payout(self) -> DataLoader[int, dict[str, Any] | None]:
        return _by_id_loader(self.actor, scoping.visible_payouts, PAYOUT_FIELDS)
