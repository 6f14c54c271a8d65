"""Outbound webhooks: subscriptions, the events published to them, and one delivery per (event, subscription).

A delivery is driven by its outbox row (kind `webhook`): the outbox holds the status,
the retry schedule and the lease; the delivery row ties that row to its subscription
and event and keeps the log of every attempt.
"""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class WebhookEventType(StrEnum):
    PARTNER_APPROVED = "partner.approved"
    CUSTOMER_LINKED = "customer.linked"
    CUSTOMER_UNLINKED = "customer.unlinked"
    GRANT_CHANGED = "grant.changed"
    COMMISSION_CREATED = "commission.created"
    COMMISSION_APPROVED = "commission.approved"
    COMMISSION_REVERSED = "commission.reversed"
    PAYOUT_REQUESTED = "payout.requested"
    PAYOUT_APPROVED = "payout.approved"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_REJECTED = "payout.rejected"
    TIER_CHANGED = "tier.changed"


class WebhookSubscription(Model):
    """An integrator endpoint and the event types it receives.

    `secret` signs the deliveries: encrypted with a key derived from SECRET_KEY (Fernet),
    since it must be read back to sign, and shown to the integrator once.
    """

    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=2000)
    event_types = fields.JSONField(default=list)
    description = fields.CharField(max_length=200, default="")
    secret = fields.TextField()
    active = fields.BooleanField(default=True)
    created_by_api_key = fields.ForeignKeyField(
        "models.ApiKey", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    created_by_user = fields.ForeignKeyField("models.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "webhook_subscriptions"


class WebhookEvent(Model):
    """One domain event, written once (only when a subscription wants it) and sent to each subscriber."""

    id = fields.CharField(max_length=40, primary_key=True)
    type = fields.CharEnumField(WebhookEventType, max_length=40)
    data = fields.JSONField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "webhook_events"


class WebhookDelivery(Model):
    """One delivery of an event to a subscription, with its outbox row and the attempt log.

    `attempt_log` holds one entry per attempt: at, http_status, duration_ms, error.
    A redelivery is a new row for the same event (`redelivery_of` names the original).
    """

    id = fields.BigIntField(primary_key=True)
    subscription = fields.ForeignKeyField(
        "models.WebhookSubscription", related_name="deliveries", on_delete=fields.CASCADE
    )
    event = fields.ForeignKeyField("models.WebhookEvent", related_name=False, on_delete=fields.CASCADE)
    message = fields.OneToOneField("models.OutboxMessage", related_name=False, on_delete=fields.CASCADE)
    redelivery_of = fields.ForeignKeyField(
        "models.WebhookDelivery", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    attempt_log = fields.JSONField(default=list)
    created_at = fields.DatetimeField()

    class Meta:
        table = "webhook_deliveries"
        indexes = (("subscription_id", "id"),)
