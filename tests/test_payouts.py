"""Payouts through the GraphQL surface: settings, the threshold, the operators' decisions, refunds
netted against the next payout, the monthly run, the payment files, mails, authorization,
Idempotency-Key, and 100 concurrent requests for one partner.

Two ways to get ledger lines, named in each test:
- real events: the operator's rate table and commission rule, `recordPayment` / `recordRefund`
  by a billing:write API key for a customer that chose the partner, then the `commissions`
  job on the frozen clock once the hold period is over;
- `write_lines`: Commission rows written directly, where a test is about the payout mechanics.

Every partner made by `make_partner` is paid in EUR; the operator's rate table has
1 USD = 0.90 EUR from 2026-01-01, so the default threshold of 150.00 USD is 135.00 EUR.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from uuid import uuid4

import pytest
from strawberry.relay import GlobalID

from partner_portal.models.clock import now
from partner_portal.models.commissions import Commission, IdempotencyRecord
from partner_portal.models.identity import User
from partner_portal.models.payouts import Payout, PayoutSettings
from partner_portal.resolvers.jobs import run_job
from partner_portal.resolvers.money import to_minor
from tests.conftest import START, Api, start_api, test_settings
from tests.documents import CREATE_RULE, OUTBOX, RECORD_REFUND, SET_EXCHANGE_RATE, SET_SERVICE_PARTNER
from tests.support import (
    Partner,
    Person,
    add_member,
    create_api_key,
    create_organization,
    make_operator,
    make_partner,
    operator,
    register,
)

RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) {
  recordPayment(input: $input) { commission { status amount { amount currency } } errors { field code message } }
}"""
UPDATE_PROFILE = """
mutation Profile($input: UpdatePartnerProfileInput!) { updatePartnerProfile(input: $input) { errors { code } } }"""

SETTINGS_FIELDS = "method paypalEmail accountHolder iban bic automatic payoutCurrency"
SET_SETTINGS = f"""
mutation Settings($input: SetPayoutSettingsInput!) {{
  setPayoutSettings(input: $input) {{ payoutSettings {{ {SETTINGS_FIELDS} }} errors {{ field code message }} }}
}}"""
PAYOUT_SETTINGS = f"query Settings($partnerId: ID) {{ payoutSettings(partnerId: $partnerId) {{ {SETTINGS_FIELDS} }} }}"
PAYOUT_FIELDS = """
  id status amount { amount currency } method requestedAutomatically reference note partnerId partnerName
  destination { paypalEmail accountHolder iban bic }"""
REQUEST = f"""
mutation Request($input: RequestPayoutInput!) {{
  requestPayout(input: $input) {{ payout {{ {PAYOUT_FIELDS} }} errors {{ field code message }} }}
}}"""
APPROVE = f"""
mutation Approve($input: ApprovePayoutInput!) {{
  approvePayout(input: $input) {{ payout {{ {PAYOUT_FIELDS} }} errors {{ field code message }} }}
}}"""
MARK_PAID = f"""
mutation Paid($input: MarkPayoutPaidInput!) {{
  markPayoutPaid(input: $input) {{ payout {{ {PAYOUT_FIELDS} }} errors {{ field code message }} }}
}}"""
REJECT = f"""
mutation Reject($input: RejectPayoutInput!) {{
  rejectPayout(input: $input) {{ payout {{ {PAYOUT_FIELDS} }} errors {{ field code message }} }}
}}"""
EXPORT = """
mutation Export($input: ExportPayoutsInput!) {
  exportPayouts(input: $input) {
    file { filename contentType content payouts { id } }
    errors { field code message }
  }
}"""
PAYOUTS = """
query Payouts($partnerId: ID, $status: PayoutStatus) {
  payouts(partnerId: $partnerId, status: $status, first: 100) {
    totalCount edges { node { id status partnerName amount { amount currency } } }
  }
}"""
BALANCE = """
query Balance($partnerId: ID) {
  payoutBalance(partnerId: $partnerId) {
    approved { amount currency } threshold { amount currency } missing { amount currency } canRequest
  }
}"""
PAYOUT_NODE = """
query Payout($id: ID!) {
  node(id: $id) { ... on Payout { id status lines(first: 100) { edges { node { status amount { amount } } } } } }
}"""

IBAN = "DE89 3704 0044 0532 0130 00"
IBAN_COMPACT = "DE89370400440532013000"
DEBTOR = {"name": "Vendor Software GmbH", "iban": "NL91 ABNA 0417 1643 00", "bic": "ABNANL2A"}
PAIN_001 = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}"


# --- the world ----------------------------------------------------------------------------------------------


@dataclass
class World:
    api: Api
    operator: Person
    partner: Partner

    async def request(self, partner: Partner | None = None, **kwargs) -> dict:
        who = partner or self.partner
        data = await self.api.data(REQUEST, {"input": {"partnerId": who.id}}, token=who.admin.token, **kwargs)
        return data["requestPayout"]

    async def decide(self, mutation: str, payout_id: str, **fields) -> dict:
        data = await self.api.data(mutation, {"input": {"payoutId": payout_id, **fields}}, token=self.operator.token)
        return next(iter(data.values()))

    async def approved_payout(self, partner: Partner | None = None) -> dict:
        requested = await self.request(partner)
        assert requested["errors"] == [], requested["errors"]
        approved = await self.decide(APPROVE, requested["payout"]["id"])
        assert approved["errors"] == [], approved["errors"]
        return approved["payout"]

    async def balance(self, partner: Partner | None = None) -> dict:
        who = partner or self.partner
        return (await self.api.data(BALANCE, {"partnerId": who.id}, token=who.admin.token))["payoutBalance"]


