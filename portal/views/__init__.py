"""The portal's pages, one module per area; each module's `ROUTES` lists (path, page, methods)."""

from __future__ import annotations

from partner_portal.portal.views import (
    account,
    commissions,
    coupons,
    home,
    invitations,
    mailed_links,
    management,
    my_customers,
    organization,
    partner_dashboard,
    partners,
    payouts,
    referrals,
    register,
    service_provider,
    sign_in,
    staff,
)

MODULES = (
    sign_in,
    mailed_links,
    home,
    register,
    account,
    partners,
    partner_dashboard,
    my_customers,
    invitations,
    referrals,
    coupons,
    commissions,
    payouts,
    staff,
    management,
    organization,
    service_provider,
)
ROUTES = [route for module in MODULES for route in module.ROUTES]
