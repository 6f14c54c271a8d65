"""Commissions: which partner earns for a payment (attribution), how much (rules), the ledger
lines, refunds, the release after the hold period, and the partner's commission table.

Attribution, at the payment date (see the README's table):

1. a service-partner relationship in force: `PARTNER` when the customer came through the
   partner's invitation, `SELF` when it chose the partner itself before its first payment;
2. otherwise the customer's referral: `AFFILIATE` (link) or `CODE` (discount code);
3. otherwise nobody. One payment pays at most one partner.

Self-dealing (`own_organization`): a partner never earns on its own organization or on an
organization one of its members belongs to, whatever the channel. The edges refuse to make
such a link (affiliate links, codes, choosing a service partner, invitations), and attribution
skips a relationship or referral that has become one since (a membership added later, a link
made before the rule): the payment is attributed as if that channel were not there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from tortoise.expressions import F, Q, Subquery
from tortoise.functions import Sum
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from partner_portal.models.billing import Payment, Refund
from partner_portal.models.catalog import Plan, Product
from partner_portal.models.clock import now
from partner_portal.models.commissions import Commission, CommissionRule
from partner_portal.models.customers import CustomerRelationship
from partner_portal.models.enums import (
    CommissionRuleKind,
    CommissionStatus,
    CommissionType,
    Program,
    Recurrence,
    RelationshipSource,
)
from partner_portal.models.organizations import Membership
from partner_portal.models.partners import PartnerProfile, ProgramEnrollment
from partner_portal.models.referrals import Referral
from partner_portal.models.webhooks import WebhookEventType
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import PARTNER_PORTAL, PAYOUT_READER, PROGRAM_MANAGER
from partner_portal.resolvers import audit, webhooks
from partner_portal.resolvers.catalog import conversion_rate
from partner_portal.resolvers.errors import UserErrorCode, fail
from partner_portal.resolvers.money import MAX_MINOR, basis_points, minor_exact, round_minor, to_minor
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.resolvers.validation import clean_currency
from partner_portal.settings import Settings

logger = logging.getLogger("partner_portal.commissions")

PROGRAM_OF_TYPE = {
    CommissionType.PARTNER: Program.SERVICE_PARTNER,
    CommissionType.SELF: Program.SERVICE_PARTNER,
    CommissionType.AFFILIATE: Program.AFFILIATE,
    CommissionType.CODE: Program.EXPERT,
}
RULE_FIELDS = (
    "id",
    "program",
    "product_id",
    "tier",
    "partner_id",
    "kind",
    "rate_bp",
    "flat_amount",
    "flat_currency",
    "recurrence",
    "months",
    "hold_days",
    "active",
    "created_at",
)
COMMISSION_FIELDS = (
    "id",
    "partner_id",
    "customer_id",
    "payment_id",
    "refund_id",
    "payout_id",
    "rule_id",
    "type",
    "status",
    "amount",
    "currency",
    "original_amount",
    "original_currency",
    "exchange_rate",
    "rate_bp",
    "hold_until",
    "created_at",
    "customer__name",
    "payment__plan__product_id",
)


# --- rules -------------------------------------------------------------------------------------------


async def create_rule(
    actor: Actor,
    *,
    program: Program,
    kind: CommissionRuleKind,
    rate: str | None,
    flat_amount: str | None,
    flat_currency: str | None,
    recurrence: Recurrence,
    months: int | None,
    hold_days: int,
    product_id: int | None,
    tier: str | None,
    partner_id: int | None,
) -> dict[str, Any]:
    """Operators with MANAGE_PROGRAMS; a rule applies from now on (lines already written keep theirs)."""
    await PROGRAM_MANAGER.enforce(actor)
    values: dict[str, Any] = {
        "program": program,
        "kind": kind,
        "recurrence": recurrence,
        "product_id": product_id,
        "tier": (tier or None),
        "partner_id": partner_id,
        "hold_days": hold_days,
        "months": months,
    }
    # An unknown product or partner is NOT_FOUND (not a foreign-key failure at the insert).
    if product_id is not None and not await Product.filter(id=product_id).exists():
        raise NotFound()
    if partner_id is not None and not await PartnerProfile.filter(organization_id=partner_id).exists():
        raise NotFound()
    if hold_days < 0 or hold_days > 365:
        raise fail("hold_days", UserErrorCode.INVALID_VALUE, "Hold between 0 and 365 days.")
    if recurrence is Recurrence.MONTHS and not (months and months > 0):
        raise fail("months", UserErrorCode.REQUIRED, "Say for how many months the rule pays.")
    if kind is CommissionRuleKind.PERCENT:
        values["rate_bp"] = basis_points(rate)
    else:
        if not flat_amount or not flat_currency:
            raise fail("flat_amount", UserErrorCode.REQUIRED, "A flat rule needs an amount and a currency.")
        currency = clean_currency(flat_currency, "flat_currency")
        values.update(flat_amount=to_minor(flat_amount, currency, "flat_amount"), flat_currency=currency)
    async with in_transaction():
        rule = await CommissionRule.create(**values, created_at=now())
        await audit.record(
            actor,
            "commission_rule.create",
            "CommissionRule",
            rule.id,
            changes={k: str(v) for k, v in values.items() if v is not None},
        )
    return await CommissionRule.filter(id=rule.id).first().values(*RULE_FIELDS)


async def deactivate_rule(actor: Actor, rule_id: int) -> dict[str, Any]:
    await PROGRAM_MANAGER.enforce(actor)
    async with in_transaction():
        if not await CommissionRule.filter(id=rule_id).update(active=False):
            raise NotFound()
        await audit.record(actor, "commission_rule.deactivate", "CommissionRule", rule_id)
    return await CommissionRule.filter(id=rule_id).first().values(*RULE_FIELDS)


async def list_rules(actor: Actor, *, program: Program | None, first: int | None, after: str | None) -> Page:
    await PROGRAM_MANAGER.enforce(actor)
    queryset = (await scoping.visible_commission_rules(actor)).filter(active=True)
    if program is not None:
        queryset = queryset.filter(program=program)
    return await paginate(queryset, fields=RULE_FIELDS, first=first, after=after)


def rule_precedence(rule: dict[str, Any]) -> tuple[bool, bool, bool, int]:
    """partner > product > tier > program default; the newest rule wins a tie."""
    return (rule["partner_id"] is not None, rule["product_id"] is not None, rule["tier"] is not None, rule["id"])


async def matching_rule(program: Program, partner_id: int, product_id: int | None, tier: str | None) -> dict | None:
    candidates = await CommissionRule.filter(
        Q(partner_id=None) | Q(partner_id=partner_id),
        Q(product_id=None) | Q(product_id=product_id),
        Q(tier=None) | Q(tier=tier),
        program=program,
        active=True,
    ).values(*RULE_FIELDS)
    return max(candidates, key=rule_precedence, default=None)


# --- attribution -----------------------------------------------------------------------------------


async def own_organization(partner_id: int, organization_id: int) -> bool:
    """The self-dealing rule of every channel: the partner itself, or an organization that one
    of the partner's members (any role) belongs to, as the memberships stand now."""
    if partner_id == organization_id:
        return True
    partner_members = Membership.filter(organization_id=partner_id).values("user_id")
    return await Membership.filter(organization_id=organization_id, user_id__in=Subquery(partner_members)).exists()


