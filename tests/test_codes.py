"""Expert discount codes: the partner's personal code (MANAGE_PARTNER_PORTAL holders of an EXPERT
partner), the checkout's check and redemption (API keys with billing:write), CODE commission on
the discounted price for the first and later payments, the first referral winning, self-redemption
refused, and the per-client rate limit of look-ups (also through aliases in one request), with the
frozen clock moved past the window. Everything through the GraphQL surface.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from partner_portal.models.codes import DiscountCode
from partner_portal.models.referrals import Referral
from tests.conftest import Api, start_api, test_settings
from tests.documents import CREATE_PLAN, CREATE_PRODUCT, CREATE_RULE, SET_SERVICE_PARTNER
from tests.support import (
    Partner,
    Person,
    add_member,
    create_api_key,
    create_organization,
    fresh,
    make_partner,
    operator,
    pk,
    register,
)

EXPERT_CODE = """
query Code($partnerId: ID) {
  expertCode(partnerId: $partnerId) {
    code percentOff appliesToAllPlans active createdAt plans { code }
    figures { redemptions payingCustomers commissionEarned { amount currency } }
  }
}"""
CHECK = """
query Check($code: String!) { discountCode(code: $code) { valid percentOff appliesToAllPlans plans { code } } }"""
REDEEM = """
mutation Redeem($input: RedeemDiscountCodeInput!) {
  redeemDiscountCode(input: $input) {
    redemption { id code organizationId percentOff externalId attributed createdAt }
    alreadyRedeemed
    errors { field code message }
  }
}"""
RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) {
  recordPayment(input: $input) {
    commission { type status amount { amount currency } original { amount currency } rate }
    errors { field code message }
  }
}"""
COMMISSIONS = """
query Lines($type: CommissionType) {
  commissions(type: $type, newestFirst: false) { lines { edges { node { type amount { amount currency } } } } }
}"""


@dataclass
class World:
    operator: Person
    key: str  # BILLING_WRITE, as the vendor's checkout holds
    reports_key: str  # REPORTS_READ only
    expert: Partner  # EXPERT (and AFFILIATE), paid out in EUR
    affiliate: Partner  # AFFILIATE and SERVICE_PARTNER, not EXPERT


async def build(api: Api) -> World:
    reviewer = await operator(api)
    expert = await make_partner(
        api, reviewer, "admin@experts.example", "Expert Consulting", programs=["EXPERT", "AFFILIATE"]
    )
    affiliate = await make_partner(
        api, reviewer, "admin@northwind.example", "Northwind Partners", programs=["AFFILIATE", "SERVICE_PARTNER"]
    )
    return World(
        reviewer,
        await create_api_key(api, reviewer, ["BILLING_WRITE"], "Checkout"),
        await create_api_key(api, reviewer, ["REPORTS_READ"], "BI"),
        expert,
        affiliate,
    )


@pytest.fixture
async def world(api: Api, clock) -> World:
    return await build(api)


async def code_of(api: Api, partner: Partner) -> dict:
    return (await api.data(EXPERT_CODE, token=partner.admin.token))["expertCode"]


async def customer(api: Api, name: str) -> tuple[Person, str]:
    slug = re.sub(r"[^a-z]", "", name.lower())
    admin = await register(api, f"admin@{slug}.example", f"{name} Admin")
    return admin, (await create_organization(api, admin, name))["id"]


async def redeem(api: Api, key: str, code: str, organization_id: str, external_id: str | None = None) -> dict:
    return (
        await api.data(
            REDEEM, {"input": {"code": code, "organizationId": organization_id, "externalId": external_id}}, api_key=key
        )
    )["redeemDiscountCode"]


async def pay(api: Api, world: World, external_id: str, customer_id: str, amount: str, paid_at: datetime) -> dict:
    payload = (
        await api.data(
            RECORD_PAYMENT,
            {
                "input": {
                    "externalId": external_id,
                    "organizationId": customer_id,
                    "amount": {"amount": amount, "currency": "EUR"},
                    "paidAt": paid_at.isoformat(),
                }
            },
            api_key=world.key,
        )
    )["recordPayment"]
    assert payload["errors"] == [], payload["errors"]
    return payload["commission"]


