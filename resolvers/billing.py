"""Billing: licenses, and the events the vendor's billing system sends (payments, refunds,
license changes), each taken exactly once by its external id."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from partner_portal.models.billing import BillingEvent, License, Payment, Refund
from partner_portal.models.catalog import Plan
from partner_portal.models.clock import now
from partner_portal.models.customers import CustomerRelationship
from partner_portal.models.enums import BillingEventKind, LicenseStatus
from partner_portal.models.organizations import Organization
from partner_portal.models.tortoise_internals import max_length
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import BILLING_WRITER, PROGRAM_MANAGER
from partner_portal.resolvers import audit
from partner_portal.resolvers.catalog import MissingExchangeRate
from partner_portal.resolvers.commissions import apply_refund, commission_for_payment
from partner_portal.resolvers.errors import UserErrorCode, fail
from partner_portal.resolvers.money import to_minor
from partner_portal.resolvers.stripe import SubscriptionEvent, claim_subscription_event
from partner_portal.resolvers.validation import clean_currency, clean_name
from partner_portal.settings import Settings

PLAN_NAME_LENGTH = max_length(License, "plan")
logger = logging.getLogger("partner_portal.billing")

LICENSE_FIELDS = (
    "id",
    "organization_id",
    "status",
    "plan",
    "seats",
    "mrr_amount",
    "currency",
    "trial_ends_at",
    "updated_at",
)
PAYMENT_FIELDS = (
    "id",
    "external_id",
    "organization_id",
    "plan_id",
    "amount",
    "currency",
    "refunded_amount",
    "paid_at",
    "created_at",
)


# --- licenses ---------------------------------------------------------------------------------------


def license_values(
    *, status: LicenseStatus, plan: str, seats: int, mrr_amount: str, currency: str, trial_ends_at: datetime | None
) -> dict[str, Any]:
    code = clean_currency(currency)
    if seats < 1:
        raise fail("seats", UserErrorCode.INVALID_VALUE, "A license has at least one seat.")
    minor = to_minor(mrr_amount, code, "mrr")
    if minor < 0:
        raise fail("mrr", UserErrorCode.INVALID_VALUE, "MRR cannot be negative.")
    return {
        "status": LicenseStatus(status).value,
        "plan": clean_name(plan, "plan", limit=PLAN_NAME_LENGTH),
        "seats": seats,
        "mrr_amount": minor,
        "currency": code,
        "trial_ends_at": trial_ends_at,
    }


async def set_license(actor: Actor, organization_id: int, **fields: Any) -> dict[str, Any]:
    """Operators with MANAGE_PROGRAMS set an organization's license by hand."""
    await PROGRAM_MANAGER.enforce(actor)
    if not await Organization.filter(id=organization_id).exists():
        raise NotFound()
    values = license_values(**fields)
    async with in_transaction():
        await _write_license(actor, organization_id, values)
    return await License.filter(organization_id=organization_id).first().values(*LICENSE_FIELDS)


async def _write_license(actor: Actor, organization_id: int, values: dict[str, Any]) -> None:
    """Within the caller's transaction. The organization row is locked first, as a relationship
    starting for it locks it (`resolvers.customers.set_service_partner`), so that the copy of the
    status on its relationships cannot miss a license write made while one starts."""
    await Organization.select_for_update().filter(id=organization_id).first()
    before = await License.filter(organization_id=organization_id).first().values(*LICENSE_FIELDS) or {}
    await License.update_or_create(defaults={**values, "updated_at": now()}, organization_id=organization_id)
    # the copy the partner dashboard counts by (models/customers.py)
    await CustomerRelationship.filter(customer_id=organization_id).update(license_status=values["status"])
    changes = audit.diff(before, values)
    if changes:
        await audit.record(
            actor,
            "license.set",
            "Organization",
            organization_id,
            organization_id=organization_id,
            changes={k: {"from": str(v["from"]), "to": str(v["to"])} for k, v in changes.items()},
        )


