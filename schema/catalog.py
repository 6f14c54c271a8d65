"""GraphQL for the catalog: products, their plans and prices, and exchange rates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.permissions.requirements import PROGRAM_MANAGER
from partner_portal.resolvers import catalog
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
    node_type,
    run_mutation,
)
from partner_portal.schema.money import Money, MoneyInput
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import RowType, row_type


@row_type(catalog.PRODUCT_FIELDS)
@strawberry.type(description="Something the vendor sells.")
class Product(Node, RowType):
    id: NodeID[int]
    code: str = strawberry.field(description="A stable code.")
    name: str = strawberry.field(description="The product's name.")

    @strawberry.field(description="The product's plans.")
    async def plans(self, info: Info) -> list[Plan]:
        return [Plan.from_row(row) for row in await info.context.loaders.plans.load(self.id)]


@node_type("Product")
async def _fetch_product(context: Any, pk: int) -> Product | None:
    row = await catalog.get_product(context.actor, pk)
    return Product.from_row(row) if row else None


@row_type(
    catalog.PLAN_FIELDS,
    prices=lambda row: [Money.of(amount, currency) for currency, amount in sorted(row["prices"].items())],
)
@strawberry.type(description="A plan of a product with its monthly list prices.")
class Plan(Node, RowType):
    id: NodeID[int]
    code: str = strawberry.field(description="A stable code billing events refer to.")
    name: str = strawberry.field(description="The plan's name.")
    prices: list[Money] = strawberry.field(description="The monthly list price in each currency.")


@node_type("Plan")
async def _fetch_plan(context: Any, pk: int) -> Plan | None:
    row = await catalog.get_plan(context.actor, pk)
    return Plan.from_row(row) if row else None


@row_type(catalog.RATE_FIELDS, rate=lambda row: Decimal(row["rate"]))
@strawberry.type(description="How many units of a currency one unit of the base currency buys, from a date on.")
class ExchangeRate(RowType):
    currency: str = strawberry.field(description="ISO 4217 code.")
    rate: Decimal = strawberry.field(description="Units of the currency per unit of the base currency.")
    valid_from: date = strawberry.field(description="The first day the rate applies.")


# --- inputs and payloads ---------------------------------------------------------------------------------


@strawberry.input(description="A new product.")
class CreateProductInput:
    code: str = strawberry.field(description="A stable code.")
    name: str = strawberry.field(description="The product's name.")


@strawberry.type(description="The new product.")
class CreateProductPayload(Payload):
    product: Product | None = strawberry.field(default=None, description="The product.")


@strawberry.input(description="A new plan of a product.")
class CreatePlanInput:
    product_id: GlobalID = strawberry.field(description="The product.")
    code: str = strawberry.field(description="A stable code billing events refer to.")
    name: str = strawberry.field(description="The plan's name.")
    prices: list[MoneyInput] = strawberry.field(description="The monthly list price per currency.")


@strawberry.type(description="The new plan.")
class CreatePlanPayload(Payload):
    plan: Plan | None = strawberry.field(default=None, description="The plan.")


@strawberry.input(description="Set an exchange rate from a date on.")
class SetExchangeRateInput:
    currency: str = strawberry.field(description="ISO 4217 code (not the base currency).")
    rate: Decimal = strawberry.field(description="Units of the currency per unit of the base currency.")
    valid_from: date = strawberry.field(description="The first day it applies.")


@strawberry.type(description="The exchange rate.")
class SetExchangeRatePayload(Payload):
    exchange_rate: ExchangeRate | None = strawberry.field(default=None, description="The rate.")


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="Products and their plans; public.")
    async def products(self, info: Info, first: First = None, after: After = None) -> Connection[Product]:
        products = await catalog.list_products(info.context.actor, first=first, after=after)
        return connection(products, Product.from_row)

    @strawberry.field(description="Exchange rates, newest first; public.")
    async def exchange_rates(
        self,
        info: Info,
        currency: Annotated[str | None, strawberry.argument(description="Only this currency.")] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[ExchangeRate]:
        return connection(
            await catalog.list_exchange_rates(currency=currency, first=first, after=after), ExchangeRate.from_row
        )


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(description="Create a product.", extensions=[Requires(PROGRAM_MANAGER)])
    async def create_product(self, info: Info, input: CreateProductInput) -> CreateProductPayload:
        change = catalog.create_product(info.context.actor, code=input.code, name=input.name)
        return await run_mutation(CreateProductPayload, change, product=Product.from_row)

    @strawberry.mutation(description="Create a plan with its prices.", extensions=[Requires(PROGRAM_MANAGER)])
    async def create_plan(self, info: Info, input: CreatePlanInput) -> CreatePlanPayload:
        change = catalog.create_plan(
            info.context.actor,
            product_id=decode_id(input.product_id, "Product"),
            code=input.code,
            name=input.name,
            prices=[(str(p.amount), p.currency) for p in input.prices],
        )
        return await run_mutation(CreatePlanPayload, change, plan=Plan.from_row)

    @strawberry.mutation(description="Set an exchange rate.", extensions=[Requires(PROGRAM_MANAGER)])
    async def set_exchange_rate(self, info: Info, input: SetExchangeRateInput) -> SetExchangeRatePayload:
        ctx = info.context
        change = catalog.set_exchange_rate(
            ctx.actor, ctx.settings, currency=input.currency, rate=str(input.rate), valid_from=input.valid_from
        )
        return await run_mutation(SetExchangeRatePayload, change, exchange_rate=ExchangeRate.from_row)