def pk(global_id: str) -> int:
    return int(GlobalID.from_id(global_id).node_id)


async def set_rate(api: Api, operator_: Person, currency: str, rate: str, valid_from: str) -> None:
    data = await api.data(
        SET_EXCHANGE_RATE,
        {"input": {"currency": currency, "rate": rate, "validFrom": valid_from}},
        token=operator_.token,
    )
    assert data["setExchangeRate"]["errors"] == []


async def set_settings(api: Api, partner: Partner, **fields) -> dict:
    values = {"partnerId": partner.id, "method": "PAYPAL", "paypalEmail": "payouts@northwind.example", **fields}
    return (await api.data(SET_SETTINGS, {"input": values}, token=partner.admin.token))["setPayoutSettings"]


async def new_partner(api: Api, operator_: Person, name: str, **settings) -> Partner:
    slug = name.lower().replace(" ", "")
    partner = await make_partner(api, operator_, admin_email=f"admin@{slug}.example", name=name)
    settled = await set_settings(api, partner, paypalEmail=f"money@{slug}.example", **settings)
    assert settled["errors"] == [], settled["errors"]
    return partner


async def write_lines(
    partner: Partner, amounts: list[str], *, currency: str = "EUR", status: str = "APPROVED"
) -> list[int]:
    """Ledger lines written directly (payout mechanics only)."""
    ids = []
    for amount in amounts:
        line = await Commission.create(
            source_key=f"test:{uuid4().hex[:16]}",
            partner_id=pk(partner.id),
            type="SELF",
            status=status,
            amount=to_minor(amount, currency),
            currency=currency,
            original_amount=0,
            original_currency=currency,
            created_at=now(),
        )
        ids.append(line.id)
    return ids


async def lines_of(partner: Partner) -> list[dict]:
    return (
        await Commission.filter(partner_id=pk(partner.id)).order_by("id").values("id", "status", "payout_id", "amount")
    )


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """Sessions last a year here: tests move the clock past hold periods of 30 days."""
    async for running in start_api(test_settings(database_url, session_ttl_hours=24 * 365)):
        yield running


@pytest.fixture
async def world(api: Api, clock) -> World:
    olivia = await operator(api)
    await set_rate(api, olivia, "EUR", "0.90", "2026-01-01")
    partner = await make_partner(api, olivia)
    settled = await set_settings(api, partner)
    assert settled["errors"] == [], settled["errors"]
    return World(api, olivia, partner)


@dataclass
class Billing:
    """Real ledger lines: a customer that chose the partner, a 20 % lifetime rule held 30 days,
    and an API key that records its payments and refunds."""

    api: Api
    key: str
    customer_id: str
    clock: object
    count: int = 0

    async def pay(self, amount: str, currency: str = "EUR") -> str:
        self.count += 1
        external_id = f"pay-{self.count}"
        data = await self.api.data(
            RECORD_PAYMENT,
            {
                "input": {
                    "externalId": external_id,
                    "organizationId": self.customer_id,
                    "amount": {"amount": amount, "currency": currency},
                    "paidAt": now().isoformat(),
                }
            },
            api_key=self.key,
        )
        assert data["recordPayment"]["errors"] == [], data["recordPayment"]["errors"]
        assert data["recordPayment"]["commission"]["status"] == "PENDING"
        return external_id

    async def refund(self, payment_external_id: str, amount: str, currency: str = "EUR") -> None:
        self.count += 1
        data = await self.api.data(
            RECORD_REFUND,
            {
                "input": {
                    "externalId": f"refund-{self.count}",
                    "paymentExternalId": payment_external_id,
                    "amount": {"amount": amount, "currency": currency},
                    "refundedAt": now().isoformat(),
                }
            },
            api_key=self.key,
        )
        assert data["recordRefund"]["errors"] == [], data["recordRefund"]["errors"]

    async def release(self) -> None:
        """Past the hold period on the frozen clock, then the release job."""
        self.clock.shift(timedelta(days=31))
        await run_job("commissions", self.api.settings)


async def billing_for(world: World, clock) -> Billing:
    api = world.api
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
        token=world.operator.token,
    )
    assert rule["createCommissionRule"]["errors"] == []
    key = await create_api_key(api, world.operator, ["BILLING_WRITE"], "billing")
    customer_admin = await register(api, "admin@acme.example", "Casey Customer")
    customer = await create_organization(api, customer_admin, "Acme GmbH")
    chosen = await api.data(
        SET_SERVICE_PARTNER, {"id": customer["id"], "code": world.partner.code}, token=customer_admin.token
    )
    assert chosen["setServicePartner"]["errors"] == []
    return Billing(api, key, customer["id"], clock)


# --- settings -----------------------------------------------------------------------------------------------


