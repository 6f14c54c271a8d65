"""GraphQL for billing events: payments, refunds and license changes from the billing system,
licenses set by operators, and which organization a Stripe customer is."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.enums import LicenseStatus
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.requirements import BILLING_WRITER, PROGRAM_MANAGER
from partner_portal.resolvers import billing, commissions, stripe
from partner_portal.schema.commissions import Commission
from partner_portal.schema.common import (
    Info,
    Node,
    NodeID,
    Payload,
    decode_id,
    describe_enum,
    global_id,
    node_type,
    run_mutation,
)
from partner_portal.schema.money import Money, MoneyInput
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import RowType, member, row_type

describe_enum(
    LicenseStatus,
    "Where an organization's license stands.",
    {
        "TRIAL": "Trying the product.",
        "ACTIVE": "Paid and current.",
        "PAST_DUE": "A payment is overdue.",
        "CANCELED": "Canceled by the customer.",
        "EXPIRED": "Ran out without renewal.",
    },
)


@strawberry.type(description="An organization's license.")
class License:
    status: LicenseStatus = strawberry.field(description="Where the license stands.")
    plan: str = strawberry.field(description="The plan's name.")
    seats: int = strawberry.field(description="How many users it covers.")
    monthly_recurring_revenue: Money = strawberry.field(description="What it brings in per month.")
    trial_ends_at: datetime | None = strawberry.field(description="When the trial ends, for trials.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: dict[str, Any], prefix: str = "") -> License | None:
        """From a license row, or from a joined row whose license columns carry `prefix`."""
        if row.get(f"{prefix}status") is None:
            return None
        return cls(
            status=member(LicenseStatus, row[f"{prefix}status"]),
            plan=row[f"{prefix}plan"],
            seats=row[f"{prefix}seats"],
            monthly_recurring_revenue=Money.of(row[f"{prefix}mrr_amount"], row[f"{prefix}currency"]),
            trial_ends_at=row[f"{prefix}trial_ends_at"],
            updated_at=row[f"{prefix}updated_at"],
        )


@row_type(
    billing.PAYMENT_FIELDS,
    amount=lambda row: Money.of(row["amount"], row["currency"]),
    refunded=lambda row: Money.of(row["refunded_amount"], row["currency"]),
)
@strawberry.type(description="A payment as recorded.")
class Payment(Node, RowType):
    id: NodeID[int]
    external_id: str = strawberry.field(description="The billing system's id.")
    amount: Money = strawberry.field(description="What was paid.")
    refunded: Money = strawberry.field(description="What was refunded of it so far.")
    paid_at: datetime = strawberry.field(description="When it was paid.")


@node_type("Payment")
async def _fetch_payment(context: Any, pk: int) -> Payment | None:
    row = await billing.visible_payment(context.actor, pk)
    return Payment.from_row(row) if row else None


@strawberry.type(description="A Stripe customer linked to an organization: its Stripe events count for it.")
class StripeCustomerLink:
    stripe_customer_id: str = strawberry.field(description="The Stripe customer id (cus_…).")
    organization_id: GlobalID = strawberry.field(description="The global id of the organization it belongs to.")


# --- inputs and payloads ---------------------------------------------------------------------------------


@strawberry.input(description="Set an organization's license.")
class SetLicenseInput:
    organization_id: GlobalID = strawberry.field(description="The organization.")
    status: LicenseStatus = strawberry.field(description="The license status.")
    plan: str = strawberry.field(description="The plan's name.")
    seats: int = strawberry.field(default=1, description="How many users it covers.")
    mrr: MoneyInput = strawberry.field(description="Monthly recurring revenue.")
    trial_ends_at: datetime | None = strawberry.field(default=None, description="When a trial ends.")


@strawberry.type(description="The organization's license after the change.")
class SetLicensePayload(Payload):
    license: License | None = strawberry.field(default=None, description="The license.")


@strawberry.input(description="A payment from the billing system; idempotent by externalId.")
class RecordPaymentInput:
    external_id: str = strawberry.field(description="The billing system's unique id of the payment.")
    organization_id: GlobalID = strawberry.field(description="The paying organization.")
    amount: MoneyInput = strawberry.field(description="What was paid (after any discount).")
    paid_at: datetime = strawberry.field(description="When it was paid.")
    plan_code: str | None = strawberry.field(default=None, description="The plan paid for, if known.")


@strawberry.type(
    description="The recorded payment and the commission it earned, if any. A reused external id is a CONFLICT error."
)
class RecordPaymentPayload(Payload):
    payment: Payment | None = strawberry.field(default=None, description="The payment.")
    commission: Commission | None = strawberry.field(
        default=None, description="Its commission line, if one was earned."
    )


@strawberry.input(description="A full or partial refund; idempotent by externalId.")
class RecordRefundInput:
    external_id: str = strawberry.field(description="The billing system's unique id of the refund.")
    payment_external_id: str = strawberry.field(description="The refunded payment's external id.")
    amount: MoneyInput = strawberry.field(description="What was refunded.")
    refunded_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="The refund; `payment` is null while the payment has not arrived yet.")
class RecordRefundPayload(Payload):
    payment: Payment | None = strawberry.field(default=None, description="The refunded payment, once known.")


@strawberry.input(description="A license change from the billing system.")
class RecordLicenseChangeInput:
    external_id: str = strawberry.field(description="The billing system's unique id of the change.")
    organization_id: GlobalID = strawberry.field(description="The organization.")
    status: LicenseStatus = strawberry.field(description="The license status.")
    plan: str = strawberry.field(description="The plan's name.")
    seats: int = strawberry.field(default=1, description="Seats.")
    mrr: MoneyInput = strawberry.field(description="Monthly recurring revenue.")
    trial_ends_at: datetime | None = strawberry.field(default=None, description="When a trial ends.")


@strawberry.type(description="The organization's license after the change.")
class RecordLicenseChangePayload(Payload):
    license: License | None = strawberry.field(default=None, description="The license.")


@strawberry.input(
    description="Link a Stripe customer to an organization. Used "
    "when the customer's Stripe metadata has no `organization_id`; linking again moves it."
)
class LinkStripeCustomerInput:
    stripe_customer_id: str = strawberry.field(description="The Stripe customer id (cus_…).")
    organization_id: GlobalID = strawberry.field(description="The organization the customer is.")


@strawberry.type(description="The link between the Stripe customer and the organization.")
class LinkStripeCustomerPayload(Payload):
    link: StripeCustomerLink | None = strawberry.field(default=None, description="The link as it is now.")


async def _payment_result(actor: Actor, result: dict[str, Any]) -> dict[str, Any]:
    payment = await billing.visible_payment(actor, result["payment_id"])
    line = await commissions.visible_line(actor, result["commission_id"]) if result["commission_id"] else None
    return {
        "payment": Payment.from_row(payment) if payment else None,
        "commission": Commission.from_row(line) if line else None,
    }


async def _refund_result(actor: Actor, result: dict[str, Any]) -> dict[str, Any]:
    payment = await billing.visible_payment(actor, result["payment_id"]) if result["payment_id"] else None
    return {"payment": Payment.from_row(payment) if payment else None}


async def _license_result(result: dict[str, Any]) -> dict[str, Any]:
    row = await billing.get_license(result["organization_id"])
    return {"license": License.from_row(row) if row else None}


def _link(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "link": StripeCustomerLink(
            stripe_customer_id=row["stripe_customer_id"],
            organization_id=global_id("Organization", row["organization_id"]),
        )
    }


# The mutations are three roots only to keep the schema's field order (schema/__init__.py merges them
# between the other domains' mutations): operators' licenses, the billing system's events, Stripe links.


@strawberry.type
class LicenseMutation:
    @strawberry.mutation(description="Set an organization's license.", extensions=[Requires(PROGRAM_MANAGER)])
    async def set_license(self, info: Info, input: SetLicenseInput) -> SetLicensePayload:
        change = billing.set_license(
            info.context.actor,
            decode_id(input.organization_id, "Organization"),
            status=input.status,
            plan=input.plan,
            seats=input.seats,
            mrr_amount=str(input.mrr.amount),
            currency=input.mrr.currency,
            trial_ends_at=input.trial_ends_at,
        )
        return await run_mutation(SetLicensePayload, change, lambda row: {"license": License.from_row(row)})


@strawberry.type
class BillingMutation:
    @strawberry.mutation(
        description="Record a payment; a repeated externalId returns the first result.",
        extensions=[Requires(BILLING_WRITER)],
    )
    async def record_payment(self, info: Info, input: RecordPaymentInput) -> RecordPaymentPayload:
        ctx = info.context
        change = billing.record_payment(
            ctx.actor,
            ctx.settings,
            external_id=input.external_id,
            organization_id=decode_id(input.organization_id, "Organization"),
            amount=str(input.amount.amount),
            currency=input.amount.currency,
            paid_at=input.paid_at,
            plan_code=input.plan_code,
        )
        return await run_mutation(RecordPaymentPayload, change, partial(_payment_result, ctx.actor))

    @strawberry.mutation(
        description="Record a refund; before its payment arrives it is kept.", extensions=[Requires(BILLING_WRITER)]
    )
    async def record_refund(self, info: Info, input: RecordRefundInput) -> RecordRefundPayload:
        change = billing.record_refund(
            info.context.actor,
            external_id=input.external_id,
            payment_external_id=input.payment_external_id,
            amount=str(input.amount.amount),
            currency=input.amount.currency,
            refunded_at=input.refunded_at,
        )
        return await run_mutation(RecordRefundPayload, change, partial(_refund_result, info.context.actor))

    @strawberry.mutation(
        description="Record a license change; idempotent by externalId.", extensions=[Requires(BILLING_WRITER)]
    )
    async def record_license_change(self, info: Info, input: RecordLicenseChangeInput) -> RecordLicenseChangePayload:
        organization_id = decode_id(input.organization_id, "Organization")
        change = billing.record_license_change(
            info.context.actor,
            external_id=input.external_id,
            organization_id=organization_id,
            status=input.status,
            plan=input.plan,
            seats=input.seats,
            mrr_amount=str(input.mrr.amount),
            currency=input.mrr.currency,
            trial_ends_at=input.trial_ends_at,
        )
        return await run_mutation(RecordLicenseChangePayload, change, _license_result)


@strawberry.type
class StripeCustomerMutation:
    @strawberry.mutation(
        description="Say which organization a Stripe customer is, for Stripe events whose metadata does not.",
        extensions=[Requires(PROGRAM_MANAGER)],
    )
    async def link_stripe_customer(self, info: Info, input: LinkStripeCustomerInput) -> LinkStripeCustomerPayload:
        change = stripe.link_customer(
            info.context.actor,
            stripe_customer_id=input.stripe_customer_id,
            organization_id=decode_id(input.organization_id, "Organization"),
        )
        return await run_mutation(LinkStripeCustomerPayload, change, _link)
