"""Reseller coupons: price tables, orders invoiced at wholesale, listing, redemption once."""

from __future__ import annotations

import asyncio
from base64 import b64decode
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest

from partner_portal.models.audit import AuditEvent
from partner_portal.models.billing import License
from partner_portal.models.coupons import Coupon
from tests.conftest import START, Api, start_api, test_settings
from tests.documents import CREATE_PLAN, CREATE_PRODUCT
from tests.support import Partner, Person, add_member, create_organization, make_partner, operator, register

SET_DISCOUNT = """
mutation Discount($input: SetResellerDiscountInput!) {
  setResellerDiscount(input: $input) { partnerId discount errors { field code } }
}"""
PRICE_TABLE = """
query Prices($partnerId: ID, $currency: String) {
  resellerPriceTable(partnerId: $partnerId, currency: $currency) {
    discount
    rows { plan { code } listPrice { amount currency } discount wholesalePrice { amount currency }
           margin { amount currency } }
  }
}"""
CREATE_COUPONS = """
mutation Create($input: CreateCouponsInput!) {
  createCoupons(input: $input) {
    order {
      id count months plan { code } listPrice { amount currency } discount wholesalePrice { amount currency }
      total { amount currency } invoice { number amount { amount currency } }
    }
    coupons { code status months planCode }
    errors { field code }
  }
}"""
ORDERS = """
query Orders($partnerId: ID) {
  couponOrders(partnerId: $partnerId) {
    totalCount
    edges { node { id count months total { amount currency } invoice { number amount { amount currency } } } }
  }
}"""
COUPONS = """
query Coupons($orderId: ID, $status: CouponStatus, $first: Int) {
  coupons(orderId: $orderId, status: $status, first: $first) {
    totalCount edges { node { code status redeemedAt organizationId paidUntil } }
  }
}"""
REDEEM = """
mutation Redeem($input: RedeemCouponInput!) {
  redeemCoupon(input: $input) {
    license { status plan monthlyRecurringRevenue { amount currency } }
    planCode months paidUntil
    errors { field code }
  }
}"""


@dataclass(frozen=True)
class World:
    operator: Person
    reseller: Partner
    plans: dict[str, str]  # plan code → global id


async def build(api: Api) -> World:
    reviewer = await operator(api)
    reseller = await make_partner(api, reviewer, programs=["RESELLER"])
    product = (await api.data(CREATE_PRODUCT, {"input": {"code": "TASKS", "name": "Tasks"}}, token=reviewer.token))[
        "createProduct"
    ]["product"]
    plans = {}
    for code, prices in {
        "PRO": [("19.99", "EUR"), ("21.99", "USD"), ("1500", "JPY")],
        "BIZ": [("10.01", "EUR")],
    }.items():
        created = (
            await api.data(
                CREATE_PLAN,
                {
                    "input": {
                        "productId": product["id"],
                        "code": code,
                        "name": f"Tasks {code.title()}",
                        "prices": [{"amount": a, "currency": c} for a, c in prices],
                    }
                },
                token=reviewer.token,
            )
        )["createPlan"]
        assert created["errors"] == []
        plans[code] = created["plan"]["id"]
    return World(reviewer, reseller, plans)


@pytest.fixture
async def world(api: Api, clock) -> World:
    return await build(api)


async def set_discount(api: Api, world: World, discount: str) -> dict:
    return (
        await api.data(
            SET_DISCOUNT, {"input": {"partnerId": world.reseller.id, "discount": discount}}, token=world.operator.token
        )
    )["setResellerDiscount"]


async def order(
    api: Api,
    world: World,
    plan: str = "PRO",
    count: int = 3,
    months: int = 12,
    currency: str | None = "EUR",
    token: str | None = None,
) -> dict:
    body = await api.data(
        CREATE_COUPONS,
        {"input": {"planId": world.plans[plan], "count": count, "months": months, "currency": currency}},
        token=token or world.reseller.admin.token,
    )
    return body["createCoupons"]


def pk(global_id: str) -> int:
    return int(b64decode(global_id).decode().split(":")[1])


# --- price table and orders ---------------------------------------------------------------------------------


