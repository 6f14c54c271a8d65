"""Licenses: each organization's plan, seats and MRR. Operators set them now; billing events
will feed them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models.billing import License
from models.enums import LicenseStatus
from models.organizations import Organization
from permissions import policy, scoping
from permissions.actor import Actor
from permissions.enums import OperatorPermission
from permissions.errors import NotFound
from resolvers import audit
from resolvers.clock import now
from resolvers.errors import UserErrorCode, fail
from resolvers.identity import clean_name
from resolvers.money import clean_currency, to_minor

LICENSE_FIELDS = ("id", "organization_id", "status", "plan", "seats", "mrr_amount", "currency", "trial_ends_at",
                  "updated_at")


async def set_license(
    actor: Actor, organization_id: int, *, status: LicenseStatus, plan: str, seats: int, mrr_amount: str,
    currency: str, trial_ends_at: datetime | None,
) -> dict[str, Any]:
    """Operators with MANAGE_PROGRAMS set an organization's license."""
    await policy.require_operator(actor, OperatorPermission.MANAGE_PROGRAMS)
    if not await Organization.filter(id=organization_id).exists():
        raise NotFound()
    code = clean_currency(currency)
    if seats < 1:
        raise fail("seats", UserErrorCode.INVALID_VALUE, "A license has at least one seat.")
    minor = to_minor(mrr_amount, code, "mrr")
    if minor < 0:
        raise fail("mrr", UserErrorCode.INVALID_VALUE, "MRR cannot be negative.")
    values = {
        "status": LicenseStatus(status).value, "plan": clean_name(plan, "plan"), "seats": seats,
        "mrr_amount": minor, "currency": code, "trial_ends_at": trial_ends_at,
    }
    async with in_transaction():
        before = await License.filter(organization_id=organization_id).first().values(*LICENSE_FIELDS) or {}
        await License.update_or_create(defaults={**values, "updated_at": now()}, organization_id=organization_id)
        changes = audit.diff(before, values)
        if changes:
            await audit.record(actor, "license.set", "Organization", organization_id, organization_id=organization_id,
                               changes={k: {"from": str(v["from"]), "to": str(v["to"])} for k, v in changes.items()})
    return await License.filter(organization_id=organization_id).first().values(*LICENSE_FIELDS)


async def licenses_of(actor: Actor, organization_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Licenses of the organizations the actor may see, in one query (for loaders)."""
    visible = (await scoping.visible_organizations(actor)).filter(id__in=organization_ids).values("id")
    rows = await License.filter(organization_id__in=Subquery(visible)).values(*LICENSE_FIELDS)
    return {row["organization_id"]: row for row in rows}
