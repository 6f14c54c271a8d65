"""Payouts: how a partner is paid, and its claims of approved commission."""

from tortoise import fields
from tortoise.models import Model

from partner_portal.models.enums import PayoutMethod, PayoutStatus


class PayoutSettings(Model):
    """How a partner is paid: PAYPAL (email) or BANK_TRANSFER (holder, IBAN, BIC)."""

    id = fields.IntField(primary_key=True)
    partner = fields.OneToOneField("models.Organization", related_name="payout_settings", on_delete=fields.CASCADE)
    method = fields.CharEnumField(PayoutMethod, max_length=15)
    paypal_email = fields.CharField(max_length=320, null=True)
    account_holder = fields.CharField(max_length=200, null=True)
    iban = fields.CharField(max_length=34, null=True)
    bic = fields.CharField(max_length=11, null=True)
    automatic = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "payout_settings"


class Payout(Model):
    """A claim of a partner approved balance: REQUESTED, APPROVED, then PAID or REJECTED."""

    id = fields.BigIntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Organization", related_name="payouts", on_delete=fields.CASCADE)
    status = fields.CharEnumField(PayoutStatus, max_length=10)
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    method = fields.CharEnumField(PayoutMethod, max_length=15)
    destination = fields.JSONField(default=dict)
    requested_by = fields.ForeignKeyField("models.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    requested_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    paid_at = fields.DatetimeField(null=True)
    reference = fields.CharField(max_length=200, null=True)
    note = fields.TextField(null=True)

    class Meta:
        table = "payouts"
        indexes = (("partner_id", "status"), ("status", "id"))
