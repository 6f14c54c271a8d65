"""The world of the tier tests: an operator, a billing API key and Northwind (10 % service-partner
commission, EUR at 0.90 USD); tiers, and customers Northwind sold or manages, all made through the API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from partner_portal.resolvers.jobs import run_job
from tests.conftest import Api
from tests.documents import (
    CREATE_RULE,
    RECORD_LICENSE_CHANGE,
    SET_DELEGATED_PERMISSIONS,
    SET_EXCHANGE_RATE,
    SET_SERVICE_PARTNER,
)
from tests.support import Partner, Person, create_api_key, create_organization, make_partner, register

# The monthly evaluation of the default day (the 15th), in the month of the frozen clock's START.
EVALUATION_DAY = datetime(2026, 3, 15, 6, 0, tzinfo=UTC)

RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) {
  recordPayment(input: $input) { commission { rate amount { amount currency } } errors { field code message } }
}"""
TIER = """
fragment TierFields on Tier {
  id name rank active requiredCertification minimumMedianFeatures
  minimumSoldMrr { amount currency } minimumManagedMrr { amount currency }
  commissionRules { id program rate tier }
}"""
CREATE_TIER = (
    """
mutation Create($input: CreateTierInput!) {
  createTier(input: $input) { tier { ...TierFields } errors { field code message } }
}"""
    + TIER
)


@dataclass
class World:
    operator: Person
    key: str  # billing:write, as the vendor's billing system holds
    northwind: Partner


async def tier_world(api: Api, reviewer: Person, northwind: Partner | None = None) -> World:
    """`reviewer` (an operator) sets EUR's rate and a 10 % service-partner rule; Northwind is approved
    unless given (SERVICE_PARTNER and AFFILIATE, paid out in EUR)."""
    key = await create_api_key(api, reviewer, ["BILLING_WRITE"], "Billing")
    northwind = northwind or await make_partner(api, reviewer)
    rate = (
        await api.data(
            SET_EXCHANGE_RATE,
            {"input": {"currency": "EUR", "rate": "0.90", "validFrom": "2020-01-01"}},
            token=reviewer.token,
        )
    )["setExchangeRate"]
    assert rate["errors"] == []
    rule = (
        await api.data(
            CREATE_RULE,
            {
                "input": {
                    "program": "SERVICE_PARTNER",
                    "kind": "PERCENT",
                    "rate": "10.00",
                    "recurrence": "LIFETIME",
                    "holdDays": 0,
                }
            },
            token=reviewer.token,
        )
    )["createCommissionRule"]
    assert rule["errors"] == []
    return World(reviewer, key, northwind)


async def create_tier(api: Api, world: World, name: str, rank: int, sold: str, managed: str, **criteria) -> dict:
    payload = (
        await api.data(
            CREATE_TIER,
            {
                "input": {
                    "name": name,
                    "rank": rank,
                    "minimumSoldMrr": {"amount": sold, "currency": "USD"},
                    "minimumManagedMrr": {"amount": managed, "currency": "USD"},
                    **criteria,
                }
            },
            token=world.operator.token,
        )
    )["createTier"]
    assert payload["errors"] == [], payload["errors"]
    return payload["tier"]


async def hubspot_tiers(api: Api, world: World, **criteria) -> None:
    """Silver and Gold with the HubSpot thresholds (USD, the base currency)."""
    await create_tier(api, world, "Silver", 1, "1125.00", "1125.00", **criteria)
    await create_tier(api, world, "Gold", 2, "2100.00", "6000.00", **criteria)


async def customer(
    api: Api, world: World, name: str, *, mrr: str, chooses: Partner | None = None, currency: str = "USD"
) -> tuple[Person, str]:
    """A customer organization with an ACTIVE license of `mrr` a month; it chose `chooses` as its
    service partner (so its payments from now on earn that partner commission)."""
    slug = re.sub(r"[^a-z]", "", name.lower())
    admin = await register(api, f"admin@{slug}.example", f"{name} Admin")
    organization = (await create_organization(api, admin, name))["id"]
    if chooses is not None:
        chosen = await api.data(SET_SERVICE_PARTNER, {"id": organization, "code": chooses.code}, token=admin.token)
        assert chosen["setServicePartner"]["errors"] == []
    await license_change(api, world, organization, "ACTIVE", mrr, currency)
    return admin, organization


async def license_change(
    api: Api, world: World, organization: str, status: str, mrr: str, currency: str = "USD"
) -> None:
    payload = (
        await api.data(
            RECORD_LICENSE_CHANGE,
            {
                "input": {
                    "externalId": f"lic-{organization}-{status}-{mrr}-{datetime.now(UTC).isoformat()}",
                    "organizationId": organization,
                    "status": status,
                    "plan": "Business",
                    "mrr": {"amount": mrr, "currency": currency},
                }
            },
            api_key=world.key,
        )
    )["recordLicenseChange"]
    assert payload["errors"] == [], payload["errors"]


async def pay(api: Api, world: World, external_id: str, organization: str, amount: str = "100.00") -> dict:
    payload = (
        await api.data(
            RECORD_PAYMENT,
            {
                "input": {
                    "externalId": external_id,
                    "organizationId": organization,
                    "amount": {"amount": amount, "currency": "USD"},
                    "paidAt": datetime.now(UTC).isoformat(),
                }
            },
            api_key=world.key,
        )
    )["recordPayment"]
    assert payload["errors"] == [], payload["errors"]
    return payload


async def grant(api: Api, admin: Person, organization: str, expires_at: datetime | None = None) -> None:
    payload = (
        await api.data(
            SET_DELEGATED_PERMISSIONS,
            {
                "input": {
                    "organizationId": organization,
                    "permissions": ["MANAGE_SETTINGS"],
                    "expiresAt": expires_at.isoformat() if expires_at else None,
                }
            },
            token=admin.token,
        )
    )["setDelegatedPermissions"]
    assert payload["errors"] == []


async def sold_customer(api: Api, world: World, name: str, mrr: str) -> tuple[Person, str]:
    """A customer Northwind sold: it chose Northwind, then paid for the first time (now)."""
    admin, organization = await customer(api, world, name, mrr=mrr, chooses=world.northwind)
    await pay(api, world, f"{name}-first", organization)
    return admin, organization


async def managed_customer(api: Api, world: World, name: str, mrr: str) -> tuple[Person, str]:
    """A customer of Northwind that never paid through it but granted it delegated permissions."""
    admin, organization = await customer(api, world, name, mrr=mrr, chooses=world.northwind)
    await grant(api, admin, organization)
    return admin, organization


async def tiers_job(api: Api) -> str:
    return await run_job("tiers", api.settings)
