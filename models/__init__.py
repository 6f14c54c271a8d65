"""tortoise-orm models, one module per domain. Knows nothing of GraphQL or permissions.

Model docstrings become SQL table comments in migrations: keep semicolons and
apostrophes out of them (tortoise 1.1 splits statements on ';').
"""

MODEL_MODULES = [
    "models.identity",
    "models.organizations",
    "models.audit",
    "models.partners",
    "models.customers",
    "models.invitations",
    "models.catalog",
    "models.billing",
    "models.referrals",
    "models.affiliates",
    "models.codes",
    "models.coupons",
    "models.commissions",
    "models.tiers",
    "models.outbox",
    "models.webhooks",
]
