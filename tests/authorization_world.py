"""The world of the security suite, built once per module through the API and restored between tests.

`build_world` makes, at the frozen clock:
- the vendor's operator with every operator permission, and one holding only REVIEW_PARTNERS;
- partner Northwind (all four programs) with its administrator, a member without permissions and a
  member per partner permission; four more ADMINISTER_CUSTOMERS members, each in a management session on
  one customer: Contoso (grant of every delegated permission), Fabrikam (no grant), Litware (grant
  expired yesterday) and Tailspin (grant revoked);
- Contoso's administrator, a member without permissions and an open invitation to become a member (to
  ivan@contoso.example); a second partner, Southwind; a user in no
  organization; an organization with a pending partner application (Adatum);
- the catalog (product, plan with an EUR price), an exchange rate, a commission rule, a tier, a
  certification of Northwind, a payment, a requested and an approved payout of Northwind, its expert
  code, an affiliate link, a coupon, an open invitation, an API key per scope (plus a spare one to
  revoke), a webhook subscription and a delivery.

`WorldStore` saves every table's rows next to the live ones (an attached SQLite file, a PostgreSQL
schema) and puts them back in a few milliseconds, so a module needs one app and one world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from strawberry.relay import GlobalID
from tortoise import Tortoise, connections

from partner_portal.models.clock import now
from partner_portal.models.commissions import Commission
from partner_portal.models.tortoise_internals import foreign_keys, related_model, table
from partner_portal.resolvers import tiers
from partner_portal.resolvers.money import to_minor
from tests.conftest import START, Api
from tests.documents import (
    APPROVE_PAYOUT,
    CREATE_PLAN,
    CREATE_PRODUCT,
    CREATE_RULE,
    REQUEST_PARTNER_STATUS,
    REQUEST_PAYOUT,
    REVOKE_DELEGATED_PERMISSIONS,
    SET_DELEGATED_PERMISSIONS,
    SET_EXCHANGE_RATE,
    SET_SERVICE_PARTNER,
)
from tests.support import (
    APPLICATION_FORM,
    Partner,
    Person,
    add_member,
    create_organization,
    invite_member,
    make_operator,
    make_partner,
    operator,
    register,
)

ALL_PROGRAMS = ["SERVICE_PARTNER", "AFFILIATE", "EXPERT", "RESELLER"]
# Every kind of caller of the security suite, by the name `World.people` and `credentials` know it by.
ACTORS = [
    "anonymous",
    "no_organization",
    "administrator",
    "member",
    "partner_admin",
    "partner_member",
    "ADMINISTER_CUSTOMERS",
    "CREATE_CUSTOMER_ORGANIZATIONS",
    "MANAGE_PARTNER_PORTAL",
    "other_administrator",
    "grant_active",
    "grant_none",
    "grant_expired",
    "grant_revoked",
    "operator",
    "operator_reviewer",
    "key_billing",
    "key_reports",
    "key_webhooks",
]
KEY_SCOPES = {"key_billing": "BILLING_WRITE", "key_reports": "REPORTS_READ", "key_webhooks": "WEBHOOKS_MANAGE"}
DELEGATED = ["MANAGE_MEMBERS", "MANAGE_SETTINGS", "ORDER_LICENSES", "VIEW_BILLING"]

START_SESSION = """
mutation Start($input: StartManagementSessionInput!) {
  startManagementSession(input: $input) { session { id } errors { code } }
}"""
INVITE = """
mutation Invite($input: InviteCustomerInput!) { inviteCustomer(input: $input) { invitation { id } errors { code } } }"""
CREATE_KEY = """
mutation Key($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } secret errors { code } } }"""
RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) { recordPayment(input: $input) { errors { code } } }"""
SET_PAYOUT_SETTINGS = """
mutation Settings($input: SetPayoutSettingsInput!) { setPayoutSettings(input: $input) { errors { code } } }"""
EXPERT_CODE = "query Code { expertCode { code } }"
CREATE_SUBSCRIPTION = """
mutation Hook($input: CreateWebhookSubscriptionInput!) {
  createWebhookSubscription(input: $input) { subscription { id } errors { field code } }
}"""
DELIVERIES = "query Deliveries($id: ID!) { webhookDeliveries(subscriptionId: $id, first: 1) { edges { node { id } } } }"
CREATE_TIER = """
mutation Tier($input: CreateTierInput!) { createTier(input: $input) { tier { id } errors { field code } } }"""
CERTIFY = """
mutation Certify($input: RecordCertificationInput!) { recordCertification(input: $input) { errors { field code } } }"""
WEBHOOK_URL = "http://127.0.0.1:9/partner-portal"  # the app runs with WEBHOOK_ALLOW_PRIVATE_NETWORKS
CREATE_LINK = """
mutation Link($input: CreateAffiliateLinkInput!) {
  createAffiliateLink(input: $input) { link { id code } errors { code } }
}"""
OWN_SESSIONS = "{ viewerSessions(first: 1) { edges { node { id } } } }"
CREATE_COUPONS = """
mutation Coupons($input: CreateCouponsInput!) {
  createCoupons(input: $input) { order { id } coupons { code } errors { code } }
}"""


