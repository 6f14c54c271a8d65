"""Money: integer minor units with an ISO 4217 currency (exponents from babel's CLDR data)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision
from babel.numbers import list_currencies as _list_currencies

from resolvers.errors import UserErrorCode, fail

CURRENCIES = frozenset(_list_currencies())


def clean_currency(raw: str, field: str = "currency") -> str:
    code = raw.strip().upper()
    if code not in CURRENCIES:
        raise fail(field, UserErrorCode.INVALID_VALUE, "Use an ISO 4217 currency code such as EUR or USD.")
    return code


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units as the exact decimal amount (1999 EUR → 19.99)."""
    return Decimal(amount).scaleb(-get_currency_precision(currency))


def to_minor(amount: Decimal | str, currency: str, field: str = "amount") -> int:
    """An exact decimal amount in minor units; more decimals than the currency has are refused."""
    try:
        value = Decimal(amount)
    except InvalidOperation as error:
        raise fail(field, UserErrorCode.INVALID_VALUE, "Give the amount as a decimal number.") from error
    minor = value.scaleb(get_currency_precision(currency))
    if not value.is_finite() or minor != minor.to_integral_value():
        raise fail(field, UserErrorCode.INVALID_VALUE, f"{currency} has {get_currency_precision(currency)} decimals.")
    return int(minor)