async def test_bank_settings_are_validated_with_schwifty_and_the_iban_is_masked(world):
    # when: everything wrong at once
    bad = await set_settings(
        world.api,
        world.partner,
        method="BANK_TRANSFER",
        accountHolder=" ",
        iban="DE89 3704 0044 0532 0130 01",
        bic="COBAXXFF",
    )

    # then
    assert {(e["field"], e["code"]) for e in bad["errors"]} == {
        ("accountHolder", "REQUIRED"),
        ("iban", "INVALID_VALUE"),
        ("bic", "INVALID_VALUE"),
    }
    assert "IBAN is not valid" in next(e["message"] for e in bad["errors"] if e["field"] == "iban")

    # when: right, without a BIC (schwifty knows the IBAN's bank)
    good = await set_settings(
        world.api, world.partner, method="BANK_TRANSFER", accountHolder="Northwind Partners", iban=IBAN, automatic=True
    )

    # then: stored compact, shown masked but for the last four characters
    assert good["errors"] == []
    assert good["payoutSettings"] == {
        "method": "BANK_TRANSFER",
        "paypalEmail": None,
        "accountHolder": "Northwind Partners",
        "iban": "*" * 18 + "3000",
        "bic": "COBADEFFXXX",
        "automatic": True,
        "payoutCurrency": "EUR",
    }
    read = (await world.api.data(PAYOUT_SETTINGS, {"partnerId": world.partner.id}, token=world.partner.admin.token))[
        "payoutSettings"
    ]
    assert read == good["payoutSettings"]
    assert IBAN_COMPACT not in str(read)


async def test_paypal_settings_need_a_valid_email_and_clear_the_bank_details(world):
    # given
    await set_settings(
        world.api, world.partner, method="BANK_TRANSFER", accountHolder="Northwind", iban=IBAN, bic="COBADEFFXXX"
    )

    # when
    missing = await set_settings(world.api, world.partner, paypalEmail="")
    invalid = await set_settings(world.api, world.partner, paypalEmail="not-an-address")
    valid = await set_settings(world.api, world.partner, paypalEmail="  Money@Northwind.Example ")

    # then
    assert [(e["field"], e["code"]) for e in missing["errors"]] == [("paypalEmail", "REQUIRED")]
    assert [(e["field"], e["code"]) for e in invalid["errors"]] == [("paypalEmail", "INVALID_EMAIL")]
    assert valid["payoutSettings"] == {
        "method": "PAYPAL",
        "paypalEmail": "money@northwind.example",
        "accountHolder": None,
        "iban": None,
        "bic": None,
        "automatic": False,
        "payoutCurrency": "EUR",
    }


async def test_a_payout_needs_settings(api, clock):
    # given: a partner that never said how it wants to be paid (lines written directly)
    olivia = await operator(api)
    await set_rate(api, olivia, "EUR", "0.90", "2026-01-01")
    partner = await make_partner(api, olivia)
    await write_lines(partner, ["200.00"])

    # when
    result = (await api.data(REQUEST, {"input": {}}, token=partner.admin.token))["requestPayout"]

    # then
    assert result["payout"] is None
    assert [e["code"] for e in result["errors"]] == ["NO_PAYOUT_SETTINGS"]


# --- the threshold ------------------------------------------------------------------------------------------


async def test_the_threshold_one_minor_unit_below_at_and_above_with_real_ledger_lines(world, clock):
    # given: real events; 20 % of 674.95 EUR is 134.99 EUR, released after the hold period
    billing = await billing_for(world, clock)
    await billing.pay("674.95")
    await billing.release()

    # when: one cent below 135.00 EUR
    below = await world.request()

    # then
    assert below["payout"] is None
    assert [e["code"] for e in below["errors"]] == ["BELOW_THRESHOLD"]
    assert "0.01 EUR is missing" in below["errors"][0]["message"]
    assert await world.balance() == {
        "approved": {"amount": "134.99", "currency": "EUR"},
        "threshold": {"amount": "135.00", "currency": "EUR"},
        "missing": {"amount": "0.01", "currency": "EUR"},
        "canRequest": False,
    }
    assert await Payout.all().count() == 0 and all(line["payout_id"] is None for line in await lines_of(world.partner))

    # when: one more cent (20 % of 0.05 EUR): exactly at the threshold
    await billing.pay("0.05")
    await billing.release()
    assert (await world.balance())["canRequest"] is True
    at = await world.request()

    # then
    assert at["errors"] == []
    assert at["payout"]["amount"] == {"amount": "135.00", "currency": "EUR"}
    assert at["payout"]["status"] == "REQUESTED"
    assert (await world.balance())["approved"]["amount"] == "0.00"

    # when: above (20 % of 675.05 EUR = 135.01 EUR)
    await billing.pay("675.05")
    await billing.release()
    above = await world.request()

    # then
    assert above["errors"] == []
    assert above["payout"]["amount"] == {"amount": "135.01", "currency": "EUR"}
    assert sorted(line["amount"] for line in await lines_of(world.partner)) == [1, 13499, 13501]


