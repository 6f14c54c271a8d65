"""Expert discount codes: the partner's personal code, its validation and redemption at the
vendor's checkout, and the partner's figures.

- The code is created on the partner's first view (`expert_code`), with the discount of
  `EXPERT_DISCOUNT_PERCENT` at that moment; a later change of the setting leaves existing codes.
  10 characters from an alphabet without look-alikes (32^10, about 10^15 codes); look-ups accept
  lower case, spaces and hyphens.
- A code is valid while it is active and its partner is still in the EXPERT program.
- `check_code` and `redeem_code` are for the vendor's checkout (API keys with billing:write)
  and count one guessable look-up of the client each (`throttle_lookup("codes")`) before the
  database is asked; an unknown and an inactive code look alike.
- A redemption is one per customer organization: redeeming again returns the first one. It
  creates the customer's `Referral` of type CODE unless the customer has a referral already
  (the first referral wins: `attributed` is false then). The discount applies at the checkout
  either way; who earns for the customer's payments follows the commission rules
  (resolvers/commissions.py): a service-partner relationship in force comes before any referral.
- A partner cannot redeem its own code for its own organization or an organization one of its
  members belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from partner_portal.models.billing import Payment
from partner_portal.models.catalog import Plan
from partner_portal.models.clock import now
from partner_portal.models.codes import DiscountCode, DiscountRedemption
from partner_portal.models.commissions import Commission
from partner_portal.models.enums import CommissionStatus, CommissionType, Program
from partner_portal.models.organizations import Organization
from partner_portal.models.partners import PartnerProfile, ProgramEnrollment
from partner_portal.models.referrals import Referral
from partner_portal.models.tortoise_internals import max_length
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import BILLING_WRITER, EXPERT_PORTAL
from partner_portal.resolvers import audit
from partner_portal.resolvers.catalog import PLAN_FIELDS
from partner_portal.resolvers.commissions import own_organization
from partner_portal.resolvers.errors import UserErrorCode, fail
from partner_portal.resolvers.money import basis_points
from partner_portal.resolvers.partners import random_code
from partner_portal.settings import Settings

CODE_LENGTH = 10
MAX_CODE_INPUT = 64
CODE_FIELDS = ("id", "partner_id", "code", "percent_bp", "plan_ids", "active", "created_at")
REDEMPTION_FIELDS = (
    "id",
    "code_id",
    "code__code",
    "partner_id",
    "customer_id",
    "percent_bp",
    "external_id",
    "attributed",
    "created_at",
)
EARNING_STATUSES = (CommissionStatus.PENDING, CommissionStatus.APPROVED, CommissionStatus.PAID)


def normalize(raw: str) -> str | None:
    """What a customer typed, as stored: upper case without spaces and hyphens (None: cannot be a code)."""
    if len(raw) > MAX_CODE_INPUT:
        return None
    cleaned = "".join(c for c in raw.upper() if c not in " -\t")
    if not cleaned or len(cleaned) > max_length(DiscountCode, "code") or not cleaned.isalnum():
        return None
    return cleaned


# --- the partner's view --------------------------------------------------------------------------------


async def expert_code(actor: Actor, settings: Settings, partner_id: int | None) -> dict[str, Any]:
    """MANAGE_PARTNER_PORTAL holders of a partner in the EXPERT program; made on first view."""
    membership, _ = await EXPERT_PORTAL.enforce(actor, partner_id)
    partner = membership.organization_id
    codes = (await scoping.visible_discount_codes(actor)).filter(partner_id=partner)
    row = await codes.first().values(*CODE_FIELDS)
    if row is not None:
        return row
    percent_bp = basis_points(settings.expert_discount_percent, "expert_discount_percent")
    for _ in range(5):  # a collision with another partner's code is unlikely; retry anyway
        try:
            async with in_transaction():
                created = await DiscountCode.create(
                    partner_id=partner, code=random_code(CODE_LENGTH), percent_bp=percent_bp, created_at=now()
                )
                await audit.record(
                    actor,
                    "discount_code.create",
                    "DiscountCode",
                    created.id,
                    acting=membership,
                    changes={"code": created.code, "percent_bp": percent_bp},
                )
            break
        except IntegrityError:
            row = await codes.first().values(*CODE_FIELDS)
            if row is not None:  # a concurrent first view made it
                return row
    return await codes.first().values(*CODE_FIELDS)


@dataclass(frozen=True, slots=True)
class CodeFigures:
    redemptions: int
    paying_customers: int
    commission_earned: int
    currency: str


async def code_figures(code_id: int, partner_id: int) -> CodeFigures:
    """How often the code was used, by how many customers that paid, and what CODE lines earned
    (pending, approved and paid lines, refund adjustments included): three SQL aggregates."""
    redemptions = await DiscountRedemption.filter(code_id=code_id).count()
    paying = await DiscountRedemption.filter(
        code_id=code_id, customer_id__in=Subquery(Payment.all().values("organization_id"))
    ).count()
    earned = (
        await Commission.filter(partner_id=partner_id, type=CommissionType.CODE, status__in=EARNING_STATUSES)
        .annotate(total=Sum("amount"))
        .first()
        .values("total")
    )
    currency = await PartnerProfile.filter(organization_id=partner_id).first().values_list("payout_currency", flat=True)
    return CodeFigures(redemptions, paying, (earned or {}).get("total") or 0, currency or "USD")


async def plans_of_code(plan_ids: list[int]) -> list[dict[str, Any]]:
    """The plans a code applies to: the listed ones, or every plan when none is listed."""
    queryset = Plan.filter(id__in=plan_ids) if plan_ids else Plan.all()
    return await queryset.order_by("id").values(*PLAN_FIELDS)


# --- the checkout ---------------------------------------------------------------------------------------


async def _valid_code(actor: Actor, throttle_lookup: Any, raw: str) -> dict[str, Any] | None:
    """The code's row when it may be used now; counts one look-up of the client first."""
    await BILLING_WRITER.enforce(actor)
    await throttle_lookup("codes")
    code = normalize(raw)
    if code is None:
        return None
    return (
        await DiscountCode.filter(
            code=code,
            active=True,
            partner_id__in=Subquery(ProgramEnrollment.filter(program=Program.EXPERT).values("partner_id")),
        )
        .first()
        .values(*CODE_FIELDS)
    )