async def test_the_price_table_shows_list_price_discount_wholesale_and_margin(api, world):
    assert (await set_discount(api, world, "25"))["errors"] == []

    table = (await api.data(PRICE_TABLE, {}, token=world.reseller.admin.token))["resellerPriceTable"]

    assert table["discount"] == "25.00"
    rows = {(r["plan"]["code"], r["listPrice"]["currency"]): r for r in table["rows"]}
    assert rows[("PRO", "EUR")] == {
        "plan": {"code": "PRO"},
        "listPrice": {"amount": "19.99", "currency": "EUR"},
        "discount": "25.00",
        "wholesalePrice": {"amount": "14.99", "currency": "EUR"},  # 14.9925 → 14.99
        "margin": {"amount": "5.00", "currency": "EUR"},
    }
    assert rows[("PRO", "JPY")]["wholesalePrice"] == {"amount": "1125", "currency": "JPY"}
    assert set(rows) == {("PRO", "EUR"), ("PRO", "USD"), ("PRO", "JPY"), ("BIZ", "EUR")}
    only_usd = await api.data(PRICE_TABLE, {"currency": "usd"}, token=world.reseller.admin.token)
    assert [r["listPrice"]["currency"] for r in only_usd["resellerPriceTable"]["rows"]] == ["USD"]
    # operators with MANAGE_PROGRAMS read a reseller's table by naming it
    named = await api.data(PRICE_TABLE, {"partnerId": world.reseller.id}, token=world.operator.token)
    assert named["resellerPriceTable"]["discount"] == "25.00"


async def test_a_reseller_without_a_level_buys_at_ten_percent_and_levels_stay_within_10_to_60(api, world):
    table = (await api.data(PRICE_TABLE, {}, token=world.reseller.admin.token))["resellerPriceTable"]
    assert table["discount"] == "10.00"
    for wrong in ("9.99", "60.01", "12.345"):
        assert [e["code"] for e in (await set_discount(api, world, wrong))["errors"]] == ["INVALID_VALUE"]
    assert (await set_discount(api, world, "60"))["discount"] == "60.00"
    other = await make_partner(api, world.operator, "admin@affiliate.example", "Affiliate Only", programs=["AFFILIATE"])
    refused = (
        await api.data(SET_DISCOUNT, {"input": {"partnerId": other.id, "discount": "20"}}, token=world.operator.token)
    )["setResellerDiscount"]
    assert [e["field"] for e in refused["errors"]] == ["partnerId"]
    assert (
        await api.error_code(
            SET_DISCOUNT,
            {"input": {"partnerId": world.reseller.id, "discount": "20"}},
            token=world.reseller.admin.token,
        )
        == "FORBIDDEN"
    )


@pytest.mark.parametrize(
    ("discount", "plan", "currency", "count", "months", "unit", "total"),
    [
        ("25", "PRO", "EUR", 3, 12, "14.99", "539.64"),  # 19.99 × 0.75 = 14.9925 → 14.99
        ("50", "BIZ", "EUR", 7, 5, "5.00", "175.00"),  # 10.01 × 0.5 = 5.005 → 5.00 (half to even, not 5.01)
        ("33.33", "PRO", "USD", 1000, 36, "14.66", "527760.00"),  # 21.99 × 0.6667 = 14.660733 → 14.66
        ("12.5", "PRO", "JPY", 9, 1, "1312", "11808"),  # 1500 × 0.875 = 1312.5 → 1312 (even)
    ],
)
async def test_an_order_is_invoiced_at_wholesale_times_count_times_months_exactly(
    api, world, discount, plan, currency, count, months, unit, total
):
    await set_discount(api, world, discount)

    created = await order(api, world, plan, count, months, currency)

    assert created["errors"] == []
    placed = created["order"]
    assert placed["wholesalePrice"] == {"amount": unit, "currency": currency}
    assert Decimal(total) == Decimal(unit) * count * months
    assert placed["total"] == {"amount": total, "currency": currency}
    assert placed["invoice"]["amount"] == {"amount": total, "currency": currency}
    assert placed["invoice"]["number"].startswith("CPN-2026-")
    assert len(created["coupons"]) == count
    codes = {c["code"] for c in created["coupons"]}
    assert len(codes) == count and all(len(c) == 20 for c in codes)
    assert {c["status"] for c in created["coupons"]} == {"UNUSED"}


async def test_the_order_currency_defaults_to_the_payout_currency_and_must_be_priced(api, world):
    assert (await order(api, world, currency=None))["order"]["total"]["currency"] == "EUR"
    refused = await order(api, world, "BIZ", currency="USD")
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("currency", "INVALID_VALUE")]


@pytest.mark.parametrize(
    ("count", "months", "field"),
    [(0, 12, "count"), (1001, 12, "count"), (-1, 1, "count"), (1, 0, "months"), (1, 37, "months")],
)
async def test_count_and_months_are_limited(api, world, count, months, field):
    created = await order(api, world, count=count, months=months)

    assert created["order"] is None
    assert [(e["field"], e["code"]) for e in created["errors"]] == [(field, "INVALID_VALUE")]
    assert await Coupon.all().count() == 0