async def test_the_threshold_is_converted_with_the_rate_table_of_the_day(world, clock):
    # given: EUR at 0.90 from January, 0.95 from April; no rate for CHF
    await set_rate(world.api, world.operator, "EUR", "0.95", "2026-04-01")

    # then: 150 USD in EUR at each date
    assert (await world.balance())["threshold"] == {"amount": "135.00", "currency": "EUR"}
    clock.move_to(START + timedelta(days=31))
    assert (await world.balance())["threshold"] == {"amount": "142.50", "currency": "EUR"}

    # when: the partner is paid in the base currency, then in one without a rate
    await world.api.data(UPDATE_PROFILE, {"input": {"payoutCurrency": "USD"}}, token=world.partner.admin.token)
    in_usd = await world.balance()
    await world.api.data(UPDATE_PROFILE, {"input": {"payoutCurrency": "CHF"}}, token=world.partner.admin.token)
    await write_lines(world.partner, ["500.00"], currency="CHF")
    in_chf = await world.balance()
    refused = await world.request()

    # then
    assert in_usd["threshold"] == {"amount": "150.00", "currency": "USD"}
    assert in_chf == {
        "approved": {"amount": "500.00", "currency": "CHF"},
        "threshold": None,
        "missing": None,
        "canRequest": False,
    }
    assert [e["code"] for e in refused["errors"]] == ["NO_EXCHANGE_RATE"]


# --- decisions ----------------------------------------------------------------------------------------------


async def test_requested_approved_paid_marks_the_lines_paid(world):
    # given: lines written directly, a refund line included (netted)
    line_ids = await write_lines(world.partner, ["100.00", "60.00", "-10.00"])
    await write_lines(world.partner, ["500.00"], status="PENDING")

    # when
    requested = await world.request()
    payout_id = requested["payout"]["id"]

    # then: the approved lines are claimed, the held one is not
    assert requested["payout"]["amount"]["amount"] == "150.00"
    assert requested["payout"]["destination"]["paypalEmail"] == "payouts@northwind.example"
    assert requested["payout"]["requestedAutomatically"] is False
    claimed = {line["id"]: line for line in await lines_of(world.partner)}
    assert {i: claimed[i]["payout_id"] for i in line_ids} == dict.fromkeys(line_ids, pk(payout_id))
    assert sum(1 for line in claimed.values() if line["payout_id"] is None) == 1

    # when: paid before it is approved
    early = await world.decide(MARK_PAID, payout_id, reference="PP-1")

    # then
    assert [e["code"] for e in early["errors"]] == ["PAYOUT_DECIDED"]

    # when
    approved = await world.decide(APPROVE, payout_id)
    again = await world.decide(APPROVE, payout_id)
    no_reference = await world.decide(MARK_PAID, payout_id, reference="  ")
    paid = await world.decide(MARK_PAID, payout_id, reference="PAYPAL-BATCH-7781")
    rejected_late = await world.decide(REJECT, payout_id, note="Too late")

    # then
    assert approved["payout"]["status"] == "APPROVED"
    assert [e["code"] for e in again["errors"]] == ["PAYOUT_DECIDED"]
    assert [(e["field"], e["code"]) for e in no_reference["errors"]] == [("reference", "REQUIRED")]
    assert paid["errors"] == [] and paid["payout"]["status"] == "PAID"
    assert paid["payout"]["reference"] == "PAYPAL-BATCH-7781"
    assert [e["code"] for e in rejected_late["errors"]] == ["PAYOUT_DECIDED"]
    node = (await world.api.data(PAYOUT_NODE, {"id": payout_id}, token=world.partner.admin.token))["node"]
    assert sorted(e["node"]["amount"]["amount"] for e in node["lines"]["edges"]) == ["-10.00", "100.00", "60.00"]
    assert {e["node"]["status"] for e in node["lines"]["edges"]} == {"PAID"}
    assert {line["status"] for line in await lines_of(world.partner) if line["id"] not in line_ids} == {"PENDING"}


async def test_a_rejection_releases_the_lines_for_the_next_payout(world):
    # given: lines written directly
    await write_lines(world.partner, ["90.00", "90.00"])
    first = (await world.request())["payout"]

    # when
    no_note = await world.decide(REJECT, first["id"], note="")
    rejected = await world.decide(REJECT, first["id"], note="The PayPal account is unverified.")

    # then
    assert [(e["field"], e["code"]) for e in no_note["errors"]] == [("note", "REQUIRED")]
    assert rejected["payout"]["status"] == "REJECTED"
    assert rejected["payout"]["note"] == "The PayPal account is unverified."
    assert {(line["status"], line["payout_id"]) for line in await lines_of(world.partner)} == {("APPROVED", None)}
    assert (await world.balance())["approved"]["amount"] == "180.00"

    # when: requested again
    second = await world.request()

    # then
    assert second["payout"]["amount"]["amount"] == "180.00"
    assert second["payout"]["id"] != first["id"]


async def test_a_refund_after_payout_is_netted_against_the_next_payout(world, clock):
    # given: real events: a 1,000 EUR payment earns 200 EUR, paid out
    billing = await billing_for(world, clock)
    first_payment = await billing.pay("1000.00")
    await billing.release()
    first = await world.approved_payout()
    paid = await world.decide(MARK_PAID, first["id"], reference="BANK-1")
    assert paid["payout"]["amount"]["amount"] == "200.00"

    # when: half of the paid payment is refunded, then a new 1,500 EUR payment earns 300 EUR
    await billing.refund(first_payment, "500.00")
    await billing.pay("1500.00")
    await billing.release()
    second = await world.request()

    # then: 300 − 100 = 200 EUR; the paid lines were never edited
    assert second["errors"] == []
    assert second["payout"]["amount"]["amount"] == "200.00"
    lines = await lines_of(world.partner)
    assert [(line["amount"], line["status"], line["payout_id"]) for line in lines] == [
        (20000, "PAID", pk(first["id"])),
        (-10000, "APPROVED", pk(second["payout"]["id"])),
        (30000, "APPROVED", pk(second["payout"]["id"])),
    ]


