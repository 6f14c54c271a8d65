"""Money: integer minor units with an ISO 4217 currency (exponents from babel's CLDR data), their
conversion and rounding, and percentages kept in basis points."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from babel.numbers import get_currency_precision
from babel.numbers import list_currencies as _list_currencies

from partner_portal.resolvers.errors import UserErrorCode, fail

CURRENCIES = frozenset(_list_currencies())
_PRECISION = {currency: get_currency_precision(currency) for currency in CURRENCIES}  # babel's lookup, once


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units as the exact decimal amount (1999 EUR → 19.99)."""
    precision = _PRECISION.get(currency)
    return Decimal(amount).scaleb(-(get_currency_precision(currency) if precision is None else precision))


MAX_MINOR = 10**12
"""The largest amount the portal takes, either way, in minor units (10 billion in a currency with
two decimals): far above any real payment, far below what 64-bit columns and sums can hold."""


def to_minor(amount: Decimal | str, currency: str, field: str = "amount") -> int:
    """An exact decimal amount in minor units. Refused (INVALID_VALUE): what is no finite number
    (NaN, Infinity), more decimals than the currency has, and more than MAX_MINOR minor units.
    Computed on the digits with integers, so no rounding of Decimal's context can hide a decimal."""
    try:
        value = Decimal(amount)
    except InvalidOperation as error:
        raise fail(field, UserErrorCode.INVALID_VALUE, "Give the amount as a decimal number.") from error
    if not value.is_finite():
        raise fail(field, UserErrorCode.INVALID_VALUE, "Give the amount as a finite decimal number.")
    decimals = get_currency_precision(currency)
    sign, digit_tuple, exponent = value.as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    if not digits:
        return 0  # also -0 and 0E+99
    exponent += len(digit_tuple) - len(digits)  # the trailing zeros taken off
    if exponent + decimals < 0:
        raise fail(field, UserErrorCode.INVALID_VALUE, f"{currency} has {decimals} decimals.")
    too_large = fail(field, UserErrorCode.INVALID_VALUE, f"An amount is at most {to_decimal(MAX_MINOR, currency)}.")
    if len(digits) + exponent + decimals > len(str(MAX_MINOR)):  # checked before 10 ** … is computed
        raise too_large
    minor = int(digits) * 10 ** (exponent + decimals)
    if minor > MAX_MINOR:
        raise too_large
    return -minor if sign else minor


MAX_RATE = Decimal(10) ** 9
RATE_DECIMALS = 10
RATE_TEXT_LENGTH = 40  # the exchange_rates.rate column


def clean_rate(raw: Decimal | str, field: str = "rate") -> Decimal:
    """An exchange rate: a finite decimal above 0, at most MAX_RATE, with at most RATE_DECIMALS decimals."""
    problem = fail(
        field,
        UserErrorCode.INVALID_VALUE,
        f"Give a positive rate up to {MAX_RATE:,} with at most {RATE_DECIMALS} decimals.",
    )
    try:
        value = Decimal(raw)
    except InvalidOperation as error:
        raise problem from error
    if not value.is_finite() or not 0 < value <= MAX_RATE or len(str(value)) > RATE_TEXT_LENGTH:
        raise problem
    if value != value.quantize(Decimal(1).scaleb(-RATE_DECIMALS)):  # exact: at most 20 digits here
        raise problem
    return value


# --- conversion and rounding -------------------------------------------------------------------------------


def minor_exact(amount_minor: int | Decimal, source: str, target: str, factor: Decimal) -> Decimal:
    """An amount in `source` minor units as exact `target` minor units (not yet rounded)."""
    shift = get_currency_precision(target) - get_currency_precision(source)
    return Decimal(amount_minor) * factor * (Decimal(10) ** shift)


def round_minor(value: Decimal) -> int:
    """Rounded once, half to even, to whole minor units."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# --- percentages -------------------------------------------------------------------------------------------


def basis_points(rate: str | None, field: str = "rate") -> int:
    """A percentage with at most two decimals ("20.00") in hundredths of a percent (2000)."""
    problem = fail(field, UserErrorCode.INVALID_VALUE, "Give a percentage from 0.01 to 100 with at most two decimals.")
    try:
        value = Decimal(rate or "")
    except InvalidOperation as error:
        raise problem from error
    if not value.is_finite() or not Decimal("0.01") <= value <= 100 or value != value.quantize(Decimal("0.01")):
        raise problem
    return int(value * 100)


def percent(basis: int) -> Decimal:
    """Basis points as the percentage with two decimals (2000 → 20.00)."""
    return (Decimal(basis) / 100).quantize(Decimal("0.01"))
