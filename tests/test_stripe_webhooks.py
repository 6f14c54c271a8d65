"""`POST /webhooks/stripe`: events signed with the test's own secret, through the real app.

Payments earn commission, refunds take it back (also when they come first), subscriptions
move the license; bad or stale signatures store nothing; replays and other events about the
same invoice count once; the organization comes from Stripe metadata or `linkStripeCustomer`.
The clock is frozen (`clock`): Stripe's five minutes of tolerance are measured on it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from strawberry.relay import GlobalID

from partner_portal.models.billing import BillingEvent, Payment, Refund
from partner_portal.web.stripe_webhooks import from_stripe_minor, monthly_amount
from tests.conftest import Api, start_api, test_settings
from tests.documents import CREATE_PLAN, CREATE_PRODUCT, CREATE_RULE, SET_EXCHANGE_RATE, SET_SERVICE_PARTNER
from tests.support import Partner, Person, create_organization, make_operator, make_partner, operator, register

SECRET = "whsec_test_0123456789abcdefghijklmnopqrstuv"
CUSTOMER = "cus_Contoso42"

COMMISSIONS = """
query Lines($partner: ID!) {
  commissions(partnerId: $partner, newestFirst: false) {
    lines { edges { node {
      status isRefundAdjustment amount { amount currency } original { amount currency }
    } } }
  }
}"""
LICENSE = """
query License($id: ID!) {
  node(id: $id) { ... on Organization {
    license { status plan seats monthlyRecurringRevenue { amount currency } trialEndsAt }
  } }
}"""
AUDIT = """
query Audit($org: ID!) {
  auditEvents(organizationId: $org, first: 50) { edges { node { action via } } }
}"""
LINK = """
mutation Link($input: LinkStripeCustomerInput!) {
  linkStripeCustomer(input: $input) {
    link { stripeCustomerId organizationId }
    errors { field code message }
  }
}"""


# --- signing and sending ---------------------------------------------------------------------------------


def signature_header(payload: str, secret: str = SECRET, timestamp: int | None = None) -> str:
    """Stripe's scheme, built here rather than by the library under test."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


async def deliver(
    api: Api,
    event: dict[str, Any] | str,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    header: str | None = None,
) -> httpx.Response:
    payload = event if isinstance(event, str) else json.dumps(event)
    headers = {"content-type": "application/json"}
    signature = header if header is not None else signature_header(payload, secret, timestamp)
    if signature:
        headers["stripe-signature"] = signature
    return await api.client.post("/webhooks/stripe", content=payload.encode(), headers=headers)


def event(event_id: str, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": type_,
        "data": {"object": obj},
    }


def invoice_paid(
    event_id: str = "evt_paid_1",
    invoice_id: str = "in_1001",
    *,
    amount: int = 10000,
    currency: str = "usd",
    customer: Any = CUSTOMER,
    metadata: dict | None = None,
) -> dict[str, Any]:
    now = int(time.time())
    return event(
        event_id,
        "invoice.paid",
        {
            "id": invoice_id,
            "object": "invoice",
            "customer": customer,
            "currency": currency,
            "amount_paid": amount,
            "amount_due": amount,
            "status": "paid",
            "metadata": metadata or {},
            "status_transitions": {"finalized_at": now - 60, "paid_at": now},
            "lines": {
                "object": "list",
                "has_more": False,
                "data": [
                    {
                        "id": "il_1",
                        "object": "line_item",
                        "amount": amount,
                        "currency": currency,
                        "quantity": 1,
                        "price": {"id": "price_business", "object": "price", "lookup_key": "business", "metadata": {}},
                    }
                ],
            },
        },
    )


def refund(refund_id: str, amount: int, *, status: str = "succeeded") -> dict[str, Any]:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "currency": "usd",
        "status": status,
        "created": int(time.time()),
    }