# --- the monthly payout run ---------------------------------------------------------------------------------


async def test_the_monthly_run_pays_partners_over_the_threshold_with_automatic_payouts(world):
    # given: lines written directly; Northwind automatic and over, Southwind automatic and under,
    # Eastwind over but manual
    await set_settings(world.api, world.partner, automatic=True)
    south = await new_partner(world.api, world.operator, "Southwind", automatic=True)
    east = await new_partner(world.api, world.operator, "Eastwind")
    await write_lines(world.partner, ["100.00", "50.00"])
    await write_lines(south, ["134.99"])
    await write_lines(east, ["500.00"])

    # when
    summary = await run_job("payouts", world.api.settings)
    repeated = await run_job("payouts", world.api.settings)

    # then
    assert summary == "1 payout(s) created, 1 partner(s) below the threshold"
    assert repeated == "0 payout(s) created, 2 partner(s) below the threshold"
    listed = (await world.api.data(PAYOUTS, {}, token=world.operator.token))["payouts"]
    assert [(e["node"]["partnerName"], e["node"]["amount"]["amount"]) for e in listed["edges"]] == [
        ("Northwind Partners", "150.00")
    ]
    assert [e["code"] for e in (await world.request())["errors"]] == ["BELOW_THRESHOLD"]
    automatic = await Payout.filter(partner_id=pk(world.partner.id)).values_list("requested_by_id", flat=True)
    assert automatic == [None]


# --- payment files ------------------------------------------------------------------------------------------


async def test_the_paypal_file_lists_approved_paypal_payouts_of_one_currency(world):
    # given: lines written directly; two approved PayPal payouts in EUR, one still requested,
    # one approved in USD
    south = await new_partner(world.api, world.operator, "Southwind")
    west = await new_partner(world.api, world.operator, "Westwind")
    usd = await new_partner(world.api, world.operator, "Dollarwind")
    await world.api.data(UPDATE_PROFILE, {"input": {"payoutCurrency": "USD"}}, token=usd.admin.token)
    await write_lines(world.partner, ["150.00"])
    await write_lines(south, ["200.50"])
    await write_lines(west, ["300.00"])
    await write_lines(usd, ["160.00"], currency="USD")
    north_payout = await world.approved_payout()
    south_payout = await world.approved_payout(south)
    west_requested = (await world.request(west))["payout"]
    usd_payout = await world.approved_payout(usd)

    # when
    mixed = await world.api.data(EXPORT, {"input": {"format": "PAYPAL_CSV"}}, token=world.operator.token)
    in_eur = (
        await world.api.data(EXPORT, {"input": {"format": "PAYPAL_CSV", "currency": "EUR"}}, token=world.operator.token)
    )["exportPayouts"]
    not_approved = (
        await world.api.data(
            EXPORT,
            {"input": {"format": "PAYPAL_CSV", "payoutIds": [north_payout["id"], west_requested["id"]]}},
            token=world.operator.token,
        )
    )["exportPayouts"]
    in_usd = (
        await world.api.data(
            EXPORT, {"input": {"format": "PAYPAL_CSV", "payoutIds": [usd_payout["id"]]}}, token=world.operator.token
        )
    )["exportPayouts"]

    # then
    assert [(e["field"], e["code"]) for e in mixed["exportPayouts"]["errors"]] == [("currency", "INVALID_VALUE")]
    assert in_eur["file"]["contentType"] == "text/csv" and in_eur["file"]["filename"].endswith(".csv")
    rows = list(csv.reader(io.StringIO(in_eur["file"]["content"])))
    assert rows == [
        [
            "payouts@northwind.example",
            "150.00",
            "EUR",
            f"PAYOUT-{pk(north_payout['id'])}",
            f"Partner commission payout {pk(north_payout['id'])}",
        ],
        [
            "money@southwind.example",
            "200.50",
            "EUR",
            f"PAYOUT-{pk(south_payout['id'])}",
            f"Partner commission payout {pk(south_payout['id'])}",
        ],
    ]
    assert [p["id"] for p in in_eur["file"]["payouts"]] == [north_payout["id"], south_payout["id"]]
    assert [(e["field"], e["code"]) for e in not_approved["errors"]] == [("payoutIds", "INVALID_VALUE")]
    assert next(csv.reader(io.StringIO(in_usd["file"]["content"])))[:3] == ["money@dollarwind.example", "160.00", "USD"]

    # when: the file is read-only; once paid, nothing is left to export
    for payout in (north_payout, south_payout):
        await world.decide(MARK_PAID, payout["id"], reference="PAYPAL-BATCH-1")
    empty = (
        await world.api.data(EXPORT, {"input": {"format": "PAYPAL_CSV", "currency": "EUR"}}, token=world.operator.token)
    )["exportPayouts"]

    # then
    assert [e["code"] for e in empty["errors"]] == ["NOTHING_TO_EXPORT"]


