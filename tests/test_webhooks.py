"""Signed outbound webhooks: subscriptions, publishing in the change's transaction, delivery through
the outbox to a real HTTP server on localhost, retries on the frozen clock, redelivery, the address guard."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme
from tortoise.transactions import in_transaction

from partner_portal.models.clock import now
from partner_portal.models.outbox import OutboxMessage
from partner_portal.models.webhooks import WebhookDelivery, WebhookEvent, WebhookEventType
from partner_portal.resolvers import webhooks
from partner_portal.resolvers.jobs import run_job
from tests.conftest import START, Api, free_port, start_api, test_settings
from tests.customer_invitations import accept, invited, newest_link
from tests.documents import (
    APPROVE_PAYOUT,
    CREATE_RULE,
    RECORD_REFUND,
    REQUEST_PAYOUT,
    SET_DELEGATED_PERMISSIONS,
    SET_EXCHANGE_RATE,
    SET_SERVICE_PARTNER,
)
from tests.support import Person, create_api_key, create_organization, make_operator, make_partner, operator, register
from tests.tier_world import EVALUATION_DAY, hubspot_tiers, managed_customer, sold_customer, tier_world, tiers_job

SUBSCRIPTION_FIELDS = "id url eventTypes description active createdByApiKeyId"
CREATE = f"""
mutation Create($input: CreateWebhookSubscriptionInput!) {{
  createWebhookSubscription(input: $input) {{
    subscription {{ {SUBSCRIPTION_FIELDS} }} secret errors {{ field code message }}
  }}
}}"""
UPDATE = f"""
mutation Update($input: UpdateWebhookSubscriptionInput!) {{
  updateWebhookSubscription(input: $input) {{ subscription {{ {SUBSCRIPTION_FIELDS} }} secret errors {{ code }} }}
}}"""
DELETE = """
mutation Delete($input: DeleteWebhookSubscriptionInput!) {
  deleteWebhookSubscription(input: $input) { deletedSubscriptionId errors { code } }
}"""
SUBSCRIPTIONS = f"{{ webhookSubscriptions(first: 10) {{ totalCount edges {{ node {{ {SUBSCRIPTION_FIELDS} }} }} }} }}"
DELIVERY_FIELDS = """
  id subscriptionId eventId eventType status attemptCount nextAttemptAt lastError deliveredAt redeliveryOfId
  attempts { at httpStatus durationMs error }"""
DELIVERIES = f"""
query Deliveries($id: ID!, $status: OutboxStatus) {{
  webhookDeliveries(subscriptionId: $id, status: $status, first: 50) {{
    totalCount edges {{ node {{ {DELIVERY_FIELDS} }} }}
  }}
}}"""
REDELIVER = f"""
mutation Redeliver($input: RedeliverWebhookInput!) {{
  redeliverWebhook(input: $input) {{ delivery {{ {DELIVERY_FIELDS} }} errors {{ field code message }} }}
}}"""
NODE = "query Node($id: ID!) { node(id: $id) { ... on WebhookSubscription { url } } }"

# the rest of the domain, to make events happen through the API
REMOVE_PARTNER = """
mutation Remove($input: RemoveServicePartnerInput!) { removeServicePartner(input: $input) { errors { code } } }"""
RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) { recordPayment(input: $input) { errors { field code message } } }"""
SET_PAYOUT_SETTINGS = """
mutation Settings($input: SetPayoutSettingsInput!) { setPayoutSettings(input: $input) { errors { field code } } }"""
MARK_PAID = """
mutation Paid($input: MarkPayoutPaidInput!) { markPayoutPaid(input: $input) { errors { code } } }"""

IBAN = "DE89370400440532013000"
ALL_TYPES = [t.name for t in WebhookEventType]


