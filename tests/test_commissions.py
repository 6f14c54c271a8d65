"""Commissions: who earns for a payment (attribution), how much (rules and their precedence),
the ledger line (original and converted amounts, rounded once half to even, held, released,
taken back by refunds), billing events taken exactly once, and the partner's commission table
with its totals, also at 100,000 lines.

Billing events arrive through `recordPayment` / `recordRefund` with an API key holding
BILLING_WRITE; operators set rules and exchange rates; customers link to a partner by
`setServicePartner` (SELF) or by accepting an invitation (PARTNER). Referrals (affiliate link,
discount code) had no API when these tests were written: those tests write
`models.referrals.Referral` rows into the running app's database, as the redirect endpoint and
the code redemption do. Time is the frozen `clock`, never slept on.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from strawberry.relay import GlobalID

from partner_portal.models.billing import Payment
from partner_portal.models.commissions import Commission
from partner_portal.models.partners import PartnerProfile
from partner_portal.models.referrals import Referral
from partner_portal.resolvers.jobs import run_job
from tests.commission_world import World, commission_world, customer, rule, select
from tests.conftest import PASSWORD, START
from tests.documents import (
    CREATE_PLAN,
    CREATE_PRODUCT,
    CREATE_RULE,
    OUTBOX,
    RECORD_LICENSE_CHANGE,
    SET_EXCHANGE_RATE,
    SET_SERVICE_PARTNER,
)
from tests.support import (
    Partner,
    Person,
    add_member,
    create_api_key,
    create_organization,
    fresh,
    make_operator,
    make_partner,
    pk,
    register,
)

# --- queries ------------------------------------------------------------------------------------------

DEACTIVATE_RULE = """
mutation Deactivate($id: ID!) {
  deactivateCommissionRule(input: {ruleId: $id}) { rule { id active } errors { code } }
}"""
RULES = "{ commissionRules(first: 100) { totalCount edges { node { id rate } } } }"
LINE = """
fragment Line on Commission {
  id type status amount { amount currency } original { amount currency } exchangeRate rate customerName
  holdUntil createdAt isRefundAdjustment
}"""
RECORD_PAYMENT = (
    """
mutation Pay($input: RecordPaymentInput!) {
  recordPayment(input: $input) {
    payment { id externalId amount { amount currency } refunded { amount currency } paidAt }
    commission { ...Line }
    errors { field code message }
  }
}"""
    + LINE
)
RECORD_REFUND = """
mutation Refund($input: RecordRefundInput!) {
  recordRefund(input: $input) { payment { id externalId refunded { amount currency } } errors { field code message } }
}"""
COMMISSIONS = (
    """
query Table($partnerId: ID, $status: CommissionStatus, $type: CommissionType, $customerId: ID,
            $createdFrom: DateTime, $createdUntil: DateTime, $newestFirst: Boolean! = true, $first: Int = 100,
            $after: String) {
  commissions(partnerId: $partnerId, status: $status, type: $type, customerId: $customerId,
              createdFrom: $createdFrom, createdUntil: $createdUntil, newestFirst: $newestFirst, first: $first,
              after: $after) {
    lines { totalCount pageInfo { hasNextPage endCursor } edges { node { ...Line } } }
    totals {
      pending { amount currency } approved { amount currency } paid { amount currency }
      reversed { amount currency } earned { amount currency }
    }
  }
}"""
    + LINE
)
DASHBOARD = """
query Dashboard($partnerId: ID) {
  partnerDashboard(partnerId: $partnerId) {
    customers totalCommission { amount currency } paidCommission { amount currency } openCommission { amount currency }
  }
}"""
REMOVE_PARTNER = """
mutation Remove($id: ID!) {
  removeServicePartner(input: {organizationId: $id}) { relationship { id endedAt } errors { code } }
}"""
INVITE = """
mutation Invite($input: InviteCustomerInput!) { inviteCustomer(input: $input) { invitation { id } errors { code } } }"""
ACCEPT = """
mutation Accept($input: AcceptInvitationInput!) {
  acceptInvitation(input: $input) { organization { id } token errors { code } }
}"""

EPOCH = date(2020, 1, 1)  # exchange rates in these tests apply from here on


# --- the world of these tests ----------------------------------------------------------------------------


@pytest.fixture
async def world(api) -> World:
    return await commission_world(api)


def money(amount: str, currency: str = "EUR") -> dict:
    return {"amount": amount, "currency": currency}


def half_even(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


async def exchange_rate(api, world: World, currency: str, rate: str, valid_from: date = EPOCH) -> None:
    payload = (
        await api.data(
            SET_EXCHANGE_RATE,
            {"input": {"currency": currency, "rate": rate, "validFrom": valid_from.isoformat()}},
            token=world.operator.token,
        )
    )["setExchangeRate"]
    assert payload["errors"] == [], payload["errors"]


async def product_with_plan(api, world: World, code: str) -> tuple[str, str]:
    """A product and one plan of it (its code is `code`_PLAN): (product id, plan code)."""
    product = (
        await api.data(CREATE_PRODUCT, {"input": {"code": code, "name": code.title()}}, token=world.operator.token)
    )["createProduct"]["product"]
    plan = (
        await api.data(
            CREATE_PLAN,
            {
                "input": {
                    "productId": product["id"],
                    "code": f"{code}_PLAN",
                    "name": f"{code.title()} Plan",
                    "prices": [{"amount": "10.00", "currency": "EUR"}],
                }
            },
            token=world.operator.token,
        )
    )["createPlan"]["plan"]
    return product["id"], plan["code"]


async def pay(
    api,
    world: World,
    external_id: str,
    customer_id: str,
    amount: str = "100.00",
    currency: str = "EUR",
    paid_at: datetime | None = None,
    plan: str | None = None,
) -> dict:
    """recordPayment's payload (errors included); paid now unless told."""
    variables = {
        "input": {
            "externalId": external_id,
            "organizationId": customer_id,
            "amount": {"amount": amount, "currency": currency},
            "paidAt": (paid_at or datetime.now(UTC)).isoformat(),
            "planCode": plan,
        }
    }
    return (await api.data(RECORD_PAYMENT, variables, api_key=world.key))["recordPayment"]


async def paid(api, world: World, external_id: str, customer_id: str, **fields) -> dict:
    payload = await pay(api, world, external_id, customer_id, **fields)
    assert payload["errors"] == [], payload["errors"]
    return payload


async def earned(api, world: World, external_id: str, customer_id: str, **fields) -> dict | None:
    """The commission line a payment that must be accepted earned, or None."""
    return (await paid(api, world, external_id, customer_id, **fields))["commission"]


async def refund(
    api,
    world: World,
    external_id: str,
    payment_external_id: str,
    amount: str,
    currency: str = "EUR",
) -> dict:
    variables = {
        "input": {
            "externalId": external_id,
            "paymentExternalId": payment_external_id,
            "amount": {"amount": amount, "currency": currency},
            "refundedAt": datetime.now(UTC).isoformat(),
        }
    }
    return (await api.data(RECORD_REFUND, variables, api_key=world.key))["recordRefund"]


async def refunded(api, world: World, external_id: str, payment_external_id: str, amount: str, **fields) -> dict:
    payload = await refund(api, world, external_id, payment_external_id, amount, **fields)
    assert payload["errors"] == [], payload["errors"]
    return payload


async def table(api, who: Person, **arguments) -> dict:
    return (await api.data(COMMISSIONS, arguments, token=who.token))["commissions"]


async def lines(api, who: Person, **arguments) -> list[dict]:
    return [edge["node"] for edge in (await table(api, who, newestFirst=False, **arguments))["lines"]["edges"]]


async def totals(api, who: Person, **arguments) -> dict[str, str]:
    return {key: value["amount"] for key, value in (await table(api, who, **arguments))["totals"].items()}


async def invited_customer(api, world: World, partner: Partner, name: str) -> str:
    """A customer that registered through the partner's invitation (relationship INVITATION)."""
    slug = re.sub(r"[^a-z]", "", name.lower())
    email = f"it@{slug}.example"
    payload = (
        await api.data(INVITE, {"input": {"email": email, "organizationName": name}}, token=partner.admin.token)
    )["inviteCustomer"]
    assert payload["errors"] == [], payload["errors"]
    mails = (await api.data(OUTBOX, token=world.operator.token))["outboxMessages"]["edges"]
    body = next(m["node"]["textBody"] for m in mails if m["node"]["recipient"] == email)
    token = re.search(r"token=(ppi_[A-Za-z0-9_-]+)", body).group(1)
    accepted = (await api.data(ACCEPT, {"input": {"token": token, "name": f"{name} IT", "password": PASSWORD}}))[
        "acceptInvitation"
    ]
    assert accepted["errors"] == [], accepted["errors"]
    return accepted["organization"]["id"]


async def refer(customer_id: str, partner: Partner, kind: str, at: datetime | None = None) -> None:
    """Referrals (affiliate link: AFFILIATE, discount code: CODE) had no API when these tests were
    written: write the row the redirect endpoint and the code redemption write, into the running
    app's database."""
    await Referral.create(
        customer_id=pk(customer_id), partner_id=pk(partner.id), type=kind, created_at=at or datetime.now(UTC)
    )


# --- attribution ----------------------------------------------------------------------------------------


async def test_a_customer_invited_by_the_partner_earns_it_a_partner_commission(clock, api, world):
    # Given a customer that registered through Northwind's invitation, and a service-partner rule
    await rule(api, world, program="SERVICE_PARTNER", rate="15.00")
    customer_id = await invited_customer(api, world, world.northwind, "Contoso Ltd")

    # When it pays
    line = await earned(api, world, "inv-1", customer_id, amount="100.00")

    # Then Northwind earns 15 % as PARTNER
    assert (line["type"], line["amount"], line["customerName"]) == ("PARTNER", money("15.00"), "Contoso Ltd")
    assert [row["id"] for row in await lines(api, world.northwind.admin)] == [line["id"]]


