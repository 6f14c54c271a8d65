"""The world of the commission tests: an operator, a billing API key and two partners; their rules
and customers, all made through the API."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.conftest import Api
from tests.documents import CREATE_RULE, SET_SERVICE_PARTNER
from tests.support import Partner, Person, create_api_key, create_organization, make_partner, operator, register


@dataclass
class World:
    operator: Person  # every operator permission
    key: str  # an API key with BILLING_WRITE, as the vendor's billing system holds
    northwind: Partner  # SERVICE_PARTNER, AFFILIATE and EXPERT; paid out in EUR
    fabrikam: Partner  # AFFILIATE only; paid out in EUR


async def commission_world(api: Api) -> World:
    reviewer = await operator(api)
    key = await create_api_key(api, reviewer, ["BILLING_WRITE"], "Billing")
    northwind = await make_partner(api, reviewer, programs=["SERVICE_PARTNER", "AFFILIATE", "EXPERT"])
    fabrikam = await make_partner(
        api, reviewer, "admin@fabrikam.example", "Fabrikam Affiliates", programs=["AFFILIATE"]
    )
    return World(reviewer, key, northwind, fabrikam)


async def rule(api: Api, world: World, **fields) -> dict:
    """A commission rule that must be created (percent 20.00, LIFETIME, 30 hold days unless told)."""
    values = {"kind": "PERCENT", "recurrence": "LIFETIME", "holdDays": 30, **fields}
    if values["kind"] == "PERCENT":
        values.setdefault("rate", "20.00")
    payload = (await api.data(CREATE_RULE, {"input": values}, token=world.operator.token))["createCommissionRule"]
    assert payload["errors"] == [], payload["errors"]
    return payload["rule"]


async def customer(api: Api, name: str, choose: Partner | None = None) -> tuple[Person, str]:
    """A customer organization with its administrator; linked SELF to `choose` (setServicePartner) if given."""
    slug = re.sub(r"[^a-z]", "", name.lower())
    admin = await register(api, f"admin@{slug}.example", f"{name} Admin")
    organization = await create_organization(api, admin, name)
    if choose is not None:
        await select(api, admin, organization["id"], choose)
    return admin, organization["id"]


async def select(api: Api, admin: Person, customer_id: str, partner: Partner) -> None:
    """`admin`'s organization chooses `partner` as its service partner."""
    payload = (await api.data(SET_SERVICE_PARTNER, {"id": customer_id, "code": partner.code}, token=admin.token))[
        "setServicePartner"
    ]
    assert payload["errors"] == [], payload["errors"]