def charge_refunded(
    event_id: str, refunds: list[dict] | None, *, invoice: str | None = "in_1001", amount_refunded: int | None = None
) -> dict[str, Any]:
    charge: dict[str, Any] = {
        "id": "ch_1001",
        "object": "charge",
        "amount": 10000,
        "currency": "usd",
        "customer": CUSTOMER,
        "invoice": invoice,
        "refunded": False,
        "amount_refunded": amount_refunded if amount_refunded is not None else sum(r["amount"] for r in refunds or []),
    }
    if refunds is not None:
        charge["refunds"] = {"object": "list", "has_more": False, "data": refunds}
    return event(event_id, "charge.refunded", charge)


def subscription(
    event_id: str,
    type_: str,
    status: str,
    *,
    quantity: int = 5,
    unit_amount: int = 12000,
    interval: str = "year",
    metadata: dict | None = None,
    trial_end: int | None = None,
) -> dict[str, Any]:
    return event(
        event_id,
        type_,
        {
            "id": "sub_1",
            "object": "subscription",
            "customer": CUSTOMER,
            "status": status,
            "currency": "usd",
            "metadata": metadata or {},
            "trial_end": trial_end,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": "si_1",
                        "object": "subscription_item",
                        "quantity": quantity,
                        "price": {
                            "id": "price_business_yearly",
                            "object": "price",
                            "nickname": "Business (yearly)",
                            "lookup_key": None,
                            "currency": "usd",
                            "unit_amount": unit_amount,
                            "unit_amount_decimal": str(unit_amount),
                            "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
                        },
                    }
                ],
            },
        },
    )


# --- the world ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    reviewer: Person
    partner: Partner
    customer_admin: Person
    customer_id: str  # global id

    @property
    def customer_pk(self) -> int:
        return int(GlobalID.from_id(self.customer_id).node_id)


@pytest.fixture
async def api(database_url: str, clock: Any) -> AsyncIterator[Api]:
    """The app with STRIPE_WEBHOOK_SECRET set, on the frozen clock."""
    async for running in start_api(test_settings(database_url, stripe_webhook_secret=SECRET)):
        yield running


async def build_world(api: Api, clock: Any, *, exchange_rate: bool = True) -> World:
    """An operator, Northwind (SERVICE_PARTNER, paid in EUR, 20 % lifetime), and Contoso, which
    chose Northwind before paying; an hour later."""
    reviewer = await operator(api)
    partner = await make_partner(api, reviewer)
    admin = await register(api, "chris@contoso.example", "Chris Customer")
    customer = await create_organization(api, admin, "Contoso Ltd")
    chosen = await api.data(SET_SERVICE_PARTNER, {"id": customer["id"], "code": partner.code}, token=admin.token)
    assert chosen["setServicePartner"]["errors"] == []
    rule = await api.data(
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
        token=reviewer.token,
    )
    assert rule["createCommissionRule"]["errors"] == []
    if exchange_rate:
        await set_eur_rate(api, reviewer)
    linked = await api.data(
        LINK, {"input": {"stripeCustomerId": CUSTOMER, "organizationId": customer["id"]}}, token=reviewer.token
    )
    assert linked["linkStripeCustomer"]["errors"] == []
    clock.shift(timedelta(hours=1))
    return World(reviewer, partner, admin, customer["id"])


async def set_eur_rate(api: Api, reviewer: Person) -> None:
    rate = await api.data(
        SET_EXCHANGE_RATE,
        {"input": {"currency": "EUR", "rate": "0.9", "validFrom": "2026-01-01"}},
        token=reviewer.token,
    )
    assert rate["setExchangeRate"]["errors"] == []


async def lines(api: Api, world: World) -> list[dict]:
    data = await api.data(COMMISSIONS, {"partner": world.partner.id}, token=world.reviewer.token)
    return [edge["node"] for edge in data["commissions"]["lines"]["edges"]]


async def license_of(api: Api, world: World) -> dict | None:
    return (await api.data(LICENSE, {"id": world.customer_id}, token=world.reviewer.token))["node"]["license"]


async def stored() -> tuple[int, int, int]:
    """(billing events, payments, refunds) in the database."""
    return await BillingEvent.all().count(), await Payment.all().count(), await Refund.all().count()


