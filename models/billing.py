"""Licenses, payments and refunds from the vendor billing system, and the events that carried them."""

from tortoise import fields
from tortoise.models import Model

from partner_portal.models.enums import LicenseStatus


class License(Model):
    """Status, plan, seats and monthly recurring revenue (integer minor units)."""

    id = fields.IntField(primary_key=True)
    organization = fields.OneToOneField("models.Organization", related_name="license", on_delete=fields.CASCADE)
    status = fields.CharEnumField(LicenseStatus, max_length=10)
    plan = fields.CharField(max_length=60)
    seats = fields.IntField(default=1)
    mrr_amount = fields.BigIntField(default=0)
    currency = fields.CharField(max_length=3, default="USD")
    trial_ends_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "licenses"
        indexes = (("status", "organization_id"), ("organization_id", "status"))


class BillingEvent(Model):
    """A billing event received once: a repeated external id returns `result` and changes nothing."""

    id = fields.BigIntField(primary_key=True)
    source = fields.CharField(max_length=10)
    external_id = fields.CharField(max_length=200)
    kind = fields.CharField(max_length=30)
    content_hash = fields.CharField(max_length=64)
    result = fields.JSONField(default=dict)
    received_at = fields.DatetimeField()

    class Meta:
        table = "billing_events"
        unique_together = (("source", "external_id"),)


class Payment(Model):
    """A payment by a customer organization, in integer minor units of its currency."""

    id = fields.BigIntField(primary_key=True)
    external_id = fields.CharField(max_length=200, unique=True)
    organization = fields.ForeignKeyField("models.Organization", related_name="payments", on_delete=fields.CASCADE)
    plan = fields.ForeignKeyField("models.Plan", related_name=False, null=True, on_delete=fields.SET_NULL)
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    refunded_amount = fields.BigIntField(default=0)
    paid_at = fields.DatetimeField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "payments"
        indexes = (("organization_id", "paid_at"),)


class Refund(Model):
    """A full or partial refund. One that arrives before its payment waits (`payment` null)."""

    id = fields.BigIntField(primary_key=True)
    external_id = fields.CharField(max_length=200, unique=True)
    payment_external_id = fields.CharField(max_length=200)
    payment = fields.ForeignKeyField("models.Payment", related_name="refunds", null=True, on_delete=fields.CASCADE)
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    refunded_at = fields.DatetimeField()
    applied_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refunds"
        indexes = (("payment_external_id", "applied_at"),)


class StripeCustomer(Model):
    """Which organization a Stripe customer id belongs to, when Stripe metadata does not say."""

    id = fields.IntField(primary_key=True)
    stripe_customer_id = fields.CharField(max_length=100, unique=True)
    organization = fields.ForeignKeyField("models.Organization", related_name=False, on_delete=fields.CASCADE)

    class Meta:
        table = "stripe_customers"


class StripeSubscription(Model):
    """The last event applied to the license for each Stripe subscription.

    Stripe delivers events in any order: one that sorts before it (by created time, then type,
    then id) is kept as a billing event but changes nothing."""

    id = fields.IntField(primary_key=True)
    stripe_subscription_id = fields.CharField(max_length=255, unique=True)
    organization = fields.ForeignKeyField("models.Organization", related_name=False, on_delete=fields.CASCADE)
    event_created = fields.DatetimeField()
    event_rank = fields.SmallIntField()  # orders events of the same second: created, updated, deleted
    event_id = fields.CharField(max_length=255)

    class Meta:
        table = "stripe_subscriptions"