async def expert_rule(api: Api, world: World, program: str = "EXPERT", rate: str = "20.00") -> None:
    payload = (
        await api.data(
            CREATE_RULE,
            {"input": {"program": program, "kind": "PERCENT", "rate": rate, "recurrence": "LIFETIME", "holdDays": 30}},
            token=world.operator.token,
        )
    )["createCommissionRule"]
    assert payload["errors"] == [], payload["errors"]


# --- the partner's code ----------------------------------------------------------------------------------


async def test_an_expert_partner_sees_its_code_made_on_first_view_with_the_program_discount(api, world):
    first = await code_of(api, world.expert)

    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{10}", first["code"])
    assert first["percentOff"] == "10.00"  # EXPERT_DISCOUNT_PERCENT
    assert first["appliesToAllPlans"] is True and first["active"] is True
    assert first["figures"] == {
        "redemptions": 0,
        "payingCustomers": 0,
        "commissionEarned": {"amount": "0.00", "currency": "EUR"},
    }
    assert (await code_of(api, world.expert))["code"] == first["code"]  # one code per partner

    portal = await register(api, "mpp@experts.example")
    await add_member(
        api, world.expert.admin, world.expert.id, portal.email, partner_permissions=["MANAGE_PARTNER_PORTAL"]
    )
    seen = (await api.data(EXPERT_CODE, {"partnerId": world.expert.id}, token=portal.token))["expertCode"]
    assert seen["code"] == first["code"]


async def test_the_code_is_for_portal_managers_of_an_expert_partner_only(api, world):
    staff = await register(api, "staff@experts.example")
    await add_member(
        api, world.expert.admin, world.expert.id, staff.email, partner_permissions=["ADMINISTER_CUSTOMERS"]
    )

    assert await api.error_code(EXPERT_CODE, token=staff.token) == "FORBIDDEN"
    assert await api.error_code(EXPERT_CODE, token=world.affiliate.admin.token) == "FORBIDDEN"  # not EXPERT
    assert (
        await api.error_code(EXPERT_CODE, {"partnerId": world.expert.id}, token=world.affiliate.admin.token)
        == "NOT_FOUND"
    )
    assert await api.error_code(EXPERT_CODE) == "UNAUTHENTICATED"
    assert await api.error_code(EXPERT_CODE, api_key=world.key) == "UNAUTHENTICATED"
    assert await api.error_code(EXPERT_CODE, token=world.operator.token) == "NO_ORGANIZATION"


# --- the checkout -------------------------------------------------------------------------------------------


async def test_the_checkout_validates_a_code_as_typed_and_unknown_or_inactive_codes_look_alike(api, world):
    code = (await code_of(api, world.expert))["code"]
    product = (
        await api.data(CREATE_PRODUCT, {"input": {"code": "TASKS", "name": "Tasks"}}, token=world.operator.token)
    )["createProduct"]["product"]
    await api.data(
        CREATE_PLAN,
        {
            "input": {
                "productId": product["id"],
                "code": "PRO",
                "name": "Pro",
                "prices": [{"amount": "10.00", "currency": "EUR"}],
            }
        },
        token=world.operator.token,
    )

    typed = f" {code[:5].lower()}-{code[5:]} "
    assert (await api.data(CHECK, {"code": typed}, api_key=world.key))["discountCode"] == {
        "valid": True,
        "percentOff": "10.00",
        "appliesToAllPlans": True,
        "plans": [{"code": "PRO"}],
    }

    invalid = {"valid": False, "percentOff": None, "appliesToAllPlans": None, "plans": []}
    assert (await api.data(CHECK, {"code": "ABCDEFGHJK"}, api_key=world.key))["discountCode"] == invalid
    assert (await api.data(CHECK, {"code": "x" * 500}, api_key=world.key))["discountCode"] == invalid
    await DiscountCode.filter(code=code).update(active=False)
    assert (await api.data(CHECK, {"code": code}, api_key=world.key))["discountCode"] == invalid
    _, customer_id = await customer(api, "Contoso")
    refused = await redeem(api, world.key, code, customer_id)
    assert refused["redemption"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("code", "INVALID_VALUE")]


