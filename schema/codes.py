"""GraphQL for expert discount codes: the partner's code and figures, the checkout's check and
redemption (API keys with billing:write, rate limited per client)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.permissions.requirements import BILLING_WRITER, EXPERT_PORTAL
from partner_portal.resolvers import codes
from partner_portal.resolvers.money import percent
from partner_portal.schema.catalog import Plan
from partner_portal.schema.common import Info, Node, NodeID, Payload, decode_id, node_type, run_mutation
from partner_portal.schema.money import Money
from partner_portal.schema.partners import PartnerId, partner_id_of
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import IdOf, RowType, row_type


@strawberry.type(description="How the partner's code did: redemptions, paying customers, commission earned.")
class ExpertCodeFigures:
    redemptions: int = strawberry.field(description="How many customers redeemed the code.")
    paying_customers: int = strawberry.field(description="Redeeming customers with at least one payment.")
    commission_earned: Money = strawberry.field(
        description="Commission from CODE lines (pending, approved and paid, refunds taken off), in the payout "
        "currency."
    )


@row_type(
    codes.CODE_FIELDS,
    percent_off=lambda row: percent(row["percent_bp"]),
    applies_to_all_plans=lambda row: not row["plan_ids"],
    _plan_ids=lambda row: list(row["plan_ids"] or []),
)
@strawberry.type(description="The personal discount code of a partner in the EXPERT program.")
class ExpertCode(RowType):
    code: str = strawberry.field(description="What customers type at checkout.")
    percent_off: Decimal = strawberry.field(description="The one-time discount in percent (10.00).")
    applies_to_all_plans: bool = strawberry.field(description="The code applies to every plan.")
    active: bool = strawberry.field(description="Whether the code may be redeemed.")
    created_at: datetime = strawberry.field(description="When the code was made (on the partner's first view).")
    _id: strawberry.Private[int]
    _partner_id: strawberry.Private[int]
    _plan_ids: strawberry.Private[list[int]]

    @strawberry.field(description="The plans the code applies to.")
    async def plans(self) -> list[Plan]:
        return [Plan.from_row(row) for row in await codes.plans_of_code(self._plan_ids)]

    @strawberry.field(description="Redemptions, paying customers and commission earned (SQL aggregates).")
    async def figures(self) -> ExpertCodeFigures:
        figures = await codes.code_figures(self._id, self._partner_id)
        return ExpertCodeFigures(
            redemptions=figures.redemptions,
            paying_customers=figures.paying_customers,
            commission_earned=Money.of(figures.commission_earned, figures.currency),
        )


@strawberry.type(
    description="What the checkout learns about a discount code. An unknown and an inactive code look alike."
)
class DiscountCodeCheck:
    valid: bool = strawberry.field(description="The code may be redeemed now.")
    percent_off: Decimal | None = strawberry.field(description="The one-time discount in percent, when valid.")
    applies_to_all_plans: bool | None = strawberry.field(description="Whether every plan qualifies, when valid.")
    _plan_ids: strawberry.Private[list[int] | None]

    @strawberry.field(description="The plans the code applies to (empty when not valid).")
    async def plans(self) -> list[Plan]:
        if self._plan_ids is None:
            return []
        return [Plan.from_row(row) for row in await codes.plans_of_code(self._plan_ids)]


@row_type(
    codes.REDEMPTION_FIELDS,
    code="code__code",
    organization_id=IdOf("Organization", "customer_id"),
    percent_off=lambda row: percent(row["percent_bp"]),
)
@strawberry.type(description="A customer organization's use of a discount code (one per customer).")
class DiscountRedemption(Node, RowType):
    id: NodeID[int]
    code: str = strawberry.field(description="The code redeemed.")
    organization_id: GlobalID = strawberry.field(description="The customer organization.")
    percent_off: Decimal = strawberry.field(description="The one-time discount granted, in percent.")
    external_id: str | None = strawberry.field(description="The checkout's reference, if given.")
    attributed: bool = strawberry.field(
        description="The redemption made the code's partner the customer's referrer (false when the customer had "
        "a referral already: the first one wins)."
    )
    created_at: datetime = strawberry.field(description="When it was redeemed.")


@node_type("DiscountRedemption")
async def _fetch_redemption(context: Any, pk: int) -> DiscountRedemption | None:
    row = await codes.visible_redemption(context.actor, pk)
    return DiscountRedemption.from_row(row) if row else None


@strawberry.input(description="Redeem a discount code for a customer at checkout.")
class RedeemDiscountCodeInput:
    code: str = strawberry.field(description="The code as the customer typed it.")
    organization_id: GlobalID = strawberry.field(description="The customer organization.")
    external_id: str | None = strawberry.field(default=None, description="The checkout's order or payment reference.")


@strawberry.type(
    description="The redemption; a customer that redeemed before gets its first redemption back. "
    "An unusable code is an INVALID_VALUE error."
)
class RedeemDiscountCodePayload(Payload):
    redemption: DiscountRedemption | None = strawberry.field(default=None, description="The redemption.")
    already_redeemed: bool = strawberry.field(
        default=False, description="The customer had redeemed a code before: this is that first redemption."
    )


@strawberry.type
class CodesQuery:
    @strawberry.field(
        description="The partner's personal discount code, made on first view.",
        extensions=[Requires(EXPERT_PORTAL, "partner_id")],
    )
    async def expert_code(self, info: Info, partner_id: PartnerId = None) -> ExpertCode:
        ctx = info.context
        return ExpertCode.from_row(await codes.expert_code(ctx.actor, ctx.settings, partner_id_of(partner_id)))

    @strawberry.field(
        description="Check a discount code at checkout (rate limited per client: THROTTLED with when to retry).",
        extensions=[Requires(BILLING_WRITER)],
    )
    async def discount_code(
        self, info: Info, code: Annotated[str, strawberry.argument(description="The code as typed.")]
    ) -> DiscountCodeCheck:
        row = await codes.check_code(info.context.actor, info.context.throttle_lookup, code)
        if row is None:
            return DiscountCodeCheck(valid=False, percent_off=None, applies_to_all_plans=None, _plan_ids=None)
        return DiscountCodeCheck(
            valid=True,
            percent_off=percent(row["percent_bp"]),
            applies_to_all_plans=not row["plan_ids"],
            _plan_ids=list(row["plan_ids"] or []),
        )


@strawberry.type
class CodesMutation:
    @strawberry.mutation(
        description="Redeem a discount code for a customer (rate limited per client); idempotent per customer.",
        extensions=[Requires(BILLING_WRITER)],
    )
    async def redeem_discount_code(self, info: Info, input: RedeemDiscountCodeInput) -> RedeemDiscountCodePayload:
        ctx = info.context
        change = codes.redeem_code(
            ctx.actor,
            ctx.throttle_lookup,
            raw=input.code,
            customer_id=decode_id(input.organization_id, "Organization"),
            external_id=input.external_id,
        )
        return await run_mutation(
            RedeemDiscountCodePayload,
            change,
            lambda done: {
                "redemption": DiscountRedemption.from_row(done.redemption),
                "already_redeemed": done.already_redeemed,
            },
        )
