"""My customers: the organizations that chose the partner or accepted its invitation, with their
license, what they let the partner do (the grant) and how they came; a management session per
customer (the session's pages are `views/management.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.app import Page
from partner_portal.portal.i18n import N_
from partner_portal.portal.views.customers_common import PAGE_SIZE, choice, cursor, short, show

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

LICENSE_STATUSES = ("TRIAL", "ACTIVE", "PAST_DUE", "CANCELED", "EXPIRED")
SOURCES = ("INVITATION", "SELECTED")
ORDERS = ("NAME", "STARTED_AT")
MAX_SEARCH = 100
NOTICES = {"management-ended": N_("The management session has ended.")}  # from views/management.py


async def my_customers(portal: Portal, request: Request) -> Response:
    query = request.query_params
    filters = {
        "status": choice(query.get("status"), LICENSE_STATUSES) or "",
        "source": choice(query.get("source"), SOURCES) or "",
        "search": short(query.get("search"), MAX_SEARCH),
        "order": choice(query.get("order"), ORDERS) or "NAME",
        "descending": query.get("descending") == "1",
    }
    variables = {
        "partnerId": portal.organization_of(request),
        "licenseStatus": filters["status"] or None,
        "source": filters["source"] or None,
        "search": filters["search"] or None,
        "orderBy": filters["order"],
        "descending": filters["descending"],
        "first": PAGE_SIZE,
        "after": cursor(query.get("after")),
    }
    kept = {key: ("1" if value is True else value) for key, value in filters.items() if value}
    return await show(
        portal,
        request,
        "MyCustomers",
        "my_customers.html",
        variables,
        notices=NOTICES,
        filters=filters,
        statuses=LICENSE_STATUSES,
        sources=SOURCES,
        orders=ORDERS,
        paged=bool(variables["after"]),
        first_page=f"/partner/customers?{urlencode(kept)}" if kept else "/partner/customers",
        session_path=lambda customer_id: f"/manage/{quote(customer_id, safe='')}/start",
        next_page=lambda end: f"/partner/customers?{urlencode({**kept, 'after': end})}",
    )


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/partner/customers", my_customers, ["GET"]),
]
