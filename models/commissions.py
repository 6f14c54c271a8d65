"""Commission rules, the commission ledger, and the first answers to money-moving requests."""

from tortoise import fields
from tortoise.models import Model

from partner_portal.models.enums import CommissionRuleKind, CommissionStatus, CommissionType, Program, Recurrence


class CommissionRule(Model):
    """How much a program pays, optionally narrowed to a product, a tier or one partner.

    Percent rules hold `rate_bp` (hundredths of a percent, 2000 = 20.00 percent), flat rules
    `flat_amount` in `flat_currency`. `recurrence` ONE_TIME pays the first attributed
    payment, MONTHS pays for `months` months from it, LIFETIME pays every payment.
    """

    id = fields.IntField(primary_key=True)
    program = fields.CharEnumField(Program, max_length=20)
    product = fields.ForeignKeyField("models.Product", related_name=False, null=True, on_delete=fields.CASCADE)
    tier = fields.CharField(max_length=40, null=True)
    partner = fields.ForeignKeyField("models.Organization", related_name=False, null=True, on_delete=fields.CASCADE)
    kind = fields.CharEnumField(CommissionRuleKind, max_length=10)
    rate_bp = fields.IntField(default=0)
    flat_amount = fields.BigIntField(default=0)
    flat_currency = fields.CharField(max_length=3, null=True)
    recurrence = fields.CharEnumField(Recurrence, max_length=10)
    months = fields.IntField(null=True)
    hold_days = fields.IntField(default=30)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "commission_rules"
        indexes = (("program", "active"),)


class Commission(Model):
    """A ledger line in the partner payout currency (integer minor units, rounded once).

    `source_key` names what created the line (payment:ID or refund:ID) and is unique per
    partner, so a replayed event can never add a second line. Paid lines are never edited.
    """

    id = fields.BigIntField(primary_key=True)
    source_key = fields.CharField(max_length=60)
    partner = fields.ForeignKeyField("models.Organization", related_name="commissions", on_delete=fields.CASCADE)
    customer = fields.ForeignKeyField("models.Organization", related_name=False, null=True, on_delete=fields.SET_NULL)
    payment = fields.ForeignKeyField("models.Payment", related_name="commissions", null=True, on_delete=fields.SET_NULL)
    refund = fields.ForeignKeyField("models.Refund", related_name=False, null=True, on_delete=fields.SET_NULL)
    rule = fields.ForeignKeyField("models.CommissionRule", related_name=False, null=True, on_delete=fields.SET_NULL)
    payout = fields.ForeignKeyField("models.Payout", related_name="commissions", null=True, on_delete=fields.SET_NULL)
    type = fields.CharEnumField(CommissionType, max_length=10)
    status = fields.CharEnumField(CommissionStatus, max_length=10)
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    original_amount = fields.BigIntField(default=0)
    original_currency = fields.CharField(max_length=3, default="USD")
    exchange_rate = fields.CharField(max_length=40, default="1")
    rate_bp = fields.IntField(default=0)
    hold_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "commissions"
        unique_together = (("source_key", "partner"),)
        # (partner, created_at, currency, amount) covers a partner commission report by period
        indexes = (
            ("partner_id", "status", "amount"),
            ("partner_id", "id"),
            ("status", "hold_until"),
            ("payout_id", "amount"),
            ("payment_id", "partner_id"),
            ("partner_id", "created_at", "currency", "amount"),
        )


class IdempotencyRecord(Model):
    """The first answer to a money-moving request sent with an Idempotency-Key."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=200)
    principal = fields.CharField(max_length=60)
    request_hash = fields.CharField(max_length=64)
    response = fields.JSONField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "idempotency_records"
        unique_together = (("principal", "key"),)
