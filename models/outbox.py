"""The outbox: side effects that leave the process, written in the transaction of the change.

A worker (`resolvers/outbox.py`) claims due rows with a conditional update, delivers
them and records the outcome: mail (kind `email`) and outbound webhooks (kind `webhook`,
see `models/webhooks.py`).
"""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class OutboxKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class OutboxStatus(StrEnum):
    PENDING = "PENDING"  # waiting for its (next) attempt at next_attempt_at
    SENDING = "SENDING"  # claimed by a worker until claimed_until
    SENT = "SENT"  # delivered (or, without SMTP_URL, logged)
    FAILED = "FAILED"  # given up after the last attempt


class OutboxMessage(Model):
    """One outbound message. The payload of an email holds the rendered mail (to, subject, text, html, template, language), the payload of a webhook its delivery (to = the URL, subject = the event type, event_id)."""  # noqa: E501 — the table comment

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(OutboxKind, max_length=20, default=OutboxKind.EMAIL)
    payload = fields.JSONField()
    status = fields.CharEnumField(OutboxStatus, max_length=10, default=OutboxStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_error = fields.TextField(null=True)
    note = fields.CharField(max_length=200, null=True)
    claim_token = fields.CharField(max_length=32, null=True)
    claimed_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_messages"
        indexes = (("status", "next_attempt_at"),)
