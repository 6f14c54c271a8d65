"""The catalog (products, plans and their prices) and exchange rates, kept by operators."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from partner_portal.models.catalog import ExchangeRate, Plan, Product
from partner_portal.models.clock import now
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import PROGRAM_MANAGER
from partner_portal.resolvers import audit
from partner_portal.resolvers.errors import UserErrorCode, fail, query_argument
from partner_portal.resolvers.money import clean_rate, minor_exact, round_minor, to_minor
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.resolvers.validation import clean_currency, clean_name
from partner_portal.settings import Settings

PRODUCT_FIELDS = ("id", "code", "name", "created_at")
PLAN_FIELDS = ("id", "product_id", "code", "name", "prices", "created_at")
RATE_FIELDS = ("id", "currency", "rate", "valid_from", "created_at")


class MissingExchangeRate(Exception):
    """No rate for a currency on a date: the operator must add one."""

    def __init__(self, currency: str, on: date) -> None:
        super().__init__(f"No exchange rate for {currency} on {on.isoformat()}.")
        self.currency = currency
        self.on = on


def clean_code(raw: str, field: str = "code") -> str:
    code = raw.strip().upper().replace(" ", "_")
    if not code or len(code) > 40 or not all(c.isalnum() or c in "_-" for c in code):
        raise fail(field, UserErrorCode.INVALID_VALUE, "Use 1 to 40 letters, digits, '_' or '-'.")
    return code


async def create_product(actor: Actor, *, code: str, name: str) -> dict[str, Any]:
    await PROGRAM_MANAGER.enforce(actor)
    values = {"code": clean_code(code), "name": clean_name(name)}
    try:
        async with in_transaction():
            product = await Product.create(**values, created_at=now())
            await audit.record(actor, "product.create", "Product", product.id, changes=values)
    except IntegrityError as error:
        raise fail("code", UserErrorCode.INVALID_VALUE, "A product with this code exists.") from error
    return {field: getattr(product, field) for field in PRODUCT_FIELDS}


async def create_plan(
    actor: Actor, *, product_id: int, code: str, name: str, prices: list[tuple[str, str]]
) -> dict[str, Any]:
    """`prices`: (amount, currency) pairs, the monthly list price per currency."""
    await PROGRAM_MANAGER.enforce(actor)
    if not await Product.filter(id=product_id).exists():
        raise NotFound()
    minor = {}
    for amount, currency in prices:
        code_ = clean_currency(currency, "prices")
        minor[code_] = to_minor(amount, code_, "prices")
    values = {"code": clean_code(code), "name": clean_name(name), "prices": minor}
    try:
        async with in_transaction():
            plan = await Plan.create(product_id=product_id, created_at=now(), **values)
            await audit.record(actor, "plan.create", "Plan", plan.id, changes=values)
    except IntegrityError as error:
        raise fail("code", UserErrorCode.INVALID_VALUE, "A plan with this code exists.") from error
    return {field: getattr(plan, field) for field in PLAN_FIELDS}


async def list_products(actor: Actor, *, first: int | None, after: str | None) -> Page:
    return await paginate(await scoping.visible_products(actor), fields=PRODUCT_FIELDS, first=first, after=after)


async def get_product(actor: Actor, product_id: int) -> dict[str, Any] | None:
    """For `node`: a product the actor sees (every one: the catalog is public, like `products`)."""
    return await (await scoping.visible_products(actor)).filter(id=product_id).first().values(*PRODUCT_FIELDS)


async def get_plan(actor: Actor, plan_id: int) -> dict[str, Any] | None:
    """For `node`: a plan the actor sees (every one, like the `plans` of `products`)."""
    return await (await scoping.visible_plans(actor)).filter(id=plan_id).first().values(*PLAN_FIELDS)


async def plans_of(actor: Actor, product_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    rows = (
        await (await scoping.visible_plans(actor))
        .filter(product_id__in=product_ids)
        .order_by("id")
        .values(*PLAN_FIELDS)
    )
    result: dict[int, list[dict[str, Any]]] = {i: [] for i in product_ids}
    for row in rows:
        result[row["product_id"]].append(row)
    return result


async def set_exchange_rate(
    actor: Actor, settings: Settings, *, currency: str, rate: str, valid_from: date
) -> dict[str, Any]:
    """How many units of `currency` one unit of the base currency buys, from a date on."""
    await PROGRAM_MANAGER.enforce(actor)
    code = clean_currency(currency)
    value = clean_rate(rate)
    if code == settings.base_currency:
        raise fail("currency", UserErrorCode.INVALID_VALUE, f"{code} is the base currency (always 1).")
    async with in_transaction():
        row, _ = await ExchangeRate.update_or_create(
            defaults={"rate": str(value), "created_at": now()}, currency=code, valid_from=valid_from
        )
        await audit.record(
            actor,
            "exchange_rate.set",
            "ExchangeRate",
            row.id,
            changes={"currency": code, "rate": str(value), "valid_from": valid_from.isoformat()},
        )
    return await ExchangeRate.filter(id=row.id).first().values(*RATE_FIELDS)


async def list_exchange_rates(*, currency: str | None, first: int | None, after: str | None) -> Page:
    queryset = ExchangeRate.all()
    if currency:
        queryset = queryset.filter(currency=query_argument(clean_currency, currency))
    return await paginate(queryset, fields=RATE_FIELDS, first=first, after=after, order=("-id",))


async def rate_on(settings: Settings, currency: str, on: date) -> Decimal:
    """Units of `currency` per unit of the base currency on a date."""
    if currency == settings.base_currency:
        return Decimal(1)
    rate = (
        await ExchangeRate.filter(currency=currency, valid_from__lte=on)
        .order_by("-valid_from")
        .first()
        .values_list("rate", flat=True)
    )
    if rate is None:
        raise MissingExchangeRate(currency, on)
    return Decimal(rate)


async def conversion_rate(settings: Settings, source: str, target: str, on: date) -> Decimal:
    """The factor that turns an amount in `source` into `target` (through the base currency)."""
    if source == target:
        return Decimal(1)
    return await rate_on(settings, target, on) / await rate_on(settings, source, on)


async def threshold_in(settings: Settings, currency: str, on: datetime) -> int:
    """The payout threshold in `currency` minor units (rounded half-even)."""
    amount, _, threshold_currency = settings.payout_threshold.partition(" ")
    source = threshold_currency.strip().upper() or settings.base_currency
    minor = to_minor(amount, source)
    factor = await conversion_rate(settings, source, currency, on.date())
    return round_minor(minor_exact(minor, source, currency, factor))