# --- payments -----------------------------------------------------------------------------------------------


async def test_a_paid_invoice_records_the_payment_and_its_commission(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)

    response = await deliver(api, invoice_paid())

    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": True,
        "event": "evt_paid_1",
        "status": "processed",
        "objects": [{"id": "in_1001", "status": "recorded"}],
    }
    payment = await Payment.get(external_id="in_1001")
    assert (payment.organization_id, payment.amount, payment.currency) == (world.customer_pk, 10000, "USD")
    assert await lines(api, world) == [
        {
            "status": "PENDING",
            "isRefundAdjustment": False,
            "amount": {"amount": "18.00", "currency": "EUR"},
            "original": {"amount": "100.00", "currency": "USD"},
        }
    ]
    audit = (await api.data(AUDIT, {"org": world.customer_id}, token=world.reviewer.token))["auditEvents"]["edges"]
    assert {"action": "payment.record", "via": "WEBHOOK"} in [edge["node"] for edge in audit]


async def test_an_invoice_with_nothing_paid_is_acknowledged_and_ignored(api: Api, clock: Any) -> None:
    await build_world(api, clock)

    response = await deliver(api, invoice_paid(amount=0))

    assert response.status_code == 200
    assert response.json()["status"] == "ignored" and response.json()["reason"] == "nothing_paid"
    assert await stored() == (0, 0, 0)


