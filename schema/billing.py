"""GraphQL for money and licenses."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.enums import LicenseStatus
from partner_portal.resolvers import billing
from partner_portal.resolvers.money import to_decimal
from partner_portal.schema.common import Info, UserError, decode_id, describe_enum, run_mutation

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


@strawberry.type(description="An amount of money.")
class Money:
    amount: Decimal = strawberry.field(description="The exact amount as a decimal string, e.g. \"19.99\".")
    currency: str = strawberry.field(description="ISO 4217 currency code.")

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        return cls(amount=to_decimal(minor, currency), currency=currency)


@strawberry.input(description="An amount of money.")
class MoneyInput:
    amount: Decimal = strawberry.field(description="The exact amount, with at most the currency's decimals.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")


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
            status=LicenseStatus(row[f"{prefix}status"]),
            plan=row[f"{prefix}plan"],
            seats=row[f"{prefix}seats"],
            monthly_recurring_revenue=Money.of(row[f"{prefix}mrr_amount"], row[f"{prefix}currency"]),
            trial_ends_at=row[f"{prefix}trial_ends_at"],
            updated_at=row[f"{prefix}updated_at"],
        )


@strawberry.input(description="Set an organization's license (operators with MANAGE_PROGRAMS).")
class SetLicenseInput:
    organization_id: GlobalID = strawberry.field(description="The organization.")
    status: LicenseStatus = strawberry.field(description="The license status.")
    plan: str = strawberry.field(description="The plan's name.")
    seats: int = strawberry.field(default=1, description="How many users it covers.")
    mrr: MoneyInput = strawberry.field(description="Monthly recurring revenue.")
    trial_ends_at: datetime | None = strawberry.field(default=None, description="When a trial ends.")


@strawberry.type(description="The organization's license after the change.")
class SetLicensePayload:
    license: License | None = strawberry.field(default=None, description="The license.")
    errors: list[UserError] = strawberry.field(description="What was wrong with the input.")


@strawberry.type
class BillingMutation:
    @strawberry.mutation(description="Set an organization's license (operators with MANAGE_PROGRAMS).")
    async def set_license(self, info: Info, input: SetLicenseInput) -> SetLicensePayload:
        change = billing.set_license(
            info.context.actor, decode_id(input.organization_id, "Organization"), status=input.status,
            plan=input.plan, seats=input.seats, mrr_amount=str(input.mrr.amount), currency=input.mrr.currency,
            trial_ends_at=input.trial_ends_at,
        )
        return await run_mutation(SetLicensePayload, change, lambda row: {"license": License.from_row(row)})
