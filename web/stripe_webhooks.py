"""`POST /webhooks/stripe`: signed billing events from Stripe, taken by the billing resolvers.

The `Stripe-Signature` header is verified with the official `stripe` library against
`STRIPE_WEBHOOK_SECRET` (five minutes of tolerance) before anything is read; the events
then become the same operations an integrator's `billing:write` key performs, with
`source="stripe"`:

| Stripe event | operation | external id (what makes it count once) |
|---|---|---|
| `invoice.paid` | `record_payment` (`amount_paid`) | the invoice id |
| `charge.refunded` | `record_refund` per refund, linked to the charge's invoice | the refund id |
| `customer.subscription.created/updated/deleted` | `record_license_change` | the event id |

Keys are Stripe object ids where an object happens once (an invoice is paid once, a refund
is made once): a replayed event and a different event about the same invoice or refund
both count once. A subscription changes many times, so each event is its own change; Stripe
delivers them in any order, so the last one applied is kept per subscription and an older
one (by `created`, see resolvers/stripe.py for events of the same second) is stored but
changes nothing: `{"status": "ignored", "reason": "superseded"}`, 200.

Answers: 503 without a secret; 400 for a missing, wrong or stale signature or a payload
that is no event (nothing stored); 200 for events taken, repeated or deliberately ignored
(other types, nothing paid, an unknown customer); 422 when the billing resolvers refuse
an event (e.g. no exchange rate yet) and 500 on failures: Stripe retries both for three
days, and a retry after the fix is taken normally.

An unknown customer (no `organization_id` metadata, no `linkStripeCustomer` mapping) is
acknowledged with a warning in the log and nothing stored: the vendor's Stripe account may
bill customers the portal does not know, and retrying would not make them known. Link the
customer, then resend the event from the Stripe dashboard.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import stripe
from babel.numbers import get_currency_precision
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from partner_portal.models.enums import LicenseStatus
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import Via
from partner_portal.permissions.errors import NotFound
from partner_portal.resolvers import billing
from partner_portal.resolvers import stripe as stripe_links
from partner_portal.resolvers.errors import UserErrorCode, UserInputError
from partner_portal.resolvers.money import to_decimal
from partner_portal.settings import Settings

logger = logging.getLogger("partner_portal.stripe")

TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 1 << 20  # Stripe events are a few kilobytes; a megabyte is plenty
SOURCE = stripe_links.SOURCE

# Stripe's minor units (https://docs.stripe.com/currencies): two decimals unless listed
# here; ISK counts two decimals at Stripe ("…00") although it has none (CLDR).
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

SUBSCRIPTION_STATUS = {
    "trialing": LicenseStatus.TRIAL,
    "active": LicenseStatus.ACTIVE,
    "past_due": LicenseStatus.PAST_DUE,
    "unpaid": LicenseStatus.PAST_DUE,
    "canceled": LicenseStatus.CANCELED,
    "incomplete_expired": LicenseStatus.EXPIRED,
    "paused": LicenseStatus.EXPIRED,  # a trial ended without a payment method
}
# `incomplete` (the first payment is still open) changes nothing yet.

MONTHS_PER_INTERVAL = {"day": Decimal(12) / 365, "week": Decimal(12) / 52, "month": Decimal(1), "year": Decimal(12)}
NO_REVENUE = (LicenseStatus.CANCELED, LicenseStatus.EXPIRED)
LICENSE_PLAN_LENGTH = 60  # licenses.plan is a 60-character column


def webhook_actor() -> Actor:
    """Who the audit log names for Stripe's events: no user, no key, via WEBHOOK."""
    return Actor(via=Via.WEBHOOK)


# --- small readers of Stripe objects ---------------------------------------------------------------


class Malformed(Exception):
    """A verified payload that is not the Stripe object it claims to be."""


