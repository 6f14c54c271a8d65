"""`GET /reports/{name}.csv`: the reports as CSV files, streamed.

Names: `commissions` (the aggregate, `groupBy=PERIOD,TYPE&period=MONTH` plus the filters),
`commission-lines` (every matching ledger line), `customer-funnel`, `partner-leaderboard`.
The filters are the GraphQL arguments as query parameters (`partnerId`, `from`, `until`,
`status`, `type`, `program`, `productId`, `currency`; ids global or plain), and `customerId` (the
paying customer organization, as `commissions(customerId:)` takes it). Credentials as for
GraphQL (`Authorization: Bearer` session or JWT, `X-Api-Key` with reports:read), through the same
`Authenticator` and the same permission decisions.

The access check and the argument parsing finish before the response starts, so failures are
plain statuses (400, 401, 403, 404 with a short JSON body). The body is written from an async
generator: ledger lines are read in keyset batches of `EXPORT_BATCH_SIZE` and each batch is
encoded with the csv module into a small buffer and sent, so memory does not grow with the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from strawberry.relay import GlobalID, GlobalIDValueError

from partner_portal.integrations.spreadsheet import safe_row
from partner_portal.models.clock import now
from partner_portal.models.enums import CommissionStatus, CommissionType, Program
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import AccessError, Missing
from partner_portal.resolvers import reports
from partner_portal.resolvers.errors import BadArgument
from partner_portal.resolvers.keys import primary_key_in
from partner_portal.resolvers.money import to_decimal
from partner_portal.resolvers.reports import LeaderboardMetric, ReportDimension, ReportPeriod
from partner_portal.schema.common import global_id

STATUS_OF_ERROR = {"UNAUTHENTICATED": 401, "NO_ORGANIZATION": 403, "FORBIDDEN": 403, "NOT_FOUND": 404}
ROWS_PER_CHUNK = 500  # aggregate rows per written chunk

Rows = AsyncIterator[Iterable[Sequence[Any]]]
Export = Callable[[Actor, Request], Awaitable[tuple[list[str], Rows]]]


def _amount(minor: int, currency: str) -> Decimal:
    """A number, not text: the formula guard leaves it alone (-5.00 stays a negative amount)."""
    return to_decimal(minor, currency)


def _id(type_name: str, value: int | None) -> str:
    """The global id GraphQL shows for the object (`schema.common.global_id`), empty for none."""
    return str(global_id(type_name, value)) if value is not None else ""


# --- query parameters ------------------------------------------------------------------------------------


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value.strip() if value is not None and value.strip() else None


def _choice(request: Request, name: str, kind: Any, default: Any = None) -> Any:
    raw = _param(request, name)
    if raw is None:
        return default
    try:
        return kind(raw.upper())
    except ValueError as error:
        raise BadArgument(f"`{name}` is one of {', '.join(m.value for m in kind)}.") from error


def _moment(request: Request, name: str) -> datetime | None:
    """ISO 8601 date or date-time; without an offset it is UTC."""
    raw = _param(request, name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as error:
        raise BadArgument(f"`{name}` is an ISO 8601 date or date-time.") from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _object_id(request: Request, name: str, type_name: str) -> int | None:
    """A global id of the type, or the plain number, that its table can hold; anything else is a 400
    (BAD_USER_INPUT in GraphQL)."""
    raw = _param(request, name)
    if raw is None:
        return None
    try:
        gid = GlobalID(type_name, raw) if raw.isascii() and raw.isdigit() else GlobalID.from_id(raw)
    except GlobalIDValueError as error:
        raise BadArgument(f"`{name}` is not the id of a {type_name}.") from error
    pk = primary_key_in(type_name, gid.node_id) if gid.type_name == type_name else None
    if pk is None:
        raise BadArgument(f"`{name}` is not the id of a {type_name}.")
    return pk


def _integer(request: Request, name: str, default: int) -> int:
    raw = _param(request, name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise BadArgument(f"`{name}` is a whole number below 10^9.")
    return int(raw)


def _report_filter(request: Request) -> reports.ReportFilter:
    return reports.ReportFilter(
        partner_id=_object_id(request, "partnerId", "Organization"),
        start=_moment(request, "from"),
        end=_moment(request, "until"),
        status=_choice(request, "status", CommissionStatus),
        type=_choice(request, "type", CommissionType),
        program=_choice(request, "program", Program),
        product_id=_object_id(request, "productId", "Product"),
        currency=reports.clean_currency_filter(_param(request, "currency")),
        customer_id=_object_id(request, "customerId", "Organization"),
    )


async def _in_chunks(rows: Sequence[Sequence[Any]]) -> Rows:
    for start in range(0, len(rows), ROWS_PER_CHUNK):
        yield rows[start : start + ROWS_PER_CHUNK]


# --- the exports ---------------------------------------------------------------------------------------------

COMMISSION_COLUMNS = {
    ReportDimension.PERIOD: ["period"],
    ReportDimension.PARTNER: ["partner_id", "partner_name"],
    ReportDimension.PRODUCT: ["product_id", "product_name"],
    ReportDimension.PROGRAM: ["program"],
    ReportDimension.TYPE: ["type"],
    ReportDimension.STATUS: ["status"],
}


async def commissions_csv(actor: Actor, request: Request) -> tuple[list[str], Rows]:
    raw = _param(request, "groupBy") or ""
    try:
        dimensions = [ReportDimension(part.strip().upper()) for part in raw.split(",") if part.strip()]
    except ValueError as error:
        raise BadArgument(f"`groupBy` lists some of {', '.join(d.value for d in ReportDimension)}.") from error
    report = await reports.commission_report(
        actor,
        group_by=dimensions,
        period=_choice(request, "period", ReportPeriod, ReportPeriod.MONTH),
        where=_report_filter(request),
    )
    header = [column for d in report.group_by for column in COMMISSION_COLUMNS[d]] + ["currency", "count", "amount"]

    def cells(group: reports.CommissionGroup) -> list[Any]:
        values = {
            ReportDimension.PERIOD: [group.period.isoformat() if group.period else ""],
            ReportDimension.PARTNER: [_id("Organization", group.partner_id), group.partner_name or ""],
            ReportDimension.PRODUCT: [_id("Product", group.product_id), group.product_name or ""],
            ReportDimension.PROGRAM: [group.program or ""],
            ReportDimension.TYPE: [group.type or ""],
            ReportDimension.STATUS: [group.status or ""],
        }
        return [v for d in report.group_by for v in values[d]] + [
            group.currency,
            group.count,
            _amount(group.amount, group.currency),
        ]

    return header, _in_chunks([cells(group) for group in report.rows])


LINE_HEADER = [
    "id",
    "created_at",
    "partner_id",
    "partner_name",
    "customer_id",
    "customer_name",
    "program",
    "type",
    "status",
    "product_id",
    "product_name",
    "payment_id",
    "refund_id",
    "amount",
    "currency",
    "original_amount",
    "original_currency",
]


async def commission_lines_csv(actor: Actor, request: Request) -> tuple[list[str], Rows]:
    batches = await reports.commission_line_batches(actor, _report_filter(request))

    async def rows() -> Rows:
        async for batch in batches:
            yield (
                [
                    _id("Commission", row["id"]),
                    row["created_at"].isoformat(),
                    _id("Organization", row["partner_id"]),
                    row["partner__name"] or "",
                    _id("Organization", row["customer_id"]),
                    row["customer__name"] or "",
                    row["program"],
                    row["type"],
                    row["status"],
                    _id("Product", row["payment__plan__product_id"]),
                    row["payment__plan__product__name"] or "",
                    _id("Payment", row["payment_id"]),
                    _id("Refund", row["refund_id"]),
                    _amount(row["amount"], row["currency"]),
                    row["currency"],
                    _amount(row["original_amount"], row["original_currency"]),
                    row["original_currency"],
                ]
                for row in batch
            )

    return LINE_HEADER, rows()


async def customer_funnel_csv(actor: Actor, request: Request) -> tuple[list[str], Rows]:
    funnel = await reports.customer_funnel(
        actor,
        partner_id=_object_id(request, "partnerId", "Organization"),
        period=_choice(request, "period", ReportPeriod, ReportPeriod.MONTH),
        start=_moment(request, "from"),
        end=_moment(request, "until"),
    )
    header = ["period", "partner_id", "partner_name", "invited", "registered", "trial", "paid"]
    return header, _in_chunks(
        [
            [
                r.period.isoformat(),
                _id("Organization", r.partner_id),
                r.partner_name or "",
                r.invited,
                r.registered,
                r.trial,
                r.paid,
            ]
            for r in funnel
        ]
    )


async def partner_leaderboard_csv(actor: Actor, request: Request) -> tuple[list[str], Rows]:
    settings = request.app.state.settings
    entries = await reports.partner_leaderboard(
        actor,
        start=_moment(request, "from"),
        end=_moment(request, "until"),
        by=_choice(request, "by", LeaderboardMetric, LeaderboardMetric.COMMISSION),
        currency=_param(request, "currency") or settings.base_currency,
        first=_integer(request, "first", 10),
    )
    header = ["rank", "partner_id", "partner_name", "commission", "currency", "new_customers", "paying_customers"]
    return header, _in_chunks(
        [
            [
                e.rank,
                _id("Organization", e.partner_id),
                e.partner_name or "",
                _amount(e.commission, e.currency),
                e.currency,
                e.new_customers,
                e.paying_customers,
            ]
            for e in entries
        ]
    )


EXPORTS: dict[str, Export] = {
    "commissions": commissions_csv,
    "commission-lines": commission_lines_csv,
    "customer-funnel": customer_funnel_csv,
    "partner-leaderboard": partner_leaderboard_csv,
}


# --- the endpoint ------------------------------------------------------------------------------------------


def _error(status: int, code: str, message: str, missing: Missing | None = None) -> Response:
    """The JSON error; a refusal that says what is missing carries it as in GraphQL (`extensions.missing`)."""
    body: dict[str, object] = {"error": code, "message": message}
    if missing is not None:
        body["missing"] = missing.as_extension()
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def _encode(header: list[str], rows: Rows) -> AsyncIterator[str]:
    """The header, then one chunk per batch of rows, each written into a fresh small buffer; every
    cell through the formula guard (integrations/spreadsheet.py)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(safe_row(header))
    yield buffer.getvalue()
    async for batch in rows:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerows(safe_row(row) for row in batch)
        yield buffer.getvalue()


async def report_csv(request: Request) -> Response:
    name = request.path_params["name"]
    export = EXPORTS.get(name)
    if export is None:
        return _error(404, "NOT_FOUND", f"No report is called {name}; try one of {', '.join(EXPORTS)}.")
    actor = await request.app.state.authenticator.authenticate(
        request.headers.get("authorization"), request.headers.get("x-api-key")
    )
    try:
        header, rows = await export(actor, request)
    except AccessError as error:
        return _error(STATUS_OF_ERROR.get(error.code, 403), error.code, str(error), error.missing)
    except BadArgument as error:
        return _error(400, error.code, str(error))
    filename = f"{name}-{now():%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        _encode(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
