"""The referral channels of a partner: the affiliate links to share (with their clicks, signups,
paying customers and commission) and the expert's personal discount code (Meister's EPC tab: the
code, how often it was used and what it earned)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from partner_portal.portal.app import done
from partner_portal.portal.i18n import N_
from partner_portal.portal.problems import problem_texts

if TYPE_CHECKING:
    from partner_portal.portal.app import Page, Portal

NOTICES = {"link-created": N_("Your new affiliate link is ready to share.")}


async def affiliate_page(portal: Portal, request: Request, *, status_code: int = 200, **values: Any) -> Response:
    variables = {"partnerId": portal.organization_of(request), "day": datetime.now(UTC).date().isoformat()}
    values.setdefault("problems", [])
    values.setdefault("form", {})
    return await portal.page(
        request,
        "AffiliatePage",
        "affiliate.html",
        variables,
        status_code=status_code,
        notices=NOTICES,
        explain=lambda errors: problem_texts(request, errors),
        **values,
    )


async def affiliate(portal: Portal, request: Request) -> Response:
    return await affiliate_page(portal, request)


async def create_link(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    kept = {
        "code": form.get("code", "").strip()[:40],
        "campaign": form.get("campaign", "").strip()[:100],
        "landing_url": form.get("landing_url", "").strip()[:2000],
    }
    fields = {
        "code": kept["code"] or None,
        "campaign": kept["campaign"] or None,
        "landingUrl": kept["landing_url"] or None,
    }
    variables = {"input": {"partnerId": portal.organization_of(request), **fields}}
    _, problems = await portal.send(request, "CreateAffiliateLink", variables)
    if problems:
        return await affiliate_page(portal, request, status_code=400, problems=problems, form=kept)
    return done("/partner/affiliate", "link-created")


async def expert_code(portal: Portal, request: Request) -> Response:
    return await portal.page(
        request,
        "ExpertCodePage",
        "expert_code.html",
        {"partnerId": portal.organization_of(request)},
        explain=lambda errors: problem_texts(request, errors),
    )


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/partner/affiliate", affiliate, ["GET"]),
    ("/partner/affiliate", create_link, ["POST"]),
    ("/partner/expert-code", expert_code, ["GET"]),
]