async def test_only_portal_managers_of_resellers_may_order(api, world):
    variables = {"input": {"planId": world.plans["PRO"], "count": 1, "months": 1}}
    affiliate = await make_partner(api, world.operator, "admin@affiliate.example", "Affiliate", programs=["AFFILIATE"])
    assert await api.error_code(CREATE_COUPONS, variables, token=affiliate.admin.token) == "FORBIDDEN"
    assert await api.error_code(PRICE_TABLE, {}, token=affiliate.admin.token) == "FORBIDDEN"
    assert await api.error_code(ORDERS, {}, token=affiliate.admin.token) == "FORBIDDEN"
    staff = await register(api, "sam@northwind.example")
    await add_member(
        api,
        world.reseller.admin,
        world.reseller.id,
        staff.email,
        partner_permissions=["ADMINISTER_CUSTOMERS", "CREATE_CUSTOMER_ORGANIZATIONS"],
    )
    for document in (CREATE_COUPONS, PRICE_TABLE, ORDERS, COUPONS):
        assert (
            await api.error_code(document, variables if document is CREATE_COUPONS else {}, token=staff.token)
            == "FORBIDDEN"
        )
    manager = await register(api, "mia@northwind.example")
    await add_member(
        api, world.reseller.admin, world.reseller.id, manager.email, partner_permissions=["MANAGE_PARTNER_PORTAL"]
    )
    assert (await order(api, world, count=1, months=1, token=manager.token))["errors"] == []
    assert await api.error_code(CREATE_COUPONS, variables) == "UNAUTHENTICATED"
    assert await api.error_code(ORDERS, {"partnerId": world.reseller.id}, token=affiliate.admin.token) == "NOT_FOUND"


async def test_orders_coupons_and_invoices_are_listed(api, world):
    first = (await order(api, world, count=2, months=3))["order"]
    second = (await order(api, world, "BIZ", count=4, months=1))["order"]

    listed = (await api.data(ORDERS, {}, token=world.reseller.admin.token))["couponOrders"]

    assert listed["totalCount"] == 2
    assert [e["node"]["id"] for e in listed["edges"]] == [second["id"], first["id"]]  # newest first
    assert listed["edges"][1]["node"]["invoice"] == first["invoice"]
    everything = (await api.data(COUPONS, {}, token=world.reseller.admin.token))["coupons"]
    assert everything["totalCount"] == 6
    of_first = (await api.data(COUPONS, {"orderId": first["id"]}, token=world.reseller.admin.token))["coupons"]
    assert of_first["totalCount"] == 2
    others = await make_partner(api, world.operator, "admin@southwind.example", "Southwind", programs=["RESELLER"])
    assert (await api.data(COUPONS, {}, token=others.admin.token))["coupons"]["totalCount"] == 0


# --- redemption ---------------------------------------------------------------------------------------------


async def customer(api: Api, email: str = "chris@contoso.example") -> tuple[Person, dict]:
    admin = await register(api, email)
    return admin, await create_organization(api, admin, "Contoso Ltd")


async def redeem(api: Api, person: Person, organization_id: str, code: str) -> dict:
    return (await api.data(REDEEM, {"input": {"organizationId": organization_id, "code": code}}, token=person.token))[
        "redeemCoupon"
    ]


async def test_a_redemption_sets_the_license_for_the_months_bought_and_happens_once(api, world, clock):
    await set_discount(api, world, "25")
    created = await order(api, world, count=2, months=12)
    code = created["coupons"][0]["code"]
    admin, organization = await customer(api)

    typed = f"{code[:5].lower()}-{code[5:10]} {code[10:]}"
    redeemed = await redeem(api, admin, organization["id"], typed)

    assert redeemed["errors"] == []
    assert redeemed["license"] == {
        "status": "ACTIVE",
        "plan": "Tasks Pro",
        "monthlyRecurringRevenue": {"amount": "14.99", "currency": "EUR"},
    }
    assert (redeemed["planCode"], redeemed["months"]) == ("PRO", 12)
    assert redeemed["paidUntil"].startswith("2027-03-02")
    again = await redeem(api, admin, organization["id"], code)
    assert [(e["field"], e["code"]) for e in again["errors"]] == [("code", "INVALID_VALUE")]
    unknown = await redeem(api, admin, organization["id"], "ABCDEFGHJKLMNPQRSTUV")
    assert unknown["errors"] == again["errors"]  # used and unknown look alike
    # a second coupon continues after the first one's months
    second = await redeem(api, admin, organization["id"], created["coupons"][1]["code"])
    assert second["paidUntil"].startswith("2028-03-02")

    statuses = (await api.data(COUPONS, {"status": "REDEEMED"}, token=world.reseller.admin.token))["coupons"]
    assert statuses["totalCount"] == 2
    assert {e["node"]["organizationId"] for e in statuses["edges"]} == {organization["id"]}


