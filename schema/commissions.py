"""GraphQL for commissions: commission rules, what each program pays a partner, and the commission ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.enums import CommissionRuleKind, CommissionStatus, CommissionType, Program, Recurrence
from partner_portal.permissions.requirements import PARTNER_PORTAL, PAYOUT_READER, PROGRAM_MANAGER
from partner_portal.resolvers import commissions
from partner_portal.resolvers.money import percent
from partner_portal.schema.catalog import Product
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    Payload,
    connection,
    decode_id,
    describe_enum,
    node_type,
    run_mutation,
)
from partner_portal.schema.money import Money, MoneyInput
from partner_portal.schema.organizations import Organization
from partner_portal.schema.partners import PartnerId, partner_id_of
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import IdOf, Row, RowType, row_type

if TYPE_CHECKING:
    from partner_portal.schema.billing import Payment
    from partner_portal.schema.payouts import Payout

describe_enum(
    CommissionType,
    "How the customer came to the earning partner.",
    {
        "SELF": "Registered alone and chose the partner before its first order.",
        "AFFILIATE": "Came through the partner's affiliate link.",
        "PARTNER": "Registered through the partner's invitation link.",
        "CODE": "Used the partner's discount code.",
    },
)
describe_enum(
    CommissionStatus,
    "Where a commission line stands.",
    {
        "PENDING": "Held until the hold period ends.",
        "APPROVED": "Payable.",
        "PAID": "Paid out; never edited again.",
        "REVERSED": "Taken back by a refund.",
    },
)
describe_enum(
    CommissionRuleKind,
    "How a rule computes a commission.",
    {"PERCENT": "A percentage of the payment.", "FLAT": "A fixed amount per payment."},
)
describe_enum(
    Recurrence,
    "Which payments of a customer a rule pays for.",
    {
        "ONE_TIME": "The first attributed payment only.",
        "MONTHS": "Payments within a number of months from the first one.",
        "LIFETIME": "Every payment for the customer's lifetime.",
    },
)


def _is_percent(row: Row) -> bool:
    return row["kind"] == CommissionRuleKind.PERCENT


@row_type(
    commissions.RULE_FIELDS,
    rate=lambda row: percent(row["rate_bp"]) if _is_percent(row) else None,
    flat=lambda row: None if _is_percent(row) else Money.of(row["flat_amount"], row["flat_currency"]),
)
@strawberry.type(description="How much a program pays, optionally narrowed to a product, a tier or one partner.")
class CommissionRule(Node, RowType):
    id: NodeID[int]
    program: Program = strawberry.field(description="The program the rule belongs to.")
    kind: CommissionRuleKind = strawberry.field(description="Percent or flat.")
    rate: Decimal | None = strawberry.field(description="The percentage, for percent rules (20.00).")
    flat: Money | None = strawberry.field(description="The amount, for flat rules.")
    recurrence: Recurrence = strawberry.field(description="Which payments it pays for.")
    months: int | None = strawberry.field(description="For how many months, with MONTHS.")
    hold_days: int = strawberry.field(description="Days a commission is held before it is payable.")
    tier: str | None = strawberry.field(description="Only partners in this tier.")
    active: bool = strawberry.field(description="Rules are deactivated, never deleted.")
    _product_id: strawberry.Private[int | None]
    _partner_id: strawberry.Private[int | None]

    @strawberry.field(description="The global id of the product it is narrowed to, if any.")
    def product_id(self) -> GlobalID | None:
        return GlobalID("Product", str(self._product_id)) if self._product_id else None

    @strawberry.field(description="The global id of the partner organization it is narrowed to, if any.")
    def partner_id(self) -> GlobalID | None:
        return GlobalID("Organization", str(self._partner_id)) if self._partner_id else None


@node_type("CommissionRule")
async def _fetch_commission_rule(context: Any, pk: int) -> CommissionRule | None:
    row = await commissions.visible_rule(context.actor, pk)
    return CommissionRule.from_row(row) if row else None


@row_type(
    commissions.COMMISSION_FIELDS,
    amount=lambda row: Money.of(row["amount"], row["currency"]),
    original=lambda row: Money.of(row["original_amount"], row["original_currency"]),
    exchange_rate=lambda row: Decimal(row["exchange_rate"]),
    rate=lambda row: percent(row["rate_bp"]),
    customer_name="customer__name",
    is_refund_adjustment=lambda row: row["refund_id"] is not None,
    customer_id=IdOf("Organization", "customer_id"),
    _product_id="payment__plan__product_id",
)
@strawberry.type(description="A commission ledger line, in the partner's payout currency.")
class Commission(Node, RowType):
    id: NodeID[int]
    type: CommissionType = strawberry.field(description="How the customer came.")
    status: CommissionStatus = strawberry.field(description="Where the line stands.")
    amount: Money = strawberry.field(description="The commission (negative for a refund after payout).")
    original: Money = strawberry.field(description="The payment (or refund) it was computed from, as received.")
    exchange_rate: Decimal = strawberry.field(
        description="The factor from the original currency to the payout currency."
    )
    rate: Decimal = strawberry.field(description="The percentage applied (0 for flat rules).")
    customer_name: str | None = strawberry.field(description="The paying customer organization.")
    hold_until: datetime | None = strawberry.field(description="When a held line becomes payable.")
    created_at: datetime = strawberry.field(description="When the line was written.")
    is_refund_adjustment: bool = strawberry.field(description="The line records a refund.")
    customer_id: GlobalID | None = strawberry.field(
        description="The global id of the paying customer organization (null once it is deleted), shown whether "
        "or not you may read the organization itself: pass it as `commissions(customerId:)`."
    )
    _customer_id: strawberry.Private[int | None]
    _payment_id: strawberry.Private[int | None]
    _payout_id: strawberry.Private[int | None]
    _product_id: strawberry.Private[int | None]

    @strawberry.field(
        description="The paying customer organization; null where you may not read it (a customer that came "
        "through a link or a code is no customer you administer: `customerName` and `customerId` still say who)."
    )
    async def customer(self, info: Info) -> Organization | None:
        if self._customer_id is None:
            return None
        row = await info.context.loaders.organization.load(self._customer_id)
        return Organization.from_row(row) if row else None

    @strawberry.field(
        description="The payment the line was computed from (for a refund line: the refunded one); "
        "null where you may not read it."
    )
    async def payment(self, info: Info) -> Annotated[Payment, strawberry.lazy("partner_portal.schema.billing")] | None:
        from partner_portal.schema.billing import Payment

        if self._payment_id is None:
            return None
        row = await info.context.loaders.payment.load(self._payment_id)
        return Payment.from_row(row) if row else None

    @strawberry.field(description="The product of the payment's plan; null for a payment without a catalog plan.")
    async def product(self, info: Info) -> Product | None:
        if self._product_id is None:
            return None
        row = await info.context.loaders.product.load(self._product_id)
        return Product.from_row(row) if row else None

    @strawberry.field(
        description="The payout that claimed the line; null before one does or where you may not read it."
    )
    async def payout(self, info: Info) -> Annotated[Payout, strawberry.lazy("partner_portal.schema.payouts")] | None:
        from partner_portal.schema.payouts import Payout

        if self._payout_id is None:
            return None
        row = await info.context.loaders.payout.load(self._payout_id)
        return Payout.from_row(row) if row else None


@node_type("Commission")
async def _fetch_commission(context: Any, pk: int) -> Commission | None:
    row = await commissions.visible_line(context.actor, pk)
    return Commission.from_row(row) if row else None


@strawberry.type(description="Sums of the filtered commission lines per status, in the payout currency.")
class CommissionTotals:
    pending: Money = strawberry.field(description="Held.")
    approved: Money = strawberry.field(description="Payable (refund adjustments included).")
    paid: Money = strawberry.field(description="Paid out.")
    reversed: Money = strawberry.field(description="Taken back by refunds.")
    earned: Money = strawberry.field(description="Pending + approved + paid.")


@strawberry.type(description="A page of commission lines with the totals of all lines matching the filter.")
class CommissionTable:
    lines: Connection[Commission] = strawberry.field(description="The lines of this page.")
    _partner_id: strawberry.Private[int]
    _currency: strawberry.Private[str]
    _where: strawberry.Private[commissions.CommissionFilter]

    @strawberry.field(description="Totals over every line matching the filter (one SQL aggregate).")
    async def totals(self) -> CommissionTotals:
        totals = await commissions.commission_totals(self._partner_id, self._where, self._currency)

        def money(value: int) -> Money:
            return Money.of(value, totals.currency)

        return CommissionTotals(
            pending=money(totals.pending),
            approved=money(totals.approved),
            paid=money(totals.paid),
            reversed=money(totals.reversed),
            earned=money(totals.earned),
        )


@strawberry.type(description="What a product earns the partner in one program.")
class ProductTerms:
    product: Product = strawberry.field(description="The product.")
    rule: CommissionRule | None = strawberry.field(description="The rule that applies (null: nothing is paid).")


@strawberry.type(description="A program the partner is in, with its commission or kickback rates.")
class ProgramTerms:
    program: Program = strawberry.field(description="The program.")
    default_rule: CommissionRule | None = strawberry.field(description="The rule for payments without a product.")
    products: list[ProductTerms] = strawberry.field(description="The rule for each product.")

    @classmethod
    def of(cls, terms: commissions.ProgramTerms) -> ProgramTerms:
        def rule(row: dict[str, Any] | None) -> CommissionRule | None:
            return CommissionRule.from_row(row) if row else None

        return cls(
            program=terms.program,
            default_rule=rule(terms.default),
            products=[ProductTerms(product=Product.from_row(t.product), rule=rule(t.rule)) for t in terms.products],
        )


# --- inputs and payloads ---------------------------------------------------------------------------------


@strawberry.input(description="A commission rule. Precedence: partner > product > tier > program default.")
class CreateCommissionRuleInput:
    program: Program = strawberry.field(description="The program.")
    kind: CommissionRuleKind = strawberry.field(description="Percent or flat.")
    rate: Decimal | None = strawberry.field(default=None, description="The percentage (20.00), for percent rules.")
    flat: MoneyInput | None = strawberry.field(default=None, description="The amount, for flat rules.")
    recurrence: Recurrence = strawberry.field(description="Which payments it pays for.")
    months: int | None = strawberry.field(default=None, description="For MONTHS: how many.")
    hold_days: int = strawberry.field(default=30, description="Days before a commission is payable.")
    product_id: GlobalID | None = strawberry.field(default=None, description="Only payments for this product.")
    tier: str | None = strawberry.field(default=None, description="Only partners in this tier.")
    partner_id: GlobalID | None = strawberry.field(default=None, description="Only this partner organization.")


@strawberry.input(description="Deactivate a commission rule.")
class DeactivateCommissionRuleInput:
    rule_id: GlobalID = strawberry.field(description="The rule.")


@strawberry.type(description="The commission rule.")
class CommissionRulePayload(Payload):
    rule: CommissionRule | None = strawberry.field(default=None, description="The rule.")


@strawberry.type
class CommissionsQuery:
    @strawberry.field(
        description="The programs the partner is in and what each product earns it.",
        extensions=[Requires(PARTNER_PORTAL, "partner_id")],
    )
    async def program_overview(self, info: Info, partner_id: PartnerId = None) -> list[ProgramTerms]:
        terms = await commissions.program_overview(info.context.actor, partner_id_of(partner_id))
        return [ProgramTerms.of(t) for t in terms]

    @strawberry.field(description="Active commission rules.", extensions=[Requires(PROGRAM_MANAGER)])
    async def commission_rules(
        self,
        info: Info,
        program: Annotated[Program | None, strawberry.argument(description="Only this program.")] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[CommissionRule]:
        page = await commissions.list_rules(info.context.actor, program=program, first=first, after=after)
        return connection(page, CommissionRule.from_row)

    @strawberry.field(
        description="The partner's commission table with totals.", extensions=[Requires(PAYOUT_READER, "partner_id")]
    )
    async def commissions(
        self,
        info: Info,
        partner_id: PartnerId = None,
        status: Annotated[CommissionStatus | None, strawberry.argument(description="Only this status.")] = None,
        type: Annotated[CommissionType | None, strawberry.argument(description="Only this type.")] = None,
        customer_id: Annotated[GlobalID | None, strawberry.argument(description="Only this customer.")] = None,
        created_from: Annotated[datetime | None, strawberry.argument(description="Written at or after.")] = None,
        created_until: Annotated[datetime | None, strawberry.argument(description="Written before.")] = None,
        newest_first: Annotated[bool, strawberry.argument(description="Sort newest first.")] = True,
        first: First = None,
        after: After = None,
    ) -> CommissionTable:
        where = commissions.CommissionFilter(
            status=status,
            type=type,
            customer_id=decode_id(customer_id, "Organization") if customer_id else None,
            created_from=created_from,
            created_until=created_until,
        )
        page, profile = await commissions.list_commissions(
            info.context.actor, partner_id_of(partner_id), where, newest_first=newest_first, first=first, after=after
        )
        return CommissionTable(
            lines=connection(page, Commission.from_row),
            _partner_id=profile["organization_id"],
            _currency=profile["payout_currency"],
            _where=where,
        )


@strawberry.type
class CommissionsMutation:
    @strawberry.mutation(description="Create a commission rule.", extensions=[Requires(PROGRAM_MANAGER)])
    async def create_commission_rule(self, info: Info, input: CreateCommissionRuleInput) -> CommissionRulePayload:
        change = commissions.create_rule(
            info.context.actor,
            program=input.program,
            kind=input.kind,
            rate=str(input.rate) if input.rate is not None else None,
            flat_amount=str(input.flat.amount) if input.flat else None,
            flat_currency=input.flat.currency if input.flat else None,
            recurrence=input.recurrence,
            months=input.months,
            hold_days=input.hold_days,
            product_id=decode_id(input.product_id, "Product") if input.product_id else None,
            tier=input.tier,
            partner_id=decode_id(input.partner_id, "Organization") if input.partner_id else None,
        )
        return await run_mutation(CommissionRulePayload, change, rule=CommissionRule.from_row)

    @strawberry.mutation(description="Deactivate a commission rule.", extensions=[Requires(PROGRAM_MANAGER)])
    async def deactivate_commission_rule(
        self, info: Info, input: DeactivateCommissionRuleInput
    ) -> CommissionRulePayload:
        change = commissions.deactivate_rule(info.context.actor, decode_id(input.rule_id, "CommissionRule"))
        return await run_mutation(CommissionRulePayload, change, rule=CommissionRule.from_row)