# --- a real HTTP receiver ------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 in its own thread: records every POST and answers with the
    next status of `answers` (200 once they are used up); over TLS, the names clients asked for (SNI)."""

    url: str
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    always: int = 200
    server_names: list[str | None] = field(default_factory=list)

    def types(self) -> list[str]:
        return [r.json["type"] for r in self.received]


@contextmanager
def serving(state: Receiver, port: int, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's hook
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status = state.answers.pop(0) if state.answers else state.always
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if tls is not None:  # the handshake runs as a connection is accepted; a failed one drops it
        tls.sni_callback = lambda _socket, name, _context: state.server_names.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    with serving(Receiver(url=f"http://127.0.0.1:{port}/hooks/portal"), port) as state:
        yield state


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does (the README's snippet): recompute the HMAC, compare in constant
    time, refuse timestamps outside the tolerance (replays)."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - timestamp) <= tolerance and hmac.compare_digest(expected, parts["v1"])


# --- the world ------------------------------------------------------------------------------------------


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """Private networks allowed (the receiver is on localhost); sessions outlive the clock shifts."""
    settings = test_settings(database_url, webhook_allow_private_networks=True, session_ttl_hours=24 * 365)
    async for running in start_api(settings):
        yield running


@dataclass
class Hooks:
    api: Api
    operator: Person
    key: str

    async def subscribe(self, url: str, types: list[str] = ALL_TYPES, **kwargs) -> dict:
        data = await self.api.data(CREATE, {"input": {"url": url, "eventTypes": types, **kwargs}}, api_key=self.key)
        return data["createWebhookSubscription"]

    async def deliveries(self, subscription_id: str, status: str | None = None) -> list[dict]:
        data = await self.api.data(DELIVERIES, {"id": subscription_id, "status": status}, api_key=self.key)
        return [edge["node"] for edge in data["webhookDeliveries"]["edges"]]


@pytest.fixture
async def hooks(api: Api, clock) -> Hooks:
    olivia = await operator(api)
    return Hooks(api, olivia, await create_api_key(api, olivia, ["WEBHOOKS_MANAGE"]))


async def run_outbox(api: Api) -> None:
    await run_job("outbox", api.settings)


# --- delivery, signature, retries, redelivery ---------------------------------------------------------------


async def test_a_receiver_gets_the_event_signed_and_verifies_it(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"], description="CRM sync")
    assert created["errors"] == []
    secret = created["secret"]
    assert secret.startswith("whsec_")

    partner = await make_partner(api, hooks.operator)
    await run_outbox(api)

    [request] = receiver.received
    assert request.path == "/hooks/portal"
    assert request.headers["content-type"] == "application/json"
    assert verify(secret, request.headers["x-portal-signature"], request.body)
    assert not verify(secret, request.headers["x-portal-signature"], request.body.replace(b"Northwind", b"Eastwind"))
    assert not verify("whsec_wrong", request.headers["x-portal-signature"], request.body)
    body = request.json
    assert body["type"] == "partner.approved" == request.headers["x-portal-event-type"]
    assert body["id"].startswith("evt_") and body["id"] == request.headers["x-portal-event-id"]
    assert body["createdAt"] == "2026-03-02T09:00:00Z"
    assert body["data"]["id"] == partner.id
    assert body["data"]["code"] == partner.code
    assert body["data"]["programs"] == ["AFFILIATE", "SERVICE_PARTNER"]
    [delivery] = await hooks.deliveries(created["subscription"]["id"])
    assert delivery["status"] == "SENT" and delivery["eventId"] == body["id"]
    assert delivery["eventType"] == "PARTNER_APPROVED"
    assert delivery["deliveredAt"] is not None
    assert [(a["httpStatus"], a["error"]) for a in delivery["attempts"]] == [(200, None)]
    assert delivery["id"] == request.headers["x-portal-delivery-id"]


async def test_an_old_signature_is_refused_by_the_receiver_as_a_replay(api, hooks, receiver, clock):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
    await make_partner(api, hooks.operator)
    await run_outbox(api)
    [request] = receiver.received

    clock.shift(timedelta(minutes=6))

    assert not verify(created["secret"], request.headers["x-portal-signature"], request.body)


async def test_failures_are_retried_with_backoff_on_the_frozen_clock(api, hooks, receiver, clock):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
    receiver.answers = [500, 500]
    await make_partner(api, hooks.operator)

    await run_outbox(api)
    [pending] = await hooks.deliveries(created["subscription"]["id"])
    assert pending["status"] == "PENDING" and pending["lastError"] == "HTTP 500"
    assert pending["nextAttemptAt"] == (START + timedelta(minutes=1)).isoformat()
    await run_outbox(api)  # not due yet
    assert len(receiver.received) == 1

    clock.shift(timedelta(minutes=1))
    await run_outbox(api)
    [pending] = await hooks.deliveries(created["subscription"]["id"])
    assert pending["attemptCount"] == 2
    assert pending["nextAttemptAt"] == (START + timedelta(minutes=3)).isoformat()

    clock.shift(timedelta(minutes=2))
    await run_outbox(api)

    [delivered] = await hooks.deliveries(created["subscription"]["id"], "SENT")
    assert [a["httpStatus"] for a in delivered["attempts"]] == [500, 500, 200]
    assert delivered["lastError"] is None
    first, second, third = receiver.received
    assert first.body == second.body == third.body  # the same event, byte for byte
    assert len({r.headers["x-portal-event-id"] for r in receiver.received}) == 1
    assert first.headers["x-portal-signature"] != third.headers["x-portal-signature"]  # signed at send time
    assert verify(created["secret"], third.headers["x-portal-signature"], third.body)


async def test_a_delivery_that_keeps_failing_is_failed_after_24_hours(api, hooks, receiver, clock):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
    receiver.always = 503
    await make_partner(api, hooks.operator)

    for _ in range(30):
        await run_outbox(api)
        row = await OutboxMessage.filter(kind="webhook").first()
        if row.status != "PENDING":
            break
        clock.move_to(row.next_attempt_at)

    [failed] = await hooks.deliveries(created["subscription"]["id"], "FAILED")
    times = [a["at"] for a in failed["attempts"]]
    assert times[0] == "2026-03-02T09:00:00+00:00"
    assert times[-1] == "2026-03-03T09:00:00+00:00"  # the last attempt falls on the 24th hour
    assert len(times) == len(receiver.received) == 13
    assert failed["lastError"] == "HTTP 503"
    clock.shift(timedelta(days=2))
    await run_outbox(api)
    assert len(receiver.received) == 13


async def test_redelivery_sends_the_same_event_again(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
    await make_partner(api, hooks.operator)
    await run_outbox(api)
    [original] = await hooks.deliveries(created["subscription"]["id"])

    redone = await api.data(REDELIVER, {"input": {"deliveryId": original["id"]}}, api_key=hooks.key)
    redone = redone["redeliverWebhook"]
    assert redone["errors"] == []
    assert redone["delivery"]["status"] == "PENDING"
    assert redone["delivery"]["redeliveryOfId"] == original["id"]
    await run_outbox(api)

    first, again = receiver.received
    assert again.body == first.body
    assert again.headers["x-portal-event-id"] == first.headers["x-portal-event-id"]
    assert again.headers["x-portal-delivery-id"] != first.headers["x-portal-delivery-id"]
    assert verify(created["secret"], again.headers["x-portal-signature"], again.body)
    deliveries = await hooks.deliveries(created["subscription"]["id"])
    assert [d["status"] for d in deliveries] == ["SENT", "SENT"]


async def test_redelivery_by_others_is_refused(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
    await make_partner(api, hooks.operator)
    [delivery] = await hooks.deliveries(created["subscription"]["id"])
    billing = await create_api_key(api, hooks.operator, ["BILLING_WRITE"], "billing")

    assert await api.error_code(REDELIVER, {"input": {"deliveryId": delivery["id"]}}, api_key=billing) == "FORBIDDEN"
    assert await api.error_code(REDELIVER, {"input": {"deliveryId": delivery["id"]}}) == "UNAUTHENTICATED"


# --- the events -----------------------------------------------------------------------------------------------


async def test_domain_actions_publish_their_events(api, hooks, receiver, clock):
    created = await hooks.subscribe(receiver.url)
    olivia = hooks.operator
    partner = await make_partner(api, olivia)
    await api.data(
        SET_EXCHANGE_RATE, {"input": {"currency": "EUR", "rate": "0.90", "validFrom": "2026-01-01"}}, token=olivia.token
    )
    await api.data(
        CREATE_RULE,
        {
            "input": {
                "program": "SERVICE_PARTNER",
                "kind": "PERCENT",
                "rate": "20.00",
                "recurrence": "LIFETIME",
                "holdDays": 30,
            }
        },
        token=olivia.token,
    )
    billing = await create_api_key(api, olivia, ["BILLING_WRITE"], "billing")
    casey = await register(api, "admin@acme.example", "Casey Customer")
    customer = await create_organization(api, casey, "Acme GmbH")
    customer_input = {"organizationId": customer["id"]}
    await api.data(SET_SERVICE_PARTNER, {"id": customer["id"], "code": partner.code}, token=casey.token)
    await api.data(
        SET_DELEGATED_PERMISSIONS, {"input": {**customer_input, "permissions": ["MANAGE_MEMBERS"]}}, token=casey.token
    )
    for external_id in ("pay-1", "pay-2"):
        paid = await api.data(
            RECORD_PAYMENT,
            {
                "input": {
                    "externalId": external_id,
                    "organizationId": customer["id"],
                    "amount": {"amount": "1000.00", "currency": "EUR"},
                    "paidAt": now().isoformat(),
                }
            },
            api_key=billing,
        )
        assert paid["recordPayment"]["errors"] == []
    clock.shift(timedelta(days=31))
    await run_job("commissions", api.settings)
    await api.data(
        RECORD_REFUND,
        {
            "input": {
                "externalId": "refund-1",
                "paymentExternalId": "pay-2",
                "amount": {"amount": "1000.00", "currency": "EUR"},
                "refundedAt": now().isoformat(),
            }
        },
        api_key=billing,
    )
    settings = {"partnerId": partner.id, "method": "BANK_TRANSFER", "accountHolder": "Northwind", "iban": IBAN}
    assert (await api.data(SET_PAYOUT_SETTINGS, {"input": settings}, token=partner.admin.token))["setPayoutSettings"][
        "errors"
    ] == []
    payout = (await api.data(REQUEST_PAYOUT, {"input": {"partnerId": partner.id}}, token=partner.admin.token))[
        "requestPayout"
    ]
    assert payout["errors"] == []
    payout_id = payout["payout"]["id"]
    await api.data(APPROVE_PAYOUT, {"input": {"payoutId": payout_id}}, token=olivia.token)
    await api.data(MARK_PAID, {"input": {"payoutId": payout_id, "reference": "BANK-42"}}, token=olivia.token)
    await api.data(REMOVE_PARTNER, {"input": customer_input}, token=casey.token)

    await run_outbox(api)

    assert receiver.types() == [
        "partner.approved",
        "customer.linked",
        "grant.changed",
        "commission.created",
        "commission.created",
        "commission.approved",
        "commission.approved",
        "commission.reversed",
        "payout.requested",
        "payout.approved",
        "payout.paid",
        "customer.unlinked",
    ]
    by_type = {r.json["type"]: r.json["data"] for r in receiver.received}
    assert by_type["customer.linked"]["customerId"] == customer["id"]
    assert by_type["customer.linked"]["partnerId"] == partner.id
    assert by_type["customer.linked"]["source"] == "SELECTED"
    assert by_type["grant.changed"]["permissions"] == ["MANAGE_MEMBERS"]
    assert by_type["commission.created"]["amount"] == {"amount": "200.00", "currency": "EUR"}
    assert by_type["commission.created"]["status"] == "PENDING"
    assert by_type["commission.approved"]["status"] == "APPROVED"
    assert by_type["commission.reversed"]["status"] == "REVERSED"
    assert by_type["payout.requested"]["id"] == payout_id
    assert by_type["payout.requested"]["amount"] == {"amount": "200.00", "currency": "EUR"}
    assert by_type["payout.paid"]["reference"] == "BANK-42"
    assert all(IBAN not in r.body.decode() and "3704" not in r.body.decode() for r in receiver.received)
    assert all(verify(created["secret"], r.headers["x-portal-signature"], r.body) for r in receiver.received)


async def test_an_invitation_accepted_links_the_customer(api, hooks, receiver, clock):
    """customer.linked also comes from an accepted invitation (resolvers/invitations.py)."""
    await hooks.subscribe(receiver.url, ["CUSTOMER_LINKED"])
    partner = await make_partner(api, hooks.operator)
    await invited(api, partner.admin, "ceo@acme.example")
    accepted = await accept(api, await newest_link(api, hooks.operator, "ceo@acme.example"))
    assert accepted["errors"] == []

    await run_outbox(api)

    [request] = receiver.received
    assert request.json["data"]["source"] == "INVITATION"
    assert request.json["data"]["partnerId"] == partner.id
    assert request.json["data"]["customerId"] == accepted["organization"]["id"]


async def test_a_tier_change_of_the_monthly_evaluation_is_published(api, hooks, receiver, clock):
    """tier.changed comes from the `tiers` job (resolvers/tiers.py change_partner_tier)."""
    await hooks.subscribe(receiver.url, ["TIER_CHANGED"])
    partner = await make_partner(api, hooks.operator)
    world = await tier_world(api, hooks.operator, partner)
    await hubspot_tiers(api, world)
    await sold_customer(api, world, "Contoso Ltd", mrr="1200.00")
    await managed_customer(api, world, "Tailspin Toys", mrr="1500.00")
    clock.move_to(EVALUATION_DAY)

    await tiers_job(api)
    await run_outbox(api)

    [request] = receiver.received
    assert request.json["type"] == "tier.changed"
    assert request.json["data"] == {
        "partnerId": partner.id,
        "previousTier": None,
        "tier": "Silver",
        "period": "2026-03",
    }


async def test_only_subscribed_types_are_sent(api, hooks, receiver):
    await hooks.subscribe(receiver.url, ["PAYOUT_PAID"])
    await make_partner(api, hooks.operator)
    await run_outbox(api)
    assert receiver.received == []
    assert await WebhookEvent.all().count() == 0  # nobody wanted it: not even stored


async def test_nothing_is_published_for_a_transaction_that_rolls_back(api, hooks, receiver):
    await hooks.subscribe(receiver.url, ["TIER_CHANGED"])

    with pytest.raises(RuntimeError):  # noqa: PT012 — raised inside the transaction, to roll it back
        async with in_transaction():
            await webhooks.publish(WebhookEventType.TIER_CHANGED, {"id": "x"})
            raise RuntimeError("the change failed")
    await run_outbox(api)

    assert receiver.received == []
    assert await WebhookEvent.all().count() == 0
    assert await OutboxMessage.filter(kind="webhook").count() == 0


async def test_publishing_without_subscriptions_costs_one_query(api, hooks):
    with api.count_queries() as counter:
        async with in_transaction():
            await webhooks.publish(WebhookEventType.COMMISSION_CREATED, {"id": "x"})
    selects = [s for s in counter.statements if "webhook" in s.lower()]
    assert len(selects) == 1 and selects[0].lstrip().upper().startswith("SELECT")
    assert await WebhookEvent.all().count() == 0


async def test_a_paused_subscription_receives_nothing_and_a_rotated_secret_signs_at_once(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
    subscription_id = created["subscription"]["id"]
    paused = (
        await api.data(UPDATE, {"input": {"subscriptionId": subscription_id, "active": False}}, api_key=hooks.key)
    )["updateWebhookSubscription"]
    assert paused["subscription"]["active"] is False and paused["secret"] is None
    await make_partner(api, hooks.operator)
    await run_outbox(api)
    assert receiver.received == []

    rotated = await api.data(
        UPDATE, {"input": {"subscriptionId": subscription_id, "active": True, "rotateSecret": True}}, api_key=hooks.key
    )
    rotated = rotated["updateWebhookSubscription"]
    await make_partner(api, hooks.operator, admin_email="admin@eastwind.example", name="Eastwind")
    await run_outbox(api)

    [request] = receiver.received
    assert rotated["secret"] != created["secret"]
    assert verify(rotated["secret"], request.headers["x-portal-signature"], request.body)
    assert not verify(created["secret"], request.headers["x-portal-signature"], request.body)


async def test_a_delivery_due_while_paused_fails_and_is_sent_again_once_resumed(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
    subscription_id = created["subscription"]["id"]
    await make_partner(api, hooks.operator)  # queued while active
    await api.data(UPDATE, {"input": {"subscriptionId": subscription_id, "active": False}}, api_key=hooks.key)
    await run_outbox(api)
    [failed] = await hooks.deliveries(subscription_id)
    assert failed["status"] == "FAILED" and receiver.received == []

    await api.data(UPDATE, {"input": {"subscriptionId": subscription_id, "active": True}}, api_key=hooks.key)
    redone = await api.data(REDELIVER, {"input": {"deliveryId": failed["id"]}}, api_key=hooks.key)
    assert redone["redeliverWebhook"]["errors"] == []
    await run_outbox(api)

    [request] = receiver.received
    assert verify(created["secret"], request.headers["x-portal-signature"], request.body)


async def test_deleting_a_subscription_drops_its_pending_deliveries(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
    await make_partner(api, hooks.operator)

    deleted = await api.data(DELETE, {"input": {"subscriptionId": created["subscription"]["id"]}}, api_key=hooks.key)
    await run_outbox(api)

    assert deleted["deleteWebhookSubscription"]["deletedSubscriptionId"] == created["subscription"]["id"]
    assert receiver.received == []
    assert await WebhookDelivery.all().count() == 0
    assert await OutboxMessage.filter(kind="webhook", status="FAILED").count() == 1


# --- who may manage subscriptions ----------------------------------------------------------------------------


async def test_keys_with_the_scope_and_program_managers_administer_every_subscription(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, ["PAYOUT_PAID"])
    other_key = await create_api_key(api, hooks.operator, ["WEBHOOKS_MANAGE"], "second integration")

    listed = (await api.data(SUBSCRIPTIONS, api_key=other_key))["webhookSubscriptions"]
    by_operator = (await api.data(SUBSCRIPTIONS, token=hooks.operator.token))["webhookSubscriptions"]

    assert listed["totalCount"] == by_operator["totalCount"] == 1
    assert listed["edges"][0]["node"]["url"] == receiver.url
    assert listed["edges"][0]["node"]["eventTypes"] == ["PAYOUT_PAID"]
    assert listed["edges"][0]["node"]["createdByApiKeyId"] is not None
    assert "secret" not in listed["edges"][0]["node"]
    node = await api.data(NODE, {"id": created["subscription"]["id"]}, api_key=other_key)
    assert node["node"]["url"] == receiver.url
    made_by_operator = (
        await api.data(
            CREATE, {"input": {"url": receiver.url, "eventTypes": ["TIER_CHANGED"]}}, token=hooks.operator.token
        )
    )["createWebhookSubscription"]
    assert made_by_operator["errors"] == [] and made_by_operator["subscription"]["createdByApiKeyId"] is None


async def test_everybody_else_is_refused(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, ["PAYOUT_PAID"])
    subscription_id = created["subscription"]["id"]
    billing = await create_api_key(api, hooks.operator, ["BILLING_WRITE", "REPORTS_READ"], "billing")
    reviewer = await register(api, "rita@vendor.example", "Rita Reviewer")
    await make_operator(api, reviewer, ["REVIEW_PARTNERS"])
    member = await register(api, "someone@acme.example")
    create = {"input": {"url": receiver.url, "eventTypes": ["PAYOUT_PAID"]}}

    assert await api.error_code(CREATE, create, api_key=billing) == "FORBIDDEN"
    assert await api.error_code(CREATE, create, token=reviewer.token) == "FORBIDDEN"
    assert await api.error_code(CREATE, create, token=member.token) == "FORBIDDEN"
    assert await api.error_code(CREATE, create) == "UNAUTHENTICATED"
    assert await api.error_code(SUBSCRIPTIONS, api_key=billing) == "FORBIDDEN"
    assert await api.error_code(SUBSCRIPTIONS) == "UNAUTHENTICATED"
    assert await api.error_code(DELIVERIES, {"id": subscription_id}, api_key=billing) == "FORBIDDEN"
    assert (
        await api.error_code(
            UPDATE, {"input": {"subscriptionId": subscription_id, "active": False}}, token=member.token
        )
        == "FORBIDDEN"
    )
    assert await api.error_code(DELETE, {"input": {"subscriptionId": subscription_id}}, api_key=billing) == "FORBIDDEN"
    assert await api.error_code(NODE, {"id": subscription_id}, api_key=billing) == "NOT_FOUND"
    assert (await api.data(SUBSCRIPTIONS, api_key=hooks.key))["webhookSubscriptions"]["totalCount"] == 1


async def test_unknown_subscriptions_are_not_found(api, hooks):
    missing = "V2ViaG9va1N1YnNjcmlwdGlvbjo5OTk="  # WebhookSubscription:999
    assert await api.error_code(DELIVERIES, {"id": missing}, api_key=hooks.key) == "NOT_FOUND"
    assert await api.error_code(DELETE, {"input": {"subscriptionId": missing}}, api_key=hooks.key) == "NOT_FOUND"


async def test_subscriptions_need_event_types(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, [])
    assert [(e["field"], e["code"]) for e in created["errors"]] == [("eventTypes", "REQUIRED")]


# --- the address guard -------------------------------------------------------------------------------------------


REFUSED_URLS = (
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.0.0.5/hook",
    "http://192.168.1.20/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://[fd00::1]/hook",
    "http://[fe80::1]/hook",
    "http://240.0.0.1/hook",
)
# IPv6 addresses that stand for or carry a refused IPv4 address
TUNNELLED_URLS = (
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::1]/latest",  # 6to4 of 169.254.169.254
    "http://[2002:a00:5::]/hook",  # 6to4 of 10.0.0.5
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # Teredo, client 127.0.0.1
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "http://[::127.0.0.1]/hook",  # IPv4-compatible
    "http://[::ffff:10.0.0.5]/hook",  # IPv4-mapped
)


async def test_loopback_private_and_reserved_addresses_are_refused(database_url, clock):
    async for guarded in start_api(test_settings(database_url)):  # WEBHOOK_ALLOW_PRIVATE_NETWORKS off
        olivia = await operator(guarded)
        for url in REFUSED_URLS:
            created = (
                await guarded.data(CREATE, {"input": {"url": url, "eventTypes": ["PAYOUT_PAID"]}}, token=olivia.token)
            )["createWebhookSubscription"]
            assert created["subscription"] is None, url
            [error] = created["errors"]
            assert (error["field"], error["code"]) == ("url", "INVALID_VALUE")
            assert "address" in error["message"], (url, error["message"])


async def test_in_production_only_https_urls_on_public_addresses_are_taken(database_url, clock):
    async for production in start_api(test_settings(database_url, environment="production")):
        olivia = await operator(production)

        async def errors(url: str) -> list:
            data = await production.data(
                CREATE, {"input": {"url": url, "eventTypes": ["PAYOUT_PAID"]}}, token=olivia.token
            )
            return [(e["code"], e["message"]) for e in data["createWebhookSubscription"]["errors"]]

        assert await errors("http://93.184.215.14/hook") == [("INVALID_VALUE", "Only https URLs receive webhooks.")]
        assert await errors("https://93.184.215.14/hook") == []
        assert (await errors("https://user:pw@93.184.215.14/hook"))[0][0] == "INVALID_VALUE"
        assert (await errors("ftp://93.184.215.14/hook"))[0][0] == "INVALID_VALUE"
        assert (await errors("https://10.1.2.3/hook"))[0][0] == "INVALID_VALUE"
        assert await errors("https://[2002:5db8:d70e::1]/hook") == []  # 6to4 of the public 93.184.215.14
        assert await errors("https://[64:ff9b::5db8:d70e]/hook") == []  # NAT64 of it


@pytest.mark.parametrize("url", TUNNELLED_URLS)
async def test_ipv6_addresses_carrying_a_refused_ipv4_address_are_refused(database_url, clock, url):
    async for guarded in start_api(test_settings(database_url)):  # WEBHOOK_ALLOW_PRIVATE_NETWORKS off
        created = (
            await guarded.data(
                CREATE, {"input": {"url": url, "eventTypes": ["PAYOUT_PAID"]}}, token=(await operator(guarded)).token
            )
        )["createWebhookSubscription"]

        assert created["subscription"] is None
        [error] = created["errors"]
        assert (error["field"], error["code"]) == ("url", "INVALID_VALUE")
        assert "address" in error["message"]


async def test_the_guard_runs_again_before_every_attempt(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
    await make_partner(api, hooks.operator)

    await run_job("outbox", api.settings.model_copy(update={"webhook_allow_private_networks": False}))

    assert receiver.received == []
    [delivery] = await hooks.deliveries(created["subscription"]["id"])
    assert delivery["status"] == "PENDING"
    assert delivery["attempts"][0]["httpStatus"] is None
    assert delivery["attempts"][0]["error"] == "Refused: 127.0.0.1 is a loopback address."


async def test_redirects_are_not_followed(api, hooks, receiver):
    created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
    receiver.answers = [302]
    await make_partner(api, hooks.operator)

    await run_outbox(api)

    [delivery] = await hooks.deliveries(created["subscription"]["id"])
    assert delivery["status"] == "PENDING"
    assert delivery["lastError"] == "HTTP 302 (redirects are not followed)"
    assert len(receiver.received) == 1


async def test_an_answer_dripping_in_ends_the_attempt_after_the_timeout(api, hooks):
    """httpx's timeouts are per read: a receiver that sends its answer a byte every 0.1 s would hold
    the worker for ever. The attempt as a whole ends after WEBHOOK_TIMEOUT_SECONDS, which the outbox's
    short lease counts on."""
    drips: list[asyncio.Task] = []

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        drips.append(asyncio.current_task())
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        try:
            while True:
                writer.write(b"z")
                await writer.drain()
                await asyncio.sleep(0.1)
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    try:
        created = await hooks.subscribe(url, ["PARTNER_APPROVED"])
        await make_partner(api, hooks.operator)
        async with asyncio.timeout(30):  # without the limit: for ever
            await run_job("outbox", api.settings.model_copy(update={"webhook_timeout_seconds": 0.5}))
    finally:
        server.close()
        for task in drips:
            task.cancel()

    [delivery] = await hooks.deliveries(created["subscription"]["id"])
    assert delivery["status"] == "PENDING"
    assert delivery["lastError"] == "No answer within 0.5 s."
    assert [a["error"] for a in delivery["attempts"]] == ["No answer within 0.5 s."]


# --- https: the connection goes to the checked address, the certificate must name the host --------------------


def https_receiver(authority: trustme.CA, certified_name: str) -> tuple[Receiver, int, ssl.SSLContext]:
    """A receiver at https://localhost:port whose certificate, issued by `authority`, names `certified_name`."""
    port = free_port()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(certified_name).configure_cert(context)
    return Receiver(url=f"https://localhost:{port}/hooks/portal"), port, context


