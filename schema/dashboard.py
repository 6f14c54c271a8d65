"""GraphQL for the partner dashboard: the partner's figures at a glance."""

from __future__ import annotations

import strawberry

from partner_portal.permissions.requirements import PARTNER_PORTAL_STAFF
from partner_portal.resolvers import dashboard
from partner_portal.schema.common import Info
from partner_portal.schema.money import Money
from partner_portal.schema.partners import PartnerId, partner_id_of
from partner_portal.schema.requires import Requires


@strawberry.type(description="The partner's figures at a glance.")
class PartnerDashboard:
    customers: int = strawberry.field(description="Customers that have this partner as their service partner.")
    open_invitations: int = strawberry.field(description="Invitations not yet accepted and not expired.")
    active_customers: int = strawberry.field(description="Customers with a paid license.")
    trial_customers: int = strawberry.field(description="Customers in a trial.")
    total_commission: Money = strawberry.field(description="All commission earned (not reversed).")
    paid_commission: Money = strawberry.field(description="Commission paid out.")
    open_commission: Money = strawberry.field(description="Commission not yet paid out (held or payable).")

    @classmethod
    def of(cls, figures: dashboard.Dashboard) -> PartnerDashboard:
        currency = figures.currency
        return cls(
            customers=figures.customers,
            open_invitations=figures.open_invitations,
            active_customers=figures.active_customers,
            trial_customers=figures.trial_customers,
            total_commission=Money.of(figures.total_commission, currency),
            paid_commission=Money.of(figures.paid_commission, currency),
            open_commission=Money.of(figures.open_commission, currency),
        )


@strawberry.type
class DashboardQuery:
    @strawberry.field(description="The partner's dashboard.", extensions=[Requires(PARTNER_PORTAL_STAFF, "partner_id")])
    async def partner_dashboard(self, info: Info, partner_id: PartnerId = None) -> PartnerDashboard:
        return PartnerDashboard.of(await dashboard.partner_dashboard(info.context.actor, partner_id_of(partner_id)))
