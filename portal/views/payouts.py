"""Payouts: how the partner is paid (PayPal or bank transfer), the approved balance against the
threshold with "Request payout" (enabled once it is reached), and the payouts so far."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.app import done
from partner_portal.portal.i18n import N_
from partner_portal.portal.pages import text
from partner_portal.portal.problems import problem_texts

if TYPE_CHECKING:
    from partner_portal.portal.app import Page, Portal

METHODS = ("PAYPAL", "BANK_TRANSFER")
NOTICES = {
    "settings-saved": N_("Your payout settings are saved."),
    "payout-requested": N_("Your payout is requested. We will let you know by mail when it is paid."),
}


def _opaque(raw: str, limit: int) -> str | None:
    return raw if 0 < len(raw) <= limit and raw.isascii() and raw.isprintable() else None


async def payouts_page(portal: Portal, request: Request, *, status_code: int = 200, **values: Any) -> Response:
    after = _opaque(request.query_params.get("after", "").strip(), 200)
    variables = {"partnerId": portal.organization_of(request), "after": after}
    values.setdefault("problems", [])
    values.setdefault("form", None)
    return await portal.page(
        request,
        "PayoutsPage",
        "payouts.html",
        variables,
        status_code=status_code,
        notices=NOTICES,
        methods=METHODS,
        paged=after is not None,
        explain=lambda errors: problem_texts(request, errors),
        **values,
    )


async def payouts(portal: Portal, request: Request) -> Response:
    return await payouts_page(portal, request)


async def save_settings(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    method = form.get("method", "")[:20]
    kept = {
        "method": method,
        "paypal_email": form.get("paypal_email", "").strip()[:320],
        "account_holder": form.get("account_holder", "").strip()[:200],
        "bic": form.get("bic", "").strip()[:20],
        "automatic": form.get("automatic") == "on",
    }
    iban = form.get("iban", "").strip()[:60]
    fields: dict[str, Any] = {"method": method, "automatic": kept["automatic"]}
    if method == "PAYPAL":
        fields["paypalEmail"] = kept["paypal_email"]
    elif method == "BANK_TRANSFER":
        fields.update(accountHolder=kept["account_holder"], iban=iban, bic=kept["bic"] or None)
    else:
        return await payouts_page(portal, request, status_code=400, form=kept, problems=[_choose_method(request)])
    variables = {"input": {"partnerId": portal.organization_of(request), **fields}}
    _, problems = await portal.send(request, "SetPayoutSettings", variables)
    if problems:
        return await payouts_page(portal, request, status_code=400, form=kept, problems=problems)
    return done("/partner/payouts", "settings-saved")


def _choose_method(request: Request) -> str:
    return text(request, "Choose PayPal or bank transfer.")


async def request_payout(portal: Portal, request: Request) -> Response:
    await portal.form(request)
    _, problems = await portal.send(request, "RequestPayout", {"input": {"partnerId": portal.organization_of(request)}})
    if problems:
        return await payouts_page(portal, request, status_code=400, problems=problems)
    return done("/partner/payouts", "payout-requested")


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/partner/payouts", payouts, ["GET"]),
    ("/partner/payouts/settings", save_settings, ["POST"]),
    ("/partner/payouts/request", request_payout, ["POST"]),
]