@pytest.mark.parametrize("address", ["=1+2@evil.example", "-2+3@evil.example", "money|=cmd@evil.example"])
async def test_a_paypal_address_that_reads_as_a_formula_is_refused(world, address):
    refused = await set_settings(world.api, world.partner, paypalEmail=address)
    allowed = await set_settings(world.api, world.partner, paypalEmail="money+payouts@northwind.example")

    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("paypalEmail", "INVALID_EMAIL")]
    assert allowed["errors"] == []


async def test_the_paypal_file_guards_every_cell_against_formulas(world):
    """An address saved before the check above (written directly) cannot run in the operator's
    spreadsheet: the PayPal file goes through the same formula guard as the reports."""
    await PayoutSettings.filter(partner_id=pk(world.partner.id)).update(paypal_email="-2+3@evil.example")
    await write_lines(world.partner, ["150.00"])
    payout = await world.approved_payout()

    exported = (
        await world.api.data(EXPORT, {"input": {"format": "PAYPAL_CSV", "currency": "EUR"}}, token=world.operator.token)
    )["exportPayouts"]

    assert exported["errors"] == []
    assert list(csv.reader(io.StringIO(exported["file"]["content"]))) == [
        [
            "'-2+3@evil.example",
            "150.00",
            "EUR",
            f"PAYOUT-{pk(payout['id'])}",
            f"Partner commission payout {pk(payout['id'])}",
        ]
    ]


async def test_the_sepa_file_is_a_valid_credit_transfer_of_approved_eur_bank_payouts(world):
    # given: lines written directly; a bank payout approved, a PayPal one approved too
    await set_settings(
        world.api,
        world.partner,
        method="BANK_TRANSFER",
        accountHolder="Northwind Partners GmbH",
        iban=IBAN,
        bic="COBADEFFXXX",
    )
    paypal_partner = await new_partner(world.api, world.operator, "Southwind")
    await write_lines(world.partner, ["150.25"])
    await write_lines(paypal_partner, ["150.00"])
    bank_payout = await world.approved_payout()
    paypal_payout = await world.approved_payout(paypal_partner)

    # when
    no_debtor = (await world.api.data(EXPORT, {"input": {"format": "SEPA_XML"}}, token=world.operator.token))[
        "exportPayouts"
    ]
    bad_debtor = (
        await world.api.data(
            EXPORT,
            {"input": {"format": "SEPA_XML", "debtor": {**DEBTOR, "iban": "NL91 ABNA 0417 1643 01"}}},
            token=world.operator.token,
        )
    )["exportPayouts"]
    wrong_method = (
        await world.api.data(
            EXPORT,
            {"input": {"format": "SEPA_XML", "debtor": DEBTOR, "payoutIds": [paypal_payout["id"]]}},
            token=world.operator.token,
        )
    )["exportPayouts"]
    exported = (
        await world.api.data(
            EXPORT,
            {"input": {"format": "SEPA_XML", "debtor": DEBTOR, "executionDate": "2026-03-04"}},
            token=world.operator.token,
        )
    )["exportPayouts"]

    # then
    assert [(e["field"], e["code"]) for e in no_debtor["errors"]] == [("debtor", "REQUIRED")]
    assert [(e["field"], e["code"]) for e in bad_debtor["errors"]] == [("debtor.iban", "INVALID_VALUE")]
    assert [(e["field"], e["code"]) for e in wrong_method["errors"]] == [("payoutIds", "INVALID_VALUE")]
    assert exported["errors"] == []
    assert exported["file"]["contentType"] == "application/xml"
    assert [p["id"] for p in exported["file"]["payouts"]] == [bank_payout["id"]]
    document = ET.fromstring(exported["file"]["content"].encode())
    transfer = document.find(f"{PAIN_001}CstmrCdtTrfInitn")
    assert transfer is not None
    transaction = transfer.find(f"{PAIN_001}PmtInf/{PAIN_001}CdtTrfTxInf")
    assert transaction.find(f"{PAIN_001}CdtrAcct/{PAIN_001}Id/{PAIN_001}IBAN").text == IBAN_COMPACT
    amount = transaction.find(f"{PAIN_001}Amt/{PAIN_001}InstdAmt")
    assert (amount.text, amount.get("Ccy")) == ("150.25", "EUR")
    assert transaction.find(f"{PAIN_001}Cdtr/{PAIN_001}Nm").text == "Northwind Partners GmbH"
    assert transaction.find(f"{PAIN_001}PmtId/{PAIN_001}EndToEndId").text == f"PAYOUT-{pk(bank_payout['id'])}"
    payment = transfer.find(f"{PAIN_001}PmtInf")
    assert payment.find(f"{PAIN_001}DbtrAcct/{PAIN_001}Id/{PAIN_001}IBAN").text == "NL91ABNA0417164300"
    assert payment.find(f"{PAIN_001}ReqdExctnDt").text == "2026-03-04"
    assert transfer.find(f"{PAIN_001}GrpHdr/{PAIN_001}CtrlSum").text == "150.25"


# --- mails --------------------------------------------------------------------------------------------------


