"""Reports: commission sums grouped by period and dimension, the customer funnel, the partner
leaderboard, and the ledger lines for export. Every figure is an SQL aggregate over a scoped
queryset (`permissions/scoping.py`), a fixed number of queries whatever the data size.

Decisions (also in the README's "Reports" section):

- Periods are UTC calendar days, ISO weeks (starting Monday) and calendar months, named by
  their first day; the grouping expression is the dialect's own (SQLite `date`/`strftime`,
  PostgreSQL `date_trunc`), see `period_sql`.
- Amounts are never summed across currencies: the currency is always part of a group.
- A line's product is its payment's plan's product; a refund line keeps the payment it takes
  from (`payment_id`), so it counts under that payment's product. A line's program is the
  program of its type (PARTNER and SELF: SERVICE_PARTNER, AFFILIATE: AFFILIATE, CODE:
  EXPERT), which is always the program of the rule it was computed with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from tortoise import connections
from tortoise.expressions import Q, RawSQL, Subquery
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet

from partner_portal.models.billing import License, Payment
from partner_portal.models.enums import CommissionStatus, CommissionType, Program
from partner_portal.permissions import policy, scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.requirements import LEADERBOARD_READER, REPORT_READER
from partner_portal.resolvers.commissions import PROGRAM_OF_TYPE
from partner_portal.resolvers.errors import BadArgument, query_argument
from partner_portal.resolvers.validation import clean_currency

MAX_GROUPS = 10_000  # rows of one aggregate report; beyond, narrow the filter
EXPORT_BATCH_SIZE = 2_000  # ledger lines per query of an export
MAX_LEADERBOARD = 100


class ReportPeriod(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


class ReportDimension(StrEnum):
    PERIOD = "PERIOD"
    PARTNER = "PARTNER"
    PRODUCT = "PRODUCT"
    PROGRAM = "PROGRAM"
    TYPE = "TYPE"
    STATUS = "STATUS"


class LeaderboardMetric(StrEnum):
    COMMISSION = "COMMISSION"
    NEW_CUSTOMERS = "NEW_CUSTOMERS"
    PAYING_CUSTOMERS = "PAYING_CUSTOMERS"


# --- SQL building blocks -------------------------------------------------------------------------------

_SQLITE_PERIODS = {
    ReportPeriod.DAY: "date({column})",
    ReportPeriod.WEEK: "date({column}, 'weekday 0', '-6 days')",  # the next Sunday (or today), back to Monday
    ReportPeriod.MONTH: "strftime('%Y-%m-01', {column})",
}
_POSTGRES_PERIOD = "to_char(date_trunc('{unit}', {column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"


def period_sql(table: str, period: ReportPeriod, column: str = "created_at") -> RawSQL:
    """The first day of the UTC period of `table.column`, as text `YYYY-MM-DD`, in the
    running database's dialect (ISO weeks start on Monday in both)."""
    qualified = f'"{table}"."{column}"'
    if connections.get("default").capabilities.dialect == "postgres":
        return RawSQL(_POSTGRES_PERIOD.format(unit=ReportPeriod(period).value.lower(), column=qualified))
    return RawSQL(_SQLITE_PERIODS[ReportPeriod(period)].format(column=qualified))


def _program_sql() -> RawSQL:
    cases = " ".join(f"WHEN '{t.value}' THEN '{p.value}'" for t, p in PROGRAM_OF_TYPE.items())
    return RawSQL(f'CASE "commissions"."type" {cases} END')


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def clean_currency_filter(raw: str | None) -> str | None:
    return None if raw is None else query_argument(clean_currency, raw)


