"""The program overview: the programs a partner is in and what each product earns it."""

from __future__ import annotations

from tests.documents import CREATE_RULE
from tests.support import add_member, make_partner, operator, register

OVERVIEW = """
query Overview { programOverview {
  program defaultRule { rate recurrence } products { product { code } rule { rate flat { amount currency } } }
} }"""
CREATE_PRODUCT = """
mutation P($code: String!) { createProduct(input: {code: $code, name: $code}) { product { id } errors { code } } }"""


async def _rule(api, token, **fields):
    data = await api.data(CREATE_RULE, {"input": {"recurrence": "LIFETIME", "kind": "PERCENT", **fields}}, token=token)
    assert data["createCommissionRule"]["errors"] == []


async def test_each_product_shows_the_rule_that_applies_to_this_partner(api):
    op = await operator(api)
    partner = await make_partner(api, op, programs=["AFFILIATE", "SERVICE_PARTNER"])
    other = await make_partner(api, op, admin_email="admin@other.example", name="Other Partners")
    mind = (await api.data(CREATE_PRODUCT, {"code": "MINDMAP"}, token=op.token))["createProduct"]["product"]["id"]
    await api.data(CREATE_PRODUCT, {"code": "TASKS"}, token=op.token)
    await _rule(api, op.token, program="AFFILIATE", rate="10.00")
    await _rule(api, op.token, program="AFFILIATE", rate="25.00", productId=mind)
    await _rule(api, op.token, program="AFFILIATE", rate="30.00", productId=mind, partnerId=other.id)
    await _rule(api, op.token, program="SERVICE_PARTNER", kind="FLAT", flat={"amount": "5.00", "currency": "EUR"})
    await _rule(api, op.token, program="EXPERT", rate="20.00")  # a program the partner is not in

    overview = (await api.data(OVERVIEW, token=partner.admin.token))["programOverview"]

    assert [p["program"] for p in overview] == ["AFFILIATE", "SERVICE_PARTNER"]
    affiliate = {t["product"]["code"]: t["rule"] for t in overview[0]["products"]}
    assert overview[0]["defaultRule"]["rate"] == "10.00"
    assert affiliate == {"MINDMAP": {"rate": "25.00", "flat": None}, "TASKS": {"rate": "10.00", "flat": None}}
    service = {t["product"]["code"]: t["rule"] for t in overview[1]["products"]}
    assert service["TASKS"] == {"rate": None, "flat": {"amount": "5.00", "currency": "EUR"}}
    # The other partner's own rule is its own.
    theirs = (await api.data(OVERVIEW, token=other.admin.token))["programOverview"]
    assert {t["product"]["code"]: t["rule"]["rate"] for t in theirs[0]["products"]}["MINDMAP"] == "30.00"


async def test_only_portal_managers_see_the_overview(api):
    op = await operator(api)
    partner = await make_partner(api, op)
    staff = await register(api, "casey@northwind.example")
    await add_member(api, partner.admin, partner.id, staff.email, partner_permissions=["ADMINISTER_CUSTOMERS"])

    assert await api.error_code(OVERVIEW, token=staff.token) == "FORBIDDEN"
    assert await api.error_code(OVERVIEW) == "UNAUTHENTICATED"
    assert await api.error_code(OVERVIEW, token=op.token) == "NO_ORGANIZATION"
