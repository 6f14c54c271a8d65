"""Outbound webhooks: publishing domain events, managing subscriptions, delivering through the outbox.

Publishing. `publish(event_type, data)` is called by the resolvers *inside* the transaction
of the change: one SELECT of the active subscriptions (and nothing more when none wants
the event type), else the event row plus, per subscription, an outbox row (kind `webhook`)
and a delivery row. A transaction that rolls back takes them along: nothing is sent.

Delivering. The outbox worker (`resolvers/outbox.py`) claims due webhook rows like mail and
calls `deliver`: the body `{"id", "type", "createdAt", "data"}` is POSTed, signed, through
`integrations/webhook_http.py` (address guard, no redirects, WEBHOOK_TIMEOUT_SECONDS).
Every attempt is appended to the delivery's log. A 2xx answer delivers; anything else is
retried after 1, 2, 4, … minutes (at most 6 hours apart) until 24 hours after the delivery
was queued — the last attempt falls on that moment — and then the delivery is FAILED.
`redeliver` queues a new delivery of the same event (same event id, so receivers dedupe).

Managing. API keys with `webhooks:manage` and operators with MANAGE_PROGRAMS administer all
of the deployment's subscriptions (one vendor, one set of integrations). Secrets are shown
once and stored encrypted with a key derived from SECRET_KEY (Fernet), since they must be
read back to sign.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from partner_portal.integrations.webhook_http import (
    SIGNATURE_HEADER,
    Attempt,
    RefusedDestination,
    WebhookSender,
    check_destination,
    sign,
)
from partner_portal.models.clock import now
from partner_portal.models.outbox import OutboxKind, OutboxMessage, OutboxStatus
from partner_portal.models.webhooks import WebhookDelivery, WebhookEvent, WebhookEventType, WebhookSubscription
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import WEBHOOK_MANAGER
from partner_portal.resolvers import audit
from partner_portal.resolvers.errors import UserErrorCode, fail
from partner_portal.resolvers.money import to_decimal
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.settings import Settings

SECRET_PREFIX = "whsec_"
RETRY_WINDOW = timedelta(hours=24)
MAX_DESCRIPTION_LENGTH = 200
SUBSCRIPTION_FIELDS = (
    "id",
    "url",
    "event_types",
    "description",
    "active",
    "created_at",
    "updated_at",
    "created_by_api_key_id",
)
DELIVERY_FIELDS = (
    "id",
    "subscription_id",
    "event_id",
    "event__type",
    "event__created_at",
    "redelivery_of_id",
    "attempt_log",
    "created_at",
    "message__status",
    "message__attempts",
    "message__next_attempt_at",
    "message__last_error",
    "message__sent_at",
)


# --- event data ----------------------------------------------------------------------------------------


def global_id(type_name: str, pk: int | str | None) -> str | None:
    """The GraphQL global id of an object (the same encoding as strawberry's relay ids)."""
    if pk is None:
        return None
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def money(amount: int, currency: str) -> dict[str, str]:
    return {"amount": str(to_decimal(amount, currency)), "currency": currency}


def iso_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def commission_data(line: Any) -> dict[str, Any]:
    """A commission line (model instance) as event data."""
    return {
        "id": global_id("Commission", line.id),
        "partnerId": global_id("Organization", line.partner_id),
        "customerId": global_id("Organization", line.customer_id),
        "type": str(line.type),
        "status": str(line.status),
        "amount": money(line.amount, line.currency),
        "originalAmount": money(line.original_amount, line.original_currency),
        "holdUntil": iso_time(line.hold_until),
        "createdAt": iso_time(line.created_at),
    }


def payout_data(payout: dict[str, Any], partner_id: int) -> dict[str, Any]:
    """A payout as event data: never its destination (IBAN, PayPal address)."""
    return {
        "id": global_id("Payout", payout["id"]),
        "partnerId": global_id("Organization", partner_id),
        "status": payout["status"],
        "amount": money(payout["amount"], payout["currency"]),
        "method": payout["method"],
        "reference": payout["reference"],
        "note": payout["note"],
    }


def relationship_data(relationship_id: int, customer_id: int, partner_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": global_id("CustomerRelationship", relationship_id),
        "customerId": global_id("Organization", customer_id),
        "partnerId": global_id("Organization", partner_id),
        **extra,
    }


# --- publishing --------------------------------------------------------------------------------------

Loader = Callable[[], Awaitable[Iterable[dict[str, Any]]]]


async def publish(event_type: WebhookEventType, data: dict[str, Any]) -> None:
    """Queue the event for every active subscription to its type; call inside the change's transaction."""
    await publish_many(event_type, [data])


async def publish_many(event_type: WebhookEventType, items: Iterable[dict[str, Any]] | Loader) -> None:
    """Several events of one type for one subscription query. `items` may be an async function
    that loads them: it runs only when a subscription wants the type (e.g. released commissions)."""
    if not callable(items):
        items = list(items)
        if not items:
            return
    subscriptions = await WebhookSubscription.filter(active=True).values_list("id", "url", "event_types")
    wanted = [(sid, url) for sid, url, types in subscriptions if event_type.value in types]
    if not wanted:
        return
    moment = now()
    for data in (await items()) if callable(items) else items:
        event = await WebhookEvent.create(
            id=f"evt_{secrets.token_hex(12)}", type=event_type, data=data, created_at=moment
        )
        for subscription_id, url in wanted:
            await _queue_delivery(subscription_id, url, event.id, event_type.value, moment)


async def _queue_delivery(
    subscription_id: int, url: str, event_id: str, event_type: str, moment: datetime, redelivery_of: int | None = None
) -> int:
    message = await OutboxMessage.create(
        kind=OutboxKind.WEBHOOK,
        payload={"to": url, "subject": event_type, "event_id": event_id},
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=moment,
        created_at=moment,
    )
    delivery = await WebhookDelivery.create(
        subscription_id=subscription_id,
        event_id=event_id,
        message_id=message.id,
        redelivery_of_id=redelivery_of,
        attempt_log=[],
        created_at=moment,
    )
    return delivery.id


# --- secrets --------------------------------------------------------------------------------------------


def _fernet(settings: Settings) -> Fernet:
    key = hashlib.sha256(f"partner-portal:webhook-secrets:{settings.secret_key}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def encrypt_secret(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def decrypt_secret(settings: Settings, stored: str) -> str:
    return _fernet(settings).decrypt(stored.encode()).decode()


# --- managing subscriptions ---------------------------------------------------------------------------


async def clean_url(settings: Settings, raw: str) -> str:
    url = (raw or "").strip()
    if not url:
        raise fail("url", UserErrorCode.REQUIRED, "Enter the URL that receives the webhooks.")
    try:
        await check_destination(
            url, allow_http=settings.is_development, allow_private=settings.webhook_allow_private_networks
        )
    except RefusedDestination as error:
        raise fail("url", UserErrorCode.INVALID_VALUE, str(error)) from error
    return url


def clean_event_types(event_types: Iterable[WebhookEventType]) -> list[str]:
    chosen = sorted({WebhookEventType(t).value for t in event_types})
    if not chosen:
        raise fail("event_types", UserErrorCode.REQUIRED, "Subscribe to at least one event type.")
    return chosen


def clean_description(raw: str | None) -> str:
    text = " ".join((raw or "").split())
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise fail("description", UserErrorCode.TOO_LONG, f"At most {MAX_DESCRIPTION_LENGTH} characters.")
    return text


async def create_subscription(
    actor: Actor, settings: Settings, *, url: str, event_types: Iterable[WebhookEventType], description: str | None
) -> tuple[dict[str, Any], str]:
    """The new subscription and its signing secret (shown this once)."""
    await WEBHOOK_MANAGER.enforce(actor)
    clean = await clean_url(settings, url)
    types = clean_event_types(event_types)
    text = clean_description(description)
    secret = new_secret()
    moment = now()
    async with in_transaction():
        subscription = await WebhookSubscription.create(
            url=clean,
            event_types=types,
            description=text,
            secret=encrypt_secret(settings, secret),
            active=True,
            created_by_api_key_id=actor.api_key_id,
            created_by_user_id=actor.user_id,
            created_at=moment,
            updated_at=moment,
        )
        await audit.record(
            actor,
            "webhook_subscription.create",
            "WebhookSubscription",
            subscription.id,
            changes={"url": clean, "event_types": types},
        )
    return await get_subscription(actor, subscription.id), secret


async def update_subscription(
    actor: Actor,
    settings: Settings,
    subscription_id: int,
    *,
    url: str | None,
    event_types: Iterable[WebhookEventType] | None,
    description: str | None,
    active: bool | None,
    rotate_secret: bool,
) -> tuple[dict[str, Any], str | None]:
    """Change what is given; `rotate_secret` makes (and returns, once) a new secret at once."""
    await WEBHOOK_MANAGER.enforce(actor)
    before = await get_subscription(actor, subscription_id)
    if before is None:
        raise NotFound()
    values: dict[str, Any] = {}
    if url is not None:
        values["url"] = await clean_url(settings, url)
    if event_types is not None:
        values["event_types"] = clean_event_types(event_types)
    if description is not None:
        values["description"] = clean_description(description)
    if active is not None:
        values["active"] = active
    changes = audit.diff(before, values)
    secret = None
    if rotate_secret:
        secret = new_secret()
        values["secret"] = encrypt_secret(settings, secret)
        changes["secret"] = "rotated"
    async with in_transaction():
        await WebhookSubscription.filter(id=subscription_id).update(**values, updated_at=now())
        await audit.record(
            actor, "webhook_subscription.update", "WebhookSubscription", subscription_id, changes=changes
        )
    return await get_subscription(actor, subscription_id), secret


async def delete_subscription(actor: Actor, subscription_id: int) -> None:
    """Deletes the subscription with its delivery log; its pending deliveries are never sent."""
    await WEBHOOK_MANAGER.enforce(actor)
    if await get_subscription(actor, subscription_id) is None:
        raise NotFound()
    async with in_transaction():
        messages = Subquery(WebhookDelivery.filter(subscription_id=subscription_id).values("message_id"))
        await OutboxMessage.filter(id__in=messages, status=OutboxStatus.PENDING).update(
            status=OutboxStatus.FAILED, last_error="The subscription was deleted."
        )
        await WebhookSubscription.filter(id=subscription_id).delete()
        await audit.record(actor, "webhook_subscription.delete", "WebhookSubscription", subscription_id)


async def list_subscriptions(actor: Actor, *, first: int | None, after: str | None) -> Page:
    await WEBHOOK_MANAGER.enforce(actor)
    queryset = await scoping.visible_webhook_subscriptions(actor)
    return await paginate(queryset, fields=SUBSCRIPTION_FIELDS, first=first, after=after, order=("-id",))


async def get_subscription(actor: Actor, subscription_id: int) -> dict[str, Any] | None:
    queryset = await scoping.visible_webhook_subscriptions(actor)
    return await queryset.filter(id=subscription_id).first().values(*SUBSCRIPTION_FIELDS)


# --- the delivery log ------------------------------------------------------------------------------------


async def list_deliveries(
    actor: Actor, *, subscription_id: int, status: OutboxStatus | None, first: int | None, after: str | None
) -> Page:
    """A subscription's deliveries, newest first, with their attempts (one query per page)."""
    await WEBHOOK_MANAGER.enforce(actor)
    if await get_subscription(actor, subscription_id) is None:
        raise NotFound()
    queryset = (await scoping.visible_webhook_deliveries(actor)).filter(subscription_id=subscription_id)
    if status is not None:
        queryset = queryset.filter(message__status=status)
    return await paginate(queryset, fields=DELIVERY_FIELDS, first=first, after=after, order=("-id",))


async def get_delivery(actor: Actor, delivery_id: int) -> dict[str, Any] | None:
    queryset = await scoping.visible_webhook_deliveries(actor)
    return await queryset.filter(id=delivery_id).first().values(*DELIVERY_FIELDS)


async def redeliver(actor: Actor, delivery_id: int) -> dict[str, Any]:
    """A new delivery of the same event to the same subscription, due at once."""
    await WEBHOOK_MANAGER.enforce(actor)
    async with in_transaction():
        visible = await scoping.visible_webhook_deliveries(actor)
        original = (
            await visible.filter(id=delivery_id)
            .first()
            .values("subscription_id", "subscription__url", "subscription__active", "event_id", "event__type")
        )
        if original is None:
            raise NotFound()
        if not original["subscription__active"]:
            raise fail(
                "delivery_id",
                UserErrorCode.INVALID_VALUE,
                "The subscription is inactive: activate it before redelivering.",
            )
        new_id = await _queue_delivery(
            original["subscription_id"],
            original["subscription__url"],
            original["event_id"],
            original["event__type"],
            now(),
            redelivery_of=delivery_id,
        )
        await audit.record(
            actor,
            "webhook.redeliver",
            "WebhookDelivery",
            new_id,
            changes={"redelivery_of": delivery_id, "event_id": original["event_id"]},
        )
    return await get_delivery(actor, new_id)


# --- delivering (called by the outbox worker) -------------------------------------------------------------


def sender(settings: Settings) -> WebhookSender:
    return WebhookSender(
        allow_http=settings.is_development,
        allow_private=settings.webhook_allow_private_networks,
        timeout=settings.webhook_timeout_seconds,
        extra_ca_file=settings.webhook_ca_file,
    )


def body_of(event: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed) for an event: the same for every attempt."""
    document = {
        "id": event["id"],
        "type": event["type"],
        "createdAt": iso_time(event["created_at"]),
        "data": event["data"],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class GiveUp(Exception):
    """The delivery cannot succeed any more (subscription deleted or inactive, secret unreadable)."""


async def deliver(row: dict[str, Any], http: WebhookSender, settings: Settings) -> Attempt:
    """One attempt of the outbox row's delivery; the attempt is appended to the delivery's log."""
    delivery = (
        await WebhookDelivery.filter(message_id=row["id"])
        .first()
        .values("id", "subscription_id", "event_id", "attempt_log")
    )
    if delivery is None:
        raise GiveUp("The subscription was deleted.")
    subscription = (
        await WebhookSubscription.filter(id=delivery["subscription_id"]).first().values("url", "secret", "active")
    )
    if not subscription["active"]:
        raise GiveUp("The subscription is inactive.")
    try:
        secret = decrypt_secret(settings, subscription["secret"])
    except InvalidToken as error:
        raise GiveUp("The signing secret cannot be read (was SECRET_KEY changed?): rotate the secret.") from error
    event = await WebhookEvent.filter(id=delivery["event_id"]).first().values("id", "type", "data", "created_at")
    body = body_of(event)
    moment = now()
    headers = {
        SIGNATURE_HEADER: sign(secret, int(moment.timestamp()), body),
        "X-Portal-Event-Id": event["id"],
        "X-Portal-Event-Type": event["type"],
        "X-Portal-Delivery-Id": global_id("WebhookDelivery", delivery["id"]) or "",
    }
    attempt = await _post_in_time(http, subscription["url"], body, headers, settings.webhook_timeout_seconds)
    entry = {
        "at": iso_time(moment),
        "http_status": attempt.http_status,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
    }
    await WebhookDelivery.filter(id=delivery["id"]).update(attempt_log=[*delivery["attempt_log"], entry])
    return attempt


async def _post_in_time(http: WebhookSender, url: str, body: bytes, headers: dict[str, str], seconds: float) -> Attempt:
    """One POST within `seconds` in all (resolving, connecting, sending, the answer: httpx's own
    timeout is per phase), so that the outbox worker knows the longest an attempt takes."""
    try:
        async with asyncio.timeout(seconds):
            return await http.post(url, body, headers)
    except TimeoutError:
        return Attempt(None, round(seconds * 1000), f"No answer within {seconds:g} s.")
