"""The commission table (REDDCRYPT's "Provision"): every line the partner earns from, filtered by
type, status, period and customer, with the totals over every matching line, a page at a time
(`after`), and the same lines as a CSV file from the API's `reports/commission-lines.csv`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from partner_portal.portal import security
from partner_portal.portal.i18n import N_
from partner_portal.portal.pages import browser_of, text
from partner_portal.portal.problems import problem_texts

if TYPE_CHECKING:
    from partner_portal.portal.app import Page, Portal

TYPES = ("SELF", "AFFILIATE", "PARTNER", "CODE")
STATUSES = ("PENDING", "APPROVED", "PAID", "REVERSED")
PAGE_SIZE = 25
CSV_REPORT = "reports/commission-lines.csv"


@dataclass
class Filters:
    """The table's filters as the person gave them (kept for the form and the links) and as the API's
    arguments, with the problems of those that could not be read (left out of the query)."""

    shown: dict[str, str] = field(default_factory=dict)  # query parameter → value, for the form and links
    arguments: dict[str, Any] = field(default_factory=dict)  # the API's variables
    problems: list[str] = field(default_factory=list)

    def query(self, *, drop: str = "", **extra: str) -> str:
        """The filters as a query string, with `extra` parameters and without `drop`."""
        return urlencode({key: value for key, value in {**self.shown, **extra}.items() if key != drop})


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


def _opaque(raw: str, limit: int) -> str | None:
    """An id or cursor as the API gave it: printable ASCII, not too long; else None."""
    return raw if 0 < len(raw) <= limit and raw.isascii() and raw.isprintable() else None


def read_filters(request: Request) -> Filters:
    """The filters of the address (`?type=&status=&from=&until=&customer=`); `until` is a day
    included, so the API gets the next midnight (UTC) as its exclusive end."""
    params, filters = request.query_params, Filters()
    kind = params.get("type", "").strip().upper()
    if kind:
        if kind in TYPES:
            filters.shown["type"], filters.arguments["type"] = kind, kind
        else:
            filters.problems.append(text(request, "Choose a type from the list."))
    status = params.get("status", "").strip().upper()
    if status:
        if status in STATUSES:
            filters.shown["status"], filters.arguments["status"] = status, status
        else:
            filters.problems.append(text(request, "Choose a status from the list."))
    start, end = params.get("from", "").strip()[:40], params.get("until", "").strip()[:40]
    first_day, last_day = _day(start) if start else None, _day(end) if end else None
    if start and first_day is None:
        filters.problems.append(text(request, "“From” is not a date: use the form YYYY-MM-DD."))
    if end and last_day is None:
        filters.problems.append(text(request, "“Until” is not a date: use the form YYYY-MM-DD."))
    if first_day and last_day and first_day > last_day:
        filters.problems.append(text(request, "“From” is after “Until”."))
        first_day = last_day = None
    if first_day:
        filters.shown["from"] = first_day.isoformat()
        filters.arguments["createdFrom"] = f"{first_day.isoformat()}T00:00:00Z"
    if last_day:
        filters.shown["until"] = last_day.isoformat()
        filters.arguments["createdUntil"] = f"{(last_day + timedelta(days=1)).isoformat()}T00:00:00Z"
    customer = params.get("customer", "").strip()
    if customer:
        if _opaque(customer, 100):
            filters.shown["customer"], filters.arguments["customerId"] = customer, customer
        else:
            filters.problems.append(text(request, "This customer is not known."))
    return filters


async def commissions(portal: Portal, request: Request) -> Response:
    filters = read_filters(request)
    after = _opaque(request.query_params.get("after", "").strip(), 200)
    variables = {"partnerId": portal.organization_of(request), "first": PAGE_SIZE, "after": after, **filters.arguments}
    return await portal.page(
        request,
        "CommissionsPage",
        "commissions.html",
        variables,
        status_code=400 if filters.problems else 200,
        problems=filters.problems,
        filters=filters,
        types=TYPES,
        statuses=STATUSES,
        paged=after is not None,
        explain=lambda errors: problem_texts(request, errors),
    )


CSV_REFUSED = N_("The file could not be made.")


async def commissions_csv(portal: Portal, request: Request) -> Response:
    """The lines matching the filters as the API's CSV file, fetched with the session (the browser's
    link carries only the portal's cookie) and passed on as it comes, with its type and file name."""
    token = request.cookies.get(security.SESSION_COOKIE)
    if not token:
        return portal.sign_in_first(request)
    filters = read_filters(request)
    if filters.problems:
        return _csv_problem(portal, request, 400, filters.problems)
    params = {
        "from": filters.shown.get("from", ""),
        "until": filters.arguments.get("createdUntil", ""),
        "type": filters.shown.get("type", ""),
        "status": filters.shown.get("status", ""),
        "customerId": filters.shown.get("customer", ""),
        "partnerId": portal.organization_of(request) or "",
    }
    download = await portal.api.download(
        CSV_REPORT, {k: v for k, v in params.items() if v}, token=token, browser=browser_of(request)
    )
    if download.status_code != 200:
        body = await download.read()
        if download.status_code == 401:
            return portal.sign_in_first(request)
        return _csv_problem(portal, request, download.status_code, _api_problems(request, body))
    headers = {"Cache-Control": "no-store"}
    if download.disposition:
        headers["Content-Disposition"] = download.disposition
    return StreamingResponse(download.chunks, media_type=download.content_type or "text/csv", headers=headers)


def _api_problems(request: Request, body: bytes) -> list[str]:
    """The CSV endpoint's JSON refusal (`{"error", "message", "missing"}`) as the page's problems."""
    try:
        answer = json.loads(body)
    except ValueError:
        return [text(request, CSV_REFUSED)]
    if not isinstance(answer, dict):
        return [text(request, CSV_REFUSED)]
    extensions: dict[str, Any] = {"code": answer.get("error")}
    if isinstance(answer.get("missing"), dict):
        extensions["missing"] = answer["missing"]
    return problem_texts(request, [{"message": str(answer.get("message") or ""), "extensions": extensions}])


def _csv_problem(portal: Portal, request: Request, status: int, problems: list[str]) -> Response:
    return portal.render(
        request,
        "problem.html",
        status_code=status if 400 <= status < 600 else 502,
        heading=text(request, CSV_REFUSED),
        message=" ".join(problems),
    )


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/partner/commissions", commissions, ["GET"]),
    ("/partner/commissions.csv", commissions_csv, ["GET"]),
]
