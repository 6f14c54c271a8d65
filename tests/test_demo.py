"""The demo data a newcomer explores: every state the README promises is there."""

from __future__ import annotations

from resolvers.demo import DEMO_PASSWORD, seed_demo
from tests.support import LOGIN

DASHBOARD = "{ partnerDashboard { customers openInvitations activeCustomers trialCustomers } }"
COMMISSIONS = "{ commissions(first: 10) { totals { pending { amount } approved { amount currency } } } }"
APPLICATIONS = "query A($s: ApplicationStatus) { partnerApplications(status: $s) { totalCount } }"
MY_CUSTOMERS = "{ myCustomers(first: 10) { edges { node { source customer { name } grant { permissions } } } } }"
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
        "customers": 2, "openInvitations": 1, "activeCustomers": 1, "trialCustomers": 1,
    }
    totals = (await api.data(COMMISSIONS, token=partner))["commissions"]["totals"]
    assert totals["approved"] == {"amount": "74.70", "currency": "EUR"}  # two payments of 249.00 at 15%
    assert totals["pending"] == {"amount": "37.35"}
    staff = await _login(api, "customers@northwind.example")
    customers = {e["node"]["customer"]["name"]: e["node"] for e in
                 (await api.data(MY_CUSTOMERS, token=staff))["myCustomers"]["edges"]}
    assert customers["Contoso Ltd"]["source"] == "SELECTED"
    assert customers["Contoso Ltd"]["grant"]["permissions"] == ["MANAGE_MEMBERS", "MANAGE_SETTINGS"]
    assert customers["Fabrikam GmbH"]["source"] == "INVITATION"

    operator = await _login(api, "operator@vendor.example")
    for status in ("PENDING", "APPROVED", "REJECTED"):
        count = (await api.data(APPLICATIONS, {"s": status}, token=operator))["partnerApplications"]["totalCount"]
        assert count == 1, status

    contoso = await _login(api, "admin@contoso.example")
    activity = (await api.data(ACTIVITY, token=contoso))["viewerOrganization"]["serviceProviderActivity"]["edges"]
    assert [e["node"]["action"] for e in activity] == [
        "management_session.end", "organization.update", "management_session.start",
    ]
    assert {e["node"]["actor"]["email"] for e in activity} == {"customers@northwind.example"}
    for login in logins:  # every printed login works
        assert await _login(api, login.email)
