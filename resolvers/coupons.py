"""Reseller coupons: price tables, coupon orders invoiced at wholesale, and redemptions.

- Operators (MANAGE_PROGRAMS) set each reseller's discount level, 10 to 60 percent
  (`set_reseller_discount`); a reseller without one buys at the lowest level, 10 percent.
- Wholesale price = monthly list price x (1 - discount), rounded once, half to even, to the
  currency's minor unit; margin = list price - wholesale price. An order's invoice total is
  wholesale x count x months, in integers: exact.
- `create_coupons`: MANAGE_PARTNER_PORTAL holders of a partner in the RESELLER program; 1 to
  1,000 coupons and 1 to 36 months per order. The order, its coupons and its invoice are
  written in one transaction. A code is 20 characters from an alphabet without look-alikes
  (32^20, 100 bits, from `secrets`); resellers list their codes to hand them out, so the code
  itself is stored. Coupons expire `COUPON_VALID_DAYS` after the order unless redeemed.
- `redeem_coupon`: administrators of the customer organization or holders of ORDER_LICENSES
  (also delegated, in a management session). One guessable look-up of the client is counted
  (`throttle_lookup("coupons")`) before the database is asked. The coupon is claimed by one
  conditional UPDATE (unredeemed and not expired): of concurrent attempts exactly one claims
  it, the others get INVALID_VALUE, as for an unknown, used or expired code (which one is not
  told). In the same transaction the organization's license becomes ACTIVE on the plan, with
  the monthly wholesale price as its MRR; the months bought run from the end of the
  organization's latest coupon-paid period still running, else from now, and their end is
  kept on the coupon (`paid_until`). The license itself has no end date: letting it lapse
  at `paid_until` is left to a job (not built yet).
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from partner_portal.models.billing import License
from partner_portal.models.catalog import Plan
from partner_portal.models.clock import now
from partner_portal.models.coupons import Coupon, CouponOrder, Invoice, ResellerDiscount
from partner_portal.models.enums import LicenseStatus, Program
from partner_portal.models.organizations import Organization
from partner_portal.models.partners import ProgramEnrollment
from partner_portal.models.tortoise_internals import max_length
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import LICENSE_ORDERER, PROGRAM_MANAGER, RESELLER_PORTAL, RESELLER_READER
from partner_portal.resolvers import audit
from partner_portal.resolvers.billing import _write_license
from partner_portal.resolvers.catalog import PLAN_FIELDS
from partner_portal.resolvers.errors import UserErrorCode, fail, query_argument
from partner_portal.resolvers.money import basis_points, round_minor
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.resolvers.partners import CODE_ALPHABET, random_code
from partner_portal.resolvers.validation import clean_currency

CODE_LENGTH = 20
MAX_CODE_INPUT = 64
MAX_COUPONS_PER_ORDER = 1000
MAX_MONTHS = 36
MIN_DISCOUNT_BP, MAX_DISCOUNT_BP = 1000, 6000
DEFAULT_DISCOUNT_BP = MIN_DISCOUNT_BP
COUPON_VALID_DAYS = 365
PLAN_NAME_LENGTH = max_length(License, "plan")

ORDER_FIELDS = (
    "id",
    "partner_id",
    "plan_id",
    "plan__code",
    "plan__name",
    "plan__prices",
    "count",
    "months",
    "currency",
    "list_unit_amount",
    "discount_bp",
    "wholesale_unit_amount",
    "total_amount",
    "created_by_id",
    "created_at",
)
COUPON_FIELDS = (
    "id",
    "order_id",
    "code",
    "expires_at",
    "redeemed_at",
    "organization_id",
    "paid_until",
    "order__plan__code",
    "order__months",
)
INVOICE_FIELDS = ("id", "order_id", "number", "amount", "currency", "issued_at")


# --- prices ------------------------------------------------------------------------------------------------


def wholesale(list_amount: int, discount_bp: int) -> int:
    """The monthly wholesale price in minor units: rounded once, half to even."""
    return round_minor(Decimal(list_amount) * (10000 - discount_bp) / 10000)


async def discount_of(partner_id: int) -> int:
    level = await ResellerDiscount.filter(partner_id=partner_id).first().values_list("discount_bp", flat=True)
    return DEFAULT_DISCOUNT_BP if level is None else level


async def _is_reseller(partner_id: int) -> bool:
    return await ProgramEnrollment.filter(partner_id=partner_id, program=Program.RESELLER).exists()


async def price_table(actor: Actor, partner_id: int | None, currency: str | None) -> dict[str, Any]:
    """Per plan and currency: list price, discount, wholesale price, margin (all monthly)."""
    partner = await RESELLER_READER.enforce(actor, partner_id)
    discount_bp = await discount_of(partner)
    wanted = query_argument(clean_currency, currency) if currency else None
    rows = []
    for plan in await Plan.all().order_by("id").values(*PLAN_FIELDS):
        for code, list_amount in sorted(plan["prices"].items()):
            if wanted is not None and code != wanted:
                continue
            unit = wholesale(list_amount, discount_bp)
            rows.append(
                {
                    "plan": plan,
                    "currency": code,
                    "list_amount": list_amount,
                    "discount_bp": discount_bp,
                    "wholesale_amount": unit,
                    "margin_amount": list_amount - unit,
                }
            )
    return {"partner_id": partner, "discount_bp": discount_bp, "rows": rows}


async def set_reseller_discount(actor: Actor, partner_id: int, discount: str) -> dict[str, Any]:
    """Operators with MANAGE_PROGRAMS; the partner must be in the RESELLER program."""
    await PROGRAM_MANAGER.enforce(actor)
    if not await Organization.filter(id=partner_id).exists():
        raise NotFound()
    discount_bp = basis_points(discount, "discount")
    if not MIN_DISCOUNT_BP <= discount_bp <= MAX_DISCOUNT_BP:
        raise fail("discount", UserErrorCode.INVALID_VALUE, "A reseller discount is from 10.00 to 60.00 percent.")
    if not await _is_reseller(partner_id):
        raise fail("partner_id", UserErrorCode.INVALID_VALUE, "The organization is not in the RESELLER program.")
    async with in_transaction():
        await ResellerDiscount.update_or_create(
            defaults={"discount_bp": discount_bp, "updated_at": now()}, partner_id=partner_id
        )
        await audit.record(
            actor,
            "reseller_discount.set",
            "Organization",
            partner_id,
            organization_id=partner_id,
            changes={"discount_bp": discount_bp},
        )
    return {"partner_id": partner_id, "discount_bp": discount_bp}


# --- orders ------------------------------------------------------------------------------------------------


def normalize(raw: str) -> str | None:
    """What a customer typed, as stored: upper case without spaces and hyphens (None: cannot be a code)."""
    if len(raw) > MAX_CODE_INPUT:
        return None
    cleaned = "".join(c for c in raw.upper() if c not in " -\t")
    if len(cleaned) != CODE_LENGTH or not all(c in CODE_ALPHABET for c in cleaned):
        return None
    return cleaned


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day where it is shorter)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _invoice_number(order_id: int, moment: datetime) -> str:
    return f"CPN-{moment.year}-{order_id:07d}"


async def create_coupons(
    actor: Actor,
    partner_id: int | None,
    *,
    plan_id: int,
    count: int,
    months: int,
    currency: str | None,
) -> dict[str, Any]:
    """`count` coupons of `plan_id` for `months`, invoiced at once; returns the order's id."""
    membership, profile = await RESELLER_PORTAL.enforce(actor, partner_id)
    partner = membership.organization_id
    if not 1 <= count <= MAX_COUPONS_PER_ORDER:
        raise fail("count", UserErrorCode.INVALID_VALUE, f"Order 1 to {MAX_COUPONS_PER_ORDER} coupons at a time.")
    if not 1 <= months <= MAX_MONTHS:
        raise fail("months", UserErrorCode.INVALID_VALUE, f"A coupon is for 1 to {MAX_MONTHS} months.")
    plan = await Plan.filter(id=plan_id).first().values(*PLAN_FIELDS)
    if plan is None:
        raise NotFound()
    code = clean_currency(currency) if currency else profile["payout_currency"]
    if code not in plan["prices"]:
        raise fail("currency", UserErrorCode.INVALID_VALUE, f"The plan has no price in {code}.")
    list_amount = plan["prices"][code]
    discount_bp = await discount_of(partner)
    unit = wholesale(list_amount, discount_bp)
    total = unit * count * months
    for _ in range(3):  # a code colliding with an existing one (2^-100 per pair) retries the order
        moment = now()
        try:
            async with in_transaction():
                order = await CouponOrder.create(
                    partner_id=partner,
                    plan_id=plan_id,
                    count=count,
                    months=months,
                    currency=code,
                    list_unit_amount=list_amount,
                    discount_bp=discount_bp,
                    wholesale_unit_amount=unit,
                    total_amount=total,
                    created_by_id=actor.user_id,
                    created_at=moment,
                )
                codes = {random_code(CODE_LENGTH) for _ in range(count)}
                while len(codes) < count:
                    codes.add(random_code(CODE_LENGTH))
                expires = moment + timedelta(days=COUPON_VALID_DAYS)
                await Coupon.bulk_create(
                    [Coupon(order_id=order.id, code=c, expires_at=expires) for c in codes], batch_size=250
                )
                invoice = await Invoice.create(
                    order_id=order.id,
                    number=_invoice_number(order.id, moment),
                    amount=total,
                    currency=code,
                    issued_at=moment,
                )
                await audit.record(
                    actor,
                    "coupon_order.create",
                    "CouponOrder",
                    order.id,
                    acting=membership,
                    changes={
                        "plan": plan["code"],
                        "count": count,
                        "months": months,
                        "currency": code,
                        "wholesale_unit_amount": unit,
                        "total_amount": total,
                        "invoice": invoice.number,
                    },
                )
            return {"order_id": order.id}
        except IntegrityError:
            continue
    raise fail(None, UserErrorCode.CONFLICT, "The coupons could not be made; order again.")


