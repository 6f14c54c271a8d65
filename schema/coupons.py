"""GraphQL for reseller coupons: the reseller's price table, coupon orders with their coupons and
invoices, the customer's redemption (rate limited per client), and the operators' discount levels."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.clock import now
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.requirements import LICENSE_ORDERER, PROGRAM_MANAGER, RESELLER_PORTAL, RESELLER_READER
from partner_portal.resolvers import billing, coupons
from partner_portal.resolvers.coupons import MAX_COUPONS_PER_ORDER
from partner_portal.resolvers.money import percent
from partner_portal.schema.billing import License
from partner_portal.schema.catalog import Plan
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
    global_id,
    node_type,
    run_mutation,
)
from partner_portal.schema.guards.cost import bounded_list
from partner_portal.schema.money import Money
from partner_portal.schema.partners import PartnerId, partner_id_of
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import RowType, row_type


class CouponStatus(enum.StrEnum):
    UNUSED = "UNUSED"
    REDEEMED = "REDEEMED"
    EXPIRED = "EXPIRED"


describe_enum(
    CouponStatus,
    "Where a coupon stands.",
    {
        "UNUSED": "Not redeemed yet and not expired.",
        "REDEEMED": "Redeemed by a customer organization.",
        "EXPIRED": "Not redeemed before it expired.",
    },
)


@strawberry.type(description="One plan in one currency as the reseller buys it (monthly prices).")
class PriceTableRow:
    plan: Plan = strawberry.field(description="The plan.")
    list_price: Money = strawberry.field(description="The monthly list price.")
    discount: Decimal = strawberry.field(description="The reseller's discount in percent (25.00).")
    wholesale_price: Money = strawberry.field(
        description="What the reseller pays per coupon and month: list price less the discount, rounded once half "
        "to even to the currency's minor unit."
    )
    margin: Money = strawberry.field(description="List price minus wholesale price.")


@strawberry.type(description="The reseller's price table: its discount and, per plan and currency, the prices.")
class ResellerPriceTable:
    partner_id: GlobalID = strawberry.field(description="The reseller organization.")
    discount: Decimal = strawberry.field(description="The reseller's discount off list price in percent.")
    rows: list[PriceTableRow] = strawberry.field(description="One row per plan and currency.")


@row_type(coupons.INVOICE_FIELDS, amount=lambda row: Money.of(row["amount"], row["currency"]))
@strawberry.type(description="The invoice of a coupon order, issued when the order was placed.")
class CouponInvoice(Node, RowType):
    id: NodeID[int]
    number: str = strawberry.field(description="The invoice number.")
    amount: Money = strawberry.field(description="Wholesale price x coupons x months.")
    issued_at: datetime = strawberry.field(description="When it was issued.")


@node_type("CouponInvoice")
async def _fetch_invoice(context: Any, pk: int) -> CouponInvoice | None:
    row = await coupons.visible_invoice(context.actor, pk)
    return CouponInvoice.from_row(row) if row else None


@strawberry.type(description="A coupon: a code a customer organization redeems once for a plan and months.")
class Coupon(Node):
    id: NodeID[int]
    code: str = strawberry.field(description="The code to hand to a customer.")
    status: CouponStatus = strawberry.field(description="Unused, redeemed or expired.")
    plan_code: str = strawberry.field(description="The plan it gives.")
    months: int = strawberry.field(description="For how many months.")
    expires_at: datetime | None = strawberry.field(description="Unredeemed, it expires then.")
    redeemed_at: datetime | None = strawberry.field(description="When it was redeemed.")
    organization_id: GlobalID | None = strawberry.field(description="The organization that redeemed it.")
    paid_until: datetime | None = strawberry.field(description="The end of the months its redemption bought.")
    order_id: GlobalID = strawberry.field(description="The order it belongs to.")

    @classmethod
    def from_row(cls, row: dict[str, Any], moment: datetime | None = None) -> Coupon:
        organization = row["organization_id"]
        return cls(
            id=row["id"],
            code=row["code"],
            status=CouponStatus(coupons.coupon_status(row, moment or now())),
            plan_code=row["order__plan__code"],
            months=row["order__months"],
            expires_at=row["expires_at"],
            redeemed_at=row["redeemed_at"],
            organization_id=global_id("Organization", organization) if organization else None,
            paid_until=row["paid_until"],
            order_id=global_id("CouponOrder", row["order_id"]),
        )


@node_type("Coupon")
async def _fetch_coupon(context: Any, pk: int) -> Coupon | None:
    row = await coupons.visible_coupon(context.actor, pk)
    return Coupon.from_row(row) if row else None


@strawberry.type(description="An order of coupons for one plan and a number of months, invoiced at once.")
class CouponOrder(Node):
    id: NodeID[int]
    plan: Plan = strawberry.field(description="The plan the coupons give.")
    count: int = strawberry.field(description="How many coupons.")
    months: int = strawberry.field(description="Months per coupon.")
    list_price: Money = strawberry.field(description="The monthly list price at the time of the order.")
    discount: Decimal = strawberry.field(description="The reseller's discount in percent at the time of the order.")
    wholesale_price: Money = strawberry.field(description="The monthly wholesale price per coupon.")
    total: Money = strawberry.field(description="Wholesale price x count x months.")
    created_at: datetime = strawberry.field(description="When it was ordered.")
    invoice: CouponInvoice | None = strawberry.field(description="Its invoice.")

    @classmethod
    def from_row(cls, row: dict[str, Any], invoice: dict[str, Any] | None) -> CouponOrder:
        currency = row["currency"]
        return cls(
            id=row["id"],
            plan=Plan.from_row(
                {
                    "id": row["plan_id"],
                    "code": row["plan__code"],
                    "name": row["plan__name"],
                    "prices": row["plan__prices"],
                }
            ),
            count=row["count"],
            months=row["months"],
            list_price=Money.of(row["list_unit_amount"], currency),
            discount=percent(row["discount_bp"]),
            wholesale_price=Money.of(row["wholesale_unit_amount"], currency),
            total=Money.of(row["total_amount"], currency),
            created_at=row["created_at"],
            invoice=CouponInvoice.from_row(invoice) if invoice else None,
        )


@node_type("CouponOrder")
async def _fetch_order(context: Any, pk: int) -> CouponOrder | None:
    row = await coupons.visible_order(context.actor, pk)
    if row is None:
        return None
    invoices = await coupons.invoices_of(context.actor, [pk])
    return CouponOrder.from_row(row, invoices.get(pk))


# --- inputs and payloads -----------------------------------------------------------------------------------


@strawberry.input(description="Order coupons.")
class CreateCouponsInput:
    partner_id: GlobalID | None = strawberry.field(
        default=None, description="The reseller organization; default: the viewer's first organization."
    )
    plan_id: GlobalID = strawberry.field(description="The plan the coupons give.")
    count: int = strawberry.field(description="How many coupons (1 to 1,000).")
    months: int = strawberry.field(description="Months per coupon (1 to 36).")
    currency: str | None = strawberry.field(
        default=None, description="The currency of the invoice; default: the partner's payout currency."
    )


@strawberry.type(description="The order with its invoice and coupons.")
class CreateCouponsPayload(Payload):
    order: CouponOrder | None = strawberry.field(default=None, description="The order and its invoice.")
    coupons: list[Coupon] = bounded_list(MAX_COUPONS_PER_ORDER, "The order's coupons.", default_factory=list)


@strawberry.input(description="Redeem a coupon for an organization (its administrators or ORDER_LICENSES holders).")
class RedeemCouponInput:
    organization_id: GlobalID = strawberry.field(description="The customer organization.")
    code: str = strawberry.field(description="The coupon code as typed (case, spaces and hyphens do not matter).")


@strawberry.type(
    description="The redemption: the organization's license now has the coupon's plan. A code that "
    "is unknown, used or expired is an INVALID_VALUE error."
)
class RedeemCouponPayload(Payload):
    license: License | None = strawberry.field(default=None, description="The organization's license.")
    plan_code: str | None = strawberry.field(default=None, description="The plan the coupon gave.")
    months: int | None = strawberry.field(default=None, description="The months it gave.")
    paid_until: datetime | None = strawberry.field(default=None, description="The end of the months bought.")


@strawberry.input(description="Set a reseller's discount level.")
class SetResellerDiscountInput:
    partner_id: GlobalID = strawberry.field(description="The reseller organization.")
    discount: Decimal = strawberry.field(description="The discount off list price in percent, 10.00 to 60.00.")


@strawberry.type(description="The reseller's discount level.")
class SetResellerDiscountPayload(Payload):
    partner_id: GlobalID | None = strawberry.field(default=None, description="The reseller organization.")
    discount: Decimal | None = strawberry.field(default=None, description="The discount in percent.")


async def _orders_with_invoices(actor: Actor, page: Any) -> Connection[CouponOrder]:
    invoices = await coupons.invoices_of(actor, [row["id"] for row in page.rows])
    return connection(page, lambda row: CouponOrder.from_row(row, invoices.get(row["id"])))


async def _created(actor: Actor, result: dict[str, Any]) -> dict[str, Any]:
    order_id = result["order_id"]
    order = await coupons.visible_order(actor, order_id)
    invoices = await coupons.invoices_of(actor, [order_id])
    moment = now()
    rows = await coupons.coupons_of_order(actor, order_id)
    return {
        "order": CouponOrder.from_row(order, invoices.get(order_id)) if order else None,
        "coupons": [Coupon.from_row(row, moment) for row in rows],
    }


async def _redeemed(result: dict[str, Any]) -> dict[str, Any]:
    row = await billing.get_license(result["organization_id"])
    return {
        "license": License.from_row(row) if row else None,
        "plan_code": result["plan_code"],
        "months": result["months"],
        "paid_until": result["paid_until"],
    }


@strawberry.type
class CouponsQuery:
    @strawberry.field(description="The reseller's price table.", extensions=[Requires(RESELLER_READER, "partner_id")])
    async def reseller_price_table(
        self,
        info: Info,
        partner_id: PartnerId = None,
        currency: Annotated[str | None, strawberry.argument(description="Only this currency.")] = None,
    ) -> ResellerPriceTable:
        table = await coupons.price_table(info.context.actor, partner_id_of(partner_id), currency)
        return ResellerPriceTable(
            partner_id=global_id("Organization", table["partner_id"]),
            discount=percent(table["discount_bp"]),
            rows=[
                PriceTableRow(
                    plan=Plan.from_row(r["plan"]),
                    list_price=Money.of(r["list_amount"], r["currency"]),
                    discount=percent(r["discount_bp"]),
                    wholesale_price=Money.of(r["wholesale_amount"], r["currency"]),
                    margin=Money.of(r["margin_amount"], r["currency"]),
                )
                for r in table["rows"]
            ],
        )

    @strawberry.field(
        description="The reseller's coupon orders with their invoices, newest first.",
        extensions=[Requires(RESELLER_READER, "partner_id")],
    )
    async def coupon_orders(
        self, info: Info, partner_id: PartnerId = None, first: First = None, after: After = None
    ) -> Connection[CouponOrder]:
        page = await coupons.list_orders(info.context.actor, partner_id_of(partner_id), first=first, after=after)
        return await _orders_with_invoices(info.context.actor, page)

    @strawberry.field(
        description="The reseller's coupons, optionally of one order or in one status.",
        extensions=[Requires(RESELLER_READER, "partner_id")],
    )
    async def coupons(
        self,
        info: Info,
        partner_id: PartnerId = None,
        order_id: Annotated[GlobalID | None, strawberry.argument(description="Only this order's.")] = None,
        status: Annotated[CouponStatus | None, strawberry.argument(description="Only this status.")] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Coupon]:
        page = await coupons.list_coupons(
            info.context.actor,
            partner_id_of(partner_id),
            order_id=decode_id(order_id, "CouponOrder") if order_id else None,
            status=status.value if status else None,
            first=first,
            after=after,
        )
        moment = now()
        return connection(page, lambda row: Coupon.from_row(row, moment))


@strawberry.type
class CouponsMutation:
    @strawberry.mutation(
        description="Order coupons: the codes and an invoice for wholesale price x count x months, at once.",
        extensions=[Requires(RESELLER_PORTAL, "input.partner_id")],
    )
    async def create_coupons(self, info: Info, input: CreateCouponsInput) -> CreateCouponsPayload:
        change = coupons.create_coupons(
            info.context.actor,
            partner_id_of(input.partner_id),
            plan_id=decode_id(input.plan_id, "Plan"),
            count=input.count,
            months=input.months,
            currency=input.currency,
        )
        return await run_mutation(CreateCouponsPayload, change, partial(_created, info.context.actor))

    @strawberry.mutation(
        description="Redeem a coupon for an organization (rate limited per client: THROTTLED with "
        "when to retry); a coupon redeems once.",
        extensions=[Requires(LICENSE_ORDERER, "input.organization_id")],
    )
    async def redeem_coupon(self, info: Info, input: RedeemCouponInput) -> RedeemCouponPayload:
        ctx = info.context
        change = coupons.redeem_coupon(
            ctx.actor,
            ctx.throttle_lookup,
            organization_id=decode_id(input.organization_id, "Organization"),
            raw=input.code,
        )
        return await run_mutation(RedeemCouponPayload, change, _redeemed)

    @strawberry.mutation(description="Set a reseller's discount level.", extensions=[Requires(PROGRAM_MANAGER)])
    async def set_reseller_discount(self, info: Info, input: SetResellerDiscountInput) -> SetResellerDiscountPayload:
        change = coupons.set_reseller_discount(
            info.context.actor, decode_id(input.partner_id, "Organization"), str(input.discount)
        )
        return await run_mutation(
            SetResellerDiscountPayload,
            change,
            lambda r: {"partner_id": global_id("Organization", r["partner_id"]), "discount": percent(r["discount_bp"])},
        )
