"""GraphQL for outbound webhooks: subscriptions, the delivery log, redelivery."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.outbox import OutboxStatus
from partner_portal.models.webhooks import WebhookEventType
from partner_portal.permissions.requirements import WEBHOOK_MANAGER
from partner_portal.resolvers import webhooks
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    Payload,
    connection,
    decode_id,
    describe_enum,
    global_id,
    node_type,
    run_mutation,
)
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import IdOf, Row, RowType, row_type

describe_enum(
    WebhookEventType,
    "What happened; the `type` of a webhook body is the value in lower case with a dot (e.g. `commission.created`).",
    {
        "PARTNER_APPROVED": "`partner.approved`: an application was approved; the organization is a partner now.",
        "CUSTOMER_LINKED": "`customer.linked`: a customer chose a service partner or accepted its invitation.",
        "CUSTOMER_UNLINKED": "`customer.unlinked`: a customer's relationship with its service partner ended.",
        "GRANT_CHANGED": "`grant.changed`: a customer changed (or revoked) the permissions delegated to its partner.",
        "COMMISSION_CREATED": "`commission.created`: a payment earned a partner a commission line.",
        "COMMISSION_APPROVED": "`commission.approved`: a held commission line was released and is payable.",
        "COMMISSION_REVERSED": "`commission.reversed`: a refund reversed a commission line in whole or in part.",
        "PAYOUT_REQUESTED": "`payout.requested`: a payout was requested (by the partner or the monthly run).",
        "PAYOUT_APPROVED": "`payout.approved`: an operator approved a payout.",
        "PAYOUT_PAID": "`payout.paid`: a payout was marked paid.",
        "PAYOUT_REJECTED": "`payout.rejected`: an operator rejected a payout; its lines are payable again.",
        "TIER_CHANGED": "`tier.changed`: a partner moved to another tier.",
    },
)


@row_type(
    webhooks.SUBSCRIPTION_FIELDS,
    event_types=lambda row: [WebhookEventType(t) for t in row["event_types"]],
    created_by_api_key_id=IdOf("ApiKey", "created_by_api_key_id"),
)
@strawberry.type(description="An endpoint that receives signed webhooks for the chosen event types.")
class WebhookSubscription(Node, RowType):
    id: NodeID[int]
    url: str = strawberry.field(description="Where the webhooks are POSTed.")
    event_types: list[WebhookEventType] = strawberry.field(description="The event types it receives.")
    description: str = strawberry.field(description="What the endpoint is for.")
    active: bool = strawberry.field(description="Inactive subscriptions receive nothing.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    created_by_api_key_id: GlobalID | None = strawberry.field(
        description="The API key that created it (none when an operator did)."
    )


@node_type("WebhookSubscription")
async def _fetch_subscription(context: Any, pk: int) -> WebhookSubscription | None:
    row = await webhooks.get_subscription(context.actor, pk)
    return WebhookSubscription.from_row(row) if row else None


@strawberry.type(description="One attempt to deliver a webhook.")
class WebhookAttempt:
    at: datetime = strawberry.field(description="When it was made.")
    http_status: int | None = strawberry.field(description="The receiver's HTTP status; none without an answer.")
    duration_ms: int = strawberry.field(description="How long it took, in milliseconds.")
    error: str | None = strawberry.field(description="Why it failed; none when it succeeded.")


def _attempts(row: Row) -> list[WebhookAttempt]:
    return [
        WebhookAttempt(
            at=datetime.fromisoformat(a["at"]),
            http_status=a["http_status"],
            duration_ms=a["duration_ms"],
            error=a["error"],
        )
        for a in row["attempt_log"] or []
    ]


def _next_attempt_at(row: Row) -> datetime | None:
    return row["message__next_attempt_at"] if row["message__status"] is OutboxStatus.PENDING else None


@row_type(
    webhooks.DELIVERY_FIELDS,
    subscription_id=IdOf("WebhookSubscription", "subscription_id"),
    event_type="event__type",
    event_created_at="event__created_at",
    status="message__status",
    attempt_count="message__attempts",
    last_error="message__last_error",
    delivered_at="message__sent_at",
    next_attempt_at=_next_attempt_at,
    redelivery_of_id=IdOf("WebhookDelivery", "redelivery_of_id"),
    attempts=_attempts,
)
@strawberry.type(description="One delivery of an event to a subscription, with every attempt.")
class WebhookDelivery(Node, RowType):
    id: NodeID[int]
    subscription_id: GlobalID = strawberry.field(description="The subscription.")
    event_id: str = strawberry.field(description="The event's id (`evt_…`), the same in every redelivery.")
    event_type: WebhookEventType = strawberry.field(description="The event's type.")
    event_created_at: datetime = strawberry.field(description="When the event happened.")
    status: OutboxStatus = strawberry.field(description="Where the delivery stands; SENT means delivered (2xx).")
    attempt_count: int = strawberry.field(description="How many attempts were made.")
    next_attempt_at: datetime | None = strawberry.field(description="When the next attempt is due, while pending.")
    last_error: str | None = strawberry.field(description="Why the last attempt failed, if it did.")
    delivered_at: datetime | None = strawberry.field(description="When the receiver accepted it.")
    redelivery_of_id: GlobalID | None = strawberry.field(description="The delivery this one repeats, if any.")
    created_at: datetime = strawberry.field(description="When it was queued.")
    attempts: list[WebhookAttempt] = strawberry.field(description="Every attempt, oldest first.")


@node_type("WebhookDelivery")
async def _fetch_delivery(context: Any, pk: int) -> WebhookDelivery | None:
    row = await webhooks.get_delivery(context.actor, pk)
    return WebhookDelivery.from_row(row) if row else None


# --- inputs and payloads -----------------------------------------------------------------------


@strawberry.input(description="A new webhook subscription.")
class CreateWebhookSubscriptionInput:
    url: str = strawberry.field(
        description="An https URL (http too in development) on a public address: private and loopback "
        "addresses are refused unless WEBHOOK_ALLOW_PRIVATE_NETWORKS is set."
    )
    event_types: list[WebhookEventType] = strawberry.field(description="The event types to receive (at least one).")
    description: str | None = strawberry.field(default=None, description="What the endpoint is for.")


@strawberry.type(description="The new subscription and its signing secret.")
class CreateWebhookSubscriptionPayload(Payload):
    subscription: WebhookSubscription | None = strawberry.field(default=None, description="The subscription.")
    secret: str | None = strawberry.field(
        default=None, description="The signing secret (`whsec_…`): shown this once, keep it safe."
    )


@strawberry.input(description="Change a webhook subscription; fields left out stay as they are.")
class UpdateWebhookSubscriptionInput:
    subscription_id: GlobalID = strawberry.field(description="The subscription.")
    url: str | None = strawberry.field(default=None, description="A new URL (checked like a new one).")
    event_types: list[WebhookEventType] | None = strawberry.field(default=None, description="The new event types.")
    description: str | None = strawberry.field(default=None, description="A new description.")
    active: bool | None = strawberry.field(
        default=None,
        description="Pause (false) or resume (true): a paused subscription gets no new events, and "
        "its deliveries still due fail (once resumed, redeliverWebhook sends one again).",
    )
    rotate_secret: bool = strawberry.field(
        default=False, description="Replace the signing secret at once; the new one is returned this once."
    )


@strawberry.type(description="The subscription after the change.")
class UpdateWebhookSubscriptionPayload(Payload):
    subscription: WebhookSubscription | None = strawberry.field(default=None, description="The subscription.")
    secret: str | None = strawberry.field(default=None, description="The new signing secret, when rotated.")


@strawberry.input(description="Delete a webhook subscription with its delivery log.")
class DeleteWebhookSubscriptionInput:
    subscription_id: GlobalID = strawberry.field(description="The subscription.")


@strawberry.type(description="The id of the deleted subscription.")
class DeleteWebhookSubscriptionPayload(Payload):
    deleted_subscription_id: GlobalID | None = strawberry.field(default=None, description="The deleted subscription.")


@strawberry.input(description="Send an event to a subscription again.")
class RedeliverWebhookInput:
    delivery_id: GlobalID = strawberry.field(description="A delivery of the event (any status).")


@strawberry.type(description="The new delivery, due at once.")
class RedeliverWebhookPayload(Payload):
    delivery: WebhookDelivery | None = strawberry.field(default=None, description="The new delivery.")


MANAGERS = "API keys with webhooks:manage, operators with MANAGE_PROGRAMS"


@strawberry.type
class WebhooksQuery:
    @strawberry.field(description="Every webhook subscription, newest first.", extensions=[Requires(WEBHOOK_MANAGER)])
    async def webhook_subscriptions(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[WebhookSubscription]:
        page = await webhooks.list_subscriptions(info.context.actor, first=first, after=after)
        return connection(page, WebhookSubscription.from_row)

    @strawberry.field(
        description="A subscription's delivery log, newest first, with every attempt.",
        extensions=[Requires(WEBHOOK_MANAGER)],
    )
    async def webhook_deliveries(
        self,
        info: Info,
        subscription_id: Annotated[GlobalID, strawberry.argument(description="The subscription.")],
        status: Annotated[
            OutboxStatus | None, strawberry.argument(description="Only deliveries in this status.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[WebhookDelivery]:
        page = await webhooks.list_deliveries(
            info.context.actor,
            subscription_id=decode_id(subscription_id, "WebhookSubscription"),
            status=status,
            first=first,
            after=after,
        )
        return connection(page, WebhookDelivery.from_row)


@strawberry.type
class WebhooksMutation:
    @strawberry.mutation(
        description="Subscribe a URL to event types; the signing secret is shown once.",
        extensions=[Requires(WEBHOOK_MANAGER)],
    )
    async def create_webhook_subscription(
        self, info: Info, input: CreateWebhookSubscriptionInput
    ) -> CreateWebhookSubscriptionPayload:
        change = webhooks.create_subscription(
            info.context.actor,
            info.context.settings,
            url=input.url,
            event_types=input.event_types,
            description=input.description,
        )
        return await run_mutation(
            CreateWebhookSubscriptionPayload,
            change,
            lambda result: {"subscription": WebhookSubscription.from_row(result[0]), "secret": result[1]},
        )

    @strawberry.mutation(
        description="Change, pause or resume a subscription, or rotate its secret.",
        extensions=[Requires(WEBHOOK_MANAGER)],
    )
    async def update_webhook_subscription(
        self, info: Info, input: UpdateWebhookSubscriptionInput
    ) -> UpdateWebhookSubscriptionPayload:
        change = webhooks.update_subscription(
            info.context.actor,
            info.context.settings,
            decode_id(input.subscription_id, "WebhookSubscription"),
            url=input.url,
            event_types=input.event_types,
            description=input.description,
            active=input.active,
            rotate_secret=input.rotate_secret,
        )
        return await run_mutation(
            UpdateWebhookSubscriptionPayload,
            change,
            lambda result: {"subscription": WebhookSubscription.from_row(result[0]), "secret": result[1]},
        )

    @strawberry.mutation(
        description="Delete a subscription; its pending deliveries are dropped.", extensions=[Requires(WEBHOOK_MANAGER)]
    )
    async def delete_webhook_subscription(
        self, info: Info, input: DeleteWebhookSubscriptionInput
    ) -> DeleteWebhookSubscriptionPayload:
        pk = decode_id(input.subscription_id, "WebhookSubscription")
        change = webhooks.delete_subscription(info.context.actor, pk)
        return await run_mutation(
            DeleteWebhookSubscriptionPayload,
            change,
            lambda _: {"deleted_subscription_id": global_id("WebhookSubscription", pk)},
        )

    @strawberry.mutation(
        description="Deliver an event again: a new delivery with the same event id.",
        extensions=[Requires(WEBHOOK_MANAGER)],
    )
    async def redeliver_webhook(self, info: Info, input: RedeliverWebhookInput) -> RedeliverWebhookPayload:
        change = webhooks.redeliver(info.context.actor, decode_id(input.delivery_id, "WebhookDelivery"))
        return await run_mutation(
            RedeliverWebhookPayload, change, lambda row: {"delivery": WebhookDelivery.from_row(row)}
        )
