"""GraphQL for amounts of money, shared by every domain that shows or takes one."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from partner_portal.resolvers.money import to_decimal


@strawberry.type(description="An amount of money.")
class Money:
    amount: Decimal = strawberry.field(description='The exact amount as a decimal string, e.g. "19.99".')
    currency: str = strawberry.field(description="ISO 4217 currency code.")

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        return cls(amount=to_decimal(minor, currency), currency=currency)


@strawberry.input(description="An amount of money.")
class MoneyInput:
    amount: Decimal = strawberry.field(description="The exact amount, with at most the currency's decimals.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")
