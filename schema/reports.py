"""GraphQL for reports: `reports { commissions customerFunnel partnerLeaderboard }`.

The same reports are CSV files at `/reports/{name}.csv` (web/report_csv.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.relay import GlobalID

import partner_portal.schema.commissions  # noqa: F401 — describes the CommissionStatus and CommissionType enums
from partner_portal.models.enums import CommissionStatus, CommissionType, Program
from partner_portal.permissions.requirements import LEADERBOARD_READER, REPORT_READER
from partner_portal.resolvers import reports
from partner_portal.resolvers.reports import MAX_GROUPS, LeaderboardMetric, ReportDimension, ReportPeriod
from partner_portal.schema.common import Info, decode_id, describe_enum, global_id
from partner_portal.schema.guards.cost import bounded_list
from partner_portal.schema.money import Money
from partner_portal.schema.partners import PartnerId, partner_id_of
from partner_portal.schema.requires import Requires

describe_enum(
    ReportPeriod,
    "A reporting period in UTC, named by its first day.",
    {"DAY": "A calendar day.", "WEEK": "An ISO week, Monday to Sunday.", "MONTH": "A calendar month."},
)
describe_enum(
    ReportDimension,
    "What a commission report groups by (the currency always is).",
    {
        "PERIOD": "The period the line was written in (see `period`).",
        "PARTNER": "The earning partner (operators and reports:read API keys only).",
        "PRODUCT": "The product of the payment's plan; refund lines count under their payment's product.",
        "PROGRAM": "The program of the line's type (PARTNER and SELF: SERVICE_PARTNER, CODE: EXPERT).",
        "TYPE": "How the customer came.",
        "STATUS": "Where the line stands.",
    },
)
describe_enum(
    LeaderboardMetric,
    "What the partner leaderboard ranks by.",
    {
        "COMMISSION": "Commission earned in the range (not reversed, refunds taken off), in the chosen currency.",
        "NEW_CUSTOMERS": "Customers whose relationship with the partner started in the range.",
        "PAYING_CUSTOMERS": "Distinct customers with a payment line (not reversed) written in the range.",
    },
)

From = Annotated[datetime | None, strawberry.argument(name="from", description="From this moment on (inclusive).")]
Until = Annotated[datetime | None, strawberry.argument(description="Before this moment (exclusive).")]
PeriodArgument = Annotated[ReportPeriod, strawberry.argument(description="The length of a period (default MONTH).")]


@strawberry.input(description="Which commission lines a report covers; every field narrows it.")
class CommissionReportFilter:
    partner_id: GlobalID | None = strawberry.field(
        default=None, description="One partner; partner staff: default and only choice is their own partner."
    )
    from_: datetime | None = strawberry.field(default=None, name="from", description="Written from then (inclusive).")
    until: datetime | None = strawberry.field(default=None, description="Written before then (exclusive).")
    status: CommissionStatus | None = strawberry.field(default=None, description="Only lines in this status.")
    type: CommissionType | None = strawberry.field(default=None, description="Only lines of this type.")
    program: Program | None = strawberry.field(default=None, description="Only lines of this program.")
    product_id: GlobalID | None = strawberry.field(default=None, description="Only lines of this product.")
    currency: str | None = strawberry.field(default=None, description="Only lines in this currency (ISO 4217).")

    def to_filter(self) -> reports.ReportFilter:
        return reports.ReportFilter(
            partner_id=partner_id_of(self.partner_id),
            start=self.from_,
            end=self.until,
            status=self.status,
            type=self.type,
            program=self.program,
            product_id=decode_id(self.product_id, "Product") if self.product_id is not None else None,
            currency=reports.clean_currency_filter(self.currency),
        )


@strawberry.type(description="A partner organization as a report names it.")
class ReportPartner:
    id: GlobalID = strawberry.field(description="The organization's global id.")
    name: str = strawberry.field(description="The organization's name.")

    @classmethod
    def of(cls, partner_id: int | None, name: str | None) -> ReportPartner | None:
        return None if partner_id is None else cls(id=global_id("Organization", partner_id), name=name or "")


@strawberry.type(description="A product as a report names it.")
class ReportProduct:
    id: GlobalID = strawberry.field(description="The product's global id.")
    name: str = strawberry.field(description="The product's name.")


@strawberry.type(description="One group of a commission report: the dimensions not grouped by are null.")
class CommissionReportRow:
    period: date | None = strawberry.field(description="The first day of the period (grouped by PERIOD).")
    partner: ReportPartner | None = strawberry.field(description="The earning partner (grouped by PARTNER).")
    product: ReportProduct | None = strawberry.field(
        description="The product (grouped by PRODUCT); null also for payments without a catalog plan."
    )
    program: Program | None = strawberry.field(description="The program (grouped by PROGRAM).")
    type: CommissionType | None = strawberry.field(description="The type (grouped by TYPE).")
    status: CommissionStatus | None = strawberry.field(description="The status (grouped by STATUS).")
    currency: str = strawberry.field(description="The currency of the lines (always grouped by).")
    count: int = strawberry.field(description="How many ledger lines the group holds.")
    amount: Money = strawberry.field(description="Their sum (negative refund lines included).")

    @classmethod
    def of(cls, group: reports.CommissionGroup) -> CommissionReportRow:
        return cls(
            period=group.period,
            partner=ReportPartner.of(group.partner_id, group.partner_name),
            product=None
            if group.product_id is None
            else ReportProduct(id=global_id("Product", group.product_id), name=group.product_name or ""),
            program=group.program,
            type=group.type,
            status=group.status,
            currency=group.currency,
            count=group.count,
            amount=Money.of(group.amount, group.currency),
        )


@strawberry.type(description="The lines of a commission report in one currency, summed.")
class CommissionReportTotal:
    currency: str = strawberry.field(description="ISO 4217 code.")
    count: int = strawberry.field(description="How many ledger lines.")
    amount: Money = strawberry.field(description="Their sum.")


@strawberry.type(description="Commission lines counted and summed per group, and per currency in total.")
class CommissionReport:
    rows: list[CommissionReportRow] = bounded_list(
        MAX_GROUPS,
        "One row per group and currency, ordered by period, partner, product, program, type, status; "
        "more are refused (narrow the filter).",
        computed=True,
    )
    totals: list[CommissionReportTotal] = strawberry.field(description="Every matching line, per currency.")


@strawberry.type(description="One partner's customer funnel in one period.")
class FunnelRow:
    partner: ReportPartner = strawberry.field(description="The partner.")
    period: date = strawberry.field(description="The first day of the period.")
    invited: int = strawberry.field(description="Invitations the partner created in the period.")
    registered: int = strawberry.field(
        description="Customers whose relationship with the partner (invitation or own choice) started in the period."
    )
    trial: int = strawberry.field(description="Of those, the ones with a license (any status) or a payment since.")
    paid: int = strawberry.field(description="Of those, the ones with at least one payment since.")


@strawberry.type(description="Invited, registered, trial and paid customers per partner and period.")
class CustomerFunnel:
    rows: list[FunnelRow] = bounded_list(
        MAX_GROUPS, "Periods with activity, oldest first; more are refused (narrow the range).", computed=True
    )


@strawberry.type(description="One partner's place on the leaderboard.")
class LeaderboardEntry:
    rank: int = strawberry.field(description="1 for the first.")
    partner: ReportPartner = strawberry.field(description="The partner.")
    commission: Money = strawberry.field(description="Commission earned in the range in the chosen currency.")
    new_customers: int = strawberry.field(description="Relationships started in the range.")
    paying_customers: int = strawberry.field(description="Customers with a payment line written in the range.")


@strawberry.type(
    description="Reports over the commission ledger and the customers; totals computed in SQL. "
    "Also as CSV at /reports/{name}.csv."
)
class Reports:
    @strawberry.field(
        description="Commission lines counted and summed by the chosen dimensions and currency.",
        extensions=[Requires(REPORT_READER, "filter.partner_id")],
    )
    async def commissions(
        self,
        info: Info,
        group_by: Annotated[
            list[ReportDimension],
            strawberry.argument(description="The dimensions to group by; the currency always is."),
        ],
        period: PeriodArgument = ReportPeriod.MONTH,
        filter: Annotated[
            CommissionReportFilter | None, strawberry.argument(description="Which lines to cover.")
        ] = None,
    ) -> CommissionReport:
        where = (filter or CommissionReportFilter()).to_filter()
        report = await reports.commission_report(info.context.actor, group_by=group_by, period=period, where=where)
        return CommissionReport(
            rows=[CommissionReportRow.of(group) for group in report.rows],
            totals=[
                CommissionReportTotal(currency=t.currency, count=t.count, amount=Money.of(t.amount, t.currency))
                for t in report.totals
            ],
        )

    @strawberry.field(
        description="Invited → registered → trial → paid per partner and period.",
        extensions=[Requires(REPORT_READER, "partner_id")],
    )
    async def customer_funnel(
        self,
        info: Info,
        partner_id: PartnerId = None,
        period: PeriodArgument = ReportPeriod.MONTH,
        from_: From = None,
        until: Until = None,
    ) -> CustomerFunnel:
        rows = await reports.customer_funnel(
            info.context.actor, partner_id=partner_id_of(partner_id), period=period, start=from_, end=until
        )
        return CustomerFunnel(
            rows=[
                FunnelRow(
                    partner=ReportPartner.of(r.partner_id, r.partner_name),
                    period=r.period,
                    invited=r.invited,
                    registered=r.registered,
                    trial=r.trial,
                    paid=r.paid,
                )
                for r in rows
            ]
        )

    @strawberry.field(description="The top partners by a metric.", extensions=[Requires(LEADERBOARD_READER)])
    async def partner_leaderboard(
        self,
        info: Info,
        from_: From = None,
        until: Until = None,
        by: Annotated[
            LeaderboardMetric, strawberry.argument(description="What to rank by (default COMMISSION).")
        ] = LeaderboardMetric.COMMISSION,
        currency: Annotated[
            str | None, strawberry.argument(description="The currency of `commission` (default: the base currency).")
        ] = None,
        first: Annotated[int, strawberry.argument(description="How many partners (1 to 100, default 10).")] = 10,
    ) -> list[LeaderboardEntry]:
        entries = await reports.partner_leaderboard(
            info.context.actor,
            start=from_,
            end=until,
            by=by,
            currency=currency or info.context.settings.base_currency,
            first=first,
        )
        return [
            LeaderboardEntry(
                rank=e.rank,
                partner=ReportPartner.of(e.partner_id, e.partner_name),
                commission=Money.of(e.commission, e.currency),
                new_customers=e.new_customers,
                paying_customers=e.paying_customers,
            )
            for e in entries
        ]


@strawberry.type
class ReportsQuery:
    @strawberry.field(description="Reports for frontends and integrators; each report says who may read it.")
    def reports(self) -> Reports:
        return Reports()