async def test_every_change_mails_the_partners_administrators(world):
    # given: lines written directly; a second administrator who reads German
    await register(world.api, "zweite@northwind.example", "Zoe Zweite")
    await User.filter(email="zweite@northwind.example").update(language="de")
    await add_member(world.api, world.partner.admin, world.partner.id, "zweite@northwind.example", role="ADMINISTRATOR")
    await write_lines(world.partner, ["140.00"])

    # when
    payout = await world.approved_payout()
    await world.decide(MARK_PAID, payout["id"], reference="BANK-REF-42")
    await write_lines(world.partner, ["135.00"])
    second = (await world.request())["payout"]
    await world.decide(REJECT, second["id"], note="Please check the account.")
    await Commission.filter(partner_id=pk(world.partner.id), payout_id=None).delete()
    refused = await world.request()  # rolled back: mails nobody
    assert [e["code"] for e in refused["errors"]] == ["BELOW_THRESHOLD"]

    # then
    outbox = (await world.api.data(OUTBOX, token=world.operator.token))["outboxMessages"]["edges"]
    mails = [e["node"] for e in outbox if "Payout" in e["node"]["subject"] or "Auszahlung" in e["node"]["subject"]]
    to_admin = [m["subject"] for m in reversed(mails) if m["recipient"] == "admin@northwind.example"]
    assert to_admin == [
        "Payout of 140.00 EUR requested for Northwind Partners",
        "Payout of 140.00 EUR to Northwind Partners approved",
        "Payout of 140.00 EUR to Northwind Partners paid",
        "Payout of 135.00 EUR requested for Northwind Partners",
        "Payout of 135.00 EUR to Northwind Partners rejected",
    ]
    paid_mail = next(m for m in mails if m["subject"].endswith("paid"))
    assert "BANK-REF-42" in paid_mail["textBody"]
    in_german = [m["subject"] for m in reversed(mails) if m["recipient"] == "zweite@northwind.example"]
    assert in_german[2] == "Auszahlung über 140,00 EUR an Northwind Partners überwiesen"
    assert len(in_german) == 5


# --- authorization ------------------------------------------------------------------------------------------


async def test_who_may_do_what(world):
    api = world.api
    other = await new_partner(api, world.operator, "Southwind")
    member = await register(api, "member@northwind.example")
    await add_member(api, world.partner.admin, world.partner.id, member.email)
    manager = await register(api, "manager@northwind.example")
    await add_member(
        api, world.partner.admin, world.partner.id, manager.email, partner_permissions=["MANAGE_PARTNER_PORTAL"]
    )
    reviewer = await register(api, "reviewer@vendor.example")
    await make_operator(api, reviewer, ["REVIEW_PARTNERS", "MANAGE_PROGRAMS"])
    await write_lines(world.partner, ["200.00"])
    payout_id = (await world.request())["payout"]["id"]
    tokens = {
        "anonymous": None,
        "member": member.token,
        "manager": manager.token,
        "admin": world.partner.admin.token,
        "other_admin": other.admin.token,
        "operator": world.operator.token,
        "reviewer": reviewer.token,
    }

    async def outcome(query: str, variables: dict, who: str) -> str:
        body = await api.post(query, variables, token=tokens[who])
        if body.get("errors"):
            return body["errors"][0]["extensions"]["code"]
        payload = next(iter(body["data"].values()))
        return (
            "ALLOWED"
            if payload is None or "errors" not in payload or all(e["code"] != "FORBIDDEN" for e in payload["errors"])
            else "FORBIDDEN"
        )

    partner_id = world.partner.id
    operations = {
        "payouts(partnerId)": (PAYOUTS, {"partnerId": partner_id}),
        "payoutSettings(partnerId)": (PAYOUT_SETTINGS, {"partnerId": partner_id}),
        "payoutBalance(partnerId)": (BALANCE, {"partnerId": partner_id}),
        "node(payout)": (PAYOUT_NODE, {"id": payout_id}),
        "setPayoutSettings": (
            SET_SETTINGS,
            {"input": {"partnerId": partner_id, "method": "PAYPAL", "paypalEmail": "x@northwind.example"}},
        ),
        "requestPayout": (REQUEST, {"input": {"partnerId": partner_id}}),
        "approvePayout": (APPROVE, {"input": {"payoutId": payout_id}}),
        "rejectPayout": (REJECT, {"input": {"payoutId": payout_id, "note": "no"}}),
        "markPayoutPaid": (MARK_PAID, {"input": {"payoutId": payout_id, "reference": "R"}}),
        "exportPayouts": (EXPORT, {"input": {"format": "PAYPAL_CSV"}}),
    }
    A, F, N, U = "ALLOWED", "FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED"  # noqa: N806 — the table's legend
    expected = {
        #                            anonymous member manager admin other operator reviewer
        "payouts(partnerId)": (U, F, A, A, N, A, F),
        "payoutSettings(partnerId)": (U, F, A, A, N, A, F),
        "payoutBalance(partnerId)": (U, F, A, A, N, A, F),
        "node(payout)": (N, N, A, A, N, A, N),
        # operators see the partner but do not act for it: FORBIDDEN; another partner's staff: NOT_FOUND
        "setPayoutSettings": (U, F, A, A, N, F, F),
        "requestPayout": (U, F, A, A, N, F, F),
        # decisions in this order: approve, then reject (PAYOUT_DECIDED for later callers is still ALLOWED)
        "approvePayout": (U, F, F, F, F, A, F),
        "rejectPayout": (U, F, F, F, F, A, F),
        "markPayoutPaid": (U, F, F, F, F, A, F),
        "exportPayouts": (U, F, F, F, F, A, F),
    }
    roles = list(tokens)

    # when
    actual = {}
    for name, (query, variables) in operations.items():
        actual[name] = tuple([await outcome(query, variables, role) for role in roles])

    # then
    assert actual == expected
    # a partner sees only its own payouts; an operator sees every partner's
    own = (await api.data(PAYOUTS, {}, token=other.admin.token))["payouts"]
    every = (await api.data(PAYOUTS, {}, token=world.operator.token))["payouts"]
    assert own["totalCount"] == 0 and every["totalCount"] == 1


