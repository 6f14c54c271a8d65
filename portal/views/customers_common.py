"""What the partner staff's customer pages share (My customers, Invitations, Staff, Coupons): their
number formatter; checked query and form values.
Money and dates are the shared filters of `portal/formatting.py` (`| money`, `| date`)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from babel.numbers import format_decimal
from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.pages import language_of

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

PAGE_SIZE = 20
MAX_CURSOR = 200


async def show(
    portal: Portal,
    request: Request,
    operation: str,
    template: str,
    variables: dict[str, Any] | None = None,
    **values: Any,
) -> Response:
    """`portal.page` with the `number` formatter these templates use."""
    language = language_of(request)
    return await portal.page(
        request,
        operation,
        template,
        variables,
        number=lambda value: format_decimal(Decimal(str(value)), locale=language),
        **values,
    )


def choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    """A query or form value that must be one of `allowed` (an enum of the API); else None."""
    return value if value in allowed else None


def cursor(value: str | None) -> str | None:
    """A pagination cursor from the address (the API checks it; the portal bounds it)."""
    value = (value or "")[:MAX_CURSOR]
    return value if value and value.isascii() and value.isprintable() else None


def short(value: str | None, limit: int = 200) -> str:
    return (value or "").strip()[:limit]