async def _not_own(partner_id: int, customer_id: int, channel: str) -> bool:
    if await own_organization(partner_id, customer_id):
        logger.warning(
            "Organization %s is partner %s's own: its %s earns no commission", customer_id, partner_id, channel
        )
        return False
    return True


@dataclass(frozen=True, slots=True)
class Attribution:
    partner_id: int
    type: CommissionType


async def attribute(customer_id: int, paid_at: datetime) -> Attribution | None:
    """Who earns for a payment of this customer at that moment (the rules in the module docstring)."""
    relationship = (
        await CustomerRelationship.filter(
            Q(ended_at=None) | Q(ended_at__gt=paid_at), customer_id=customer_id, started_at__lte=paid_at
        )
        .order_by("-started_at")
        .first()
        .values("partner_id", "source", "started_at")
    )
    if relationship is not None and await _not_own(relationship["partner_id"], customer_id, "relationship"):
        if relationship["source"] == RelationshipSource.INVITATION:
            return Attribution(relationship["partner_id"], CommissionType.PARTNER)
        first_paid = (
            await Payment.filter(organization_id=customer_id)
            .order_by("paid_at")
            .first()
            .values_list("paid_at", flat=True)
        )
        if first_paid is None or relationship["started_at"] <= first_paid:
            return Attribution(relationship["partner_id"], CommissionType.SELF)
    referral = (
        await Referral.filter(customer_id=customer_id, created_at__lte=paid_at).first().values("partner_id", "type")
    )
    if referral is not None and await _not_own(referral["partner_id"], customer_id, "referral"):
        return Attribution(referral["partner_id"], referral["type"])
    return None