def _ref(value: Any) -> str | None:
    """An id from a field that holds either the id or the expanded object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return value["id"]
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """The `data` of a Stripe list object."""
    data = _dict(value).get("data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _required(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise Malformed(f"{obj.get('object', 'object')}.{key} is missing")
    return value


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) and not isinstance(value, bool) else None


def _exponent(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def from_stripe_minor(amount: int | str | Decimal, currency: str) -> Decimal:
    """A Stripe amount (integer minor units, or `unit_amount_decimal`) as an exact decimal."""
    return Decimal(amount).scaleb(-_exponent(currency))


@dataclass
class Outcome:
    """What became of an event: `processed`, `duplicate` (seen before) or `ignored` (with a reason)."""

    status: str
    reason: str | None = None
    objects: list[dict[str, str]] = field(default_factory=list)

    def body(self, event_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = {"received": True, "event": event_id, "status": self.status}
        if self.reason:
            answer["reason"] = self.reason
        if self.objects:
            answer["objects"] = self.objects
        return answer


def _ignored(reason: str) -> Outcome:
    return Outcome("ignored", reason)


def _summarize(objects: list[dict[str, str]]) -> Outcome:
    if not objects:
        return _ignored("nothing_to_record")
    if all(o["status"] == "duplicate" for o in objects):
        return Outcome("duplicate", objects=objects)
    return Outcome("processed", objects=objects)


async def _take(external_id: str, record: Callable[[], Awaitable[Any]]) -> str:
    """Run one billing operation: `recorded`, or `duplicate` when Stripe's object was taken
    before (the first delivery wins, also when a later one says something else)."""
    seen = await stripe_links.already_recorded(external_id)
    try:
        await record()
    except UserInputError as error:
        conflict = any(p.code == UserErrorCode.CONFLICT for p in error.problems)
        if conflict and await stripe_links.already_recorded(external_id):
            logger.warning("Stripe object %s arrived again with other content; the first delivery stands", external_id)
            return "duplicate"
        raise
    return "duplicate" if seen else "recorded"


async def _organization(obj: dict[str, Any], *more_metadata: Any) -> tuple[int | None, str | None]:
    """The organization of an invoice or subscription: the customer's metadata (when the
    customer is expanded), the object's own metadata, then the operators' mapping."""
    customer = obj.get("customer")
    metadata = [_dict(customer).get("metadata"), obj.get("metadata"), *more_metadata]
    customer_id = _ref(customer)
    return await stripe_links.find_organization(customer_id, metadata), customer_id


def _unknown_customer(event: dict[str, Any], customer_id: str | None) -> Outcome:
    logger.warning(
        "Stripe event %s (%s) names no known organization (customer %s): acknowledged, nothing stored. "
        "Link the customer with linkStripeCustomer and resend the event from the Stripe dashboard.",
        event["id"],
        event["type"],
        customer_id or "none",
    )
    return _ignored("unknown_customer")


# --- invoice.paid -> a payment ----------------------------------------------------------------------------


def _plan_candidates(invoice: dict[str, Any]) -> list[Any]:
    """Catalog plan codes the invoice may name: metadata `plan_code` (price, line, invoice),
    then the first line's price lookup key."""
    lines = _list(invoice.get("lines"))
    line = lines[0] if lines else {}
    price = _dict(line.get("price"))
    return [
        _dict(price.get("metadata")).get("plan_code"),
        _dict(line.get("metadata")).get("plan_code"),
        _dict(invoice.get("metadata")).get("plan_code"),
        price.get("lookup_key"),
    ]