async def test_expired_coupons_do_not_redeem(api, world, clock):
    created = await order(api, world, count=2, months=1)
    admin, organization = await customer(api)
    await Coupon.all().update(expires_at=START - timedelta(seconds=1))  # sessions would expire with a shifted clock

    refused = await redeem(api, admin, organization["id"], created["coupons"][0]["code"])

    assert [e["code"] for e in refused["errors"]] == ["INVALID_VALUE"]
    expired = (await api.data(COUPONS, {"status": "EXPIRED"}, token=world.reseller.admin.token))["coupons"]
    assert expired["totalCount"] == 2
    assert (await api.data(COUPONS, {"status": "UNUSED"}, token=world.reseller.admin.token))["coupons"][
        "totalCount"
    ] == 0


async def test_only_administrators_and_license_orderers_of_the_organization_redeem(api, world):
    created = await order(api, world, count=1, months=1)
    code = created["coupons"][0]["code"]
    admin, organization = await customer(api)
    member = await register(api, "max@contoso.example")
    await add_member(api, admin, organization["id"], member.email, organization_permissions=["VIEW_BILLING"])
    stranger = await register(api, "sue@elsewhere.example")
    variables = {"input": {"organizationId": organization["id"], "code": code}}

    assert await api.error_code(REDEEM, variables, token=member.token) == "FORBIDDEN"
    assert await api.error_code(REDEEM, variables, token=stranger.token) == "NOT_FOUND"
    assert await api.error_code(REDEEM, variables) == "UNAUTHENTICATED"
    assert await License.filter(organization_id=pk(organization["id"])).count() == 0
    orderer = await register(api, "olga@contoso.example")
    await add_member(api, admin, organization["id"], orderer.email, organization_permissions=["ORDER_LICENSES"])
    assert (await redeem(api, orderer, organization["id"], code))["errors"] == []


@pytest.fixture
async def fast_api(database_url: str) -> AsyncIterator[Api]:
    """The throttle out of the way of 50 concurrent attempts by one client."""
    async for running in start_api(test_settings(database_url, code_lookup_rate="1000/minute")):
        yield running


async def test_fifty_concurrent_redemptions_of_one_coupon_change_the_license_once(fast_api, clock):
    api = fast_api
    world = await build(api)
    code = (await order(api, world, count=1, months=6))["coupons"][0]["code"]
    admin, organization = await customer(api)
    variables = {"input": {"organizationId": organization["id"], "code": code}}

    bodies = await asyncio.gather(*(api.post(REDEEM, variables, token=admin.token) for _ in range(50)))

    assert all(not body.get("errors") for body in bodies), [b["errors"] for b in bodies if b.get("errors")]
    outcomes = [body["data"]["redeemCoupon"] for body in bodies]
    assert sum(1 for o in outcomes if o["errors"] == []) == 1
    assert sum(1 for o in outcomes if [e["code"] for e in o["errors"]] == ["INVALID_VALUE"]) == 49
    organization_pk = pk(organization["id"])
    assert await AuditEvent.filter(action="license.set", organization_id=organization_pk).count() == 1
    assert await AuditEvent.filter(action="coupon.redeem", organization_id=organization_pk).count() == 1
    assert await License.filter(organization_id=organization_pk).count() == 1
    assert await Coupon.filter(code=code, organization_id=organization_pk, redeemed_at__isnull=False).count() == 1


@pytest.fixture
async def throttled_api(database_url: str) -> AsyncIterator[Api]:
    async for running in start_api(test_settings(database_url, code_lookup_rate="5/minute")):
        yield running


async def test_redemptions_are_rate_limited_per_client(throttled_api, clock):
    api = throttled_api
    world = await build(api)
    code = (await order(api, world, count=1, months=1))["coupons"][0]["code"]
    admin, organization = await customer(api)
    guesses = [f"ABCDEFGHJKLMNPQRST{i:02d}".replace("0", "A").replace("1", "B") for i in range(5)]

    for guess in guesses:
        assert [e["code"] for e in (await redeem(api, admin, organization["id"], guess))["errors"]] == ["INVALID_VALUE"]
    body = await api.post(REDEEM, {"input": {"organizationId": organization["id"], "code": code}}, token=admin.token)

    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert await Coupon.filter(code=code, redeemed_at__isnull=True).count() == 1  # the real code was not tried
    other, other_org = await customer(api, "dora@fabrikam.example")  # another client has its own budget
    assert (await redeem(api, other, other_org["id"], code))["errors"] == []


@pytest.mark.parametrize("currency", ["median_features", "&", "EURO"])
async def test_the_price_table_refuses_a_currency_that_is_no_iso_code(api, world, currency):
    # Found by the fuzzer (tests/test_fuzz.py): an unknown currency was an internal error.
    assert await api.error_code(PRICE_TABLE, {"currency": currency}, token=world.reseller.admin.token) == (
        "BAD_USER_INPUT"
    )
