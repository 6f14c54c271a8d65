"""Coupons (resellers): the price table (list price, discount, wholesale price, margin per plan and
currency), ordering coupons (plan, number of coupons, months → "Create coupons", invoiced at once),
the orders with their invoices and the coupons with their codes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.app import Page, done
from partner_portal.portal.i18n import N_
from partner_portal.portal.pages import text
from partner_portal.portal.views.customers_common import choice, cursor, short, show

if TYPE_CHECKING:
    from partner_portal.portal.app import Portal

STATUSES = ("UNUSED", "REDEEMED", "EXPIRED")
MAX_COUNT = 1000
MAX_MONTHS = 36
MAX_ID = 100

NOTICES = {
    "created": N_("Your coupons are created and invoiced; their codes are listed below."),
}


async def coupons_page(portal: Portal, request: Request, *, status_code: int = 200, **values: Any) -> Response:
    query = request.query_params
    order_id = short(query.get("order"), MAX_ID) or None
    status = choice(query.get("status"), STATUSES) or ""
    variables = {
        "partnerId": portal.organization_of(request),
        "orderId": order_id,
        "status": status or None,
        "ordersAfter": cursor(query.get("orders_after")),
        "couponsAfter": cursor(query.get("coupons_after")),
    }
    kept = {key: value for key, value in {"order": order_id, "status": status}.items() if value}
    values.setdefault("form", {"offer": "", "count": "1", "months": "12"})
    return await show(
        portal,
        request,
        "Coupons",
        "coupons.html",
        variables,
        status_code=status_code,
        notices=NOTICES,
        order_id=order_id,
        status=status,
        statuses=STATUSES,
        here=lambda **more: "/partner/coupons?" + urlencode({**kept, **more}),
        **values,
    )


def _whole(value: str | None, largest: int) -> int | None:
    value = (value or "").strip()[:10]
    return int(value) if value.isdigit() and 1 <= int(value) <= largest else None


async def create_coupons(portal: Portal, request: Request) -> Response:
    posted = await portal.form(request)
    form = {
        "offer": short(posted.get("offer"), 2 * MAX_ID),
        "count": short(posted.get("count"), 10),
        "months": short(posted.get("months"), 10),
    }
    plan_id, _, currency = form["offer"].partition(" ")
    count, months = _whole(form["count"], MAX_COUNT), _whole(form["months"], MAX_MONTHS)
    problems = []
    if not plan_id or not currency:
        problems.append(text(request, "Choose a plan."))
    if count is None:
        problems.append(text(request, "Enter a number of coupons from 1 to 1,000."))
    if months is None:
        problems.append(text(request, "Enter a number of months from 1 to 36."))
    if not problems:
        variables = {
            "input": {
                "partnerId": portal.organization_of(request),
                "planId": plan_id,
                "count": count,
                "months": months,
                "currency": currency[:3],
            }
        }
        payload, problems = await portal.send(request, "CreateCoupons", variables)
        if not problems:
            return done(f"/partner/coupons?{urlencode({'order': payload['order']['id']})}", "created")
    return await coupons_page(portal, request, status_code=400, problems=problems, form=form)


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/partner/coupons", coupons_page, ["GET"]),
    ("/partner/coupons", create_coupons, ["POST"]),
]