async def test_a_customer_that_chose_its_partner_before_the_first_payment_is_self(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    first = await earned(api, world, "inv-1", customer_id)
    clock.shift(timedelta(days=3))
    second = await earned(api, world, "inv-2", customer_id)

    assert (first["type"], first["amount"]) == ("SELF", money("20.00"))
    assert (second["type"], second["amount"]) == ("SELF", money("20.00"))


async def test_choosing_a_partner_after_the_first_payment_earns_that_partner_nothing(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER")
    admin, customer_id = await customer(api, "Contoso Ltd")
    # Given a customer that paid once without a partner
    assert await earned(api, world, "inv-1", customer_id) is None
    # When it chooses Northwind afterwards and pays again
    clock.shift(timedelta(hours=1))
    await select(api, admin, customer_id, world.northwind)
    clock.shift(timedelta(hours=1))
    second = await earned(api, world, "inv-2", customer_id)

    # Then Northwind earns nothing for it
    assert second is None
    assert await lines(api, world.northwind.admin) == []


async def test_choosing_a_partner_after_the_first_payment_leaves_the_referral_earning(clock, api, world):
    """The README's table: "nobody for that relationship (a referral still counts)"."""
    await rule(api, world, program="SERVICE_PARTNER")
    await rule(api, world, program="AFFILIATE", rate="10.00")
    admin, customer_id = await customer(api, "Contoso Ltd")
    await refer(customer_id, world.fabrikam, "AFFILIATE")
    first = await earned(api, world, "inv-1", customer_id)
    clock.shift(timedelta(hours=1))
    await select(api, admin, customer_id, world.northwind)
    clock.shift(timedelta(hours=1))

    second = await earned(api, world, "inv-2", customer_id)

    assert (first["type"], second["type"]) == ("AFFILIATE", "AFFILIATE")
    assert len(await lines(api, world.fabrikam.admin)) == 2
    assert await lines(api, world.northwind.admin) == []


async def test_a_relationship_that_ended_before_the_payment_earns_nothing(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER")
    admin, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    clock.shift(timedelta(days=10))
    removed = (await api.data(REMOVE_PARTNER, {"id": customer_id}, token=admin.token))["removeServicePartner"]
    assert removed["errors"] == []
    clock.shift(timedelta(days=1))

    # A payment after the end earns nothing ...
    after_the_end = await earned(api, world, "inv-late", customer_id)
    # ... while one dated inside the relationship (reported late) still earns: attribution is at the payment date
    inside = await earned(api, world, "inv-early", customer_id, paid_at=START + timedelta(days=5))

    assert after_the_end is None
    assert inside["type"] == "SELF"
    assert [row["id"] for row in await lines(api, world.northwind.admin)] == [inside["id"]]


@pytest.mark.parametrize(("kind", "program"), [("AFFILIATE", "AFFILIATE"), ("CODE", "EXPERT")])
async def test_a_referred_customer_earns_the_referring_partner(clock, api, world, kind, program):
    await rule(api, world, program=program, rate="25.00")
    _, customer_id = await customer(api, "Contoso Ltd")
    await refer(customer_id, world.northwind, kind)

    line = await earned(api, world, "inv-1", customer_id, amount="40.00")

    assert (line["type"], line["amount"]) == (kind, money("10.00"))
    # a referral is no customer relationship: the dashboard does not count it among "my customers"
    assert (await api.data(DASHBOARD, token=world.northwind.admin.token))["partnerDashboard"]["customers"] == 0


async def test_a_referral_made_after_the_payment_does_not_earn_for_it(clock, api, world):
    await rule(api, world, program="AFFILIATE")
    _, customer_id = await customer(api, "Contoso Ltd")
    await refer(customer_id, world.fabrikam, "AFFILIATE", at=START + timedelta(hours=1))

    assert await earned(api, world, "inv-1", customer_id, paid_at=START) is None
    assert await earned(api, world, "inv-2", customer_id, paid_at=START + timedelta(hours=2)) is not None


@pytest.mark.parametrize("source", ["SELECTED", "INVITATION"])
async def test_a_relationship_and_a_referral_pay_only_the_relationships_partner(clock, api, world, source):
    await rule(api, world, program="SERVICE_PARTNER")
    await rule(api, world, program="AFFILIATE", rate="30.00")
    # Given a customer that came through Fabrikam's link and has Northwind as its service partner
    if source == "SELECTED":
        admin, customer_id = await customer(api, "Contoso Ltd")
        await refer(customer_id, world.fabrikam, "AFFILIATE")
        await select(api, admin, customer_id, world.northwind)
    else:
        customer_id = await invited_customer(api, world, world.northwind, "Contoso Ltd")
        await refer(customer_id, world.fabrikam, "AFFILIATE")

    payload = await paid(api, world, "inv-1", customer_id)

    assert (payload["commission"]["type"], payload["commission"]["amount"]) == (
        "SELF" if source == "SELECTED" else "PARTNER",
        money("20.00"),
    )
    assert await lines(api, world.fabrikam.admin) == []
    # one payment never pays two partners (read from the ledger itself: no API lists all partners' lines)
    assert await Commission.filter(payment_id=pk(payload["payment"]["id"])).count() == 1


@pytest.mark.parametrize(("kind", "program"), [("CODE", "EXPERT"), ("AFFILIATE", "AFFILIATE")])
async def test_a_partner_outside_the_program_of_the_type_earns_nothing(clock, api, world, kind, program):
    # Fabrikam is in AFFILIATE only; give it a code referral (EXPERT), and a partner in EXPERT only a link referral
    expert_only = await make_partner(
        api, world.operator, "admin@experts.example", "Expert Trainers", programs=["EXPERT"]
    )
    partner = world.fabrikam if kind == "CODE" else expert_only
    await rule(api, world, program=program)
    _, customer_id = await customer(api, "Contoso Ltd")
    await refer(customer_id, partner, kind)

    assert await earned(api, world, "inv-1", customer_id) is None
    assert await lines(api, partner.admin) == []


async def test_without_a_matching_rule_nobody_earns(clock, api, world):
    # rules for other programs exist; the service-partner program has none (or only a deactivated one)
    await rule(api, world, program="AFFILIATE")
    await rule(api, world, program="EXPERT")
    retired = await rule(api, world, program="SERVICE_PARTNER")
    assert (await api.data(DEACTIVATE_RULE, {"id": retired["id"]}, token=world.operator.token))[
        "deactivateCommissionRule"
    ]["rule"]["active"] is False
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    assert await earned(api, world, "inv-1", customer_id) is None
    assert await lines(api, world.northwind.admin) == []


# --- self-dealing: a partner never earns on its own organization -----------------------------------------

INVITE_WITH_FIELDS = """
mutation Invite($input: InviteCustomerInput!) {
  inviteCustomer(input: $input) { invitation { id } errors { field code } }
}"""
ACCEPT_WITH_FIELDS = """
mutation Accept($input: AcceptInvitationInput!) {
  acceptInvitation(input: $input) { organization { id } errors { field code } }
}"""


async def invitation_token(api, world: World, email: str) -> str:
    mails = (await api.data(OUTBOX, token=world.operator.token))["outboxMessages"]["edges"]
    body = next(m["node"]["textBody"] for m in mails if m["node"]["recipient"] == email)
    return re.search(r"token=(ppi_[A-Za-z0-9_-]+)", body).group(1)


async def test_a_partner_cannot_choose_itself_or_be_chosen_by_an_organization_of_its_members(clock, api, world):
    northwind = world.northwind
    staff = await register(api, "staff@northwind.example", "Sam Staff")
    await add_member(api, northwind.admin, northwind.id, staff.email)
    side_business = await create_organization(api, staff, "Sam's Side Business")

    itself = (
        await api.data(SET_SERVICE_PARTNER, {"id": northwind.id, "code": northwind.code}, token=northwind.admin.token)
    )["setServicePartner"]
    by_staff = (
        await api.data(SET_SERVICE_PARTNER, {"id": side_business["id"], "code": northwind.code}, token=staff.token)
    )["setServicePartner"]
    # allowed: the staff member's organization may choose another service partner
    other = await make_partner(api, world.operator, "admin@contoso-services.example", "Contoso Services")
    elsewhere = (
        await api.data(SET_SERVICE_PARTNER, {"id": side_business["id"], "code": other.code}, token=staff.token)
    )["setServicePartner"]

    assert (itself["relationship"], itself["errors"]) == (None, [{"code": "SELF_REFERRAL"}])
    assert (by_staff["relationship"], by_staff["errors"]) == (None, [{"code": "SELF_REFERRAL"}])
    assert elsewhere["errors"] == [] and elsewhere["relationship"] is not None


async def test_a_partner_cannot_invite_itself_as_a_customer(clock, api, world):
    northwind = world.northwind
    await rule(api, world, program="SERVICE_PARTNER")

    # Inviting the address of one of its own members is refused ...
    own_address = (
        await api.data(
            INVITE_WITH_FIELDS,
            {"input": {"email": northwind.admin.email.upper(), "organizationName": "Side Co"}},
            token=northwind.admin.token,
        )
    )["inviteCustomer"]
    # ... and so is accepting an invitation to another address while signed in as a member
    sent = (
        await api.data(
            INVITE_WITH_FIELDS,
            {"input": {"email": "it@contoso.example", "organizationName": "Contoso"}},
            token=northwind.admin.token,
        )
    )["inviteCustomer"]
    token = await invitation_token(api, world, "it@contoso.example")
    by_member = (await api.data(ACCEPT_WITH_FIELDS, {"input": {"token": token}}, token=northwind.admin.token))[
        "acceptInvitation"
    ]
    # while the invitee itself accepts it, and its payments earn PARTNER commission
    by_invitee = (
        await api.data(ACCEPT_WITH_FIELDS, {"input": {"token": token, "name": "Contoso IT", "password": PASSWORD}})
    )["acceptInvitation"]

    assert (own_address["invitation"], own_address["errors"]) == (None, [{"field": "email", "code": "SELF_REFERRAL"}])
    assert sent["errors"] == []
    assert (by_member["organization"], by_member["errors"]) == (None, [{"field": "token", "code": "SELF_REFERRAL"}])
    assert by_invitee["errors"] == []
    line = await earned(api, world, "inv-1", by_invitee["organization"]["id"])
    assert line["type"] == "PARTNER"


async def test_a_relationship_that_became_self_dealing_earns_nothing_and_a_referral_still_counts(clock, api, world):
    """Defence in depth: the customer chose Northwind, then took Northwind's administrator in as
    a member; its payments earn Northwind nothing, and Fabrikam's earlier referral counts."""
    await rule(api, world, program="SERVICE_PARTNER")
    await rule(api, world, program="AFFILIATE", rate="10.00")
    admin, customer_id = await customer(api, "Contoso Ltd")
    await refer(customer_id, world.fabrikam, "AFFILIATE")
    await select(api, admin, customer_id, world.northwind)
    before = await earned(api, world, "inv-1", customer_id)

    await add_member(api, admin, customer_id, world.northwind.admin.email)
    clock.shift(timedelta(hours=1))
    after = await earned(api, world, "inv-2", customer_id, amount="50.00")

    assert before["type"] == "SELF"
    assert (after["type"], after["amount"]) == ("AFFILIATE", money("5.00"))
    assert [line["id"] for line in await lines(api, world.northwind.admin)] == [before["id"]]


@pytest.mark.parametrize("kind", ["AFFILIATE", "CODE"])
async def test_a_referral_that_became_self_dealing_earns_nothing(clock, api, world, kind):
    await rule(api, world, program="AFFILIATE")
    await rule(api, world, program="EXPERT")
    admin, customer_id = await customer(api, "Contoso Ltd")
    await refer(customer_id, world.northwind, kind)
    assert (await earned(api, world, "inv-1", customer_id))["type"] == kind

    await add_member(api, admin, customer_id, world.northwind.admin.email)
    clock.shift(timedelta(hours=1))

    assert await earned(api, world, "inv-2", customer_id) is None
    assert len(await lines(api, world.northwind.admin)) == 1


# --- rules ----------------------------------------------------------------------------------------------


async def test_rule_precedence_is_partner_then_product_then_tier_then_program_default(clock, api, world):
    product_id, plan = await product_with_plan(api, world, "MINDMAP")
    other_product, _ = await product_with_plan(api, world, "TASKBOARD")
    # Northwind is in the GOLD tier. Tiers have no API yet (the monthly evaluation will set them):
    # write the profile's tier directly.
    await PartnerProfile.filter(organization_id=pk(world.northwind.id)).update(tier="GOLD")
    # The most specific rule is the oldest, so "the newest wins" cannot explain the outcome
    by_partner = await rule(api, world, program="SERVICE_PARTNER", rate="21.00", partnerId=world.northwind.id)
    by_product = await rule(api, world, program="SERVICE_PARTNER", rate="17.00", productId=product_id)
    by_tier = await rule(api, world, program="SERVICE_PARTNER", rate="13.00", tier="GOLD")
    await rule(api, world, program="SERVICE_PARTNER", rate="10.00")
    # narrower rules that do not match: another partner, another product, another tier
    await rule(api, world, program="SERVICE_PARTNER", rate="50.00", partnerId=world.fabrikam.id)
    await rule(api, world, program="SERVICE_PARTNER", rate="40.00", productId=other_product)
    await rule(api, world, program="SERVICE_PARTNER", rate="30.00", tier="PLATINUM")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    rates = []
    for number, retire in enumerate([by_partner, by_product, by_tier, None]):
        line = await earned(api, world, f"inv-{number}", customer_id, plan=plan)
        rates.append((line["rate"], line["amount"]["amount"]))
        if retire is not None:
            await api.data(DEACTIVATE_RULE, {"id": retire["id"]}, token=world.operator.token)

    assert rates == [("21.00", "21.00"), ("17.00", "17.00"), ("13.00", "13.00"), ("10.00", "10.00")]


async def test_a_product_rule_needs_the_payment_to_name_a_plan_of_that_product(clock, api, world):
    product_id, plan = await product_with_plan(api, world, "MINDMAP")
    await rule(api, world, program="SERVICE_PARTNER", rate="17.00", productId=product_id)
    await rule(api, world, program="SERVICE_PARTNER", rate="10.00")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    with_plan = await earned(api, world, "inv-1", customer_id, plan=plan)
    without_plan = await earned(api, world, "inv-2", customer_id)

    assert (with_plan["rate"], without_plan["rate"]) == ("17.00", "10.00")


async def test_the_newest_of_two_equally_narrow_rules_wins(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER", rate="10.00")
    await rule(api, world, program="SERVICE_PARTNER", rate="11.00")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    assert (await earned(api, world, "inv-1", customer_id))["rate"] == "11.00"


@pytest.mark.parametrize(
    ("flat", "rates", "expected", "factor"),
    [
        (money("10.00", "USD"), {"EUR": "0.92"}, "9.20", "0.92"),  # from the base currency
        (money("10.00", "GBP"), {"EUR": "0.92", "GBP": "0.80"}, "11.50", "1.15"),  # through the base currency
        (money("10.00", "EUR"), {}, "10.00", "1"),  # already in the payout currency: no rate needed
    ],
)
async def test_a_flat_rule_in_another_currency_is_converted_to_the_payout_currency(
    clock, api, world, flat, rates, expected, factor
):
    for currency, value in rates.items():
        await exchange_rate(api, world, currency, value)
    created = await rule(api, world, program="SERVICE_PARTNER", kind="FLAT", flat=flat)
    assert (created["flat"], created["rate"]) == (flat, None)
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    line = await earned(api, world, "inv-1", customer_id, amount="49.00", currency="EUR")

    assert line["amount"] == money(expected)
    assert (line["exchangeRate"], line["rate"], line["original"]) == (factor, "0.00", money("49.00"))


async def test_a_one_time_rule_pays_only_the_first_payment(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER", recurrence="ONE_TIME")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    first = await earned(api, world, "inv-1", customer_id)
    clock.shift(timedelta(days=30))
    second = await earned(api, world, "inv-2", customer_id)

    assert first["amount"] == money("20.00")
    assert second is None


async def test_a_months_rule_pays_within_n_times_30_days_of_the_first_payment(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER", recurrence="MONTHS", months=2)
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    outcomes = []
    for number, offset in enumerate(
        [
            timedelta(0),
            timedelta(days=30),
            timedelta(days=60) - timedelta(seconds=1),
            timedelta(days=60),
            timedelta(days=90),
        ]
    ):
        clock.move_to(START + offset)  # the billing system reports each payment as it happens
        outcomes.append(await earned(api, world, f"inv-{number}", customer_id) is not None)

    assert outcomes == [True, True, True, False, False]


async def test_a_months_window_starts_at_the_earliest_payment_even_when_it_is_reported_later(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER", recurrence="MONTHS", months=1)
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    clock.move_to(START + timedelta(days=40))
    # the billing system reports the payment of day 20 first, then the one of day 0 it had held back
    late = await earned(api, world, "inv-20", customer_id, paid_at=START + timedelta(days=20))
    first = await earned(api, world, "inv-0", customer_id, paid_at=START)

    # day 35 is outside the 30 days that started with the first payment (day 0)
    outside = await earned(api, world, "inv-35", customer_id, paid_at=START + timedelta(days=35))

    assert (late is not None, first is not None) == (True, True)
    assert outside is None


async def test_a_lifetime_rule_pays_every_payment(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER", recurrence="LIFETIME")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    outcomes = []
    for number, years in enumerate([0, 1, 5]):
        clock.move_to(START + timedelta(days=365 * years))
        outcomes.append((await earned(api, world, f"inv-{number}", customer_id))["amount"]["amount"])

    assert outcomes == ["20.00", "20.00", "20.00"]


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"rate": "0"}, "rate", "INVALID_VALUE"),
        ({"rate": "0.00"}, "rate", "INVALID_VALUE"),
        ({"rate": "12.345"}, "rate", "INVALID_VALUE"),
        ({"rate": "100.01"}, "rate", "INVALID_VALUE"),
        ({"rate": "-5"}, "rate", "INVALID_VALUE"),
        ({"rate": None}, "rate", "INVALID_VALUE"),
        ({"recurrence": "MONTHS"}, "months", "REQUIRED"),
        ({"recurrence": "MONTHS", "months": 0}, "months", "REQUIRED"),
        ({"kind": "FLAT", "rate": None}, "flatAmount", "REQUIRED"),
        ({"kind": "FLAT", "rate": None, "flat": {"amount": "5.00", "currency": ""}}, "flatAmount", "REQUIRED"),
        (
            {"kind": "FLAT", "rate": None, "flat": {"amount": "5.00", "currency": "XYZ"}},
            "flatCurrency",
            "INVALID_VALUE",
        ),
        ({"kind": "FLAT", "rate": None, "flat": {"amount": "5.001", "currency": "EUR"}}, "flatAmount", "INVALID_VALUE"),
        ({"holdDays": -1}, "holdDays", "INVALID_VALUE"),
    ],
)
async def test_invalid_rule_input_is_a_typed_error_and_writes_nothing(api, world, change, field, code):
    values = {"program": "SERVICE_PARTNER", "kind": "PERCENT", "rate": "20.00", "recurrence": "LIFETIME", **change}

    payload = (await api.data(CREATE_RULE, {"input": values}, token=world.operator.token))["createCommissionRule"]

    assert payload["rule"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)]
    assert (await api.data(RULES, token=world.operator.token))["commissionRules"]["totalCount"] == 0


# --- amounts at the edge: finite, within the maximum, at most the currency's decimals -----------------------

SET_LICENSE = """
mutation License($input: SetLicenseInput!) {
  setLicense(input: $input) { license { monthlyRecurringRevenue { amount } } errors { field code } }
}"""
BAD_AMOUNTS = ["1E+30", "NaN", "Infinity", "-Infinity", "10000000000.01", "19.999", "1E-999999", "1E+999999"]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
async def test_an_amount_out_of_range_is_a_typed_error_not_a_server_error(clock, api, world, amount):
    _, customer_id = await customer(api, "Contoso Ltd")
    await paid(api, world, "inv-1", customer_id)  # the payment a refund names

    # api.data fails the test on any GraphQL error (INTERNAL_SERVER_ERROR among them)
    payment = await pay(api, world, "inv-2", customer_id, amount=amount)
    refunded = await refund(api, world, "ref-1", "inv-1", amount)
    license = (
        await api.data(
            SET_LICENSE,
            {"input": {"organizationId": customer_id, "status": "ACTIVE", "plan": "Business", "mrr": money(amount)}},
            token=world.operator.token,
        )
    )["setLicense"]
    plan = (
        await api.data(
            CREATE_PLAN,
            {
                "input": {
                    "productId": (await product_with_plan(api, world, "PORTAL"))[0],
                    "code": "HUGE",
                    "name": "Huge",
                    "prices": [money(amount)],
                }
            },
            token=world.operator.token,
        )
    )["createPlan"]
    flat = (
        await api.data(
            CREATE_RULE,
            {"input": {"program": "SERVICE_PARTNER", "kind": "FLAT", "flat": money(amount), "recurrence": "LIFETIME"}},
            token=world.operator.token,
        )
    )["createCommissionRule"]

    assert [(e["field"], e["code"]) for e in payment["errors"]] == [("amount", "INVALID_VALUE")]
    assert [(e["field"], e["code"]) for e in refunded["errors"]] == [("amount", "INVALID_VALUE")]
    assert [(e["field"], e["code"]) for e in license["errors"]] == [("mrr", "INVALID_VALUE")]
    assert [e["code"] for e in plan["errors"]] == ["INVALID_VALUE"]
    assert [(e["field"], e["code"]) for e in flat["errors"]] == [("flatAmount", "INVALID_VALUE")]
    assert await Payment.filter(external_id="inv-2").count() == 0


@pytest.mark.parametrize(
    "rate",
    ["1E+30", "NaN", "Infinity", "-Infinity", "0", "-1", "1000000000.1", "0.00000000001", "1E-999999", "1E+999999"],
)
async def test_an_exchange_rate_out_of_range_is_a_typed_error(api, world, rate):
    rate_input = {"input": {"currency": "GBP", "rate": rate, "validFrom": EPOCH.isoformat()}}
    payload = (await api.data(SET_EXCHANGE_RATE, rate_input, token=world.operator.token))["setExchangeRate"]

    assert (payload["exchangeRate"], [(e["field"], e["code"]) for e in payload["errors"]]) == (
        None,
        [("rate", "INVALID_VALUE")],
    )


async def test_the_largest_amount_is_taken_and_minus_zero_is_zero(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER", rate="100.00")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    largest = await earned(api, world, "inv-1", customer_id, amount="10000000000.00")
    minus_zero = await pay(api, world, "inv-2", customer_id, amount="-0")
    license = (
        await api.data(
            SET_LICENSE,
            {"input": {"organizationId": customer_id, "status": "ACTIVE", "plan": "Business", "mrr": money("-0.00")}},
            token=world.operator.token,
        )
    )["setLicense"]

    assert largest["amount"] == money("10000000000.00")
    assert [(e["field"], e["code"]) for e in minus_zero["errors"]] == [("amount", "INVALID_VALUE")]  # not positive
    assert license["errors"] == [] and license["license"]["monthlyRecurringRevenue"]["amount"] == "0.00"


async def test_a_commission_an_absurd_exchange_rate_would_blow_up_is_refused(clock, api, world):
    """Rates up to 10^9 are taken; a commission converted beyond the largest amount is refused, not a 500."""
    await rule(api, world, program="SERVICE_PARTNER", rate="100.00")
    await exchange_rate(api, world, "EUR", "1000000000")
    await exchange_rate(api, world, "KWD", "0.0000000001")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    refused = await pay(api, world, "inv-1", customer_id, amount="5000.000", currency="KWD")

    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("amount", "INVALID_VALUE")]
    assert await Payment.filter(external_id="inv-1").count() == 0


@pytest.mark.parametrize(
    "narrowing",
    [
        {"productId": str(GlobalID("Product", "999"))},
        {"partnerId": str(GlobalID("Organization", "999"))},
        {"partnerId": "customer"},  # an organization that is no partner
    ],
)
async def test_a_rule_narrowed_to_an_unknown_product_or_partner_is_not_found(api, world, narrowing):
    if narrowing.get("partnerId") == "customer":
        narrowing = {"partnerId": (await customer(api, "Contoso Ltd"))[1]}
    values = {"program": "SERVICE_PARTNER", "kind": "PERCENT", "rate": "20.00", "recurrence": "LIFETIME", **narrowing}

    assert await api.error_code(CREATE_RULE, {"input": values}, token=world.operator.token) == "NOT_FOUND"
    assert (await api.data(RULES, token=world.operator.token))["commissionRules"]["totalCount"] == 0


@pytest.mark.parametrize("rate", ["0.01", "100", "100.00", "12.5"])
async def test_the_rate_limits_are_inclusive(api, world, rate):
    created = await rule(api, world, program="SERVICE_PARTNER", rate=rate)
    assert Decimal(created["rate"]) == Decimal(rate)


async def test_operators_without_manage_programs_may_not_set_rules_or_rates(api, world):
    payouts_only = await register(api, "pat@vendor.example", "Pat Payouts")
    await make_operator(api, payouts_only, ["MANAGE_PAYOUTS", "REVIEW_PARTNERS", "VIEW_ALL_REPORTS"])
    rule_input = {"input": {"program": "SERVICE_PARTNER", "kind": "PERCENT", "rate": "20.00", "recurrence": "LIFETIME"}}
    rate_input = {"input": {"currency": "EUR", "rate": "0.9", "validFrom": EPOCH.isoformat()}}

    for who in (payouts_only, world.northwind.admin):
        assert await api.error_code(CREATE_RULE, rule_input, token=who.token) == "FORBIDDEN"
        assert await api.error_code(SET_EXCHANGE_RATE, rate_input, token=who.token) == "FORBIDDEN"
    assert await api.error_code(CREATE_RULE, rule_input) == "UNAUTHENTICATED"
    assert (await api.data(RULES, token=world.operator.token))["commissionRules"]["totalCount"] == 0


# --- the ledger line ----------------------------------------------------------------------------------------


async def test_the_line_keeps_the_original_payment_the_converted_amount_and_the_rates(clock, api, world):
    await exchange_rate(api, world, "EUR", "1.25")
    await rule(api, world, program="SERVICE_PARTNER", holdDays=14)
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    payload = await paid(api, world, "inv-1", customer_id, amount="10.70", currency="USD")

    line = payload["commission"]
    assert payload["payment"]["amount"] == money("10.70", "USD")
    assert line["original"] == money("10.70", "USD")  # as received
    assert (line["exchangeRate"], line["rate"]) == ("1.25", "20.00")  # the factor and the percentage used
    assert line["amount"] == money("2.68")  # 1070 × 20 % × 1.25 = 267.5 cents → 268 (even)
    assert (line["status"], line["isRefundAdjustment"]) == ("PENDING", False)
    assert datetime.fromisoformat(line["holdUntil"]) == START + timedelta(days=14)
    assert datetime.fromisoformat(line["createdAt"]) == START


@pytest.mark.parametrize("amount", ["10.50", "0.10", "10.70", "0.30", "0.33", "123.45"])
async def test_a_line_is_rounded_once_half_to_even(clock, api, world, amount):
    # 20 % of the payment × 1.25 (USD → EUR) lands on half a cent for many amounts
    await exchange_rate(api, world, "EUR", "1.25")
    await rule(api, world, program="SERVICE_PARTNER")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    line = await earned(api, world, "inv-1", customer_id, amount=amount, currency="USD")

    exact = Decimal(cents(amount)) * Decimal("0.20") * Decimal("1.25")
    assert cents(line["amount"]["amount"]) == half_even(exact)
    # rounding the 20 % in USD first and then again after converting would be a different number for 0.33
    # (6.6 → 7 cents × 1.25 = 8.75 → 9; once: 8.25 → 8)
    if amount == "0.33":
        assert half_even(exact) == 8 and half_even(half_even(Decimal(33) * Decimal("0.20")) * Decimal("1.25")) == 9


async def test_half_even_differs_from_half_up_on_exact_halves(clock, api, world):
    await exchange_rate(api, world, "EUR", "1.25")
    await rule(api, world, program="SERVICE_PARTNER")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    found = []
    for number, amount in enumerate(["10.50", "0.10", "0.50"]):  # 262.5, 2.5 and 12.5 cents
        found.append(
            (await earned(api, world, f"inv-{number}", customer_id, amount=amount, currency="USD"))["amount"]["amount"]
        )

    assert found == ["2.62", "0.02", "0.12"]  # half-up would say 2.63, 0.03, 0.13
    assert [half_up(Decimal(cents(a)) * Decimal("0.25")) for a in ["10.50", "0.10", "0.50"]] == [263, 3, 13]


async def test_a_percentage_with_decimals_rounds_half_to_even_too(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER", rate="12.50")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    # 12.5 % of 1.00 EUR is 12.5 cents → 12; of 1.80 EUR 22.5 → 22; of 1.40 EUR 17.5 → 18
    found = [
        (await earned(api, world, f"inv-{n}", customer_id, amount=a))["amount"]["amount"]
        for n, a in enumerate(["1.00", "1.80", "1.40"])
    ]

    assert found == ["0.12", "0.22", "0.18"]


async def test_a_line_is_held_then_released_by_the_idempotent_job(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER", holdDays=30)
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    line = await earned(api, world, "inv-1", customer_id)
    assert line["status"] == "PENDING"

    clock.shift(timedelta(days=30) - timedelta(seconds=1))
    assert await run_job("commissions", api.settings) == "0 commission line(s) released"
    admin = await fresh(api, world.northwind.admin)
    assert [row["status"] for row in await lines(api, admin)] == ["PENDING"]

    clock.shift(timedelta(seconds=1))
    assert await run_job("commissions", api.settings) == "1 commission line(s) released"
    assert await run_job("commissions", api.settings) == "0 commission line(s) released"
    assert [row["status"] for row in await lines(api, admin)] == ["APPROVED"]
    assert await totals(api, admin) == {
        "pending": "0.00",
        "approved": "20.00",
        "paid": "0.00",
        "reversed": "0.00",
        "earned": "20.00",
    }


async def test_a_payment_reported_after_its_hold_ended_is_approved_at_once(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER", holdDays=30)
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    clock.shift(timedelta(days=31))

    line = await earned(api, world, "inv-1", customer_id, paid_at=START)

    assert line["status"] == "APPROVED"


# --- refunds ---------------------------------------------------------------------------------------------


@pytest.fixture
async def held(clock, api, world) -> tuple[str, str]:
    """Contoso chose Northwind (20 %, held 30 days) and paid 100.00 EUR: a PENDING line of 20.00 EUR."""
    await rule(api, world, program="SERVICE_PARTNER")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    line = await earned(api, world, "inv-1", customer_id, amount="100.00")
    assert (line["status"], line["amount"]) == ("PENDING", money("20.00"))
    return customer_id, line["id"]


async def test_a_partial_refund_during_the_hold_shrinks_the_line_and_records_the_reversed_share(api, world, held):
    payload = await refunded(api, world, "ref-1", "inv-1", "25.00")

    assert payload["payment"]["refunded"] == money("25.00")
    original, reversal = await lines(api, world.northwind.admin)
    assert (original["status"], original["amount"], original["isRefundAdjustment"]) == (
        "PENDING",
        money("15.00"),
        False,
    )
    assert (reversal["status"], reversal["amount"], reversal["isRefundAdjustment"]) == ("REVERSED", money("5.00"), True)
    assert reversal["original"] == money("-25.00")  # the refund as received
    assert await totals(api, world.northwind.admin) == {
        "pending": "15.00",
        "approved": "0.00",
        "paid": "0.00",
        "reversed": "5.00",
        "earned": "15.00",
    }


async def test_a_full_refund_during_the_hold_reverses_the_line(api, world, held):
    await refunded(api, world, "ref-1", "inv-1", "100.00")

    assert [(row["status"], row["amount"]["amount"]) for row in await lines(api, world.northwind.admin)] == [
        ("REVERSED", "20.00")
    ]
    assert await totals(api, world.northwind.admin) == {
        "pending": "0.00",
        "approved": "0.00",
        "paid": "0.00",
        "reversed": "20.00",
        "earned": "0.00",
    }
    dashboard = (await api.data(DASHBOARD, token=world.northwind.admin.token))["partnerDashboard"]
    assert (dashboard["totalCommission"], dashboard["openCommission"]) == (money("0.00"), money("0.00"))


async def test_two_partial_refunds_making_up_the_payment_reverse_exactly_the_whole_line(clock, api, world):
    # 12.5 % of 0.40 EUR = 5 cents. Two refunds of 0.20 EUR: rounding each share on its own (2.5 → 2,
    # twice) would take back 4 cents and leave 1 cent earned on a payment refunded in full; shares of
    # the cumulative refund (2, then 5 − 2 = 3) take back exactly 5
    await rule(api, world, program="SERVICE_PARTNER", rate="12.50")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    await earned(api, world, "inv-1", customer_id, amount="0.40")
    assert 2 * half_even(Decimal(5) / 2) == 4

    await refunded(api, world, "ref-1", "inv-1", "0.20")
    after_first = await totals(api, world.northwind.admin)
    second = await refunded(api, world, "ref-2", "inv-1", "0.20")

    assert after_first == {"pending": "0.03", "approved": "0.00", "paid": "0.00", "reversed": "0.02", "earned": "0.03"}
    assert second["payment"]["refunded"] == money("0.40")
    assert await totals(api, world.northwind.admin) == {
        "pending": "0.00",
        "approved": "0.00",
        "paid": "0.00",
        "reversed": "0.05",
        "earned": "0.00",
    }
    assert {row["status"] for row in await lines(api, world.northwind.admin)} == {"REVERSED"}


async def test_a_refund_after_payout_adds_a_negative_line_and_leaves_the_paid_line_alone(api, world, held):
    # Payouts are being built elsewhere: mark the line paid directly, as a finished payout will
    _, line_id = held
    await Commission.filter(id=pk(line_id)).update(status="PAID")

    await refunded(api, world, "ref-1", "inv-1", "40.00")

    rows = await lines(api, world.northwind.admin)
    assert [(r["status"], r["amount"]["amount"], r["isRefundAdjustment"]) for r in rows] == [
        ("PAID", "20.00", False),
        ("APPROVED", "-8.00", True),
    ]
    assert await totals(api, world.northwind.admin) == {
        "pending": "0.00",
        "approved": "-8.00",
        "paid": "20.00",
        "reversed": "0.00",
        "earned": "12.00",
    }


async def test_a_refund_exceeding_the_payment_is_refused_and_changes_nothing(api, world, held):
    await refunded(api, world, "ref-1", "inv-1", "60.00")
    before = await lines(api, world.northwind.admin)

    too_much = await refund(api, world, "ref-2", "inv-1", "40.01")
    alone_too_much = await refund(api, world, "ref-3", "inv-1", "100.01")

    assert [(e["field"], e["code"]) for e in too_much["errors"]] == [("amount", "INVALID_VALUE")]
    assert [(e["field"], e["code"]) for e in alone_too_much["errors"]] == [("amount", "INVALID_VALUE")]
    assert await lines(api, world.northwind.admin) == before
    # the refused id was not kept: the corrected refund goes through under it
    assert (await refunded(api, world, "ref-2", "inv-1", "40.00"))["payment"]["refunded"] == money("100.00")


async def test_a_refund_in_another_currency_is_refused(api, world, held):
    payload = await refund(api, world, "ref-1", "inv-1", "10.00", currency="USD")

    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("currency", "CURRENCY_MISMATCH")]
    assert [(r["status"], r["amount"]["amount"]) for r in await lines(api, world.northwind.admin)] == [
        ("PENDING", "20.00")
    ]
    assert (await refunded(api, world, "ref-1", "inv-1", "10.00"))["payment"]["refunded"] == money("10.00")


async def test_a_refund_before_its_payment_is_kept_and_applied_when_the_payment_arrives(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    early = await refunded(api, world, "ref-1", "inv-1", "30.00")
    assert early["payment"] is None
    payload = await paid(api, world, "inv-1", customer_id, amount="100.00")

    assert payload["payment"]["refunded"] == money("30.00")
    assert [(r["status"], r["amount"]["amount"]) for r in await lines(api, world.northwind.admin)] == [
        ("PENDING", "14.00"),
        ("REVERSED", "6.00"),
    ]
    # the refund was applied once: replaying it changes nothing
    assert (await refunded(api, world, "ref-1", "inv-1", "30.00"))["payment"] is None
    assert len(await lines(api, world.northwind.admin)) == 2


async def test_an_early_refund_in_another_currency_does_not_block_its_payment(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    await refunded(api, world, "ref-1", "inv-1", "10.00", currency="USD")

    payload = await pay(api, world, "inv-1", customer_id, amount="100.00", currency="EUR")

    assert payload["errors"] == []
    assert payload["commission"]["amount"] == money("20.00")  # the mismatching refund is not applied


async def test_a_payment_without_an_exchange_rate_is_refused_and_works_once_the_rate_exists(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    refused = await pay(api, world, "inv-1", customer_id, amount="10.00", currency="GBP")

    assert (refused["payment"], refused["commission"]) == (None, None)
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("currency", "NO_EXCHANGE_RATE")]
    assert await lines(api, world.northwind.admin) == []
    assert not await Payment.filter(external_id="inv-1").exists()  # nothing stored (no API lists payments)

    await exchange_rate(api, world, "GBP", "0.80")
    await exchange_rate(api, world, "EUR", "0.92")
    line = await earned(api, world, "inv-1", customer_id, amount="10.00", currency="GBP")

    assert (line["amount"], line["exchangeRate"]) == (money("2.30"), "1.15")


async def test_a_rate_valid_from_a_later_day_does_not_cover_an_earlier_payment(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER")
    await exchange_rate(api, world, "EUR", "0.90", valid_from=START.date() + timedelta(days=1))
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)

    refused = await pay(api, world, "inv-1", customer_id, amount="10.00", currency="USD")
    await exchange_rate(api, world, "EUR", "0.80", valid_from=START.date())
    line = await earned(api, world, "inv-1", customer_id, amount="10.00", currency="USD")

    assert [e["code"] for e in refused["errors"]] == ["NO_EXCHANGE_RATE"]
    assert line["exchangeRate"] == "0.80"  # the rate of the payment date, not the newest one


# --- idempotency ----------------------------------------------------------------------------------------


async def test_a_repeated_payment_returns_the_first_result_and_changes_nothing(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    first = await paid(api, world, "inv-1", customer_id, amount="100.00", paid_at=START)

    again = await paid(api, world, "inv-1", customer_id, amount="100.00", paid_at=START)

    assert again == first
    assert len(await lines(api, world.northwind.admin)) == 1


@pytest.mark.parametrize(
    "change",
    [{"amount": "100.01"}, {"currency": "USD"}, {"paid_at": START + timedelta(seconds=1)}, {"plan": "MINDMAP_PLAN"}],
)
async def test_a_repeated_payment_id_with_other_content_is_a_conflict(clock, api, world, change):
    await product_with_plan(api, world, "MINDMAP")
    await exchange_rate(api, world, "EUR", "0.92")
    await rule(api, world, program="SERVICE_PARTNER")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    await paid(api, world, "inv-1", customer_id, amount="100.00", paid_at=START)

    conflict = await pay(api, world, "inv-1", customer_id, **{"amount": "100.00", "paid_at": START, **change})

    assert [(e["field"], e["code"]) for e in conflict["errors"]] == [("externalId", "CONFLICT")]
    assert [r["amount"]["amount"] for r in await lines(api, world.northwind.admin)] == ["20.00"]


async def test_a_repeated_refund_is_applied_once_and_other_content_is_a_conflict(api, world, held):
    first = await refunded(api, world, "ref-1", "inv-1", "10.00")
    again = await refunded(api, world, "ref-1", "inv-1", "10.00")
    conflict = await refund(api, world, "ref-1", "inv-1", "11.00")

    assert again == first
    assert [e["code"] for e in conflict["errors"]] == ["CONFLICT"]
    assert await totals(api, world.northwind.admin) == {
        "pending": "18.00",
        "approved": "0.00",
        "paid": "0.00",
        "reversed": "2.00",
        "earned": "18.00",
    }


async def test_billing_events_need_an_api_key_with_billing_write(clock, api, world):
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    reports = await create_api_key(api, world.operator, ["REPORTS_READ"], "BI")
    variables = {
        "input": {
            "externalId": "inv-1",
            "organizationId": customer_id,
            "amount": {"amount": "1.00", "currency": "EUR"},
            "paidAt": START.isoformat(),
        }
    }

    assert await api.error_code(RECORD_PAYMENT, variables, api_key=reports) == "FORBIDDEN"
    assert await api.error_code(RECORD_PAYMENT, variables, token=world.operator.token) == "UNAUTHENTICATED"
    assert await api.error_code(RECORD_PAYMENT, variables) == "UNAUTHENTICATED"


async def test_fifty_concurrent_deliveries_of_one_payment_store_one_payment_and_one_commission(clock, api, world):
    await rule(api, world, program="SERVICE_PARTNER")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    variables = {
        "input": {
            "externalId": "inv-1",
            "organizationId": customer_id,
            "amount": {"amount": "100.00", "currency": "EUR"},
            "paidAt": START.isoformat(),
        }
    }

    answers = await asyncio.gather(*(api.post(RECORD_PAYMENT, variables, api_key=world.key) for _ in range(50)))

    assert all(not answer.get("errors") for answer in answers), [a["errors"] for a in answers if a.get("errors")]
    payloads = [answer["data"]["recordPayment"] for answer in answers]
    assert all(p["errors"] == [] for p in payloads), [p["errors"] for p in payloads if p["errors"]]
    assert len({p["payment"]["id"] for p in payloads}) == 1
    assert len({p["commission"]["id"] for p in payloads}) == 1
    assert [r["amount"]["amount"] for r in await lines(api, world.northwind.admin)] == ["20.00"]
    assert await Payment.filter(external_id="inv-1").count() == 1  # no API lists payments


# --- rounding of many random splits --------------------------------------------------------------------------


# Random refund splits checked against sums computed here. Each refund is one billing event of ~12 SQL
# statements (and the commission lookup by payment has no index yet, so it slows down as the ledger grows):
# 2,000 splits take ~15 s on SQLite; COMMISSION_SPLITS=10000 runs the full 10,000 (~2 min on SQLite).
SPLITS = int(os.environ.get("COMMISSION_SPLITS", "2000"))


@pytest.mark.slow  # SPLITS billing events
@pytest.mark.timeout(max(120, SPLITS // 20))
async def test_random_refund_splits_never_drift(clock, api, world):
    """Random payments in USD (17.35 %, converted to EUR at 0.9137), each split into 1 to 19 random
    partial refunds, SPLITS refunds in all. Every other payment is refunded completely (customer Contoso),
    the rest partly (customer Globex). The expected sums are computed here with Decimal, half to even:
    a line is rounded once; what refunds take off it is the rounded share of the *cumulative* refund, so
    the shares add up to exactly the whole line when the refunds add up to the payment.

    The first payment and its first refund go through GraphQL; the bulk calls the same resolvers
    (`resolvers.billing.record_payment` / `record_refund`) directly with the billing key's actor, which
    is several times faster than HTTP for thousands of events."""
    from partner_portal.models.identity import ApiKey
    from partner_portal.permissions.actor import Actor
    from partner_portal.permissions.enums import ApiKeyScope, Via
    from partner_portal.resolvers.billing import record_payment, record_refund

    await exchange_rate(api, world, "EUR", "0.9137")
    await rule(api, world, program="SERVICE_PARTNER", rate="17.35")
    _, complete_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    _, partial_id = await customer(api, "Globex Inc", choose=world.northwind)
    key_id = await ApiKey.all().order_by("id").first().values_list("id", flat=True)  # the world's billing key
    billing = Actor(via=Via.API_KEY, api_key_id=key_id, scopes=frozenset({ApiKeyScope.BILLING_WRITE}))

    rng = random.Random(20260302)
    factor = Decimal("0.1735") * Decimal("0.9137")
    expected = {"complete": [0, 0, 0], "partial": [0, 0, 0]}  # cents: [whole lines, left, reversed]
    splits = number = 0
    while splits < SPLITS:
        amount = rng.randint(2, 250_000)  # 0.02 to 2,500.00 USD
        parts = min(rng.randint(1, 19), amount, SPLITS - splits + (number % 2))
        cuts = sorted(rng.sample(range(1, amount), parts - 1))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, amount], strict=True)]
        complete = number % 2 == 0
        if not complete:
            shares = shares[:-1]  # the last part stays paid
        customer_id = complete_id if complete else partial_id
        external = f"inv-{number}"
        if number == 0:
            await paid(api, world, external, customer_id, amount=usd(amount), currency="USD")
        else:
            await record_payment(
                billing,
                api.settings,
                external_id=external,
                organization_id=pk(customer_id),
                amount=usd(amount),
                currency="USD",
                paid_at=START,
                plan_code=None,
            )
        for index, share in enumerate(shares):
            if number == 0 and index == 0:
                await refunded(api, world, f"{external}-r0", external, usd(share), currency="USD")
            else:
                await record_refund(
                    billing,
                    external_id=f"{external}-r{index}",
                    payment_external_id=external,
                    amount=usd(share),
                    currency="USD",
                    refunded_at=START,
                )
        splits += len(shares)
        whole = half_even(Decimal(amount) * factor)
        taken = half_even(Decimal(whole) * sum(shares) / amount)
        bucket = expected["complete" if complete else "partial"]
        bucket[0] += whole
        bucket[1] += whole - taken
        bucket[2] += taken
        number += 1
    assert splits == SPLITS

    complete_totals = await totals(api, world.northwind.admin, customerId=complete_id)
    partial_totals = await totals(api, world.northwind.admin, customerId=partial_id)
    # refunded completely: exactly the whole lines are reversed, nothing is left, not one cent of drift
    assert complete_totals == {
        "pending": "0.00",
        "approved": "0.00",
        "paid": "0.00",
        "reversed": eur(expected["complete"][0]),
        "earned": "0.00",
    }
    assert expected["complete"][1] == 0
    assert partial_totals == {
        "pending": eur(expected["partial"][1]),
        "approved": "0.00",
        "paid": "0.00",
        "reversed": eur(expected["partial"][2]),
        "earned": eur(expected["partial"][1]),
    }
    assert expected["partial"][1] + expected["partial"][2] == expected["partial"][0]


def usd(minor: int) -> str:
    return str(Decimal(minor).scaleb(-2))


eur = usd


# --- the commission table -----------------------------------------------------------------------------------


@dataclass
class Ledger:
    contoso: str
    globex: str
    initech: str


@pytest.fixture
async def ledger(clock, api, world) -> Ledger:
    """Northwind's lines over four days:

    day 0  Contoso (SELF)     inv-1 100.00 → 20.00, released on day 3 (hold 3 days)
    day 1  Globex (PARTNER)   inv-2  50.00 → 10.00, pending
    day 1  Initech (AFFILIATE, 10 %) inv-3 80.00 → 8.00, pending
    day 2  Contoso            inv-4  30.00 →  6.00, refunded 15.00 on day 2: 3.00 pending + 3.00 reversed
    day 3  Globex             inv-5  10.00 →  2.00, pending
    """
    await rule(api, world, program="SERVICE_PARTNER", holdDays=3)
    await rule(api, world, program="AFFILIATE", rate="10.00", holdDays=3)
    _, contoso = await customer(api, "Contoso Ltd", choose=world.northwind)
    globex = await invited_customer(api, world, world.northwind, "Globex Inc")
    _, initech = await customer(api, "Initech LLC")
    await refer(initech, world.northwind, "AFFILIATE")
    await paid(api, world, "inv-1", contoso, amount="100.00")
    clock.shift(timedelta(days=1))
    await paid(api, world, "inv-2", globex, amount="50.00")
    await paid(api, world, "inv-3", initech, amount="80.00")
    clock.shift(timedelta(days=1))
    await paid(api, world, "inv-4", contoso, amount="30.00")
    await refunded(api, world, "ref-4", "inv-4", "15.00")
    clock.shift(timedelta(days=1))
    assert await run_job("commissions", api.settings) == "1 commission line(s) released"
    await paid(api, world, "inv-5", globex, amount="10.00")
    # noise: another partner's line must never show
    _, other = await customer(api, "Umbrella Corp")
    await refer(other, world.fabrikam, "AFFILIATE")
    await paid(api, world, "inv-6", other, amount="1000.00")
    return Ledger(contoso, globex, initech)


def summary(rows: list[dict]) -> list[tuple[str, str, str, str]]:
    return [(r["customerName"], r["type"], r["status"], r["amount"]["amount"]) for r in rows]


def sums(rows: list[dict]) -> dict[str, str]:
    """The totals computed here from the lines themselves."""
    by_status = {
        s: sum(Decimal(r["amount"]["amount"]) for r in rows if r["status"] == s)
        for s in ("PENDING", "APPROVED", "PAID", "REVERSED")
    }
    figures = {key.lower(): value for key, value in by_status.items()}
    figures["earned"] = by_status["PENDING"] + by_status["APPROVED"] + by_status["PAID"]
    return {key: f"{value:.2f}" for key, value in figures.items()}


async def test_the_table_lists_the_partners_lines_oldest_or_newest_first(api, world, ledger):
    admin = world.northwind.admin
    oldest_first = (await table(api, admin, newestFirst=False))["lines"]
    newest_first = (await table(api, admin))["lines"]

    assert summary([e["node"] for e in oldest_first["edges"]]) == [
        ("Contoso Ltd", "SELF", "APPROVED", "20.00"),
        ("Globex Inc", "PARTNER", "PENDING", "10.00"),
        ("Initech LLC", "AFFILIATE", "PENDING", "8.00"),
        ("Contoso Ltd", "SELF", "PENDING", "3.00"),
        ("Contoso Ltd", "SELF", "REVERSED", "3.00"),
        ("Globex Inc", "PARTNER", "PENDING", "2.00"),
    ]
    assert [e["node"]["id"] for e in newest_first["edges"]] == [e["node"]["id"] for e in oldest_first["edges"]][::-1]
    assert oldest_first["totalCount"] == newest_first["totalCount"] == 6


async def test_the_table_pages_with_cursors(api, world, ledger):
    admin = world.northwind.admin
    seen, after = [], None
    while True:
        page = (await table(api, admin, first=4, after=after, newestFirst=False))["lines"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert seen == [row["id"] for row in await lines(api, admin)]
    assert len(seen) == 6


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            {"status": "PENDING"},
            [("Globex Inc", "10.00"), ("Initech LLC", "8.00"), ("Contoso Ltd", "3.00"), ("Globex Inc", "2.00")],
        ),
        ({"status": "APPROVED"}, [("Contoso Ltd", "20.00")]),
        ({"status": "REVERSED"}, [("Contoso Ltd", "3.00")]),
        ({"status": "PAID"}, []),
        ({"type": "PARTNER"}, [("Globex Inc", "10.00"), ("Globex Inc", "2.00")]),
        ({"type": "AFFILIATE"}, [("Initech LLC", "8.00")]),
        ({"type": "CODE"}, []),
        ({"customer": "contoso"}, [("Contoso Ltd", "20.00"), ("Contoso Ltd", "3.00"), ("Contoso Ltd", "3.00")]),
        (
            {"createdFrom": 1},
            [
                ("Globex Inc", "10.00"),
                ("Initech LLC", "8.00"),
                ("Contoso Ltd", "3.00"),
                ("Contoso Ltd", "3.00"),
                ("Globex Inc", "2.00"),
            ],
        ),
        ({"createdUntil": 1}, [("Contoso Ltd", "20.00")]),  # the end is exclusive
        ({"createdFrom": 1, "createdUntil": 2}, [("Globex Inc", "10.00"), ("Initech LLC", "8.00")]),
        ({"createdFrom": 1, "createdUntil": 3, "type": "SELF", "status": "REVERSED"}, [("Contoso Ltd", "3.00")]),
    ],
)
async def test_the_filters_and_their_totals(api, world, ledger, arguments, expected):
    variables = dict(arguments)
    if "customer" in variables:
        variables["customerId"] = getattr(ledger, variables.pop("customer"))
    for key in ("createdFrom", "createdUntil"):
        if key in variables:
            variables[key] = (START + timedelta(days=variables[key])).isoformat()

    result = await table(api, world.northwind.admin, newestFirst=False, **variables)

    rows = [e["node"] for e in result["lines"]["edges"]]
    assert [(r["customerName"], r["amount"]["amount"]) for r in rows] == expected
    assert result["lines"]["totalCount"] == len(expected)
    assert {k: v["amount"] for k, v in result["totals"].items()} == sums(rows)
    assert {v["currency"] for v in result["totals"].values()} == {"EUR"}


async def test_the_totals_and_the_dashboard_agree_with_sums_of_the_lines(api, world, ledger):
    admin = world.northwind.admin
    rows = await lines(api, admin)
    figures = await totals(api, admin)
    dashboard = (await api.data(DASHBOARD, token=admin.token))["partnerDashboard"]

    assert (
        figures
        == sums(rows)
        == {"pending": "23.00", "approved": "20.00", "paid": "0.00", "reversed": "3.00", "earned": "43.00"}
    )
    assert dashboard["totalCommission"] == money(figures["earned"])
    assert dashboard["paidCommission"] == money(figures["paid"])
    assert dashboard["openCommission"] == money(str(Decimal(figures["pending"]) + Decimal(figures["approved"])))


async def test_who_may_read_a_partners_commission_table(api, world, ledger):
    northwind = world.northwind
    portal = await register(api, "pia@northwind.example", "Pia Portal")
    await add_member(api, northwind.admin, northwind.id, portal.email, partner_permissions=["MANAGE_PARTNER_PORTAL"])
    customers_only = await register(api, "cas@northwind.example", "Cas Customers")
    await add_member(
        api, northwind.admin, northwind.id, customers_only.email, partner_permissions=["ADMINISTER_CUSTOMERS"]
    )
    payouts = await register(api, "pat@vendor.example", "Pat Payouts")
    await make_operator(api, payouts, ["MANAGE_PAYOUTS"])
    programs_only = await register(api, "pam@vendor.example", "Pam Programs")
    await make_operator(api, programs_only, ["MANAGE_PROGRAMS", "VIEW_ALL_REPORTS"])
    named = {"partnerId": northwind.id}
    own = [row["id"] for row in await lines(api, northwind.admin)]

    # allowed: the partner's MANAGE_PARTNER_PORTAL holders, operators with MANAGE_PAYOUTS naming the partner
    assert [row["id"] for row in await lines(api, portal)] == own
    assert [row["id"] for row in await lines(api, portal, **named)] == own
    assert [row["id"] for row in await lines(api, payouts, **named)] == own
    # denied
    assert await api.error_code(COMMISSIONS, {}, token=customers_only.token) == "FORBIDDEN"
    assert await api.error_code(COMMISSIONS, named, token=customers_only.token) == "FORBIDDEN"
    assert await api.error_code(COMMISSIONS, named, token=world.fabrikam.admin.token) == "NOT_FOUND"
    # an operator without MANAGE_PAYOUTS sees the partner but may not read its table
    assert await api.error_code(COMMISSIONS, named, token=programs_only.token) == "FORBIDDEN"
    assert await api.error_code(COMMISSIONS, {}, token=payouts.token) == "NO_ORGANIZATION"
    assert await api.error_code(COMMISSIONS, named, api_key=world.key) == "UNAUTHENTICATED"
    assert await api.error_code(COMMISSIONS, named) == "UNAUTHENTICATED"
    # the other partner's own table holds only its own line
    assert summary(await lines(api, world.fabrikam.admin)) == [("Umbrella Corp", "AFFILIATE", "PENDING", "100.00")]


# --- at scale: a constant number of queries -------------------------------------------------------------------

SCALE_DASHBOARD = """
{ partnerDashboard { customers openInvitations activeCustomers trialCustomers
                     totalCommission { amount currency } paidCommission { amount currency }
                     openCommission { amount currency } } }"""
SCALE_TABLE = (
    """
{ commissions(first: 100) {
    lines { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ...Line } } }
    totals { pending { amount } approved { amount } paid { amount } reversed { amount } earned { amount } }
} }"""
    + LINE
)


@pytest.mark.slow  # writes 100,000 lines
async def test_dashboard_and_table_use_the_same_number_of_queries_at_ten_and_100000_lines(clock, api, world):
    admin = world.northwind.admin
    partner_id = pk(world.northwind.id)
    customer_ids = [
        pk((await customer(api, name, choose=world.northwind))[1])
        for name in ("Contoso Ltd", "Globex Inc", "Initech LLC")
    ]
    statuses = ["PENDING", "APPROVED", "PAID", "REVERSED"]

    def make_lines(start: int, count: int) -> list[Commission]:
        return [
            Commission(
                source_key=f"payment:{n}",
                partner_id=partner_id,
                customer_id=customer_ids[n % 3],
                type="SELF",
                status=statuses[n % 4],
                amount=100 + n % 7,
                currency="EUR",
                original_amount=500 + n % 7,
                original_currency="EUR",
                exchange_rate="1",
                rate_bp=2000,
                hold_until=START,
                created_at=START,
            )
            for n in range(start, start + count)
        ]

    async def queries() -> tuple[int, int, dict, dict]:
        with api.count_queries() as counter:
            dashboard = (await api.data(SCALE_DASHBOARD, token=admin.token))["partnerDashboard"]
        dashboard_queries = counter.count
        with api.count_queries() as counter:
            commission_table = (await api.data(SCALE_TABLE, token=admin.token))["commissions"]
        return dashboard_queries, counter.count, dashboard, commission_table

    # One multi-row INSERT per batch instead of one statement per line: 100,000 lines in seconds.
    # 1,000 rows × 15 columns stays under SQLite's (32,766) and asyncpg's (32,767) bound-parameter limits.
    await Commission.bulk_create(make_lines(0, 10), batch_size=1_000)
    small_dashboard, small_table, _, page = await queries()
    assert len(page["lines"]["edges"]) == 10

    with api.count_queries() as inserts:
        await Commission.bulk_create(make_lines(10, 99_990), batch_size=1_000)
    large_dashboard, large_table, dashboard, page = await queries()

    assert (large_dashboard, large_table) == (small_dashboard, small_table)
    # dashboard: the session (with the memberships), the figures with the payout currency (one statement);
    # table: the session, partner profile (with the payout currency), the page (customer names joined),
    # its count, the totals (one GROUP BY status)
    assert (small_dashboard, small_table) == (2, 5)
    assert len(page["lines"]["edges"]) == 100 and page["lines"]["totalCount"] == 100_000
    # the sums are right at that size too (independently: the amounts cycle through 100..106)
    expected = dict.fromkeys(statuses, 0)
    for n in range(100_000):
        expected[statuses[n % 4]] += 100 + n % 7
    assert page["totals"]["reversed"]["amount"] == str(Decimal(expected["REVERSED"]).scaleb(-2))
    assert page["totals"]["earned"]["amount"] == str(
        Decimal(expected["PENDING"] + expected["APPROVED"] + expected["PAID"]).scaleb(-2)
    )
    assert dashboard["openCommission"]["amount"] == str(Decimal(expected["PENDING"] + expected["APPROVED"]).scaleb(-2))
    assert len([statement for statement in inserts.statements if "INSERT" in statement]) == 100  # 1,000 rows each


EXCHANGE_RATES = "query Rates($currency: String) { exchangeRates(currency: $currency, first: 10) { totalCount } }"


@pytest.mark.parametrize("currency", ["null", "EURO", "€"])
async def test_the_exchange_rates_refuse_a_currency_that_is_no_iso_code(api, world, currency):
    # Found by the fuzzer (tests/test_fuzz.py): a currency longer than the column was an internal error.
    assert await api.error_code(EXCHANGE_RATES, {"currency": currency}, token=world.operator.token) == (
        "BAD_USER_INPUT"
    )
    assert (await api.data(EXCHANGE_RATES, {"currency": "eur"}, token=world.operator.token))["exchangeRates"][
        "totalCount"
    ] == 0


LICENSE_COUNTS = "query Counts($p: ID) { partnerDashboard(partnerId: $p) { customers activeCustomers trialCustomers } }"


async def test_the_dashboard_license_counts_follow_every_license_change_and_move(api, world):
    """The dashboard counts the copy of each customer's license status on its relationship: a license
    set before the customer chose the partner, changes from the billing system, and a move to
    another partner are all counted where they belong."""
    northwind = world.northwind
    southwind = await make_partner(api, world.operator, "admin@southwind.example", "Southwind Partners")
    admin, customer_id = await customer(api, "Moving Co")

    async def change_license(external_id: str, status: str) -> None:
        payload = (
            await api.data(
                RECORD_LICENSE_CHANGE,
                {
                    "input": {
                        "externalId": external_id,
                        "organizationId": customer_id,
                        "status": status,
                        "plan": "Business",
                        "mrr": money("50.00"),
                    }
                },
                api_key=world.key,
            )
        )["recordLicenseChange"]
        assert payload["errors"] == [] and payload["license"]["status"] == status

    async def counts(partner: Partner) -> tuple[int, int, int]:
        figures = (await api.data(LICENSE_COUNTS, token=partner.admin.token))["partnerDashboard"]
        return figures["customers"], figures["activeCustomers"], figures["trialCustomers"]

    await change_license("lic-1", "TRIAL")  # before it has a partner
    await select(api, admin, customer_id, northwind)
    assert await counts(northwind) == (1, 0, 1)

    await change_license("lic-2", "ACTIVE")
    assert await counts(northwind) == (1, 1, 0)

    await api.data(REMOVE_PARTNER, {"id": customer_id}, token=admin.token)
    await change_license("lic-3", "PAST_DUE")  # while it has none
    await change_license("lic-4", "ACTIVE")
    await select(api, admin, customer_id, southwind)
    assert await counts(northwind) == (0, 0, 0)
    assert await counts(southwind) == (1, 1, 0)

    await change_license("lic-5", "CANCELED")
    assert await counts(southwind) == (1, 0, 0)


# --- what a line links to: customer, payment, product, payout ---------------------------------------------------

LINKS = """
fragment Links on Commission {
  id customerId customerName customer { id name } payment { id externalId } product { id } payout { id }
}"""
LINE_LINKS = (
    """
query Links($customerId: ID) {
  commissions(customerId: $customerId, first: 100, newestFirst: false) { lines { edges { node { ...Links } } } }
}"""
    + LINKS
)
NODE_LINKS = "query Line($id: ID!) { node(id: $id) { ...Links } }" + LINKS
SET_PAYOUT_SETTINGS = """
mutation Settings($input: SetPayoutSettingsInput!) { setPayoutSettings(input: $input) { errors { code } } }"""
REQUEST_PAYOUT = "mutation { requestPayout(input: {}) { payout { id } errors { code } } }"


async def linked_lines(api, who: Person, customer_id: str | None = None) -> list[dict]:
    data = await api.post(LINE_LINKS, {"customerId": customer_id}, token=who.token)
    assert not data.get("errors"), data["errors"]
    return [edge["node"] for edge in data["data"]["commissions"]["lines"]["edges"]]


async def test_a_line_links_its_customer_payment_product_and_payout_where_the_viewer_sees_them(clock, api, world):
    # Given Contoso chose Northwind, paid for a plan of a product, and Northwind requested the payout of its line
    await exchange_rate(api, world, "EUR", "0.90")
    await rule(api, world, program="SERVICE_PARTNER", holdDays=0)
    product_id, plan = await product_with_plan(api, world, "TASKS")
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    payment = (await paid(api, world, "inv-1", customer_id, amount="1000.00", plan=plan))["payment"]
    partner = world.northwind.admin
    settings = {"method": "PAYPAL", "paypalEmail": "payouts@northwind.example", "automatic": False}
    assert (await api.data(SET_PAYOUT_SETTINGS, {"input": settings}, token=partner.token))["setPayoutSettings"][
        "errors"
    ] == []
    payout = (await api.data(REQUEST_PAYOUT, token=partner.token))["requestPayout"]["payout"]

    # When the partner reads its lines, and the billing system (which sees every line, no organization) the same
    (line,) = await linked_lines(api, partner)
    as_billing = await api.post(NODE_LINKS, {"id": line["id"]}, api_key=world.key)

    # Then the partner sees every object the line links to, and the filter takes the customer's id
    assert line["customer"] == {"id": customer_id, "name": "Contoso Ltd"} and line["customerId"] == customer_id
    assert line["payment"] == {"id": payment["id"], "externalId": "inv-1"}
    assert line["product"] == {"id": product_id}
    assert line["payout"] == {"id": payout["id"]}
    assert [row["id"] for row in await linked_lines(api, partner, line["customer"]["id"])] == [line["id"]]
    # the billing key sees the payment and the product, not the organization nor the payout (null, no error)
    assert not as_billing.get("errors"), as_billing["errors"]
    node = as_billing["data"]["node"]
    assert (node["customerId"], node["customer"], node["payout"]) == (customer_id, None, None)
    assert (node["payment"], node["product"]) == ({"id": payment["id"], "externalId": "inv-1"}, {"id": product_id})


async def test_a_referred_customers_line_names_it_without_showing_it_and_filters_by_its_id(clock, api, world):
    # Given two customers that came through Northwind's affiliate link (referrals: no customers it administers)
    await rule(api, world, program="AFFILIATE", rate="10.00")
    _, contoso = await customer(api, "Contoso Ltd")
    _, fabrikam = await customer(api, "Fabrikam Inc")
    for external_id, customer_id in (("inv-1", contoso), ("inv-2", fabrikam)):
        await refer(customer_id, world.northwind, "AFFILIATE")
        await paid(api, world, external_id, customer_id)

    # When Northwind reads its lines, then filters by the id the first line shows
    first, second = await linked_lines(api, world.northwind.admin)
    filtered = await linked_lines(api, world.northwind.admin, first["customerId"])

    # Then the lines name the customers and carry their ids, but the organizations stay hidden (null)
    assert [(row["customerName"], row["customerId"], row["customer"]) for row in (first, second)] == [
        ("Contoso Ltd", contoso, None),
        ("Fabrikam Inc", fabrikam, None),
    ]
    assert first["payment"] is not None and first["payout"] is None
    assert [row["id"] for row in filtered] == [first["id"]]