def _utc_range(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The range in UTC (naive moments are UTC): SQLite compares the stored UTC text."""
    start, end = (
        None if m is None else m.replace(tzinfo=UTC) if m.tzinfo is None else m.astimezone(UTC) for m in (start, end)
    )
    if start is not None and end is not None and end <= start:
        raise BadArgument("`until` must come after `from`.")
    return start, end


# --- who reads which partner's reports -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reach:
    """The partner a report is about (None: every partner the actor reads) and whether the
    actor reads every partner's reports (operators with VIEW_ALL_REPORTS, reports:read keys)."""

    partner_id: int | None
    all_partners: bool


async def report_reach(actor: Actor, partner_id: int | None) -> Reach:
    """Partner staff with MANAGE_PARTNER_PORTAL read their own partner (default: their first
    organization; another one is NOT_FOUND); those who read every partner may name one."""
    return Reach(*await REPORT_READER.enforce(actor, partner_id))


# --- commissions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportFilter:
    """Which ledger lines a commission report or export covers; `end` is exclusive."""

    partner_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: CommissionStatus | None = None
    type: CommissionType | None = None
    program: Program | None = None
    product_id: int | None = None
    currency: str | None = None
    customer_id: int | None = None  # the paying customer organization (the CSV exports' `customerId`)


@dataclass(frozen=True, slots=True)
class CommissionGroup:
    """One group of a commission report; dimensions not grouped by are None."""

    currency: str
    count: int
    amount: int
    period: date | None = None
    partner_id: int | None = None
    partner_name: str | None = None
    product_id: int | None = None
    product_name: str | None = None
    program: Program | None = None
    type: CommissionType | None = None
    status: CommissionStatus | None = None


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    currency: str
    count: int
    amount: int


@dataclass(frozen=True, slots=True)
class CommissionReport:
    group_by: tuple[ReportDimension, ...]
    period: ReportPeriod
    rows: list[CommissionGroup]
    totals: list[CurrencyTotal]


_DIMENSION_COLUMNS = {
    ReportDimension.PARTNER: ("partner_id", "partner__name"),
    ReportDimension.PRODUCT: ("payment__plan__product_id", "payment__plan__product__name"),
    ReportDimension.TYPE: ("type",),
    ReportDimension.STATUS: ("status",),
}


async def _report_lines(actor: Actor, reach: Reach, where: ReportFilter) -> QuerySet:
    """The actor's visible ledger lines narrowed to the reach and the filter."""
    lines = await scoping.visible_report_commissions(actor)
    if reach.partner_id is not None:
        lines = lines.filter(partner_id=reach.partner_id)
    if where.start is not None:
        lines = lines.filter(created_at__gte=where.start)
    if where.end is not None:
        lines = lines.filter(created_at__lt=where.end)
    if where.status is not None:
        lines = lines.filter(status=where.status)
    if where.type is not None:
        lines = lines.filter(type=where.type)
    if where.program is not None:
        lines = lines.filter(type__in=[t for t, p in PROGRAM_OF_TYPE.items() if p is where.program])
    if where.product_id is not None:
        lines = lines.filter(payment__plan__product_id=where.product_id)
    if where.currency is not None:
        lines = lines.filter(currency=where.currency)
    if where.customer_id is not None:
        lines = lines.filter(customer_id=where.customer_id)
    return lines


def _group_key(group: CommissionGroup) -> tuple:
    return (
        group.period or date.min,
        group.partner_name or "",
        group.partner_id or 0,
        group.product_name or "",
        group.product_id or 0,
        group.program or "",
        group.type or "",
        group.status or "",
        group.currency,
    )


async def commission_report(
    actor: Actor,
    *,
    group_by: Sequence[ReportDimension],
    period: ReportPeriod = ReportPeriod.MONTH,
    where: ReportFilter = ReportFilter(),
) -> CommissionReport:
    """Count and sum of the matching ledger lines per group and currency, and per currency in
    total: two grouped SQL queries (plus the access checks). Partner staff see their own partner
    and may not group by PARTNER (FORBIDDEN)."""
    dimensions = tuple(dict.fromkeys(ReportDimension(d) for d in group_by))
    start, end = _utc_range(where.start, where.end)
    where = replace(where, start=start, end=end)
    reach = await report_reach(actor, where.partner_id)
    if ReportDimension.PARTNER in dimensions:
        policy.require_all_reports(reach.all_partners, "A breakdown by partner")
    lines = await _report_lines(actor, reach, where)
    annotations: dict[str, Any] = {}
    columns: list[str] = ["currency"]
    if ReportDimension.PERIOD in dimensions:
        annotations["period"] = period_sql("commissions", period)
        columns.append("period")
    if ReportDimension.PROGRAM in dimensions:
        annotations["program"] = _program_sql()
        columns.append("program")
    for dimension in dimensions:
        columns.extend(_DIMENSION_COLUMNS.get(dimension, ()))
    grouped = (
        await lines.annotate(**annotations, line_count=Count("partner_id"), total=Sum("amount"))
        .group_by(*columns)
        .limit(MAX_GROUPS + 1)
        .values(*columns, "line_count", "total")
    )
    if len(grouped) > MAX_GROUPS:
        raise BadArgument(f"The report has more than {MAX_GROUPS} rows: narrow the filter or group by less.")
    rows = sorted((_commission_group(row) for row in grouped), key=_group_key)
    # every group has one currency and all groups are here: the totals are their sums
    sums: dict[str, list[int]] = {}
    for row in rows:
        count_and_amount = sums.setdefault(row.currency, [0, 0])
        count_and_amount[0] += row.count
        count_and_amount[1] += row.amount
    return CommissionReport(
        group_by=dimensions,
        period=ReportPeriod(period),
        rows=rows,
        totals=[CurrencyTotal(currency, count, amount) for currency, (count, amount) in sorted(sums.items())],
    )


def _commission_group(row: dict[str, Any]) -> CommissionGroup:
    return CommissionGroup(
        currency=row["currency"],
        count=row["line_count"],
        amount=int(row["total"] or 0),
        period=_day(row["period"]) if row.get("period") else None,
        partner_id=row.get("partner_id"),
        partner_name=row.get("partner__name"),
        product_id=row.get("payment__plan__product_id"),
        product_name=row.get("payment__plan__product__name"),
        program=Program(row["program"]) if row.get("program") else None,
        type=row.get("type"),
        status=row.get("status"),
    )


EXPORT_FIELDS = (
    "id",
    "created_at",
    "partner_id",
    "partner__name",
    "customer_id",
    "customer__name",
    "type",
    "status",
    "payment__plan__product_id",
    "payment__plan__product__name",
    "payment_id",
    "refund_id",
    "amount",
    "currency",
    "original_amount",
    "original_currency",
)


async def commission_line_batches(
    actor: Actor, where: ReportFilter, batch_size: int = EXPORT_BATCH_SIZE
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every matching ledger line, oldest first, in batches of `batch_size` read by keyset
    (`id > last ORDER BY id LIMIT n`): memory stays bounded whatever the ledger's size.

    Access is decided here, before the first batch: an unauthorized caller gets the error from
    this call, not from the iteration."""
    start, end = _utc_range(where.start, where.end)
    where = replace(where, start=start, end=end)
    reach = await report_reach(actor, where.partner_id)

    async def batches() -> AsyncIterator[list[dict[str, Any]]]:
        last = 0
        while True:
            lines = await _report_lines(actor, reach, where)
            batch = await lines.filter(id__gt=last).order_by("id").limit(batch_size).values(*EXPORT_FIELDS)
            if not batch:
                return
            for row in batch:
                row["program"] = PROGRAM_OF_TYPE[row["type"]]
            yield batch
            if len(batch) < batch_size:
                return
            last = batch[-1]["id"]

    return batches()


# --- the customer funnel -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """One partner in one period. `registered` customers started their relationship with the
    partner in the period; `trial` and `paid` count those of them that reached that stage since."""

    partner_id: int
    partner_name: str
    period: date
    invited: int = 0
    registered: int = 0
    trial: int = 0
    paid: int = 0


async def customer_funnel(
    actor: Actor,
    *,
    partner_id: int | None,
    period: ReportPeriod = ReportPeriod.MONTH,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[FunnelRow]:
    """Invited → registered → trial → paid per partner and period: two grouped SQL queries.

    invited: invitations the partner created in the period; registered: distinct customers whose
    relationship with the partner (by invitation or chosen by the customer) started in the
    period; trial: of those, the ones with a license in any status or a payment (they reached a
    trial at least); paid: of those, the ones with at least one payment. Partner staff read their
    own partner; operators and reports:read keys every partner unless they name one."""
    start, end = _utc_range(start, end)
    reach = await report_reach(actor, partner_id)
    invitations = await scoping.visible_report_invitations(actor)
    relationships = await scoping.visible_report_relationships(actor)
    if reach.partner_id is not None:
        invitations = invitations.filter(partner_id=reach.partner_id)
        relationships = relationships.filter(partner_id=reach.partner_id)
    if start is not None:
        invitations = invitations.filter(created_at__gte=start)
        relationships = relationships.filter(started_at__gte=start)
    if end is not None:
        invitations = invitations.filter(created_at__lt=end)
        relationships = relationships.filter(started_at__lt=end)
    paying = Subquery(Payment.all().values("organization_id"))
    licensed = Subquery(License.all().values("organization_id"))
    key_columns = ("partner_id", "partner__name", "period")
    invited = (
        await invitations.annotate(period=period_sql("invitations", period), invited=Count("partner_id"))
        .group_by(*key_columns)
        .limit(MAX_GROUPS + 1)
        .values(*key_columns, "invited")
    )
    # Filtered aggregates stay on one table (README: tortoise 1.1 drops a `_filter` join across relations).
    registered = (
        await relationships.annotate(
            period=period_sql("customer_relationships", period, "started_at"),
            registered=Count("customer_id", distinct=True),
            trial=Count("customer_id", distinct=True, _filter=Q(customer_id__in=licensed) | Q(customer_id__in=paying)),
            paid=Count("customer_id", distinct=True, _filter=Q(customer_id__in=paying)),
        )
        .group_by(*key_columns)
        .limit(MAX_GROUPS + 1)
        .values(*key_columns, "registered", "trial", "paid")
    )
    if len(invited) > MAX_GROUPS or len(registered) > MAX_GROUPS:
        raise BadArgument(f"The funnel has more than {MAX_GROUPS} rows: narrow the range or name a partner.")
    rows: dict[tuple[int, date], dict[str, Any]] = {}
    for row in [*invited, *registered]:
        key = (row["partner_id"], _day(row["period"]))
        merged = rows.setdefault(key, {"partner_id": key[0], "partner_name": row["partner__name"], "period": key[1]})
        merged.update({k: row[k] for k in ("invited", "registered", "trial", "paid") if k in row})
    return sorted(
        (FunnelRow(**values) for values in rows.values()), key=lambda r: (r.period, r.partner_name, r.partner_id)
    )


# --- the partner leaderboard ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    """`commission`: earned in `currency` (lines not reversed, refunds taken off) written in the
    range; `new_customers`: relationships started in the range; `paying_customers`: distinct
    customers with a payment line (not reversed) written in the range."""

    rank: int
    partner_id: int
    partner_name: str
    currency: str
    commission: int
    new_customers: int
    paying_customers: int


async def partner_leaderboard(
    actor: Actor,
    *,
    start: datetime | None,
    end: datetime | None,
    by: LeaderboardMetric,
    currency: str,
    first: int = 10,
) -> list[LeaderboardEntry]:
    """The top `first` partners by one metric (ties by partner id), with the other two metrics:
    three grouped SQL queries. Operators with VIEW_ALL_REPORTS and reports:read keys only."""
    await LEADERBOARD_READER.enforce(actor)
    if not 1 <= first <= MAX_LEADERBOARD:
        raise BadArgument(f"`first` must be 1 to {MAX_LEADERBOARD}.")
    start, end = _utc_range(start, end)
    code = clean_currency_filter(currency)

    async def rows_of(metric: LeaderboardMetric) -> QuerySet:
        """NEW_CUSTOMERS counts relationships started in the range; the others, ledger lines written in it."""
        if metric is LeaderboardMetric.NEW_CUSTOMERS:
            rows, moment = await scoping.visible_report_relationships(actor), "started_at"
        else:
            rows = (await scoping.visible_report_commissions(actor)).exclude(status=CommissionStatus.REVERSED)
            moment = "created_at"
        if start is not None:
            rows = rows.filter(**{f"{moment}__gte": start})
        return rows.filter(**{f"{moment}__lt": end}) if end is not None else rows

    measures = {
        LeaderboardMetric.COMMISSION: lambda rows: rows.filter(currency=code).annotate(metric=Sum("amount")),
        LeaderboardMetric.NEW_CUSTOMERS: lambda rows: rows.annotate(metric=Count("customer_id", distinct=True)),
        LeaderboardMetric.PAYING_CUSTOMERS: lambda rows: rows.filter(refund_id=None).annotate(
            metric=Count("customer_id", distinct=True)
        ),
    }
    top = (
        await measures[by](await rows_of(by))
        .group_by("partner_id", "partner__name")
        .order_by("-metric", "partner_id")
        .limit(first)
        .values("partner_id", "partner__name", "metric")
    )
    figures: dict[LeaderboardMetric, dict[int, int]] = {by: {r["partner_id"]: int(r["metric"] or 0) for r in top}}
    partners = [r["partner_id"] for r in top]
    for metric in LeaderboardMetric:
        if metric is not by and partners:
            found = (
                await measures[metric]((await rows_of(metric)).filter(partner_id__in=partners))
                .group_by("partner_id")
                .values("partner_id", "metric")
            )
            figures[metric] = {r["partner_id"]: int(r["metric"] or 0) for r in found}
    return [
        LeaderboardEntry(
            rank=rank,
            partner_id=row["partner_id"],
            partner_name=row["partner__name"],
            currency=code,
            commission=figures.get(LeaderboardMetric.COMMISSION, {}).get(row["partner_id"], 0),
            new_customers=figures.get(LeaderboardMetric.NEW_CUSTOMERS, {}).get(row["partner_id"], 0),
            paying_customers=figures.get(LeaderboardMetric.PAYING_CUSTOMERS, {}).get(row["partner_id"], 0),
        )
        for rank, row in enumerate(top, start=1)
    ]