async def invoice_paid(event: dict[str, Any], settings: Settings) -> Outcome:
    invoice = event["data"]["object"]
    invoice_id = _required(invoice, "id", str)
    amount = _required(invoice, "amount_paid", int)
    currency = _required(invoice, "currency", str).upper()
    if amount <= 0:
        return _ignored("nothing_paid")  # e.g. the 0.00 invoice that starts a trial
    subscription_metadata = [
        _dict(invoice.get("subscription_details")).get("metadata"),
        _dict(_dict(invoice.get("parent")).get("subscription_details")).get("metadata"),
    ]
    organization_id, customer_id = await _organization(invoice, *subscription_metadata)
    if organization_id is None:
        return _unknown_customer(event, customer_id)
    paid_at = _time(_dict(invoice.get("status_transitions")).get("paid_at")) or _time(event.get("created"))
    if paid_at is None:
        raise Malformed("invoice.status_transitions.paid_at is missing")
    plan = await stripe_links.known_plan(_plan_candidates(invoice))
    status = await _take(
        invoice_id,
        lambda: billing.record_payment(
            webhook_actor(),
            settings,
            source=SOURCE,
            external_id=invoice_id,
            organization_id=organization_id,
            amount=str(from_stripe_minor(amount, currency)),
            currency=currency,
            paid_at=paid_at,
            plan_code=plan[0] if plan else None,
        ),
    )
    return _summarize([{"id": invoice_id, "status": status}])


# --- charge.refunded -> refunds ---------------------------------------------------------------------------


async def charge_refunded(event: dict[str, Any], settings: Settings) -> Outcome:
    """Each refund of the charge once, against the payment recorded from the charge's invoice
    (a refund that comes first waits for it). Without `refunds` in the charge (API versions
    since 2022-11-15 leave it out) the refunded total is recorded as it grows."""
    charge = event["data"]["object"]
    charge_id = _required(charge, "id", str)
    currency = _required(charge, "currency", str).upper()
    invoice_id = _ref(charge.get("invoice"))
    if invoice_id is None:
        # Not an invoice's charge, so no payment of ours; or an API version from 2025-03-31
        # on, whose charges no longer name their invoice.
        logger.info("Stripe charge %s (event %s) names no invoice: its refund is not recorded", charge_id, event["id"])
        return _ignored("charge_without_invoice")
    refunds = charge.get("refunds")
    if isinstance(refunds, dict) and isinstance(refunds.get("data"), list):
        if refunds.get("has_more"):
            logger.warning(
                "Stripe charge %s has more refunds than event %s carries: only those are recorded",
                charge_id,
                event["id"],
            )
        taken = []
        for refund in sorted(_list(refunds), key=lambda r: (r.get("created") or 0, str(r.get("id")))):
            if refund.get("status") not in ("failed", "canceled"):
                taken.append(await _refund(refund, invoice_id, currency))
        return _summarize(taken)
    return await _refunded_total(event, charge, invoice_id, currency)


async def _refund(refund: dict[str, Any], invoice_id: str, charge_currency: str) -> dict[str, str]:
    refund_id = _required(refund, "id", str)
    amount = _required(refund, "amount", int)
    currency = (refund.get("currency") or charge_currency).upper()
    refunded_at = _time(refund.get("created"))
    if refunded_at is None:
        raise Malformed("refund.created is missing")
    status = await _take(
        refund_id,
        lambda: billing.record_refund(
            webhook_actor(),
            source=SOURCE,
            external_id=refund_id,
            payment_external_id=invoice_id,
            amount=str(from_stripe_minor(amount, currency)),
            currency=currency,
            refunded_at=refunded_at,
        ),
    )
    return {"id": refund_id, "status": status}


async def _refunded_total(event: dict[str, Any], charge: dict[str, Any], invoice_id: str, currency: str) -> Outcome:
    """The part of `amount_refunded` not recorded yet, keyed by charge and total: a replay or
    an older total adds nothing."""
    total = from_stripe_minor(_required(charge, "amount_refunded", int), currency)
    recorded = to_decimal(await stripe_links.refunded_so_far(invoice_id), currency)
    external_id = f"{charge['id']}:refunded:{charge['amount_refunded']}"
    if total <= recorded:
        return Outcome("duplicate", objects=[{"id": external_id, "status": "duplicate"}])
    refunded_at = _time(event.get("created"))
    if refunded_at is None:
        raise Malformed("event.created is missing")
    status = await _take(
        external_id,
        lambda: billing.record_refund(
            webhook_actor(),
            source=SOURCE,
            external_id=external_id,
            payment_external_id=invoice_id,
            amount=str(total - recorded),
            currency=currency,
            refunded_at=refunded_at,
        ),
    )
    return _summarize([{"id": external_id, "status": status}])


