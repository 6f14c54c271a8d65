"""GraphQL for the money side: catalog, exchange rates, billing events, commission rules
and the commission ledger."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.enums import CommissionRuleKind, CommissionStatus, CommissionType, LicenseStatus, Program, Recurrence
from partner_portal.resolvers import billing, catalog, commissions
from partner_portal.schema.billing import License, Money, MoneyInput
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    UserError,
    connection,
    decode_id,
    describe_enum,
    node_type,
    run_mutation,
)
from partner_portal.schema.partners import PartnerId, partner_id_of

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


def percent_of(basis_points: int) -> Decimal:
    return (Decimal(basis_points) / 100).quantize(Decimal("0.01"))


@strawberry.type(description="Something the vendor sells.")
class Product(Node):
    id: NodeID[int]
    code: str = strawberry.field(description="A stable code.")
    name: str = strawberry.field(description="The product's name.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Product:
        return cls(id=row["id"], code=row["code"], name=row["name"])

    @strawberry.field(description="The product's plans.")
    async def plans(self, info: Info) -> list[Plan]:
        return [Plan.from_row(row) for row in await info.context.loaders.plans.load(self.id)]


@node_type("Product")
async def _fetch_product(context: Any, pk: int) -> Product | None:
    row = await catalog.get_product(pk)
    return Product.from_row(row) if row else None


@strawberry.type(description="A plan of a product with its monthly list prices.")
class Plan(Node):
    id: NodeID[int]
    code: str = strawberry.field(description="A stable code billing events refer to.")
    name: str = strawberry.field(description="The plan's name.")
    prices: list[Money] = strawberry.field(description="The monthly list price in each currency.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Plan:
        return cls(id=row["id"], code=row["code"], name=row["name"],
                   prices=[Money.of(amount, currency) for currency, amount in sorted(row["prices"].items())])


@node_type("Plan")
async def _fetch_plan(context: Any, pk: int) -> Plan | None:
    row = await catalog.get_plan(pk)
    return Plan.from_row(row) if row else None


@strawberry.type(description="How many units of a currency one unit of the base currency buys, from a date on.")
class ExchangeRate:
    currency: str = strawberry.field(description="ISO 4217 code.")
    rate: Decimal = strawberry.field(description="Units of the currency per unit of the base currency.")
    valid_from: date = strawberry.field(description="The first day the rate applies.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ExchangeRate:
        return cls(currency=row["currency"], rate=Decimal(row["rate"]), valid_from=row["valid_from"])


@strawberry.type(description="How much a program pays, optionally narrowed to a product, a tier or one partner.")
class CommissionRule(Node):
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

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CommissionRule:
        percent = row["kind"] == CommissionRuleKind.PERCENT
        return cls(
            id=row["id"], program=Program(row["program"]), kind=CommissionRuleKind(row["kind"]),
            rate=percent_of(row["rate_bp"]) if percent else None,
            flat=None if percent else Money.of(row["flat_amount"], row["flat_currency"]),
            recurrence=Recurrence(row["recurrence"]), months=row["months"], hold_days=row["hold_days"],
            tier=row["tier"], active=row["active"], _product_id=row["product_id"], _partner_id=row["partner_id"],
        )

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


@strawberry.type(description="A commission ledger line, in the partner's payout currency.")
class Commission(Node):
    id: NodeID[int]
    type: CommissionType = strawberry.field(description="How the customer came.")
    status: CommissionStatus = strawberry.field(description="Where the line stands.")
    amount: Money = strawberry.field(description="The commission (negative for a refund after payout).")
    original: Money = strawberry.field(description="The payment (or refund) it was computed from, as received.")
    exchange_rate: Decimal = strawberry.field(description="The factor from the original currency to the payout currency.")
    rate: Decimal = strawberry.field(description="The percentage applied (0 for flat rules).")
    customer_name: str | None = strawberry.field(description="The paying customer organization.")
    hold_until: datetime | None = strawberry.field(description="When a held line becomes payable.")
    created_at: datetime = strawberry.field(description="When the line was written.")
    is_refund_adjustment: bool = strawberry.field(description="The line records a refund.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Commission:
        return cls(
            id=row["id"], type=CommissionType(row["type"]), status=CommissionStatus(row["status"]),
            amount=Money.of(row["amount"], row["currency"]),
            original=Money.of(row["original_amount"], row["original_currency"]),
            exchange_rate=Decimal(row["exchange_rate"]), rate=percent_of(row["rate_bp"]),
            customer_name=row["customer__name"], hold_until=row["hold_until"], created_at=row["created_at"],
            is_refund_adjustment=row["refund_id"] is not None,
        )


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

        return CommissionTotals(pending=money(totals.pending), approved=money(totals.approved),
                                paid=money(totals.paid), reversed=money(totals.reversed), earned=money(totals.earned))


@strawberry.type(description="A payment as recorded.")
class Payment:
    id: GlobalID = strawberry.field(description="The payment's global id.")
    external_id: str = strawberry.field(description="The billing system's id.")
    amount: Money = strawberry.field(description="What was paid.")
    refunded: Money = strawberry.field(description="What was refunded of it so far.")
    paid_at: datetime = strawberry.field(description="When it was paid.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Payment:
        return cls(id=GlobalID("Payment", str(row["id"])), external_id=row["external_id"],
                   amount=Money.of(row["amount"], row["currency"]),
                   refunded=Money.of(row["refunded_amount"], row["currency"]), paid_at=row["paid_at"])


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

        return cls(program=terms.program, default_rule=rule(terms.default),
                   products=[ProductTerms(product=Product.from_row(t.product), rule=rule(t.rule))
                             for t in terms.products])


# --- inputs and payloads ---------------------------------------------------------------------------------


@strawberry.input(description="A new product (operators with MANAGE_PROGRAMS).")
class CreateProductInput:
    code: str = strawberry.field(description="A stable code.")
    name: str = strawberry.field(description="The product's name.")


@strawberry.type(description="The new product.")
class CreateProductPayload:
    product: Product | None = strawberry.field(default=None, description="The product.")
    errors: list[UserError] = strawberry.field(description="What was wrong.")


@strawberry.input(description="A new plan of a product (operators with MANAGE_PROGRAMS).")
class CreatePlanInput:
    product_id: GlobalID = strawberry.field(description="The product.")
    code: str = strawberry.field(description="A stable code billing events refer to.")
    name: str = strawberry.field(description="The plan's name.")
    prices: list[MoneyInput] = strawberry.field(description="The monthly list price per currency.")


@strawberry.type(description="The new plan.")
class CreatePlanPayload:
    plan: Plan | None = strawberry.field(default=None, description="The plan.")
    errors: list[UserError] = strawberry.field(description="What was wrong.")


@strawberry.input(description="Set an exchange rate from a date on (operators with MANAGE_PROGRAMS).")
class SetExchangeRateInput:
    currency: str = strawberry.field(description="ISO 4217 code (not the base currency).")
    rate: Decimal = strawberry.field(description="Units of the currency per unit of the base currency.")
    valid_from: date = strawberry.field(description="The first day it applies.")


@strawberry.type(description="The exchange rate.")
class SetExchangeRatePayload:
    exchange_rate: ExchangeRate | None = strawberry.field(default=None, description="The rate.")
    errors: list[UserError] = strawberry.field(description="What was wrong.")


@strawberry.input(description="A commission rule (operators with MANAGE_PROGRAMS). Precedence: partner > product > "
                              "tier > program default.")
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
class CommissionRulePayload:
    rule: CommissionRule | None = strawberry.field(default=None, description="The rule.")
    errors: list[UserError] = strawberry.field(description="What was wrong.")


@strawberry.input(description="A payment from the billing system (API keys with billing:write); idempotent by externalId.")
class RecordPaymentInput:
    external_id: str = strawberry.field(description="The billing system's unique id of the payment.")
    organization_id: GlobalID = strawberry.field(description="The paying organization.")
    amount: MoneyInput = strawberry.field(description="What was paid (after any discount).")
    paid_at: datetime = strawberry.field(description="When it was paid.")
    plan_code: str | None = strawberry.field(default=None, description="The plan paid for, if known.")


@strawberry.type(description="The recorded payment and the commission it earned, if any.")
class RecordPaymentPayload:
    payment: Payment | None = strawberry.field(default=None, description="The payment.")
    commission: Commission | None = strawberry.field(default=None, description="Its commission line, if one was earned.")
    errors: list[UserError] = strawberry.field(description="What was wrong (CONFLICT for a reused id).")


@strawberry.input(description="A full or partial refund (API keys with billing:write); idempotent by externalId.")
class RecordRefundInput:
    external_id: str = strawberry.field(description="The billing system's unique id of the refund.")
    payment_external_id: str = strawberry.field(description="The refunded payment's external id.")
    amount: MoneyInput = strawberry.field(description="What was refunded.")
    refunded_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="The refund; `payment` is null while the payment has not arrived yet.")
class RecordRefundPayload:
    payment: Payment | None = strawberry.field(default=None, description="The refunded payment, once known.")
    errors: list[UserError] = strawberry.field(description="What was wrong.")


@strawberry.input(description="A license change from the billing system (API keys with billing:write).")
class RecordLicenseChangeInput:
    external_id: str = strawberry.field(description="The billing system's unique id of the change.")
    organization_id: GlobalID = strawberry.field(description="The organization.")
    status: LicenseStatus = strawberry.field(description="The license status.")
    plan: str = strawberry.field(description="The plan's name.")
    seats: int = strawberry.field(default=1, description="Seats.")
    mrr: MoneyInput = strawberry.field(description="Monthly recurring revenue.")
    trial_ends_at: datetime | None = strawberry.field(default=None, description="When a trial ends.")


@strawberry.type(description="The organization's license after the change.")
class RecordLicenseChangePayload:
    license: License | None = strawberry.field(default=None, description="The license.")
    errors: list[UserError] = strawberry.field(description="What was wrong.")


def _rule(row: dict[str, Any]) -> dict[str, Any]:
    return {"rule": CommissionRule.from_row(row)}


async def _payment_result(result: dict[str, Any]) -> dict[str, Any]:
    payment = await billing.get_payment(result["payment_id"])
    line = await commissions.get_line(result["commission_id"]) if result["commission_id"] else None
    return {"payment": Payment.from_row(payment), "commission": Commission.from_row(line) if line else None}


async def _refund_result(result: dict[str, Any]) -> dict[str, Any]:
    payment = await billing.get_payment(result["payment_id"]) if result["payment_id"] else None
    return {"payment": Payment.from_row(payment) if payment else None}


async def _license_result(result: dict[str, Any]) -> dict[str, Any]:
    row = await billing.get_license(result["organization_id"])
    return {"license": License.from_row(row) if row else None}


@strawberry.type
class CommissionsQuery:
    @strawberry.field(description="Products and their plans; public.")
    async def products(self, info: Info, first: First = None, after: After = None) -> Connection[Product]:
        return connection(await catalog.list_products(first=first, after=after), Product.from_row)

    @strawberry.field(description="Exchange rates, newest first; public.")
    async def exchange_rates(
        self, info: Info, currency: Annotated[str | None, strawberry.argument(description="Only this currency.")] = None,
        first: First = None, after: After = None,
    ) -> Connection[ExchangeRate]:
        return connection(await catalog.list_exchange_rates(currency=currency, first=first, after=after),
                          ExchangeRate.from_row)

    @strawberry.field(description="The programs the partner is in and what each product earns it "
                                  "(MANAGE_PARTNER_PORTAL).")
    async def program_overview(self, info: Info, partner_id: PartnerId = None) -> list[ProgramTerms]:
        terms = await commissions.program_overview(info.context.actor, partner_id_of(partner_id))
        return [ProgramTerms.of(t) for t in terms]

    @strawberry.field(description="Active commission rules (operators with MANAGE_PROGRAMS).")
    async def commission_rules(
        self, info: Info, program: Annotated[Program | None, strawberry.argument(description="Only this program.")] = None,
        first: First = None, after: After = None,
    ) -> Connection[CommissionRule]:
        page = await commissions.list_rules(info.context.actor, program=program, first=first, after=after)
        return connection(page, CommissionRule.from_row)

    @strawberry.field(description="The partner's commission table with totals (MANAGE_PARTNER_PORTAL; operators "
                                  "with MANAGE_PAYOUTS name any partner).")
    async def commissions(
        self, info: Info, partner_id: PartnerId = None,
        status: Annotated[CommissionStatus | None, strawberry.argument(description="Only this status.")] = None,
        type: Annotated[CommissionType | None, strawberry.argument(description="Only this type.")] = None,
        customer_id: Annotated[GlobalID | None, strawberry.argument(description="Only this customer.")] = None,
        created_from: Annotated[datetime | None, strawberry.argument(description="Written at or after.")] = None,
        created_until: Annotated[datetime | None, strawberry.argument(description="Written before.")] = None,
        newest_first: Annotated[bool, strawberry.argument(description="Sort newest first.")] = True,
        first: First = None, after: After = None,
    ) -> CommissionTable:
        where = commissions.CommissionFilter(
            status=status, type=type, customer_id=decode_id(customer_id, "Organization") if customer_id else None,
            created_from=created_from, created_until=created_until,
        )
        page, profile = await commissions.list_commissions(
            info.context.actor, partner_id_of(partner_id), where, newest_first=newest_first, first=first, after=after
        )
        return CommissionTable(lines=connection(page, Commission.from_row), _partner_id=profile["organization_id"],
                               _currency=profile["payout_currency"], _where=where)


@strawberry.type
class CommissionsMutation:
    @strawberry.mutation(description="Create a product.")
    async def create_product(self, info: Info, input: CreateProductInput) -> CreateProductPayload:
        change = catalog.create_product(info.context.actor, code=input.code, name=input.name)
        return await run_mutation(CreateProductPayload, change, lambda row: {"product": Product.from_row(row)})

    @strawberry.mutation(description="Create a plan with its prices.")
    async def create_plan(self, info: Info, input: CreatePlanInput) -> CreatePlanPayload:
        change = catalog.create_plan(
            info.context.actor, product_id=decode_id(input.product_id, "Product"), code=input.code, name=input.name,
            prices=[(str(p.amount), p.currency) for p in input.prices],
        )
        return await run_mutation(CreatePlanPayload, change, lambda row: {"plan": Plan.from_row(row)})

    @strawberry.mutation(description="Set an exchange rate.")
    async def set_exchange_rate(self, info: Info, input: SetExchangeRateInput) -> SetExchangeRatePayload:
        ctx = info.context
        change = catalog.set_exchange_rate(ctx.actor, ctx.settings, currency=input.currency, rate=str(input.rate),
                                           valid_from=input.valid_from)
        return await run_mutation(SetExchangeRatePayload, change,
                                  lambda row: {"exchange_rate": ExchangeRate.from_row(row)})

    @strawberry.mutation(description="Create a commission rule.")
    async def create_commission_rule(self, info: Info, input: CreateCommissionRuleInput) -> CommissionRulePayload:
        change = commissions.create_rule(
            info.context.actor, program=input.program, kind=input.kind,
            rate=str(input.rate) if input.rate is not None else None,
            flat_amount=str(input.flat.amount) if input.flat else None,
            flat_currency=input.flat.currency if input.flat else None, recurrence=input.recurrence,
            months=input.months, hold_days=input.hold_days,
            product_id=decode_id(input.product_id, "Product") if input.product_id else None, tier=input.tier,
            partner_id=decode_id(input.partner_id, "Organization") if input.partner_id else None,
        )
        return await run_mutation(CommissionRulePayload, change, _rule)

    @strawberry.mutation(description="Deactivate a commission rule.")
    async def deactivate_commission_rule(
        self, info: Info, input: DeactivateCommissionRuleInput
    ) -> CommissionRulePayload:
        change = commissions.deactivate_rule(info.context.actor, decode_id(input.rule_id, "CommissionRule"))
        return await run_mutation(CommissionRulePayload, change, _rule)

    @strawberry.mutation(description="Record a payment (billing:write); a repeated externalId returns the first result.")
    async def record_payment(self, info: Info, input: RecordPaymentInput) -> RecordPaymentPayload:
        ctx = info.context
        change = billing.record_payment(
            ctx.actor, ctx.settings, external_id=input.external_id,
            organization_id=decode_id(input.organization_id, "Organization"), amount=str(input.amount.amount),
            currency=input.amount.currency, paid_at=input.paid_at, plan_code=input.plan_code,
        )
        return await run_mutation(RecordPaymentPayload, change, _payment_result)

    @strawberry.mutation(description="Record a refund (billing:write); before its payment arrives it is kept.")
    async def record_refund(self, info: Info, input: RecordRefundInput) -> RecordRefundPayload:
        change = billing.record_refund(
            info.context.actor, external_id=input.external_id, payment_external_id=input.payment_external_id,
            amount=str(input.amount.amount), currency=input.amount.currency, refunded_at=input.refunded_at,
        )
        return await run_mutation(RecordRefundPayload, change, _refund_result)

    @strawberry.mutation(description="Record a license change (billing:write); idempotent by externalId.")
    async def record_license_change(
        self, info: Info, input: RecordLicenseChangeInput
    ) -> RecordLicenseChangePayload:
        organization_id = decode_id(input.organization_id, "Organization")
        change = billing.record_license_change(
            info.context.actor, external_id=input.external_id, organization_id=organization_id, status=input.status,
            plan=input.plan, seats=input.seats, mrr_amount=str(input.mrr.amount), currency=input.mrr.currency,
            trial_ends_at=input.trial_ends_at,
        )
        return await run_mutation(RecordLicenseChangePayload, change, _license_result)