# --- ledger lines --------------------------------------------------------------------------------------


async def _recurrence_allows(rule: dict[str, Any], partner_id: int, customer_id: int, paid_at: datetime) -> bool:
    if rule["recurrence"] == Recurrence.LIFETIME:
        return True
    # The first attributed payment is the earliest paid one, not the first reported (events arrive out of order).
    first = (
        await Commission.filter(
            partner_id=partner_id, customer_id=customer_id, refund_id=None, payment_id__not_isnull=True
        )
        .order_by("payment__paid_at", "id")
        .first()
        .values("payment__paid_at")
    )
    if first is None:
        return True
    if rule["recurrence"] == Recurrence.ONE_TIME:
        return False
    return paid_at < first["payment__paid_at"] + timedelta(days=30 * rule["months"])


async def commission_for_payment(settings: Settings, payment: Payment) -> int | None:
    """Write the ledger line a payment earns, if any (inside the caller's transaction).

    Returns the line's id. The line is unique per (payment, partner): a replay adds nothing.
    """
    attribution = await attribute(payment.organization_id, payment.paid_at)
    if attribution is None:
        return None
    program = PROGRAM_OF_TYPE[attribution.type]
    if not await ProgramEnrollment.filter(partner_id=attribution.partner_id, program=program).exists():
        return None
    profile = (
        await PartnerProfile.filter(organization_id=attribution.partner_id).first().values("payout_currency", "tier")
    )
    product_id = None
    if payment.plan_id is not None:
        product_id = await Plan.filter(id=payment.plan_id).first().values_list("product_id", flat=True)
    rule = await matching_rule(program, attribution.partner_id, product_id, profile["tier"])
    if rule is None or not await _recurrence_allows(
        rule, attribution.partner_id, payment.organization_id, payment.paid_at
    ):
        return None
    target = profile["payout_currency"]
    if rule["kind"] == CommissionRuleKind.PERCENT:
        source, base = payment.currency, Decimal(payment.amount) * rule["rate_bp"] / Decimal(10000)
    else:
        source, base = rule["flat_currency"], Decimal(rule["flat_amount"])
    factor = await conversion_rate(settings, source, target, payment.paid_at.date())
    exact = minor_exact(base, source, target, factor)
    if abs(exact) > MAX_MINOR:  # only with absurd exchange rates; refused rather than overflowing the column
        raise fail(
            "amount",
            UserErrorCode.INVALID_VALUE,
            "The commission would exceed the largest amount the portal keeps: check the exchange rates.",
        )
    hold_until = payment.paid_at + timedelta(days=rule["hold_days"])
    line = await Commission.create(
        source_key=f"payment:{payment.id}",
        partner_id=attribution.partner_id,
        customer_id=payment.organization_id,
        payment_id=payment.id,
        rule_id=rule["id"],
        type=attribution.type,
        status=CommissionStatus.APPROVED if hold_until <= now() else CommissionStatus.PENDING,
        amount=round_minor(exact),
        currency=target,
        original_amount=payment.amount,
        original_currency=payment.currency,
        exchange_rate=str(factor),
        rate_bp=rule["rate_bp"],
        hold_until=hold_until,
        created_at=now(),
    )
    await webhooks.publish(WebhookEventType.COMMISSION_CREATED, webhooks.commission_data(line))
    return line.id