# --- customer.subscription.* -> the license ------------------------------------------------------------


def _price(item: dict[str, Any]) -> dict[str, Any]:
    return _dict(item.get("price")) or _dict(item.get("plan"))


def monthly_amount(items: list[dict[str, Any]], currency: str) -> Decimal:
    """What the subscription's licensed items bring in per month, at list price (discounts
    and metered usage not counted), rounded half-even to the currency's minor unit."""
    total = Decimal(0)
    for item in items:
        price = _price(item)
        recurring = _dict(price.get("recurring"))
        if (recurring.get("usage_type") or price.get("usage_type")) == "metered":
            continue
        unit = next(
            (
                price[k]
                for k in ("unit_amount_decimal", "unit_amount", "amount_decimal", "amount")
                if price.get(k) is not None
            ),
            None,
        )
        interval = recurring.get("interval") or price.get("interval")
        if unit is None or interval not in MONTHS_PER_INTERVAL:
            continue
        count = recurring.get("interval_count") or price.get("interval_count") or 1
        quantity = item.get("quantity")
        quantity = 1 if quantity is None else quantity
        months = MONTHS_PER_INTERVAL[interval] * count
        total += from_stripe_minor(str(unit), currency) * quantity / months
    step = Decimal(1).scaleb(-get_currency_precision(currency))
    return total.quantize(step, rounding=ROUND_HALF_EVEN)


async def _license_plan(price: dict[str, Any]) -> str:
    """The catalog plan's name when the price names one (metadata `plan_code`, lookup key),
    else the price's nickname, lookup key or id."""
    plan = await stripe_links.known_plan([_dict(price.get("metadata")).get("plan_code"), price.get("lookup_key")])
    candidates = [plan[1]] if plan else [price.get("nickname"), price.get("lookup_key"), price.get("id")]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return " ".join(candidate.split())[:LICENSE_PLAN_LENGTH]
    return "Stripe subscription"


def _subscription_event(event: dict[str, Any], subscription: dict[str, Any]) -> stripe_links.SubscriptionEvent:
    subscription_id = _required(subscription, "id", str)
    created = _time(event.get("created"))
    if created is None:
        raise Malformed("event.created is missing")
    if len(subscription_id) > 255:
        raise Malformed("subscription.id is longer than Stripe's ids")
    return stripe_links.SubscriptionEvent(
        subscription_id, created, stripe_links.SUBSCRIPTION_EVENT_RANK[event["type"]], event["id"]
    )


async def subscription_changed(event: dict[str, Any], settings: Settings) -> Outcome:
    """The license, unless a later event of the same subscription was applied already."""
    subscription = event["data"]["object"]
    order = _subscription_event(event, subscription)
    status = SUBSCRIPTION_STATUS.get(_required(subscription, "status", str))
    if status is None:
        return _ignored(f"status_{subscription['status']}")
    items = _list(subscription.get("items"))
    first = items[0] if items else {}
    price = _price(first)
    currency = subscription.get("currency") or price.get("currency") or ""
    if not isinstance(currency, str) or not currency:
        raise Malformed("subscription.currency is missing")
    currency = currency.upper()
    organization_id, customer_id = await _organization(subscription)
    if organization_id is None:
        return _unknown_customer(event, customer_id)
    quantity = first.get("quantity")
    seats = max(1, quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else 1)
    mrr = Decimal(0) if status in NO_REVENUE else monthly_amount(items, currency)
    trial_ends_at = _time(subscription.get("trial_end")) if status is LicenseStatus.TRIAL else None
    plan = await _license_plan(price)
    event_id = event["id"]
    recorded: dict[str, Any] = {}

    async def record() -> None:
        recorded.update(
            await billing.record_license_change(
                webhook_actor(),
                source=SOURCE,
                external_id=event_id,
                organization_id=organization_id,
                subscription_event=order,
                status=status,
                plan=plan,
                seats=seats,
                mrr_amount=str(mrr),
                currency=currency,
                trial_ends_at=trial_ends_at,
            )
        )

    result = await _take(event_id, record)
    if result == "recorded" and recorded.get("applied") is False:
        logger.info(
            "Stripe event %s is older than the last one applied to subscription %s: not applied",
            event_id,
            order.subscription_id,
        )
        return Outcome("ignored", "superseded", objects=[{"id": event_id, "status": "superseded"}])
    return _summarize([{"id": event_id, "status": result}])