async def test_checking_and_redeeming_need_an_api_key_with_billing_write(api, world):
    code = (await code_of(api, world.expert))["code"]
    _, customer_id = await customer(api, "Contoso")
    redeem_input = {"input": {"code": code, "organizationId": customer_id}}

    assert await api.error_code(CHECK, {"code": code}, api_key=world.reports_key) == "FORBIDDEN"
    assert await api.error_code(REDEEM, redeem_input, api_key=world.reports_key) == "FORBIDDEN"
    assert await api.error_code(CHECK, {"code": code}, token=world.expert.admin.token) == "UNAUTHENTICATED"
    assert await api.error_code(REDEEM, redeem_input, token=world.operator.token) == "UNAUTHENTICATED"
    assert await api.error_code(CHECK, {"code": code}) == "UNAUTHENTICATED"


# --- redemption and commission ---------------------------------------------------------------------------------


async def test_a_redemption_earns_code_commission_on_the_discounted_price_now_and_later(api, world, clock):
    await expert_rule(api, world)
    code = (await code_of(api, world.expert))["code"]
    _, customer_id = await customer(api, "Contoso")
    _, browsing_id = await customer(api, "Fabrikam")

    redeemed = await redeem(api, world.key, code.lower(), customer_id, "order-1")
    assert redeemed["errors"] == []
    assert redeemed["alreadyRedeemed"] is False
    assert redeemed["redemption"]["code"] == code
    assert redeemed["redemption"]["organizationId"] == customer_id
    assert redeemed["redemption"]["percentOff"] == "10.00"
    assert redeemed["redemption"]["externalId"] == "order-1"
    assert redeemed["redemption"]["attributed"] is True
    assert (await redeem(api, world.key, code, browsing_id))["errors"] == []  # redeemed, never paid

    again = await redeem(api, world.key, code, customer_id, "order-2")  # idempotent per customer
    assert again["alreadyRedeemed"] is True and again["redemption"] == redeemed["redemption"]

    clock.shift(timedelta(hours=1))
    # List price 100.00, 10 % off: the checkout charged 90.00, and that is what the billing system reports.
    first = await pay(api, world, "pay-1", customer_id, "90.00", datetime.now(UTC))
    assert first["type"] == "CODE" and first["rate"] == "20.00"
    assert first["original"] == {"amount": "90.00", "currency": "EUR"}
    assert first["amount"] == {"amount": "18.00", "currency": "EUR"}

    clock.shift(timedelta(days=30))
    later = await pay(api, world, "pay-2", customer_id, "100.00", datetime.now(UTC))  # the discount was one-time
    assert later["type"] == "CODE" and later["amount"] == {"amount": "20.00", "currency": "EUR"}

    admin = await fresh(api, world.expert.admin)
    figures = (await api.data(EXPERT_CODE, token=admin.token))["expertCode"]["figures"]
    assert figures == {
        "redemptions": 2,
        "payingCustomers": 1,
        "commissionEarned": {"amount": "38.00", "currency": "EUR"},
    }
    lines = (await api.data(COMMISSIONS, {"type": "CODE"}, token=admin.token))["commissions"]["lines"]["edges"]
    assert [e["node"]["amount"]["amount"] for e in lines] == ["18.00", "20.00"]


async def test_the_first_referral_wins_and_a_service_partner_comes_first(api, world, clock):
    await expert_rule(api, world)
    code = (await code_of(api, world.expert))["code"]

    _, referred_id = await customer(api, "Contoso")  # came through another partner's affiliate link earlier
    await Referral.create(
        customer_id=pk(referred_id), partner_id=pk(world.affiliate.id), type="AFFILIATE", created_at=datetime.now(UTC)
    )
    kept = await redeem(api, world.key, code, referred_id)
    assert kept["errors"] == [] and kept["redemption"]["attributed"] is False
    assert (await Referral.get(customer_id=pk(referred_id))).partner_id == pk(world.affiliate.id)

    chooser, managed_id = await customer(api, "Fabrikam")  # has a service partner
    chosen = await api.data(SET_SERVICE_PARTNER, {"id": managed_id, "code": world.affiliate.code}, token=chooser.token)
    assert chosen["setServicePartner"]["errors"] == []
    managed = await redeem(api, world.key, code, managed_id)
    assert managed["errors"] == [] and managed["redemption"]["attributed"] is True  # the referral is written

    await expert_rule(api, world, "AFFILIATE", "5.00")
    await expert_rule(api, world, "SERVICE_PARTNER", "15.00")
    clock.shift(timedelta(hours=1))
    # The discount applied at checkout all the same; the commission follows the attribution rules.
    by_link = await pay(api, world, "pay-r", referred_id, "90.00", datetime.now(UTC))
    assert by_link["type"] == "AFFILIATE" and by_link["amount"]["amount"] == "4.50"
    by_relationship = await pay(api, world, "pay-m", managed_id, "90.00", datetime.now(UTC))
    assert by_relationship["type"] == "SELF" and by_relationship["amount"]["amount"] == "13.50"
    figures = (await code_of(api, world.expert))["figures"]
    assert figures["redemptions"] == 2 and figures["commissionEarned"]["amount"] == "0.00"