async def apply_refund(refund: Refund, payment: Payment) -> list[int]:
    """Take a refund off the payment's commission lines (inside the caller's transaction).

    Unpaid lines shrink and a REVERSED line records the part taken off (a whole refund
    reverses the line); lines already paid or claimed by a payout are never edited: a
    negative APPROVED line nets the refund against the next payout. Shares are computed
    on the cumulative refunded amount, so partial refunds never drift from the total.
    """
    refunded_before = payment.refunded_amount
    refunded_after = min(payment.amount, refunded_before + refund.amount)
    await Payment.filter(id=payment.id).update(refunded_amount=refunded_after)
    await Refund.filter(id=refund.id).update(payment_id=payment.id, applied_at=now())
    written = []
    reversed_lines = []  # webhook data: the line reversed in whole, or the adjustment line written
    lines = await Commission.filter(payment_id=payment.id, refund_id=None).select_for_update()
    for line in lines:
        full = Decimal(await _line_total(line))
        share = round_minor(full * refunded_after / payment.amount) - round_minor(
            full * refunded_before / payment.amount
        )
        if share <= 0:
            continue
        settled = line.status == CommissionStatus.PAID or line.payout_id is not None
        if settled:
            status, amount = CommissionStatus.APPROVED, -share
        elif share >= line.amount:
            await Commission.filter(id=line.id).update(status=CommissionStatus.REVERSED)
            line.status = CommissionStatus.REVERSED
            reversed_lines.append(
                {**webhooks.commission_data(line), "reversedCommissionId": webhooks.global_id("Commission", line.id)}
            )
            continue
        else:
            await Commission.filter(id=line.id).update(amount=F("amount") - share)
            status, amount = CommissionStatus.REVERSED, share
        adjustment = await Commission.create(
            source_key=f"refund:{refund.id}",
            partner_id=line.partner_id,
            customer_id=line.customer_id,
            payment_id=payment.id,
            refund_id=refund.id,
            rule_id=line.rule_id,
            type=line.type,
            status=status,
            amount=amount,
            currency=line.currency,
            original_amount=-refund.amount,
            original_currency=refund.currency,
            exchange_rate=line.exchange_rate,
            rate_bp=line.rate_bp,
            hold_until=None,
            created_at=now(),
        )
        written.append(adjustment.id)
        reversed_lines.append(
            {**webhooks.commission_data(adjustment), "reversedCommissionId": webhooks.global_id("Commission", line.id)}
        )
    await webhooks.publish_many(WebhookEventType.COMMISSION_REVERSED, reversed_lines)
    return written


async def _released(ids: list[int]) -> list[dict[str, Any]]:
    """Webhook data of the lines a release batch approved (loaded only when somebody subscribed)."""
    return [webhooks.commission_data(line) for line in await Commission.filter(id__in=ids).order_by("id")]


async def _line_total(line: Commission) -> int:
    """What the line earned before any refund: its amount plus the REVERSED parts taken off it."""
    taken = (
        await Commission.filter(
            payment_id=line.payment_id,
            partner_id=line.partner_id,
            status=CommissionStatus.REVERSED,
            refund_id__not_isnull=True,
        )
        .annotate(total=Sum("amount"))
        .first()
        .values("total")
    )
    return line.amount + ((taken or {}).get("total") or 0)


RELEASE_BATCH = 500


async def release_held(settings: Settings) -> str:
    """The release job: held lines whose hold period ended become payable (idempotent).

    In batches of RELEASE_BATCH lines, each its own short transaction (a single UPDATE of a large
    backlog would hold SQLite's write lock past other writers' busy timeout); each batch is a
    conditional update, so a run that is stopped, or runs beside another, releases every line once."""
    moment = now()
    released = 0
    while True:
        async with in_transaction():
            due = (
                await Commission.filter(status=CommissionStatus.PENDING, hold_until__lte=moment)
                .order_by("id")
                .limit(RELEASE_BATCH)
                .values_list("id", flat=True)
            )
            if not due:
                break
            released += await Commission.filter(id__in=list(due), status=CommissionStatus.PENDING).update(
                status=CommissionStatus.APPROVED
            )
            await webhooks.publish_many(WebhookEventType.COMMISSION_APPROVED, partial(_released, list(due)))
    return f"{released} commission line(s) released"


# --- the commission table -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommissionFilter:
    status: CommissionStatus | None = None
    type: CommissionType | None = None
    customer_id: int | None = None
    created_from: datetime | None = None
    created_until: datetime | None = None