async def visible_order(actor: Actor, order_id: int) -> dict[str, Any] | None:
    """An order the actor sees (`scoping.visible_coupon_orders`), None otherwise."""
    return await (await scoping.visible_coupon_orders(actor)).filter(id=order_id).first().values(*ORDER_FIELDS)


async def visible_coupon(actor: Actor, coupon_id: int) -> dict[str, Any] | None:
    """A coupon the actor sees (`scoping.visible_coupons`), None otherwise."""
    return await (await scoping.visible_coupons(actor)).filter(id=coupon_id).first().values(*COUPON_FIELDS)


async def visible_invoice(actor: Actor, invoice_id: int) -> dict[str, Any] | None:
    """An invoice the actor sees (`scoping.visible_coupon_invoices`), None otherwise."""
    return await (await scoping.visible_coupon_invoices(actor)).filter(id=invoice_id).first().values(*INVOICE_FIELDS)


async def list_orders(actor: Actor, partner_id: int | None, *, first: int | None, after: str | None) -> Page:
    partner = await RESELLER_READER.enforce(actor, partner_id)
    orders = (await scoping.visible_coupon_orders(actor)).filter(partner_id=partner)
    return await paginate(orders, fields=ORDER_FIELDS, first=first, after=after, order=("-id",))


async def invoices_of(actor: Actor, order_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The invoices the actor sees of several orders in one query (for the orders of a page)."""
    rows = await (await scoping.visible_coupon_invoices(actor)).filter(order_id__in=order_ids).values(*INVOICE_FIELDS)
    return {row["order_id"]: row for row in rows}


def coupon_status(row: dict[str, Any], moment: datetime) -> str:
    if row["redeemed_at"] is not None:
        return "REDEEMED"
    if row["expires_at"] is not None and row["expires_at"] <= moment:
        return "EXPIRED"
    return "UNUSED"


async def coupons_of_order(actor: Actor, order_id: int) -> list[dict[str, Any]]:
    """The coupons of an order just placed (for the payload of `createCoupons`) that the actor sees."""
    return await (await scoping.visible_coupons(actor)).filter(order_id=order_id).order_by("id").values(*COUPON_FIELDS)


async def list_coupons(
    actor: Actor,
    partner_id: int | None,
    *,
    order_id: int | None,
    status: str | None,
    first: int | None,
    after: str | None,
) -> Page:
    partner = await RESELLER_READER.enforce(actor, partner_id)
    queryset = (await scoping.visible_coupons(actor)).filter(order__partner_id=partner)
    if order_id is not None:
        queryset = queryset.filter(order_id=order_id)
    moment = now()
    if status == "REDEEMED":
        queryset = queryset.filter(redeemed_at__isnull=False)
    elif status == "EXPIRED":
        queryset = queryset.filter(redeemed_at__isnull=True, expires_at__lte=moment)
    elif status == "UNUSED":
        queryset = queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=moment), redeemed_at__isnull=True)
    return await paginate(queryset, fields=COUPON_FIELDS, first=first, after=after)


# --- redemption --------------------------------------------------------------------------------------------


def _unusable() -> Exception:
    return fail("code", UserErrorCode.INVALID_VALUE, "This coupon code is unknown, used or expired.")


async def redeem_coupon(actor: Actor, throttle_lookup: Any, *, organization_id: int, raw: str) -> dict[str, Any]:
    """Administrators or ORDER_LICENSES holders of the customer organization (see the module docstring)."""
    membership = await LICENSE_ORDERER.enforce(actor, organization_id)
    await throttle_lookup("coupons")
    code = normalize(raw)
    if code is None:
        raise _unusable()
    async with in_transaction():
        moment = now()
        claimed = await Coupon.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=moment),
            code=code,
            redeemed_at__isnull=True,
        ).update(redeemed_at=moment, organization_id=organization_id, redeemed_by_id=actor.user_id)
        if claimed != 1:
            raise _unusable()
        coupon = (
            await Coupon.filter(code=code)
            .first()
            .values(
                "id",
                "order_id",
                "order__partner_id",
                "order__months",
                "order__plan__name",
                "order__plan__code",
                "order__currency",
                "order__wholesale_unit_amount",
            )
        )
        running = (
            await Coupon.filter(organization_id=organization_id, paid_until__gt=moment)
            .order_by("-paid_until")
            .first()
            .values_list("paid_until", flat=True)
        )
        paid_until = add_months(running or moment, coupon["order__months"])
        await Coupon.filter(id=coupon["id"]).update(paid_until=paid_until)
        current = await License.filter(organization_id=organization_id).first().values("seats")
        await _write_license(
            actor,
            organization_id,
            {
                "status": LicenseStatus.ACTIVE.value,
                "plan": coupon["order__plan__name"][:PLAN_NAME_LENGTH],
                "seats": current["seats"] if current else 1,
                "mrr_amount": coupon["order__wholesale_unit_amount"],
                "currency": coupon["order__currency"],
                "trial_ends_at": None,
            },
        )
        await audit.record(
            actor,
            "coupon.redeem",
            "Coupon",
            coupon["id"],
            organization_id=organization_id,
            acting=membership,
            changes={
                "order": coupon["order_id"],
                "plan": coupon["order__plan__code"],
                "months": coupon["order__months"],
                "paid_until": paid_until.isoformat(),
            },
        )
    return {
        "coupon_id": coupon["id"],
        "organization_id": organization_id,
        "paid_until": paid_until,
        "plan_code": coupon["order__plan__code"],
        "months": coupon["order__months"],
    }
