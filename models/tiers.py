"""Partner tiers: their definitions, certifications recorded per partner, product feature usage
reported by integrators, the daily figures of each partner and the monthly assessments."""

from tortoise import fields
from tortoise.models import Model


class Tier(Model):
    """A partner tier. Thresholds are integer minor units of the base currency.

    `name` is what commission rules narrowed to a tier and `PartnerProfile.tier` hold, so it never
    changes. A higher `rank` is a better tier. A deactivated tier keeps its name and rank.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=40, unique=True)
    rank = fields.IntField(unique=True)
    min_sold_mrr = fields.BigIntField(default=0)
    min_managed_mrr = fields.BigIntField(default=0)
    required_certification = fields.CharField(max_length=100, null=True)
    min_median_features = fields.IntField(null=True)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "tiers"


class PartnerCertification(Model):
    """A named certification an operator recorded for a partner, valid until a day or for good."""

    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Organization", related_name=False, on_delete=fields.CASCADE)
    name = fields.CharField(max_length=100)
    valid_until = fields.DateField(null=True)
    recorded_by = fields.ForeignKeyField("models.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    recorded_at = fields.DatetimeField()

    class Meta:
        table = "partner_certifications"
        unique_together = (("partner", "name"),)


class FeatureUsage(Model):
    """One product feature a customer used, from a usage report (a billing event of kind FEATURE_USAGE)."""

    id = fields.BigIntField(primary_key=True)
    event = fields.ForeignKeyField("models.BillingEvent", related_name=False, on_delete=fields.CASCADE)
    organization = fields.ForeignKeyField("models.Organization", related_name=False, on_delete=fields.CASCADE)
    feature = fields.CharField(max_length=60)
    used_at = fields.DatetimeField()

    class Meta:
        table = "feature_usage"
        indexes = (("used_at", "organization_id", "feature"),)


class PartnerTierFigures(Model):
    """A partner figures as of the latest run of the tiers job (refreshed daily, for display)."""

    id = fields.IntField(primary_key=True)
    partner = fields.OneToOneField("models.Organization", related_name=False, on_delete=fields.CASCADE)
    currency = fields.CharField(max_length=3)
    sold_mrr = fields.BigIntField(default=0)
    sold_customers = fields.IntField(default=0)
    managed_mrr = fields.BigIntField(default=0)
    managed_customers = fields.IntField(default=0)
    median_features = fields.DecimalField(max_digits=8, decimal_places=1, null=True)
    refreshed_at = fields.DatetimeField()

    class Meta:
        table = "partner_tier_figures"


class TierAssessment(Model):
    """A partner evaluated for one month: its figures, the tier it qualified for, and the change.

    One per partner and period (YYYY-MM), so a second evaluation in a month changes nothing.
    `tier` is the name of the tier it qualified for and holds from then on (null: none),
    `previous_tier` the one it held before.
    """

    id = fields.BigIntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Organization", related_name=False, on_delete=fields.CASCADE)
    period = fields.CharField(max_length=7)
    evaluated_at = fields.DatetimeField()
    currency = fields.CharField(max_length=3)
    sold_mrr = fields.BigIntField(default=0)
    sold_customers = fields.IntField(default=0)
    managed_mrr = fields.BigIntField(default=0)
    managed_customers = fields.IntField(default=0)
    median_features = fields.DecimalField(max_digits=8, decimal_places=1, null=True)
    certifications = fields.JSONField(default=list)
    tier = fields.CharField(max_length=40, null=True)
    previous_tier = fields.CharField(max_length=40, null=True)
    changed = fields.BooleanField(default=False)

    class Meta:
        table = "tier_assessments"
        unique_together = (("partner", "period"),)
        indexes = (("partner_id", "id"), ("period", "id"))
