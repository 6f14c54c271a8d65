"""tortoise-orm models, one module per domain. Knows nothing of GraphQL or permissions.

Model docstrings become SQL table comments in migrations: keep semicolons and
apostrophes out of them (tortoise 1.1 splits statements on ';').
"""

MODEL_MODULES = [
    "partner_portal.models.identity",
    "partner_portal.models.organizations",
    "partner_portal.models.audit",
    "partner_portal.models.partners",
    "partner_portal.models.customers",
    "partner_portal.models.invitations",
    "partner_portal.models.catalog",
    "partner_portal.models.billing",
    "partner_portal.models.referrals",
    "partner_portal.models.affiliates",
    "partner_portal.models.codes",
    "partner_portal.models.coupons",
    "partner_portal.models.commissions",
    "partner_portal.models.payouts",
    "partner_portal.models.tiers",
    "partner_portal.models.outbox",
    "partner_portal.models.webhooks",
]
