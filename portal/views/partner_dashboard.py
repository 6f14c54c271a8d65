"""The partner's dashboard: the seven figures of REDDCRYPT's dashboard (customers, open invitations,
active and trial customers, total, paid and open commission), commission by month as a server-drawn
SVG bar chart with the same numbers as a table, and the tier with what the next one misses. One
request (`PartnerDashboardPage`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from babel.dates import format_date
from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.pages import language_of
from partner_portal.portal.problems import problem_texts

if TYPE_CHECKING:
    from partner_portal.portal.app import Page, Portal

MONTHS = 12
CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM = 600, 220, 16, 28  # the SVG's viewBox and margins


def last_months(today: date, count: int = MONTHS) -> list[date]:
    """The first days of the `count` calendar months up to today's, oldest first."""
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


@dataclass(frozen=True)
class Bar:
    month: date
    label: str  # the month, short, in the page's language
    long_label: str  # the month with its year
    amount: dict[str, str]  # Money
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    currency: str
    maximum: dict[str, str]  # Money: the top of the scale
    baseline: float
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def commission_by_month(data: dict[str, Any], months: list[date], language: str) -> Chart | None:
    """Earned commission (held, approved, paid; refunds netted, reversed lines left out) per month in
    the payout currency (the dashboard's), from the report's rows grouped by period and status."""
    dashboard = data.get("partnerDashboard")
    rows = ((data.get("reports") or {}).get("commissions") or {}).get("rows")
    if not dashboard or rows is None:
        return None
    currency = dashboard["totalCommission"]["currency"]
    sums = dict.fromkeys(months, Decimal(0))
    for row in rows:
        period = date.fromisoformat(row["period"]) if row.get("period") else None
        if period in sums and row["currency"] == currency and row["status"] != "REVERSED":
            sums[period] += Decimal(row["amount"]["amount"])
    top = max([*sums.values(), Decimal(0)])
    plot = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    baseline = CHART_HEIGHT - CHART_BOTTOM
    slot = CHART_WIDTH / len(months)
    bars = []
    for index, month in enumerate(months):
        amount = sums[month]
        height = float(amount / top) * plot if top > 0 and amount > 0 else 0.0
        bars.append(
            Bar(
                month=month,
                label=format_date(month, "MMM", locale=language),
                long_label=format_date(month, "MMMM yyyy", locale=language),
                amount={"amount": str(amount), "currency": currency},
                x=round(index * slot + slot * 0.15, 1),
                y=round(baseline - height, 1),
                width=round(slot * 0.7, 1),
                height=round(height, 1),
            )
        )
    return Chart(bars, currency, {"amount": str(top), "currency": currency}, baseline)


async def dashboard(portal: Portal, request: Request) -> Response:
    months = last_months(datetime.now(UTC).date())
    variables = {"partnerId": portal.organization_of(request), "from": f"{months[0].isoformat()}T00:00:00Z"}
    language = language_of(request)
    return await portal.page(
        request,
        "PartnerDashboardPage",
        "partner_dashboard.html",
        variables,
        chart_of=lambda data: commission_by_month(data, months, language),
        explain=lambda errors: problem_texts(request, errors),
    )


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/partner/dashboard", dashboard, ["GET"]),
]