async def licenses_of(actor: Actor, organization_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Licenses of the organizations the actor may see, in one query (for loaders)."""
    rows = (
        await (await scoping.visible_licenses(actor))
        .filter(organization_id__in=organization_ids)
        .values(*LICENSE_FIELDS)
    )
    return {row["organization_id"]: row for row in rows}


# --- events, exactly once --------------------------------------------------------------------------------


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


MAX_EXTERNAL_ID_LENGTH = 200  # the columns' length (models/billing.py)


def check_external_id(field: str, value: str) -> None:
    """TOO_LONG rather than the database layer's error for an id no event can have."""
    if len(value) > MAX_EXTERNAL_ID_LENGTH:
        raise fail(field, UserErrorCode.TOO_LONG, f"An external id has at most {MAX_EXTERNAL_ID_LENGTH} characters.")


async def once(
    source: str,
    external_id: str,
    kind: BillingEventKind,
    content: dict[str, Any],
    work: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run `work` for a new event and keep its result; a repeat returns that result.

    The same external id with other content is a CONFLICT. Two concurrent deliveries of
    one event race on the unique (source, external id): the loser reads the winner's result.
    """
    check_external_id("external_id", external_id)
    digest = content_hash(content)
    for _ in range(3):
        seen = (
            await BillingEvent.filter(source=source, external_id=external_id)
            .first()
            .values("kind", "content_hash", "result")
        )
        if seen is not None:
            if seen["kind"] != kind or seen["content_hash"] != digest:
                raise fail(
                    "external_id", UserErrorCode.CONFLICT, "This external id was used before with different content."
                )
            return seen["result"]
        try:
            async with in_transaction():
                event = await BillingEvent.create(
                    source=source, external_id=external_id, kind=kind, content_hash=digest, result={}, received_at=now()
                )
                result = await work()
                await BillingEvent.filter(id=event.id).update(result=result)
            return result
        except IntegrityError:
            continue  # another delivery of the same event committed first
    raise fail("external_id", UserErrorCode.CONFLICT, "This event is being processed; send it again.")


async def _require_billing_writer(actor: Actor, source: str) -> None:
    """API events need a `billing:write` key; Stripe events were verified by their signature."""
    if source == "api":
        await BILLING_WRITER.enforce(actor)


def _no_rate(error: MissingExchangeRate) -> Exception:
    return fail("currency", UserErrorCode.NO_EXCHANGE_RATE, str(error))


async def record_payment(
    actor: Actor,
    settings: Settings,
    *,
    source: str = "api",
    external_id: str,
    organization_id: int,
    amount: str,
    currency: str,
    paid_at: datetime,
    plan_code: str | None,
) -> dict[str, Any]:
    """A payment of a customer organization: stored once, earns its commission, and takes any
    refund that arrived before it."""
    await _require_billing_writer(actor, source)
    code = clean_currency(currency)
    minor = to_minor(amount, code)
    if minor <= 0:
        raise fail("amount", UserErrorCode.INVALID_VALUE, "A payment is a positive amount.")
    plan_id = None
    if plan_code:
        plan_id = await Plan.filter(code=plan_code.strip().upper()).first().values_list("id", flat=True)
        if plan_id is None:
            raise fail("plan_code", UserErrorCode.INVALID_VALUE, "No plan has this code.")
    if not await Organization.filter(id=organization_id).exists():
        raise NotFound()
    content = {
        "organization": organization_id,
        "amount": minor,
        "currency": code,
        "paid_at": paid_at.isoformat(),
        "plan": plan_id,
    }

    async def work() -> dict[str, Any]:
        payment = await Payment.create(
            external_id=external_id,
            organization_id=organization_id,
            plan_id=plan_id,
            amount=minor,
            currency=code,
            paid_at=paid_at,
            created_at=now(),
        )
        try:
            line = await commission_for_payment(settings, payment)
        except MissingExchangeRate as error:
            raise _no_rate(error) from error
        for refund in await Refund.filter(payment_external_id=external_id, payment_id=None).order_by("id"):
            if refund.currency != payment.currency:  # a bad early refund must not block a good payment
                logger.warning(
                    "Refund %s is in %s, its payment %s in %s: left unapplied",
                    refund.external_id,
                    refund.currency,
                    external_id,
                    payment.currency,
                )
                continue
            await apply_refund(refund, payment)
            payment = await Payment.get(id=payment.id)
        await audit.record(
            actor,
            "payment.record",
            "Payment",
            payment.id,
            organization_id=organization_id,
            changes={"external_id": external_id, "amount": minor, "currency": code},
        )
        return {"payment_id": payment.id, "commission_id": line}

    return await once(source, external_id, BillingEventKind.PAYMENT, content, work)


async def _apply_checked(refund: Refund, payment: Payment) -> None:
    if refund.currency != payment.currency:
        raise fail("currency", UserErrorCode.CURRENCY_MISMATCH, "A refund is in the currency of its payment.")
    await apply_refund(refund, payment)


async def record_refund(
    actor: Actor,
    *,
    source: str = "api",
    external_id: str,
    payment_external_id: str,
    amount: str,
    currency: str,
    refunded_at: datetime,
) -> dict[str, Any]:
    """A full or partial refund. Before its payment is known it waits and applies on arrival."""
    await _require_billing_writer(actor, source)
    check_external_id("payment_external_id", payment_external_id)
    code = clean_currency(currency)
    minor = to_minor(amount, code)
    if minor <= 0:
        raise fail("amount", UserErrorCode.INVALID_VALUE, "A refund is a positive amount.")
    content = {
        "payment": payment_external_id,
        "amount": minor,
        "currency": code,
        "refunded_at": refunded_at.isoformat(),
    }

    async def work() -> dict[str, Any]:
        refund = await Refund.create(
            external_id=external_id,
            payment_external_id=payment_external_id,
            amount=minor,
            currency=code,
            refunded_at=refunded_at,
        )
        payment = await Payment.filter(external_id=payment_external_id).select_for_update().first()
        if payment is not None:
            if payment.refunded_amount + minor > payment.amount:
                raise fail("amount", UserErrorCode.INVALID_VALUE, "The refunds would exceed the payment.")
            await _apply_checked(refund, payment)
        await audit.record(
            actor,
            "refund.record",
            "Refund",
            refund.id,
            organization_id=payment.organization_id if payment else None,
            changes={"external_id": external_id, "amount": minor, "payment": payment_external_id},
        )
        return {"refund_id": refund.id, "payment_id": payment.id if payment else None}

    return await once(source, external_id, BillingEventKind.REFUND, content, work)


async def record_license_change(
    actor: Actor,
    *,
    source: str = "api",
    external_id: str,
    organization_id: int,
    subscription_event: SubscriptionEvent | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A license change, taken once. A Stripe `subscription_event` older than the last one
    applied to its subscription is kept but changes nothing (`applied: false`)."""
    await _require_billing_writer(actor, source)
    if not await Organization.filter(id=organization_id).exists():
        raise NotFound()
    values = license_values(**fields)

    async def work() -> dict[str, Any]:
        if subscription_event is not None and not await claim_subscription_event(subscription_event, organization_id):
            return {"organization_id": organization_id, "applied": False}
        await _write_license(actor, organization_id, values)
        return {"organization_id": organization_id, "applied": True}

    return await once(
        source, external_id, BillingEventKind.LICENSE_CHANGE, {"organization": organization_id, **values}, work
    )


async def visible_payment(actor: Actor, payment_id: int) -> dict[str, Any] | None:
    """A payment the actor sees (`scoping.visible_payments`), None otherwise."""
    return await (await scoping.visible_payments(actor)).filter(id=payment_id).first().values(*PAYMENT_FIELDS)


async def get_license(organization_id: int) -> dict[str, Any] | None:
    return await License.filter(organization_id=organization_id).first().values(*LICENSE_FIELDS)