@dataclass
class World:
    """Who is who (`people`, `keys`) and the ids the operations aim at."""

    people: dict[str, Person] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # scope name → secret
    ids: dict[str, str] = field(default_factory=dict)  # what → global id
    values: dict[str, str] = field(default_factory=dict)  # codes, tokens, external ids
    sessions: dict[str, str] = field(default_factory=dict)  # person → own management session id
    partner: Partner | None = None
    other_partner: Partner | None = None


def credentials(world: World, actor: str) -> dict[str, str]:
    """The keyword arguments of `Api.post` that make a request as the actor (none: anonymous)."""
    if actor in KEY_SCOPES:
        return {"api_key": world.keys[KEY_SCOPES[actor]]}
    person = world.people.get(actor)
    return {"token": person.token} if person else {}


async def _ok(api: Api, document: str, variables: dict, **credentials: Any) -> dict:
    data = await api.data(document, variables, **credentials)
    payload = next(iter(data.values()))
    assert payload["errors"] == [], payload["errors"]
    return payload


def _pk(global_id: str) -> int:
    return int(GlobalID.from_id(global_id).node_id)


async def _approved_lines(partner_id: str, amount: str) -> None:
    """Payable ledger lines written directly: the payout mechanics are tested in test_payouts.py."""
    await Commission.create(
        source_key=f"world:{uuid4().hex[:16]}",
        partner_id=_pk(partner_id),
        type="SELF",
        status="APPROVED",
        amount=to_minor(amount, "EUR"),
        currency="EUR",
        original_amount=0,
        original_currency="EUR",
        created_at=now(),
    )