async def test_https_connects_to_the_checked_address_and_verifies_the_hosts_name(api, hooks, tmp_path):
    # given: a receiver whose certificate names localhost (not 127.0.0.1), from an authority set in WEBHOOK_CA_FILE
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    state, port, context = https_receiver(authority, "localhost")
    settings = api.settings.model_copy(update={"webhook_ca_file": tmp_path / "ca.pem"})

    with serving(state, port, context) as receiver:
        created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
        await make_partner(api, hooks.operator)

        # when
        await run_job("outbox", settings)

    # then: sent to 127.0.0.1 (the address checked), naming localhost for SNI, the certificate and Host
    [request] = receiver.received
    assert receiver.server_names == ["localhost"]
    assert request.headers["host"] == f"localhost:{port}"
    assert verify(created["secret"], request.headers["x-portal-signature"], request.body)
    [delivery] = await hooks.deliveries(created["subscription"]["id"])
    assert delivery["status"] == "SENT"


@pytest.mark.parametrize(
    ("certified_name", "trusted"),
    [
        pytest.param("elsewhere.example", True, id="certificate-for-another-host"),
        pytest.param("localhost", False, id="unknown-authority"),
    ],
)
async def test_https_to_a_receiver_without_a_valid_certificate_for_its_name_fails(
    api,
    hooks,
    tmp_path,
    certified_name,
    trusted,
):
    # given
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    state, port, context = https_receiver(authority, certified_name)
    settings = api.settings.model_copy(update={"webhook_ca_file": tmp_path / "ca.pem" if trusted else None})

    with serving(state, port, context) as receiver:
        created = await hooks.subscribe(receiver.url, ["PARTNER_APPROVED"])
        await make_partner(api, hooks.operator)

        # when
        await run_job("outbox", settings)

    # then: nothing reached the receiver; the attempt is kept for a retry, with the reason
    assert receiver.received == []
    [delivery] = await hooks.deliveries(created["subscription"]["id"])
    assert delivery["status"] == "PENDING"
    assert delivery["attempts"][0]["httpStatus"] is None
    assert "CERTIFICATE_VERIFY_FAILED" in delivery["lastError"], delivery["lastError"]