# --- idempotency --------------------------------------------------------------------------------------------


async def test_a_repeated_idempotency_key_returns_the_first_response_and_changes_nothing(world):
    # given: lines written directly
    await write_lines(world.partner, ["150.00", "20.00"])
    variables = {"input": {"partnerId": world.partner.id}}
    key = {"Idempotency-Key": "payout-2026-03"}
    token = world.partner.admin.token

    # when
    first = await world.api.post(REQUEST, variables, token=token, headers=key)
    second = await world.api.post(REQUEST, variables, token=token, headers=key)
    other_body = await world.api.post(
        REQUEST.replace("status amount", "amount status"), variables, token=token, headers=key
    )
    fresh = await world.api.post(REQUEST, variables, token=token)

    # then: one payout, the same answer; the key is bound to its request body
    assert first["data"]["requestPayout"]["errors"] == []
    assert second == first
    assert other_body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert [e["code"] for e in fresh["data"]["requestPayout"]["errors"]] == ["BELOW_THRESHOLD"]
    assert await Payout.all().count() == 1


async def test_idempotency_keys_belong_to_one_principal_and_errors_are_not_kept(world):
    # given: lines written directly for both partners
    other = await new_partner(world.api, world.operator, "Southwind")
    await write_lines(world.partner, ["150.00"])
    await write_lines(other, ["150.00"])
    key = {"Idempotency-Key": "same-key"}
    member = await register(world.api, "member@northwind.example")
    await add_member(world.api, world.partner.admin, world.partner.id, member.email)

    # when: the same key from two partners' administrators, and from a member who may not
    ours = await world.api.post(REQUEST, {"input": {}}, token=world.partner.admin.token, headers=key)
    theirs = await world.api.post(REQUEST, {"input": {}}, token=other.admin.token, headers=key)
    refused = await world.api.post(REQUEST, {"input": {"partnerId": world.partner.id}}, token=member.token, headers=key)

    # then
    assert ours["data"]["requestPayout"]["payout"]["partnerName"] == "Northwind Partners"
    assert theirs["data"]["requestPayout"]["payout"]["partnerName"] == "Southwind"
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await IdempotencyRecord.all().count() == 2


async def test_concurrent_requests_with_one_key_run_once(world):
    # given: lines written directly
    await write_lines(world.partner, ["150.00"])
    key = {"Idempotency-Key": "retry-storm"}

    # when: a client retries before its first attempt answered
    results = await asyncio.gather(
        *(world.api.post(REQUEST, {"input": {}}, token=world.partner.admin.token, headers=key) for _ in range(10))
    )

    # then: one payout; every answer is the first one, or CONFLICT while it was still running
    answered = [r for r in results if not r.get("errors")]
    in_progress = [r["errors"][0]["extensions"]["code"] for r in results if r.get("errors")]
    assert answered and all(r == answered[0] for r in answered)
    assert answered[0]["data"]["requestPayout"]["errors"] == []
    assert set(in_progress) <= {"CONFLICT"}
    assert await Payout.all().count() == 1


# --- concurrency --------------------------------------------------------------------------------------------


async def test_a_hundred_concurrent_requests_make_exactly_one_payout_of_the_eligible_balance(world):
    # given: lines written directly (the payout mechanics): 25 approved lines with a refund line,
    # plus lines that are not eligible (held, reversed, already paid)
    eligible = [f"{10 + i}.{i:02d}" for i in range(24)] + ["-7.77"]
    await write_lines(world.partner, eligible)
    await write_lines(world.partner, ["99.00"], status="PENDING")
    await write_lines(world.partner, ["98.00"], status="REVERSED")
    expected = sum(to_minor(amount, "EUR") for amount in eligible)

    # when
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            world.api.post(REQUEST, {"input": {"partnerId": world.partner.id}}, token=world.partner.admin.token)
            for _ in range(100)
        )
    )
    elapsed = time.perf_counter() - started

    # then
    payloads = [body["data"]["requestPayout"] for body in results]
    granted = [p["payout"] for p in payloads if p["payout"] is not None]
    refused = [p["errors"][0]["code"] for p in payloads if p["payout"] is None]
    assert len(granted) == 1, refused
    assert refused == ["BELOW_THRESHOLD"] * 99
    assert to_minor(granted[0]["amount"]["amount"], "EUR") == expected
    payouts = await Payout.all().values("id", "amount")
    assert payouts == [{"id": pk(granted[0]["id"]), "amount": expected}]
    claimed = await Commission.filter(payout_id=payouts[0]["id"]).values_list("amount", flat=True)
    assert sorted(claimed) == sorted(to_minor(a, "EUR") for a in eligible)
    print(f"100 concurrent requestPayout calls: {elapsed:.2f} s")