async def build_world(api: Api, clock: Any) -> World:
    """Everything through the API (but the ledger lines), two days before START; the management
    sessions open at START (a grant expired yesterday must have been given in the future)."""
    clock.move_to(START - timedelta(days=2))
    world = World()
    people = world.people
    olivia = people["operator"] = await operator(api)
    people["operator_reviewer"] = await register(api, "rita@vendor.example", "Rita Reviewer")
    await make_operator(api, people["operator_reviewer"], ["REVIEW_PARTNERS"])
    await _ok(
        api,
        SET_EXCHANGE_RATE,
        {"input": {"currency": "EUR", "rate": "0.90", "validFrom": "2026-01-01"}},
        token=olivia.token,
    )

    partner = world.partner = await make_partner(api, olivia, programs=ALL_PROGRAMS)
    people["partner_admin"] = partner.admin
    for role, permissions in {
        "partner_member": [],
        "ADMINISTER_CUSTOMERS": ["ADMINISTER_CUSTOMERS"],
        "CREATE_CUSTOMER_ORGANIZATIONS": ["CREATE_CUSTOMER_ORGANIZATIONS"],
        "MANAGE_PARTNER_PORTAL": ["MANAGE_PARTNER_PORTAL"],
        "grant_active": ["ADMINISTER_CUSTOMERS"],
        "grant_none": ["ADMINISTER_CUSTOMERS"],
        "grant_expired": ["ADMINISTER_CUSTOMERS"],
        "grant_revoked": ["ADMINISTER_CUSTOMERS"],
    }.items():
        people[role] = await register(api, f"{role.lower().replace('_', '.')}@northwind.example")
        membership = await add_member(
            api, partner.admin, partner.id, people[role].email, partner_permissions=permissions
        )
        world.ids[f"membership:{role}"] = membership["id"]
    world.other_partner = await make_partner(api, olivia, "admin@southwind.example", "Southwind Partners")
    people["other_administrator"] = world.other_partner.admin
    people["no_organization"] = await register(api, "nora@nowhere.example")

    # The customers: Contoso (every delegated permission), Fabrikam (none), Litware (expired), Tailspin (revoked).
    for name, actor in [
        ("Contoso", "grant_active"),
        ("Fabrikam", "grant_none"),
        ("Litware", "grant_expired"),
        ("Tailspin", "grant_revoked"),
    ]:
        admin = await register(api, f"admin@{name.lower()}.example", f"{name} Admin")
        customer = await create_organization(api, admin, f"{name} Ltd")
        world.ids[f"customer:{actor}"] = customer["id"]
        await _ok(api, SET_SERVICE_PARTNER, {"id": customer["id"], "code": partner.code}, token=admin.token)
        if name != "Fabrikam":
            expires = (START - timedelta(days=1)).isoformat() if name == "Litware" else None
            await _ok(
                api,
                SET_DELEGATED_PERMISSIONS,
                {"input": {"organizationId": customer["id"], "permissions": DELEGATED, "expiresAt": expires}},
                token=admin.token,
            )
        if name == "Tailspin":
            await _ok(api, REVOKE_DELEGATED_PERMISSIONS, {"id": customer["id"]}, token=admin.token)
        if name == "Contoso":
            people["administrator"] = admin
            world.ids["customer"] = customer["id"]
    people["member"] = await register(api, "mia@contoso.example", "Mia Member")
    world.ids["membership:member"] = (
        await add_member(api, people["administrator"], world.ids["customer"], "mia@contoso.example")
    )["id"]
    world.ids["membership_invitation"] = (
        await invite_member(api, people["administrator"], world.ids["customer"], "ivan@contoso.example")
    )["id"]

    adatum = await register(api, "admin@adatum.example", "Adatum Admin")
    adatum_organization = await create_organization(api, adatum, "Adatum")
    world.ids["organization:adatum"] = adatum_organization["id"]
    applied = await _ok(
        api,
        REQUEST_PARTNER_STATUS,
        {"input": {**APPLICATION_FORM, "organizationId": adatum_organization["id"], "legalName": "Adatum GmbH"}},
        token=adatum.token,
    )
    world.ids["application"] = applied["application"]["id"]

    for scope in ("BILLING_WRITE", "REPORTS_READ", "WEBHOOKS_MANAGE", "spare"):
        created = await _ok(
            api,
            CREATE_KEY,
            {"input": {"name": scope, "scopes": ["REPORTS_READ" if scope == "spare" else scope]}},
            token=olivia.token,
        )
        world.keys[scope] = created["secret"]
        world.ids[f"api_key:{scope}"] = created["apiKey"]["id"]

    world.ids["subscription"] = (
        await _ok(
            api,
            CREATE_SUBSCRIPTION,
            {"input": {"url": WEBHOOK_URL, "eventTypes": ["COMMISSION_CREATED", "PAYOUT_REQUESTED"]}},
            api_key=world.keys["WEBHOOKS_MANAGE"],
        )
    )["subscription"]["id"]
    world.ids["tier"] = (await _ok(api, CREATE_TIER, {"input": {"name": "Silver", "rank": 1}}, token=olivia.token))[
        "tier"
    ]["id"]
    await _ok(api, CERTIFY, {"input": {"partnerId": partner.id, "name": "Tasks Expert"}}, token=olivia.token)
    product = (await _ok(api, CREATE_PRODUCT, {"input": {"code": "TASKS", "name": "Tasks"}}, token=olivia.token))[
        "product"
    ]
    world.ids["product"] = product["id"]
    plan = (
        await _ok(
            api,
            CREATE_PLAN,
            {
                "input": {
                    "productId": product["id"],
                    "code": "PRO",
                    "name": "Tasks Pro",
                    "prices": [{"amount": "19.99", "currency": "EUR"}],
                }
            },
            token=olivia.token,
        )
    )["plan"]
    world.ids["plan"] = plan["id"]
    rule = await _ok(
        api,
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
        token=olivia.token,
    )
    world.ids["rule"] = rule["rule"]["id"]
    world.values["payment"] = "world-payment-1"
    await _ok(
        api,
        RECORD_PAYMENT,
        {
            "input": {
                "externalId": world.values["payment"],
                "organizationId": world.ids["customer"],
                "amount": {"amount": "100.00", "currency": "EUR"},
                "paidAt": now().isoformat(),
                "planCode": "PRO",
            }
        },
        api_key=world.keys["BILLING_WRITE"],
    )

    await _ok(
        api,
        SET_PAYOUT_SETTINGS,
        {"input": {"method": "PAYPAL", "paypalEmail": "payouts@northwind.example", "automatic": False}},
        token=partner.admin.token,
    )
    for state in ("requested", "approved"):
        await _approved_lines(partner.id, "200.00")
        requested = await _ok(api, REQUEST_PAYOUT, {"input": {}}, token=partner.admin.token)
        world.ids[f"payout:{state}"] = requested["payout"]["id"]
    await _ok(api, APPROVE_PAYOUT, {"input": {"payoutId": world.ids["payout:approved"]}}, token=olivia.token)
    deliveries = await api.data(DELIVERIES, {"id": world.ids["subscription"]}, api_key=world.keys["WEBHOOKS_MANAGE"])
    world.ids["delivery"] = deliveries["webhookDeliveries"]["edges"][0]["node"]["id"]

    world.values["expert_code"] = (await api.data(EXPERT_CODE, token=partner.admin.token))["expertCode"]["code"]
    link = (
        await _ok(
            api, CREATE_LINK, {"input": {"code": "spring-sale", "landingUrl": "/pricing"}}, token=partner.admin.token
        )
    )["link"]
    world.ids["link"] = link["id"]
    world.values["link_code"] = link["code"]
    coupons = await _ok(
        api,
        CREATE_COUPONS,
        {"input": {"planId": plan["id"], "count": 2, "months": 1, "currency": "EUR"}},
        token=partner.admin.token,
    )
    world.ids["coupon_order"] = coupons["order"]["id"]
    world.values["coupon"] = coupons["coupons"][0]["code"]
    world.ids["invitation"] = (
        await _ok(
            api,
            INVITE,
            {"input": {"email": "erin@woodgrove.example", "organizationName": "Woodgrove"}},
            token=partner.admin.token,
        )
    )["invitation"]["id"]
    sessions = (await api.data(OWN_SESSIONS, token=olivia.token))["viewerSessions"]
    world.ids["session:operator"] = sessions["edges"][0]["node"]["id"]

    clock.move_to(START)
    for actor in ("grant_active", "grant_none", "grant_expired", "grant_revoked"):
        started = await _ok(
            api, START_SESSION, {"input": {"customerId": world.ids[f"customer:{actor}"]}}, token=people[actor].token
        )
        world.sessions[actor] = started["session"]["id"]
    return world


