"""Stripe: which organization a Stripe customer belongs to, and the lookups the webhook
endpoint (`web/stripe_webhooks.py`) needs besides the billing resolvers.

An organization is named by Stripe metadata `organization_id` (on the customer, the
invoice or the subscription) or, when Stripe does not say, by the mapping operators keep
with `linkStripeCustomer`.

Subscription events arrive in any order (Stripe does not guarantee it); the last one applied
is kept per subscription (`StripeSubscription`), and an event that sorts before it changes
nothing. Events sort by their `created` time; in the same second `created` before `updated`
before `deleted`, then by event id. The order is a property of the events alone, so the
license ends the same whatever order they were delivered in.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from strawberry.relay import GlobalID, GlobalIDValueError
from tortoise.exceptions import IntegrityError
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from partner_portal.models.billing import BillingEvent, Refund, StripeCustomer, StripeSubscription
from partner_portal.models.catalog import Plan
from partner_portal.models.organizations import Organization
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import PROGRAM_MANAGER
from partner_portal.resolvers import audit
from partner_portal.resolvers.errors import UserErrorCode, fail
from partner_portal.resolvers.keys import primary_key_in

logger = logging.getLogger("partner_portal.stripe")

SOURCE = "stripe"
"""The `source` of billing events that came through the signed Stripe webhook."""

CUSTOMER_ID = re.compile(r"^cus_[A-Za-z0-9]{1,96}$")


# --- the operators' mapping --------------------------------------------------------------------------


def clean_customer_id(raw: str, field: str = "stripe_customer_id") -> str:
    value = raw.strip()
    if not CUSTOMER_ID.match(value):
        raise fail(field, UserErrorCode.INVALID_VALUE, "A Stripe customer id looks like cus_NffrFeUfNV2Hib.")
    return value


async def link_customer(actor: Actor, *, stripe_customer_id: str, organization_id: int) -> dict[str, Any]:
    """Operators with MANAGE_PROGRAMS say which organization a Stripe customer is; linking a
    linked customer again moves it (events already recorded stay where they are)."""
    await PROGRAM_MANAGER.enforce(actor)
    customer = clean_customer_id(stripe_customer_id)
    if not await Organization.filter(id=organization_id).exists():
        raise NotFound()
    for _ in range(2):
        try:
            async with in_transaction():
                row = await StripeCustomer.filter(stripe_customer_id=customer).select_for_update().first()
                before = row.organization_id if row else None
                if row is None:
                    row = await StripeCustomer.create(stripe_customer_id=customer, organization_id=organization_id)
                elif before != organization_id:
                    await StripeCustomer.filter(id=row.id).update(organization_id=organization_id)
                await audit.record(
                    actor,
                    "stripe_customer.link",
                    "StripeCustomer",
                    row.id,
                    organization_id=organization_id,
                    changes={"stripe_customer_id": customer, "organization": {"from": before, "to": organization_id}},
                )
            break
        except IntegrityError:
            continue  # a concurrent link created the row first: update it instead
    else:
        raise fail("stripe_customer_id", UserErrorCode.CONFLICT, "The customer is being linked; try again.")
    return {"stripe_customer_id": customer, "organization_id": organization_id}


# --- finding the organization of an event -------------------------------------------------------------


def organization_id_in(metadata: Any) -> int | None:
    """`metadata.organization_id` as a primary key: a raw id ("42") or a global id
    ("T3JnYW5pemF0aW9uOjQy"); anything else is no answer."""
    if not isinstance(metadata, dict):
        return None
    raw = metadata.get("organization_id")
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        return None
    text = str(raw).strip()
    if text.isascii() and text.isdigit():
        return primary_key_in("Organization", text)
    try:
        gid = GlobalID.from_id(text)
    except (GlobalIDValueError, ValueError, UnicodeDecodeError):
        return None
    return primary_key_in("Organization", gid.node_id) if gid.type_name == "Organization" else None


async def find_organization(stripe_customer_id: str | None, metadata: list[Any]) -> int | None:
    """The first existing organization named by `metadata` (in order), else the mapped one."""
    for candidate in metadata:
        organization_id = organization_id_in(candidate)
        if organization_id is None:
            continue
        if await Organization.filter(id=organization_id).exists():
            return organization_id
        logger.warning("Stripe metadata names organization %s, which does not exist", organization_id)
    if stripe_customer_id:
        return (
            await StripeCustomer.filter(stripe_customer_id=stripe_customer_id)
            .first()
            .values_list("organization_id", flat=True)
        )
    return None


# --- what the webhook needs to know ----------------------------------------------------------------------


async def known_plan(candidates: list[Any]) -> tuple[str, str] | None:
    """(code, name) of the first candidate that is a catalog plan's code (case-insensitive)."""
    codes = [c.strip().upper() for c in candidates if isinstance(c, str) and c.strip()]
    if not codes:
        return None
    rows = {row["code"]: row["name"] for row in await Plan.filter(code__in=codes).values("code", "name")}
    for code in codes:
        if code in rows:
            return code, rows[code]
    return None


async def already_recorded(external_id: str) -> bool:
    """A Stripe billing event with this external id was taken before."""
    return await BillingEvent.filter(source=SOURCE, external_id=external_id).exists()


async def refunded_so_far(payment_external_id: str) -> int:
    """The refunds recorded for a payment (applied or waiting), in minor units."""
    row = (
        await Refund.filter(payment_external_id=payment_external_id)
        .annotate(total=Sum("amount"))
        .first()
        .values("total")
    )
    return (row or {}).get("total") or 0


# --- the order of subscription events ---------------------------------------------------------------------

SUBSCRIPTION_EVENT_RANK = {
    "customer.subscription.created": 0,
    "customer.subscription.updated": 1,
    "customer.subscription.deleted": 2,
}


@dataclass(frozen=True, slots=True)
class SubscriptionEvent:
    """Where an event stands in its subscription's history (see the module docstring)."""

    subscription_id: str
    created: datetime
    rank: int
    event_id: str

    @property
    def order(self) -> tuple[datetime, int, str]:
        return self.created, self.rank, self.event_id


async def claim_subscription_event(event: SubscriptionEvent, organization_id: int) -> bool:
    """Inside the caller's transaction: True, and the event kept as its subscription's last, when it
    sorts after the last one applied; False when it is older and must change nothing."""
    row = await StripeSubscription.select_for_update().filter(stripe_subscription_id=event.subscription_id).first()
    values = {
        "organization_id": organization_id,
        "event_created": event.created,
        "event_rank": event.rank,
        "event_id": event.event_id,
    }
    if row is None:
        # a concurrent first event of the subscription makes this fail; the caller's `once` retries
        await StripeSubscription.create(stripe_subscription_id=event.subscription_id, **values)
        return True
    if (row.event_created, row.event_rank, row.event_id) >= event.order:
        return False
    await StripeSubscription.filter(id=row.id).update(**values)
    return True