Handler = Callable[[dict[str, Any], Settings], Awaitable[Outcome]]
HANDLERS: dict[str, Handler] = {
    "invoice.paid": invoice_paid,
    "charge.refunded": charge_refunded,
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
}


# --- the endpoint -------------------------------------------------------------------------------------------


def _refused(status_code: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status_code)


async def _read_body(request: Request) -> bytes | None:
    """The raw body (the signature covers its exact bytes), or None beyond MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def _parse(payload: bytes, signature: str, secret: str) -> dict[str, Any] | JSONResponse:
    """The verified event as plain JSON, or the 400 answer."""
    try:
        stripe.Webhook.construct_event(payload, signature, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        if "tolerance" in str(error):
            return _refused(400, "stale_signature", f"The signature is older than {TOLERANCE_SECONDS} seconds.")
        return _refused(400, "invalid_signature", "The Stripe-Signature header does not match the body.")
    except Exception:  # noqa: BLE001 — not UTF-8, not JSON, not an event: all malformed
        return _refused(400, "malformed_payload", "The body is not a Stripe event.")
    event = json.loads(payload)
    data = event.get("data") if isinstance(event, dict) else None
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(data, dict)
        and isinstance(data.get("object"), dict)
    ):
        return _refused(400, "malformed_payload", "The body is not a Stripe event.")
    return event


async def stripe_webhook(request: Request) -> Response:
    """The Starlette endpoint; the settings come from `app.state.settings` (see server.py)."""
    settings: Settings = request.app.state.settings
    secret = settings.stripe_webhook_secret
    if not secret:
        return _refused(503, "not_configured", "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET).")
    payload = await _read_body(request)
    if payload is None:
        return _refused(413, "payload_too_large", f"A Stripe event is at most {MAX_BODY_BYTES} bytes.")
    signature = request.headers.get("stripe-signature")
    if not signature:
        return _refused(400, "missing_signature", "The Stripe-Signature header is missing.")
    event = _parse(payload, signature, secret)
    if isinstance(event, Response):
        return event

    handler = HANDLERS.get(event["type"])
    if handler is None:
        return JSONResponse(_ignored("unhandled_type").body(event["id"]))
    try:
        outcome = await handler(event, settings)
    except Malformed as error:
        logger.warning("Stripe event %s (%s) is malformed: %s", event["id"], event["type"], error)
        return _refused(400, "malformed_event", str(error))
    except NotFound:  # the organization went away while the event was taken
        return JSONResponse(_unknown_customer(event, None).body(event["id"]))
    except UserInputError as error:
        logger.warning("Stripe event %s (%s) was refused: %s", event["id"], event["type"], error)
        return JSONResponse(
            {
                "error": "refused",
                "event": event["id"],
                "problems": [{"field": p.field, "code": p.code.value, "message": p.message} for p in error.problems],
            },
            status_code=422,
        )
    except Exception:
        logger.exception("Stripe event %s (%s) failed", event["id"], event["type"])
        return _refused(500, "internal_error", "The event could not be taken; Stripe will send it again.")
    logger.info("Stripe event %s (%s): %s", event["id"], event["type"], outcome.status)
    return JSONResponse(outcome.body(event["id"]))