def _filtered(partner_id: int, where: CommissionFilter, lines: QuerySet[Commission] | None = None):
    """The partner's lines matching `where`, out of `lines` (the actor's `scoping.visible_commissions`)."""
    queryset = (lines if lines is not None else Commission.all()).filter(partner_id=partner_id)
    if where.status is not None:
        queryset = queryset.filter(status=where.status)
    if where.type is not None:
        queryset = queryset.filter(type=where.type)
    if where.customer_id is not None:
        queryset = queryset.filter(customer_id=where.customer_id)
    if where.created_from is not None:
        queryset = queryset.filter(created_at__gte=where.created_from)
    if where.created_until is not None:
        queryset = queryset.filter(created_at__lt=where.created_until)
    return queryset


async def list_commissions(
    actor: Actor,
    partner_id: int | None,
    where: CommissionFilter,
    *,
    newest_first: bool,
    first: int | None,
    after: str | None,
) -> tuple[Page, dict[str, Any]]:
    """A page of the partner's lines, and the partner's profile (its totals are in its payout currency)."""
    profile = await PAYOUT_READER.enforce(actor, partner_id)  # a ledger
    visible = await scoping.visible_commissions(actor)
    page = await paginate(
        _filtered(profile["organization_id"], where, visible),
        fields=COMMISSION_FIELDS,
        first=first,
        after=after,
        order=("-id",) if newest_first else ("id",),
    )
    return page, profile


@dataclass(frozen=True, slots=True)
class Totals:
    currency: str
    pending: int
    approved: int
    paid: int
    reversed: int

    @property
    def earned(self) -> int:
        return self.pending + self.approved + self.paid


async def commission_totals(partner_id: int, where: CommissionFilter, currency: str) -> Totals:
    """The filtered lines summed per status in one query (the covering index serves it); the
    lines are in the partner's payout `currency`."""
    rows = await _filtered(partner_id, where).annotate(total=Sum("amount")).group_by("status").values("status", "total")
    sums = {row["status"]: row["total"] or 0 for row in rows}
    return Totals(
        currency,
        *(
            sums.get(s, 0)
            for s in (
                CommissionStatus.PENDING,
                CommissionStatus.APPROVED,
                CommissionStatus.PAID,
                CommissionStatus.REVERSED,
            )
        ),
    )


async def approved_balance(partner_id: int) -> int:
    """Payable now: approved lines no payout has claimed (negative refund lines included)."""
    total = (
        await Commission.filter(partner_id=partner_id, status=CommissionStatus.APPROVED, payout_id=None)
        .annotate(total=Sum("amount"))
        .first()
        .values("total")
    )
    return (total or {}).get("total") or 0


async def visible_line(actor: Actor, line_id: int) -> dict[str, Any] | None:
    """For `node`: a commission line when `scoping.visible_commissions` lets the actor see it."""
    return await (await scoping.visible_commissions(actor)).filter(id=line_id).first().values(*COMMISSION_FIELDS)


async def visible_rule(actor: Actor, rule_id: int) -> dict[str, Any] | None:
    """For `node`: a commission rule when `scoping.visible_commission_rules` lets the actor see it."""
    return await (await scoping.visible_commission_rules(actor)).filter(id=rule_id).first().values(*RULE_FIELDS)


# --- the program overview --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductTerms:
    product: dict[str, Any] | None
    rule: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ProgramTerms:
    program: Program
    default: dict[str, Any] | None
    products: list[ProductTerms]


async def program_overview(actor: Actor, partner_id: int | None) -> list[ProgramTerms]:
    """The programs the partner is in, with the rule that applies to it for each product
    (its own, the product's, its tier's or the program default), in one pass over the rules."""
    membership, profile = await PARTNER_PORTAL.enforce(actor, partner_id)
    partner = membership.organization_id
    programs = await ProgramEnrollment.filter(partner_id=partner).order_by("program").values_list("program", flat=True)
    rules = await CommissionRule.filter(
        Q(partner_id=None) | Q(partner_id=partner),
        Q(tier=None) | Q(tier=profile["tier"]),
        program__in=programs,
        active=True,
    ).values(*RULE_FIELDS)
    products = await Product.all().order_by("id").values("id", "code", "name", "created_at")

    def best(program: Program, product_id: int | None) -> dict[str, Any] | None:
        fitting = [r for r in rules if r["program"] == program and r["product_id"] in (None, product_id)]
        return max(fitting, key=rule_precedence, default=None)

    return [
        ProgramTerms(program, best(program, None), [ProductTerms(p, best(program, p["id"])) for p in products])
        for program in programs
    ]