REDEEM_CODE = """
mutation Redeem($input: RedeemDiscountCodeInput!) {
  redeemDiscountCode(input: $input) { redemption { id } errors { code } }
}"""


async def add_assessments_and_a_redemption(api: Api, world: World) -> None:
    """What `build_world` leaves out (the authorization matrix needs neither) and the `node(id:)`
    tests need: a tier assessment of each partner (the month's evaluation, as the tiers job runs it
    from TIER_EVALUATION_DAY on) and a discount code redemption (Adatum at the checkout, with
    Northwind's code); its id is `world.ids["redemption"]`."""
    moment = now()
    await tiers.evaluate(api.settings, await tiers.compute_figures(api.settings, moment), moment)
    redeemed = await _ok(
        api,
        REDEEM_CODE,
        {"input": {"code": world.values["expert_code"], "organizationId": world.ids["organization:adatum"]}},
        api_key=world.keys["BILLING_WRITE"],
    )
    world.ids["redemption"] = redeemed["redemption"]["id"]


# --- saving and restoring the rows -------------------------------------------------------------------------


def models_in_dependency_order() -> list[Any]:
    """Every model, each after the ones its foreign keys point to."""
    ordered: list[Any] = []

    def visit(model: Any) -> None:
        if model in ordered:
            return
        for name in sorted(foreign_keys(model)):
            related = related_model(model, name)
            if related is not model:
                visit(related)
        ordered.append(model)

    for app in Tortoise.apps.values():
        for model in app.values():
            visit(model)
    return ordered


class WorldStore:
    """A copy of every table's rows beside the live tables: `save()` once, `restore()` as often as needed."""

    def __init__(self, database_url: str, sqlite_copy: Path | None, schema: str) -> None:
        self.postgres = database_url.startswith("postgres")
        self.sqlite_copy = sqlite_copy
        self.schema = schema

    def _tables(self) -> list[str]:
        return [table(model) for model in models_in_dependency_order()]

    async def save(self) -> None:
        tables = self._tables()
        if self.postgres:
            script = f"DROP SCHEMA IF EXISTS {self.schema} CASCADE; CREATE SCHEMA {self.schema};" + "".join(
                f'CREATE TABLE {self.schema}."{t}" AS TABLE "{t}";' for t in tables
            )
        else:
            script = (
                f"ATTACH DATABASE '{self.sqlite_copy}' AS {self.schema};"
                + "".join(f'CREATE TABLE {self.schema}."{t}" AS SELECT * FROM main."{t}";' for t in tables)
                + f"DETACH DATABASE {self.schema};"
            )
        await connections.get("default").execute_script(script)

    async def restore(self) -> None:
        """Every table's rows as saved. Sequences are left alone: they only grow, so new rows still get
        ids above the saved ones."""
        tables = self._tables()
        statements = [f'DELETE FROM "{t}";' for t in reversed(tables)]
        statements += [f'INSERT INTO "{t}" SELECT * FROM {self.schema}."{t}";' for t in tables]
        script = "".join(statements)
        if not self.postgres:
            script = f"ATTACH DATABASE '{self.sqlite_copy}' AS {self.schema};{script}DETACH DATABASE {self.schema};"
        await connections.get("default").execute_script(script)

    async def drop(self) -> None:
        if self.postgres:
            await connections.get("default").execute_script(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
