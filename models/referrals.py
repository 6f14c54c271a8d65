"""Customers that came through a partner referral (affiliate link or discount code)."""

from tortoise import fields
from tortoise.models import Model

from partner_portal.models.enums import CommissionType


class Referral(Model):
    """The first referral of a customer organization wins: one row per customer."""

    id = fields.IntField(primary_key=True)
    customer = fields.OneToOneField("models.Organization", related_name="referral", on_delete=fields.CASCADE)
    partner = fields.ForeignKeyField("models.Organization", related_name="referrals", on_delete=fields.CASCADE)
    type = fields.CharEnumField(CommissionType, max_length=10)
    created_at = fields.DatetimeField()

    class Meta:
        table = "referrals"
        indexes = (("partner_id", "created_at"),)
