"""Stripe: which organization a Stripe customer belongs to, and the lookups the webhook
endpoint (`integrations/stripe_webhooks.py`) needs besides the billing resolvers.

An organization is named by Stripe metadata `organization_id` (on the customer, the
invoice or the subscription) or, when Stripe does not say, by the mapping operators keep
with `linkStripeCustomer`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from strawberry.relay import GlobalID, GlobalIDValueError
from tortoise.exceptions import IntegrityError
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from models.billing import BillingEvent, Refund, StripeCustomer
from models.catalog import Plan
from models.organizations import Organization
from permissions import policy
from permissions.actor import Actor
from permissions.enums import OperatorPermission
from permissions.errors import NotFound
from resolvers import audit
from resolvers.errors import UserErrorCode, fail

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
    await policy.require_operator(actor, OperatorPermission.MANAGE_PROGRAMS)
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
                await audit.record(actor, "stripe_customer.link", "StripeCustomer", row.id,
                                   organization_id=organization_id,
                                   changes={"stripe_customer_id": customer,
                                            "organization": {"from": before, "to": organization_id}})
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
    if text.isdigit():
        return int(text)
    try:
        gid = GlobalID.from_id(text)
    except (GlobalIDValueError, ValueError, UnicodeDecodeError):
        return None
    if gid.type_name != "Organization" or not gid.node_id.isdigit():
        return None
    return int(gid.node_id)


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
        return await StripeCustomer.filter(stripe_customer_id=stripe_customer_id).first().values_list(
            "organization_id", flat=True
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
    row = await Refund.filter(payment_external_id=payment_external_id).annotate(total=Sum("amount")).first().values(
        "total"
    )
    return (row or {}).get("total") or 0
