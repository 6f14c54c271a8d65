"""The commission ledger: one line per (payment, earning partner)."""

from tortoise import fields
from tortoise.models import Model


class Commission(Model):
    """A commission line in the partner payout currency (integer minor units)."""

    id = fields.BigIntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Organization", related_name="commissions", on_delete=fields.CASCADE)
    customer = fields.ForeignKeyField(
        "models.Organization", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    type = fields.CharField(max_length=10)
    status = fields.CharField(max_length=10)
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    created_at = fields.DatetimeField()

    class Meta:
        table = "commissions"
        indexes = (("partner_id", "status", "amount"),)
