"""Each organization's license, fed by operators now and by billing events later."""

from tortoise import fields
from tortoise.models import Model


class License(Model):
    """Status, plan, seats and monthly recurring revenue (integer minor units)."""

    id = fields.IntField(primary_key=True)
    organization = fields.OneToOneField("models.Organization", related_name="license", on_delete=fields.CASCADE)
    status = fields.CharField(max_length=10)
    plan = fields.CharField(max_length=60)
    seats = fields.IntField(default=1)
    mrr_amount = fields.BigIntField(default=0)
    currency = fields.CharField(max_length=3, default="USD")
    trial_ends_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "licenses"
        indexes = (("status", "organization_id"),)
