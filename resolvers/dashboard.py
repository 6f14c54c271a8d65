"""The partner dashboard: every figure aggregated in SQL, a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum

from models.billing import License
from models.commissions import Commission
from models.customers import CustomerRelationship
from models.enums import CommissionStatus, InvitationStatus, LicenseStatus
from models.invitations import Invitation
from permissions.actor import Actor
from permissions.enums import PartnerPermission
from resolvers.clock import now
from resolvers.partners import acting_partner


@dataclass(frozen=True, slots=True)
class Dashboard:
    partner_id: int
    currency: str
    customers: int
    open_invitations: int
    active_customers: int
    trial_customers: int
    total_commission: int
    paid_commission: int
    open_commission: int


async def partner_dashboard(actor: Actor, partner_id: int | None) -> Dashboard:
    """MANAGE_PARTNER_PORTAL holders. Commission sums are in the partner's payout currency."""
    membership, profile = await acting_partner(actor, partner_id, PartnerPermission.MANAGE_PARTNER_PORTAL)
    partner = membership.organization_id
    current = CustomerRelationship.filter(partner_id=partner, ended_at=None)
    customer_count = await current.count()
    # Filtered aggregates stay on one table: tortoise 1.1 drops the join of a `_filter` across relations.
    licenses = await License.filter(organization_id__in=Subquery(current.values("customer_id"))).annotate(
        active=Count("id", _filter=Q(status=LicenseStatus.ACTIVE)),
        trial=Count("id", _filter=Q(status=LicenseStatus.TRIAL)),
    ).first().values("active", "trial")
    open_invitations = await Invitation.filter(
        partner_id=partner, status=InvitationStatus.OPEN, expires_at__gt=now()
    ).count()
    money = await Commission.filter(partner_id=partner).annotate(
        total=Sum("amount", _filter=~Q(status=CommissionStatus.REVERSED)),
        paid=Sum("amount", _filter=Q(status=CommissionStatus.PAID)),
        open=Sum("amount", _filter=Q(status__in=[CommissionStatus.PENDING, CommissionStatus.APPROVED])),
    ).first().values("total", "paid", "open")
    return Dashboard(
        partner_id=partner,
        currency=profile["payout_currency"],
        customers=customer_count,
        open_invitations=open_invitations,
        active_customers=licenses["active"] or 0,
        trial_customers=licenses["trial"] or 0,
        total_commission=money["total"] or 0,
        paid_commission=money["paid"] or 0,
        open_commission=money["open"] or 0,
    )