async def test_a_partner_cannot_redeem_its_own_code_for_itself_or_its_members_organizations(api, world):
    code = (await code_of(api, world.expert))["code"]
    own_company = await create_organization(api, world.expert.admin, "Expert Side Business")
    employee = await register(api, "consultant@experts.example")
    await add_member(api, world.expert.admin, world.expert.id, employee.email)
    employees_shop = await create_organization(api, employee, "Consultant Shop")

    for organization_id in (world.expert.id, own_company["id"], employees_shop["id"]):
        refused = await redeem(api, world.key, code, organization_id)
        assert refused["redemption"] is None
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [("code", "INVALID_VALUE")]
    assert not await Referral.filter(partner_id=pk(world.expert.id)).exists()


async def test_redeeming_for_an_unknown_organization_is_not_found(api, world):
    code = (await code_of(api, world.expert))["code"]
    assert (
        await api.error_code(
            REDEEM, {"input": {"code": code, "organizationId": "T3JnYW5pemF0aW9uOjk5OTk5"}}, api_key=world.key
        )
        == "NOT_FOUND"
    )


# --- abuse limits ------------------------------------------------------------------------------------------------


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[Api]:
    """The app with CODE_LOOKUP_RATE=5/minute."""
    async for running in start_api(test_settings(database_url, code_lookup_rate="5/minute")):
        yield running


def _throttled(body: dict) -> list[list]:
    return [error["path"] for error in body.get("errors", []) if error["extensions"]["code"] == "THROTTLED"]


async def test_look_ups_past_the_rate_are_throttled_per_client_until_the_window_moves_on(limited, clock):
    api = limited
    world = await build(api)
    code = (await code_of(api, world.expert))["code"]
    other_key = await create_api_key(api, world.operator, ["BILLING_WRITE"], "Second checkout")

    for guess in ("AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC", "DDDDDDDDDD"):
        assert (await api.data(CHECK, {"code": guess}, api_key=world.key))["discountCode"]["valid"] is False
    assert (await api.data(CHECK, {"code": code}, api_key=world.key))["discountCode"]["valid"] is True  # the 5th

    body = await api.post(CHECK, {"code": code}, api_key=world.key)
    assert _throttled(body) == [["discountCode"]]
    assert re.search(r"try again in \d+ seconds", body["errors"][0]["message"])
    _, customer_id = await customer(api, "Contoso")
    redeemed = await api.post(REDEEM, {"input": {"code": code, "organizationId": customer_id}}, api_key=world.key)
    assert _throttled(redeemed) == [["redeemDiscountCode"]]

    assert (await api.data(CHECK, {"code": code}, api_key=other_key))["discountCode"]["valid"] is True  # per client

    clock.shift(timedelta(seconds=61))  # limits' moving window reads time.time(): it follows the frozen clock
    assert (await api.data(CHECK, {"code": code}, api_key=world.key))["discountCode"]["valid"] is True
    assert (await redeem(api, world.key, code, customer_id))["errors"] == []


async def test_aliases_in_one_request_count_one_look_up_each(limited, clock):
    api = limited
    world = await build(api)

    def aliased(names: str) -> str:
        return "{ " + " ".join(f'{a}: discountCode(code: "{a.upper() * 10}") {{ valid }}' for a in names) + " }"

    answered = await api.data(aliased("abc"), api_key=world.key)  # 3 look-ups of 5
    assert answered == {a: {"valid": False} for a in "abc"}

    body = await api.post(aliased("def"), api_key=world.key)  # the 6th look-up is refused
    assert _throttled(body) == [["f"]]
    assert body["data"] is None  # the field is non-null: nothing of the batch is answered
    again = await api.post(aliased("z"), api_key=world.key)
    assert _throttled(again) == [["z"]]

    many = await api.post(aliased("ghijklmnopqrstuvwxy"), api_key=world.key)  # 19 guesses at once: no answer
    assert _throttled(many) and many["data"] is None
