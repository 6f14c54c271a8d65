"""The README's ten-minute tour, run as written: the documents in docs/tour/, in order, against the
app, so that the tour cannot drift from the API. The two CLI steps (`create-operator`,
`create-api-key`) call the functions the CLI calls; everything else is GraphQL over HTTP."""

from __future__ import annotations

from pathlib import Path

from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import ApiKeyScope, OperatorPermission, Via
from partner_portal.resolvers.identity import issue_api_key, make_operator
from tests.conftest import START
from tests.support import verification_token

ROOT = Path(__file__).parent.parent
TOUR = ROOT / "docs" / "tour"
OPERATOR_PASSWORD = "olga-Operator-2026"


def document(name: str) -> str:
    return (TOUR / f"{name}.graphql").read_text()


def test_the_readme_shows_every_tour_document_as_it_is():
    readme = (ROOT / "README.md").read_text()
    documents = sorted(TOUR.glob("*.graphql"))
    assert len(documents) == 16
    for path in documents:
        assert path.read_text().strip() in readme, f"README.md does not show {path.name} as it is"


async def test_the_tour_moves_money_from_a_payment_to_the_sepa_file(api, clock):
    async def run(step: str, credential: str | None = None, /, **variables: object) -> dict:
        """One step: its document with these variables, as the README's `gql CREDENTIAL STEP` sends it."""
        headers = {"Authorization": f"Bearer {credential}"} if credential else None
        data = await api.data(document(step), variables, headers=headers)
        for payload in data.values():
            assert not (payload or {}).get("errors"), (step, payload)
        return data

    # 1-3: Pat registers, verifies the address with the mailed link (the server's log shows it in
    # development), creates the partner organization and applies for partner status.
    pat = (await run("01-register", email="pat@woodgrove.example", name="Pat Partner"))["register"]["token"]
    verified = await run("01-verify-email", token=await verification_token("pat@woodgrove.example"))
    assert verified["verifyEmail"]["user"]["emailVerified"] is True
    partner = (await run("02-create-organization", pat, name="Woodgrove Partners"))["createOrganization"]
    partner_id = partner["organization"]["id"]
    applied = (await run("03-apply", pat, organizationId=partner_id))["requestPartnerStatus"]["application"]
    assert applied["status"] == "PENDING"

    # 4: the operator is made on the command line (`partner-portal create-operator`), then signs in.
    await make_operator(
        Actor(via=Via.CLI),
        "olga@vendor.example",
        list(OperatorPermission),
        name="Olga Operator",
        password=OPERATOR_PASSWORD,
        settings=api.settings,
    )
    olga = (await run("04-login", email="olga@vendor.example", password=OPERATOR_PASSWORD))["login"]["token"]

    # 5-6: Olga approves Woodgrove (paid in EUR) and gives it a commission rule.
    approved = (await run("05-approve", olga, applicationId=applied["id"]))["approvePartnerApplication"]
    profile = approved["application"]["organization"]["partnerProfile"]
    assert approved["application"]["status"] == "APPROVED" and profile["payoutCurrency"] == "EUR"
    rule = (await run("06-commission-rule", olga, partnerId=partner_id))["createCommissionRule"]["rule"]
    assert rule["holdDays"] == 0

    # 7: Robin registers Alpine Ski House and chooses Woodgrove before any payment.
    robin = (await run("01-register", email="robin@alpine-ski.example", name="Robin Customer"))["register"]["token"]
    customer = (await run("02-create-organization", robin, name="Alpine Ski House"))["createOrganization"]
    customer_id = customer["organization"]["id"]
    chosen = await run("07-choose-partner", robin, organizationId=customer_id, partnerCode=profile["code"])
    assert chosen["setServicePartner"]["relationship"]["source"] == "SELECTED"

    # 8-9: the EUR rate, then the billing system (`partner-portal create-api-key`) records a payment.
    await run("08-exchange-rate", olga)
    key = (await issue_api_key(Actor(via=Via.CLI), "Checkout", [ApiKeyScope.BILLING_WRITE])).key
    clock.shift(60)  # the payment comes a minute after the customer chose its partner
    paid = (
        await run("09-record-payment", key, organizationId=customer_id, paidAt=START.replace(minute=1).isoformat())
    )["recordPayment"]
    assert paid["commission"]["type"] == "SELF"
    assert paid["commission"]["status"] == "APPROVED"  # holdDays: 0
    assert paid["commission"]["amount"] == {"amount": "184.00", "currency": "EUR"}  # 20 % of 1,000 USD at 0.92

    # 10-13: Pat sees the line, sets how Woodgrove is paid, checks the threshold and requests the payout.
    table = (await run("10-commissions", pat))["commissions"]
    assert [edge["node"]["status"] for edge in table["lines"]["edges"]] == ["APPROVED"]
    await run("11-payout-settings", pat)
    balance = (await run("12-payout-balance", pat))["payoutBalance"]
    assert balance["threshold"] == {"amount": "138.00", "currency": "EUR"}  # 150.00 USD at 0.92
    assert balance["canRequest"] is True
    payout = (await run("13-request-payout", pat))["requestPayout"]["payout"]
    assert payout["amount"] == {"amount": "184.00", "currency": "EUR"}

    # 14-15: Olga approves it, takes the SEPA file to the bank, and marks it paid.
    exported = await run("14-approve-and-export", olga, payoutId=payout["id"])
    assert exported["approvePayout"]["payout"]["status"] == "APPROVED"
    sepa = exported["exportPayouts"]["file"]
    assert "pain.001.001.03" in sepa["content"] and '<InstdAmt Ccy="EUR">184.00</InstdAmt>' in sepa["content"]
    paid_out = (await run("15-mark-paid", olga, payoutId=payout["id"]))["markPayoutPaid"]["payout"]
    assert paid_out["status"] == "PAID"
    lines = (await run("10-commissions", pat))["commissions"]["lines"]["edges"]
    assert [edge["node"]["status"] for edge in lines] == ["PAID"]
