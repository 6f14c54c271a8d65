"""How amounts, dates and times read on a page, in the page's language (babel): Jinja filters
`{{ money | money }}` (the API's `Money` `{amount, currency}`), `{{ value | date }}` and
`{{ value | datetime }}` (ISO 8601 strings of the API, shown in UTC), `{{ value | number }}` (a
decimal string such as a rate, "20.00" → `20` / "12.5" → `12.5`, `12,5` in German)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal


def money(language: str, value: Any) -> str:
    """A `Money` (`{"amount": "19.99", "currency": "EUR"}`) as `€19.99` / `19,99 €`; empty for none."""
    if not isinstance(value, dict) or value.get("amount") is None:
        return ""
    try:
        amount = Decimal(str(value["amount"]))
    except InvalidOperation:
        return str(value["amount"])
    return format_currency(amount, str(value.get("currency") or ""), locale=language)


def number(language: str, value: Any) -> str:
    """A decimal (the API's `Decimal` strings) with at most two decimals, in the language's way."""
    try:
        return format_decimal(Decimal(str(value)), format="#,##0.##", locale=language)
    except (InvalidOperation, ValueError):
        return str(value) if value is not None else ""


def _parsed(value: Any) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def day(language: str, value: Any) -> str:
    """A date (or the day of a date-time, in UTC) in the language's medium format; empty for none."""
    parsed = _parsed(value)
    if isinstance(parsed, datetime):
        parsed = (parsed.astimezone(UTC) if parsed.tzinfo else parsed).date()
    return format_date(parsed, "medium", locale=language) if parsed else ""


def moment(language: str, value: Any) -> str:
    """A date-time in UTC, in the language's medium format with "UTC"; empty for none."""
    parsed = _parsed(value)
    if not isinstance(parsed, datetime):
        return day(language, value)
    parsed = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return f"{format_datetime(parsed, 'medium', tzinfo=UTC, locale=language)} UTC"


def install(env: Any, language: str) -> None:
    """The filters, for one language's template environment."""
    env.filters["money"] = lambda value: money(language, value)
    env.filters["date"] = lambda value: day(language, value)
    env.filters["datetime"] = lambda value: moment(language, value)
    env.filters["number"] = lambda value: number(language, value)