async def test_a_replayed_event_counts_once(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    paid = invoice_paid()
    assert (await deliver(api, paid)).status_code == 200

    replay = await deliver(api, paid)

    assert replay.status_code == 200
    assert replay.json()["status"] == "duplicate"
    assert await stored() == (1, 1, 0)
    assert len(await lines(api, world)) == 1


async def test_another_event_about_the_same_invoice_counts_once(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    assert (await deliver(api, invoice_paid("evt_paid_1"))).status_code == 200
    clock.shift(timedelta(minutes=10))

    # A second event (new id, later, even saying something else) about invoice in_1001.
    again = await deliver(api, invoice_paid("evt_paid_2", amount=9000))

    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert await stored() == (1, 1, 0)
    assert (await Payment.get(external_id="in_1001")).amount == 10000
    assert len(await lines(api, world)) == 1


async def test_two_simultaneous_deliveries_of_one_event_count_once(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    paid = invoice_paid()

    responses = await asyncio.gather(deliver(api, paid), deliver(api, paid))

    assert [r.status_code for r in responses] == [200, 200]
    assert await stored() == (1, 1, 0)
    assert len(await lines(api, world)) == 1


async def test_a_payment_without_an_exchange_rate_is_refused_until_the_rate_exists(api: Api, clock: Any) -> None:
    world = await build_world(api, clock, exchange_rate=False)
    paid = invoice_paid()

    refused = await deliver(api, paid)

    assert refused.status_code == 422  # not acknowledged: Stripe sends it again
    assert refused.json()["problems"][0]["code"] == "NO_EXCHANGE_RATE"
    assert await stored() == (0, 0, 0)

    await set_eur_rate(api, world.reviewer)
    retried = await deliver(api, paid)

    assert retried.status_code == 200 and retried.json()["status"] == "processed"
    assert len(await lines(api, world)) == 1


# --- signatures and payloads ------------------------------------------------------------------------------


async def test_a_wrong_signature_is_refused_and_nothing_is_stored(api: Api, clock: Any) -> None:
    await build_world(api, clock)
    paid = invoice_paid()
    payload = json.dumps(paid)

    other_secret = await deliver(api, paid, secret="whsec_someone_elses_secret")
    tampered = await deliver(api, payload.replace("10000", "99999"), header=signature_header(payload))
    unsigned = await deliver(api, paid, header="")
    garbage = await deliver(api, paid, header="t=abc,v1=nothing")

    for response in (other_secret, tampered, garbage):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_signature"
    assert unsigned.status_code == 400 and unsigned.json()["error"] == "missing_signature"
    assert await stored() == (0, 0, 0)


async def test_a_stale_signature_is_refused(api: Api, clock: Any) -> None:
    await build_world(api, clock)
    paid = invoice_paid()
    signed_at = int(time.time())

    clock.shift(timedelta(seconds=301))
    stale = await deliver(api, paid, timestamp=signed_at)

    assert stale.status_code == 400
    assert stale.json()["error"] == "stale_signature"
    assert await stored() == (0, 0, 0)

    fresh_enough = await deliver(api, paid, timestamp=int(time.time()) - 299)
    assert fresh_enough.status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        "not json at all",
        "[1, 2, 3]",
        '{"id": "evt_1", "type": "invoice.paid"}',
        '{"id": "evt_1", "type": "invoice.paid", "data": {"object": "in_1"}}',
    ],
)
async def test_a_signed_body_that_is_no_event_is_refused(api: Api, payload: str) -> None:
    response = await deliver(api, payload)

    assert response.status_code == 400
    assert response.json()["error"] == "malformed_payload"
    assert await stored() == (0, 0, 0)


async def test_an_event_missing_what_it_needs_is_refused(api: Api, clock: Any) -> None:
    await build_world(api, clock)
    paid = invoice_paid()
    del paid["data"]["object"]["amount_paid"]

    response = await deliver(api, paid)

    assert response.status_code == 400
    assert response.json()["error"] == "malformed_event"
    assert await stored() == (0, 0, 0)


async def test_an_unhandled_event_type_is_acknowledged_and_ignored(api: Api) -> None:
    created = event("evt_customer", "customer.created", {"id": CUSTOMER, "object": "customer", "metadata": {}})

    response = await deliver(api, created)

    assert response.status_code == 200
    assert response.json() == {
        "received": True,
        "event": "evt_customer",
        "status": "ignored",
        "reason": "unhandled_type",
    }
    assert await stored() == (0, 0, 0)


async def test_without_a_secret_the_endpoint_is_unavailable(database_url: str) -> None:
    async for plain in start_api(test_settings(database_url)):
        response = await deliver(plain, invoice_paid())

        assert response.status_code == 503
        assert response.json()["error"] == "not_configured"
        assert await stored() == (0, 0, 0)


async def test_only_post_is_accepted(api: Api) -> None:
    assert (await api.client.get("/webhooks/stripe")).status_code == 405


# --- refunds ---------------------------------------------------------------------------------------------------


async def test_a_refund_before_its_payment_is_applied_when_the_payment_arrives(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)

    early = await deliver(api, charge_refunded("evt_refund_1", [refund("re_1", 2500)]))

    assert early.status_code == 200
    assert early.json()["objects"] == [{"id": "re_1", "status": "recorded"}]
    waiting = await Refund.get(external_id="re_1")
    assert waiting.payment_id is None and waiting.payment_external_id == "in_1001"

    paid = await deliver(api, invoice_paid())

    assert paid.status_code == 200
    payment = await Payment.get(external_id="in_1001")
    assert payment.refunded_amount == 2500
    assert (await Refund.get(external_id="re_1")).payment_id == payment.id
    # 20 % of 100.00 USD at 0.9 = 18.00 EUR; a quarter refunded takes 4.50 EUR off.
    assert await lines(api, world) == [
        {
            "status": "PENDING",
            "isRefundAdjustment": False,
            "amount": {"amount": "13.50", "currency": "EUR"},
            "original": {"amount": "100.00", "currency": "USD"},
        },
        {
            "status": "REVERSED",
            "isRefundAdjustment": True,
            "amount": {"amount": "4.50", "currency": "EUR"},
            "original": {"amount": "-25.00", "currency": "USD"},
        },
    ]


async def test_a_full_refund_before_the_payment_reverses_its_commission(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    assert (await deliver(api, charge_refunded("evt_refund_1", [refund("re_1", 10000)]))).status_code == 200

    assert (await deliver(api, invoice_paid())).status_code == 200

    assert [line["status"] for line in await lines(api, world)] == ["REVERSED"]


async def test_two_partial_refunds_in_two_events_count_each_refund_once(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    assert (await deliver(api, invoice_paid())).status_code == 200
    first = charge_refunded("evt_refund_1", [refund("re_1", 2500)])
    assert (await deliver(api, first)).status_code == 200

    # The second event lists both refunds (newest first, as Stripe does).
    second = await deliver(api, charge_refunded("evt_refund_2", [refund("re_2", 2500), refund("re_1", 2500)]))
    replay = await deliver(api, first)

    assert second.json()["objects"] == [{"id": "re_1", "status": "duplicate"}, {"id": "re_2", "status": "recorded"}]
    assert replay.json()["status"] == "duplicate"
    assert (await Payment.get(external_id="in_1001")).refunded_amount == 5000
    assert await Refund.all().count() == 2
    assert [line["amount"]["amount"] for line in await lines(api, world)] == ["9.00", "4.50", "4.50"]


async def test_failed_refunds_and_charges_without_an_invoice_are_not_recorded(api: Api, clock: Any) -> None:
    await build_world(api, clock)

    failed = await deliver(api, charge_refunded("evt_refund_1", [refund("re_1", 2500, status="failed")]))
    loose = await deliver(api, charge_refunded("evt_refund_2", [refund("re_2", 2500)], invoice=None))

    assert failed.json()["status"] == "ignored"
    assert loose.json() == {
        "received": True,
        "event": "evt_refund_2",
        "status": "ignored",
        "reason": "charge_without_invoice",
    }
    assert await stored() == (0, 0, 0)


async def test_without_the_refund_list_the_growth_of_the_refunded_total_is_recorded(api: Api, clock: Any) -> None:
    """API versions since 2022-11-15 leave `refunds` out of the charge."""
    world = await build_world(api, clock)
    assert (await deliver(api, invoice_paid())).status_code == 200

    first = await deliver(api, charge_refunded("evt_refund_1", None, amount_refunded=2500))
    second = await deliver(api, charge_refunded("evt_refund_2", None, amount_refunded=4000))
    late_replay = await deliver(api, charge_refunded("evt_refund_1", None, amount_refunded=2500))

    assert first.json()["status"] == second.json()["status"] == "processed"
    assert late_replay.json()["status"] == "duplicate"
    assert sorted(r.amount for r in await Refund.all()) == [1500, 2500]
    assert (await Payment.get(external_id="in_1001")).refunded_amount == 4000
    assert [line["amount"]["amount"] for line in await lines(api, world)] == ["10.80", "4.50", "2.70"]


# --- subscriptions ---------------------------------------------------------------------------------------------


async def test_subscription_events_change_the_license(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    trial_end = int(time.time()) + 14 * 86400

    created = await deliver(
        api, subscription("evt_sub_1", "customer.subscription.created", "trialing", trial_end=trial_end)
    )
    assert created.status_code == 200 and created.json()["status"] == "processed"
    assert await license_of(api, world) == {
        "status": "TRIAL",
        "plan": "Business (yearly)",
        "seats": 5,
        "monthlyRecurringRevenue": {"amount": "50.00", "currency": "USD"},  # 5 × 120.00 a year
        "trialEndsAt": "2026-03-16T10:00:00+00:00",
    }

    updated = await deliver(api, subscription("evt_sub_2", "customer.subscription.updated", "active", quantity=8))
    assert updated.status_code == 200
    assert await license_of(api, world) == {
        "status": "ACTIVE",
        "plan": "Business (yearly)",
        "seats": 8,
        "monthlyRecurringRevenue": {"amount": "80.00", "currency": "USD"},
        "trialEndsAt": None,
    }

    past_due = await deliver(api, subscription("evt_sub_3", "customer.subscription.updated", "past_due", quantity=8))
    assert past_due.status_code == 200
    assert (await license_of(api, world))["status"] == "PAST_DUE"

    deleted = await deliver(api, subscription("evt_sub_4", "customer.subscription.deleted", "canceled", quantity=8))
    assert deleted.status_code == 200
    assert await license_of(api, world) == {
        "status": "CANCELED",
        "plan": "Business (yearly)",
        "seats": 8,
        "monthlyRecurringRevenue": {"amount": "0.00", "currency": "USD"},
        "trialEndsAt": None,
    }
    audit = (await api.data(AUDIT, {"org": world.customer_id}, token=world.reviewer.token))["auditEvents"]["edges"]
    assert [e["node"]["via"] for e in audit if e["node"]["action"] == "license.set"] == ["WEBHOOK"] * 4

    replay = await deliver(api, subscription("evt_sub_2", "customer.subscription.updated", "active", quantity=8))
    assert replay.json()["status"] == "duplicate"
    assert (await license_of(api, world))["status"] == "CANCELED"


DASHBOARD = "query Dashboard($id: ID) { partnerDashboard(partnerId: $id) { activeCustomers } }"


def at(sent: dict[str, Any], created: int) -> dict[str, Any]:
    """The event as Stripe made it at `created` (Unix seconds), whenever it is delivered."""
    return {**sent, "created": created}


async def test_an_older_subscription_event_after_a_newer_one_changes_nothing(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    made = int(time.time())
    active = at(subscription("evt_sub_active", "customer.subscription.updated", "active"), made - 120)
    canceled = at(subscription("evt_sub_canceled", "customer.subscription.deleted", "canceled"), made - 60)

    # Given the cancellation arrived first
    assert (await deliver(api, canceled)).json()["status"] == "processed"
    # When the older "active" arrives after it
    late = await deliver(api, active)

    # Then it is acknowledged, kept (a replay is a duplicate) and not applied
    assert late.status_code == 200
    assert late.json() == {
        "received": True,
        "event": "evt_sub_active",
        "status": "ignored",
        "reason": "superseded",
        "objects": [{"id": "evt_sub_active", "status": "superseded"}],
    }
    assert (await deliver(api, active)).json()["status"] == "duplicate"
    license = await license_of(api, world)
    assert (license["status"], license["monthlyRecurringRevenue"]["amount"]) == ("CANCELED", "0.00")
    dashboard = await api.data(DASHBOARD, {"id": world.partner.id}, token=world.partner.admin.token)
    assert dashboard["partnerDashboard"]["activeCustomers"] == 0
    # A newer event of the subscription applies again
    past_due = at(subscription("evt_sub_later", "customer.subscription.updated", "past_due"), made)
    assert (await deliver(api, past_due)).json()["status"] == "processed"
    assert (await license_of(api, world))["status"] == "PAST_DUE"


@pytest.mark.parametrize("delivery", ["in order", "reversed"])
async def test_events_of_the_same_second_end_in_the_same_license_whatever_the_delivery_order(
    api: Api,
    clock: Any,
    delivery: str,
) -> None:
    """Same `created` second: created < updated < deleted, then the event id (evt_b after evt_a)."""
    world = await build_world(api, clock)
    second = int(time.time())
    events = [
        at(subscription("evt_c", "customer.subscription.created", "trialing", quantity=1), second),
        at(subscription("evt_b", "customer.subscription.updated", "active", quantity=3), second),
        at(subscription("evt_a", "customer.subscription.updated", "past_due", quantity=2), second),
    ]
    for sent in events if delivery == "in order" else reversed(events):
        assert (await deliver(api, sent)).status_code == 200

    license = await license_of(api, world)
    assert (license["status"], license["seats"]) == ("ACTIVE", 3)


async def test_concurrent_subscription_events_leave_the_newest_applied(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    made = int(time.time())
    statuses = ["trialing", "active", "past_due", "active", "canceled"]
    events = [
        at(subscription(f"evt_{i}", "customer.subscription.updated", status, quantity=i + 1), made - 50 + i * 10)
        for i, status in enumerate(statuses)
    ]

    responses = await asyncio.gather(*(deliver(api, sent) for sent in reversed(events)))

    assert [r.status_code for r in responses] == [200] * len(events)
    license = await license_of(api, world)
    assert (license["status"], license["seats"]) == ("CANCELED", 5)
    assert await BillingEvent.all().count() == len(events)


async def test_a_price_named_like_a_catalog_plan_names_the_plan(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    product = await api.data(
        CREATE_PRODUCT, {"input": {"code": "PORTAL", "name": "Portal"}}, token=world.reviewer.token
    )
    plan = await api.data(
        CREATE_PLAN,
        {
            "input": {
                "productId": product["createProduct"]["product"]["id"],
                "code": "BUSINESS",
                "name": "Business",
                "prices": [{"amount": "10.00", "currency": "USD"}],
            }
        },
        token=world.reviewer.token,
    )
    assert plan["createPlan"]["errors"] == []
    sub = subscription("evt_sub_1", "customer.subscription.created", "active")
    sub["data"]["object"]["items"]["data"][0]["price"]["lookup_key"] = "business"

    assert (await deliver(api, invoice_paid())).status_code == 200  # its first line's lookup key is "business"
    assert (await deliver(api, sub)).status_code == 200

    payment = await Payment.get(external_id="in_1001")
    assert payment.plan_id == int(GlobalID.from_id(plan["createPlan"]["plan"]["id"]).node_id)
    assert (await license_of(api, world))["plan"] == "Business"


async def test_an_incomplete_subscription_changes_nothing_yet(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)

    response = await deliver(api, subscription("evt_sub_1", "customer.subscription.created", "incomplete"))

    assert response.status_code == 200
    assert response.json()["reason"] == "status_incomplete"
    assert await license_of(api, world) is None


# --- which organization ---------------------------------------------------------------------------------------


async def test_the_organization_is_found_through_the_customers_metadata(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    expanded = {"id": "cus_Unmapped1", "object": "customer", "metadata": {"organization_id": world.customer_id}}

    response = await deliver(api, invoice_paid(customer=expanded))

    assert response.status_code == 200 and response.json()["status"] == "processed"
    assert (await Payment.get(external_id="in_1001")).organization_id == world.customer_pk


async def test_the_organization_is_found_through_the_objects_own_metadata(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)

    paid = await deliver(
        api, invoice_paid(customer="cus_Unmapped1", metadata={"organization_id": str(world.customer_pk)})
    )
    sub = await deliver(
        api,
        subscription(
            "evt_sub_1", "customer.subscription.created", "active", metadata={"organization_id": world.customer_id}
        ),
    )

    assert paid.json()["status"] == sub.json()["status"] == "processed"
    assert (await Payment.get(external_id="in_1001")).organization_id == world.customer_pk
    assert (await license_of(api, world))["status"] == "ACTIVE"


@pytest.mark.parametrize(
    "organization_id",
    [
        "9" * 30,
        str(2**31),
        base64.b64encode(f"Organization:{2**63}".encode()).decode(),
        "١٢",
        "0042",
    ],
    ids=["huge", "beyond-the-column", "global-id-beyond-64-bits", "unicode-digits", "leading-zeros"],
)
async def test_metadata_naming_no_possible_organization_is_an_unknown_customer(
    api: Api, clock: Any, organization_id: str
) -> None:
    await build_world(api, clock)

    response = await deliver(api, invoice_paid(customer="cus_Newcomer7", metadata={"organization_id": organization_id}))

    assert response.status_code == 200
    assert response.json()["status"] == "ignored" and response.json()["reason"] == "unknown_customer"


async def test_an_unknown_customer_is_acknowledged_and_counts_once_it_is_linked(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    paid = invoice_paid(customer="cus_Newcomer7", metadata={"organization_id": "999999"})

    unknown = await deliver(api, paid)

    assert unknown.status_code == 200
    assert unknown.json()["status"] == "ignored" and unknown.json()["reason"] == "unknown_customer"
    assert await stored() == (0, 0, 0)

    linked = await api.data(
        LINK,
        {"input": {"stripeCustomerId": "cus_Newcomer7", "organizationId": world.customer_id}},
        token=world.reviewer.token,
    )
    assert linked["linkStripeCustomer"] == {
        "link": {"stripeCustomerId": "cus_Newcomer7", "organizationId": world.customer_id},
        "errors": [],
    }
    resent = await deliver(api, paid)  # "Resend" in the Stripe dashboard

    assert resent.json()["status"] == "processed"
    assert (await Payment.get(external_id="in_1001")).organization_id == world.customer_pk


# --- linkStripeCustomer ----------------------------------------------------------------------------------------


async def test_linking_a_customer_again_moves_it(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    other = await create_organization(api, world.customer_admin, "Contoso Labs")

    moved = await api.data(
        LINK, {"input": {"stripeCustomerId": CUSTOMER, "organizationId": other["id"]}}, token=world.reviewer.token
    )
    assert moved["linkStripeCustomer"]["errors"] == []
    assert (await deliver(api, invoice_paid())).json()["status"] == "processed"

    assert (await Payment.get(external_id="in_1001")).organization_id == int(GlobalID.from_id(other["id"]).node_id)
    audit = (await api.data(AUDIT, {"org": other["id"]}, token=world.reviewer.token))["auditEvents"]["edges"]
    assert {"action": "stripe_customer.link", "via": "SESSION"} in [edge["node"] for edge in audit]


async def test_linking_needs_an_operator_with_manage_programs(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)
    payouts_only = await register(api, "pat@vendor.example", "Pat Payouts")
    await make_operator(api, payouts_only, ["MANAGE_PAYOUTS"])
    variables = {"input": {"stripeCustomerId": "cus_Other1", "organizationId": world.customer_id}}

    assert await api.error_code(LINK, variables) == "UNAUTHENTICATED"
    assert await api.error_code(LINK, variables, token=world.customer_admin.token) == "FORBIDDEN"
    assert await api.error_code(LINK, variables, token=world.partner.admin.token) == "FORBIDDEN"
    assert await api.error_code(LINK, variables, token=payouts_only.token) == "FORBIDDEN"
    allowed = await api.data(LINK, variables, token=world.reviewer.token)
    assert allowed["linkStripeCustomer"]["errors"] == []


async def test_linking_checks_the_customer_id_and_the_organization(api: Api, clock: Any) -> None:
    world = await build_world(api, clock)

    bad_id = await api.data(
        LINK,
        {"input": {"stripeCustomerId": "acct_123", "organizationId": world.customer_id}},
        token=world.reviewer.token,
    )
    missing = await api.error_code(
        LINK,
        {"input": {"stripeCustomerId": "cus_Other1", "organizationId": str(GlobalID("Organization", "999999"))}},
        token=world.reviewer.token,
    )

    assert bad_id["linkStripeCustomer"]["errors"] == [
        {
            "field": "stripeCustomerId",
            "code": "INVALID_VALUE",
            "message": "A Stripe customer id looks like cus_NffrFeUfNV2Hib.",
        }
    ]
    assert missing == "NOT_FOUND"


# --- money in Stripe's minor units -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (1999, "usd", "19.99"),
        (500, "JPY", "500"),
        (100000, "isk", "1000.00"),
        (5120, "KWD", "5.120"),
    ],
)
def test_stripe_amounts_become_exact_decimals(amount: int, currency: str, expected: str) -> None:
    assert from_stripe_minor(amount, currency) == Decimal(expected)


def test_monthly_revenue_is_normalized_to_a_month() -> None:
    def item(unit: str, interval: str, quantity: int | None = 1, count: int = 1, usage: str = "licensed") -> dict:
        return {
            "quantity": quantity,
            "price": {
                "unit_amount_decimal": unit,
                "recurring": {"interval": interval, "interval_count": count, "usage_type": usage},
            },
        }

    assert monthly_amount([item("2500", "month", 3)], "USD") == Decimal("75.00")
    assert monthly_amount([item("10000", "year")], "USD") == Decimal("8.33")
    assert monthly_amount([item("3000", "month", count=3)], "EUR") == Decimal("10.00")
    assert monthly_amount([item("1000", "week")], "USD") == Decimal("43.33")
    assert monthly_amount([item("12000", "year"), item("5", "month", usage="metered")], "JPY") == Decimal("1000")