async def check_code(actor: Actor, throttle_lookup: Any, raw: str) -> dict[str, Any] | None:
    """API keys with billing:write; None for an unknown or unusable code (which one is not told)."""
    return await _valid_code(actor, throttle_lookup, raw)


async def visible_redemption(actor: Actor, redemption_id: int) -> dict[str, Any] | None:
    """A redemption the actor sees (`scoping.visible_discount_redemptions`), None otherwise."""
    visible = await scoping.visible_discount_redemptions(actor)
    return await visible.filter(id=redemption_id).first().values(*REDEMPTION_FIELDS)


async def _redemption(redemption_id: int) -> dict[str, Any] | None:
    return await DiscountRedemption.filter(id=redemption_id).first().values(*REDEMPTION_FIELDS)


@dataclass(frozen=True, slots=True)
class Redeemed:
    redemption: dict[str, Any]
    already_redeemed: bool


async def redeem_code(
    actor: Actor, throttle_lookup: Any, *, raw: str, customer_id: int, external_id: str | None
) -> Redeemed:
    """API keys with billing:write; idempotent per customer (see the module docstring)."""
    row = await _valid_code(actor, throttle_lookup, raw)
    if row is None:
        raise fail("code", UserErrorCode.INVALID_VALUE, "This code is not valid.")
    reference = (external_id or "").strip() or None
    if reference is not None and len(reference) > max_length(DiscountRedemption, "external_id"):
        raise fail("external_id", UserErrorCode.TOO_LONG, "Use at most 200 characters.")
    if not await Organization.filter(id=customer_id).exists():
        raise NotFound()
    for _ in range(3):
        first = await DiscountRedemption.filter(customer_id=customer_id).first().values("id")
        if first is not None:
            return Redeemed(await _redemption(first["id"]), already_redeemed=True)
        if await own_organization(row["partner_id"], customer_id):
            raise fail("code", UserErrorCode.INVALID_VALUE, "A partner cannot redeem its own code.")
        try:
            async with in_transaction():
                moment = now()
                attributed = not await Referral.filter(customer_id=customer_id).exists()
                if attributed:
                    await Referral.create(
                        customer_id=customer_id,
                        partner_id=row["partner_id"],
                        type=CommissionType.CODE,
                        created_at=moment,
                    )
                redemption = await DiscountRedemption.create(
                    code_id=row["id"],
                    partner_id=row["partner_id"],
                    customer_id=customer_id,
                    percent_bp=row["percent_bp"],
                    external_id=reference,
                    attributed=attributed,
                    created_at=moment,
                )
                await audit.record(
                    actor,
                    "discount_code.redeem",
                    "DiscountRedemption",
                    redemption.id,
                    organization_id=customer_id,
                    changes={"partner": row["partner_id"], "attributed": attributed, "external_id": reference},
                )
            return Redeemed(await _redemption(redemption.id), already_redeemed=False)
        except IntegrityError:
            continue  # a concurrent redemption (or referral) of the same customer committed first
    raise fail("code", UserErrorCode.CONFLICT, "This customer is being processed; send it again.")
