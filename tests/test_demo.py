"""The demo data a newcomer explores: every state the README promises is there."""

from __future__ import annotations

from partner_portal.resolvers.demo import DEMO_PASSWORD, seed_demo
from tests.documents import LOGIN

DASHBOARD = "{ partnerDashboard { customers openInvitations activeCustomers trialCustomers } }"
COMMISSIONS = """
{ commissions(first: 10) { totals { pending { amount } approved { amount currency } paid { amount } } } }"""
PAYOUTS = """
query P($status: PayoutStatus) { payouts(status: $status, first: 10) { edges { node {
  id status partnerName amount { amount currency } method reference destination { iban }
  lines(first: 10) { totalCount } } } } }"""
BALANCE = """
{ payoutBalance { approved { amount } threshold { amount currency } missing { amount } canRequest } }"""
APPROVE = """
mutation A($input: ApprovePayoutInput!) { approvePayout(input: $input) { payout { status } errors { code } } }"""
APPLICATIONS = "query A($s: ApplicationStatus) { partnerApplications(status: $s) { totalCount } }"
MY_CUSTOMERS = "{ myCustomers(first: 10) { edges { node { source customer { name } grant { permissions } } } } }"
AFFILIATES = """
query R($from: Date!, $until: Date!) { affiliateReport(from: $from, until: $until) {
  total { clicks signups payingCustomers commission { amount currency } } } }"""
EXPERT = "{ expertCode { figures { redemptions payingCustomers commissionEarned { amount currency } } } }"
COUPONS = """{
  couponOrders(first: 5) { edges { node { count total { amount currency } invoice { amount { amount } } } } }
  coupons(first: 10, status: REDEEMED) { totalCount } }"""
ACTIVITY = """
{ viewerOrganization { name serviceProviderActivity(first: 10) { edges { node { action actor { email } } } } } }"""


async def _login(api, email):
    data = await api.data(LOGIN, {"input": {"email": email, "password": DEMO_PASSWORD}})
    return data["login"]["token"]


async def test_the_demo_shows_partners_customers_and_their_history(api):
    logins = await seed_demo(api.settings)
    assert await seed_demo(api.settings) == logins  # a second run changes nothing

    partner = await _login(api, "admin@northwind.example")
    assert (await api.data(DASHBOARD, token=partner))["partnerDashboard"] == {
        "customers": 2,
        "openInvitations": 1,
        "activeCustomers": 1,
        "trialCustomers": 1,
    }
    totals = (await api.data(COMMISSIONS, token=partner))["commissions"]["totals"]
    # Nine monthly payments of 249.00 at 15% (37.35): four paid out, four in the requested payout
    assert totals["paid"] == {"amount": "149.40"}
    assert totals["approved"] == {"amount": "149.40", "currency": "EUR"}
    assert totals["pending"] == {"amount": "62.10"}  # the last payment's 37.35, and 24.75 from the affiliate link
    staff = await _login(api, "customers@northwind.example")
    customers = {
        e["node"]["customer"]["name"]: e["node"]
        for e in (await api.data(MY_CUSTOMERS, token=staff))["myCustomers"]["edges"]
    }
    assert customers["Contoso Ltd"]["source"] == "SELECTED"
    assert customers["Contoso Ltd"]["grant"]["permissions"] == ["MANAGE_MEMBERS", "MANAGE_SETTINGS"]
    assert customers["Fabrikam GmbH"]["source"] == "INVITATION"

    operator = await _login(api, "operator@vendor.example")
    for status, expected in (("PENDING", 1), ("APPROVED", 3), ("REJECTED", 1)):  # Northwind, the expert, the reseller
        count = (await api.data(APPLICATIONS, {"s": status}, token=operator))["partnerApplications"]["totalCount"]
        assert count == expected, status

    contoso = await _login(api, "admin@contoso.example")
    activity = (await api.data(ACTIVITY, token=contoso))["viewerOrganization"]["serviceProviderActivity"]["edges"]
    assert [e["node"]["action"] for e in activity] == [
        "management_session.end",
        "organization.update",
        "management_session.start",
    ]
    assert {e["node"]["actor"]["email"] for e in activity} == {"customers@northwind.example"}
    report = await api.data(AFFILIATES, {"from": "2026-03-01", "until": "2026-03-31"}, token=partner)
    assert report["affiliateReport"]["total"] == {
        "clicks": 4,
        "signups": 1,
        "payingCustomers": 1,
        "commission": {"amount": "24.75", "currency": "EUR"},
    }  # 25% once on MindMap Pro at 99.00
    expert = await _login(api, "admin@adventure-works.example")
    assert (await api.data(EXPERT, token=expert))["expertCode"]["figures"] == {
        "redemptions": 1,
        "payingCustomers": 1,
        "commissionEarned": {"amount": "39.60", "currency": "EUR"},
    }  # 20% of 198.00
    reseller = await _login(api, "admin@litware.example")
    orders = await api.data(COUPONS, token=reseller)
    [order] = [e["node"] for e in orders["couponOrders"]["edges"]]
    assert (order["count"], order["total"], order["invoice"]["amount"]["amount"]) == (
        5,
        {"amount": "346.80", "currency": "EUR"},
        "346.80",
    )  # 8.25 × 70% = 5.775 → 5.78 (half-even) × 5 × 12
    assert orders["coupons"]["totalCount"] == 2
    for login in logins:  # every printed login works
        assert await _login(api, login.email)


async def test_the_demo_shows_a_paid_and_a_requested_payout(api):
    await seed_demo(api.settings)

    partner = await _login(api, "admin@northwind.example")
    payouts = [e["node"] for e in (await api.data(PAYOUTS, token=partner))["payouts"]["edges"]]
    by_status = {p["status"]: p for p in payouts}
    assert sorted(by_status) == ["PAID", "REQUESTED"]
    for payout in payouts:  # four monthly lines of 37.35 each, by bank transfer to a masked IBAN
        assert payout["amount"] == {"amount": "149.40", "currency": "EUR"}
        assert (payout["method"], payout["lines"]["totalCount"]) == ("BANK_TRANSFER", 4)
        assert payout["destination"]["iban"].endswith("3000") and "0532" not in payout["destination"]["iban"]
    assert by_status["PAID"]["reference"] == "DEMO-SEPA-0001"
    assert (await api.data(BALANCE, token=partner))["payoutBalance"] == {
        "approved": {"amount": "0.00"},  # everything approved is claimed
        "threshold": {"amount": "138.00", "currency": "EUR"},  # 150.00 USD at 0.92
        "missing": {"amount": "138.00"},
        "canRequest": False,
    }

    operator = await _login(api, "operator@vendor.example")
    waiting = (await api.data(PAYOUTS, {"status": "REQUESTED"}, token=operator))["payouts"]["edges"]
    assert [(e["node"]["partnerName"], e["node"]["id"]) for e in waiting] == [
        ("Northwind Partners", by_status["REQUESTED"]["id"])
    ]
    approved = await api.data(APPROVE, {"input": {"payoutId": by_status["REQUESTED"]["id"]}}, token=operator)
    assert approved["approvePayout"] == {"payout": {"status": "APPROVED"}, "errors": []}
