"""The SQL query count of every list field stays constant as the list grows (no N+1).

Every connection field of the schema (found by walking its types) has a case below: who
asks, how to reach the field, and how to add rows to it. Each case asks with 2 rows and
again with 12, selecting every field of the item type and of its nested objects, and the
number of SQL statements must be the same. A new connection without a case fails
`test_every_connection_has_a_case`: add one to CASES.
"""

from __future__ import annotations

import itertools
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
    is_non_null_type,
)
from strawberry.relay import to_base64
from tortoise import fields as tortoise_fields
from tortoise.models import Model

from partner_portal.models.affiliates import AffiliateLink
from partner_portal.models.audit import AuditEvent
from partner_portal.models.billing import License
from partner_portal.models.catalog import ExchangeRate, Plan, Product
from partner_portal.models.commissions import Commission, CommissionRule
from partner_portal.models.coupons import Coupon, CouponOrder
from partner_portal.models.customers import CustomerRelationship, ManagementSession
from partner_portal.models.identity import ApiKey, Operator, SessionToken, User
from partner_portal.models.invitations import Invitation
from partner_portal.models.organizations import Membership, MembershipInvitation, Organization
from partner_portal.models.outbox import OutboxMessage
from partner_portal.models.partners import PartnerApplication, PartnerProfile, ProgramEnrollment
from partner_portal.models.payouts import Payout
from partner_portal.models.tiers import Tier, TierAssessment
from partner_portal.models.tortoise_internals import fields
from partner_portal.models.webhooks import WebhookDelivery, WebhookEvent, WebhookSubscription
from partner_portal.permissions.enums import OperatorPermission
from partner_portal.resolvers.identity import issue_session, token_digest
from partner_portal.schema import build_schema
from partner_portal.schema.strawberry_internals import graphql_schema
from tests.conftest import start_api, test_settings

SMALL, LARGE = 2, 12
PAGE = 20
NESTING = 2  # levels of nested objects selected below each item
_unique = itertools.count(1)


# --- rows with every required column filled -------------------------------------------------------


def _filler(field: tortoise_fields.Field) -> Any:
    n = next(_unique)
    if isinstance(field, tortoise_fields.DatetimeField):
        return datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=n)
    if isinstance(field, tortoise_fields.DateField):
        return date(2026, 3, 1) + timedelta(days=n % 300)
    if isinstance(field, tortoise_fields.BooleanField):
        return False
    if isinstance(field, tortoise_fields.JSONField):
        return {}
    if isinstance(field, tortoise_fields.IntField | tortoise_fields.BigIntField | tortoise_fields.SmallIntField):
        return n
    if isinstance(field, tortoise_fields.DecimalField):
        return 0
    if isinstance(field, tortoise_fields.CharField):
        return f"x{n}{secrets.token_hex(4)}"[: field.max_length]
    return f"x{n}"


async def make(model: type[Model], **values: Any) -> Model:
    """A row with `values`; required columns left out get a unique filler of their type."""
    for name, field in fields(model).items():
        if (
            name in values
            or f"{name}_id" in values
            or field.pk
            or field.null
            or field.default is not None
            or isinstance(field, tortoise_fields.relational.RelationalField)
            or getattr(field, "auto_now_add", False)
            or getattr(field, "auto_now", False)
            or (name.endswith("_id") and name[:-3] in values)
        ):
            continue
        values[name] = _filler(field)
    return await model.create(**values)


# --- the world every case starts from ---------------------------------------------------------------


@dataclass
class World:
    operator: str
    partner_admin: str
    customer_admin: str
    partner: Organization
    customer: Organization
    plan: Plan
    now: datetime


async def _person(settings: Any, organization: Organization | None, role: str = "ADMINISTRATOR") -> tuple[User, str]:
    user = await make(User, email=f"person{next(_unique)}@example.com", email_verified_at=datetime.now(UTC))
    if organization is not None:
        await Membership.create(organization=organization, user=user, role=role, permissions=[])
    return user, (await issue_session(settings, {"id": user.id})).token


async def build_world(settings: Any) -> World:
    now = datetime.now(UTC)
    partner = await make(Organization, name="Northwind Partners")
    await make(PartnerProfile, organization=partner, code="NORTHWND", payout_currency="EUR", approved_at=now)
    for program in ("AFFILIATE", "EXPERT", "RESELLER", "SERVICE_PARTNER"):
        await ProgramEnrollment.create(partner=partner, program=program, enrolled_at=now)
    customer = await make(Organization, name="Contoso")
    await CustomerRelationship.create(
        customer=customer, partner=partner, source="SELECTED", started_at=now, grant_permissions=["MANAGE_MEMBERS"]
    )
    operator, operator_token = await _person(settings, None)
    await Operator.create(user=operator, permissions=[p.value for p in OperatorPermission])
    _, partner_token = await _person(settings, partner)
    _, customer_token = await _person(settings, customer)
    product = await make(Product)
    plan = await make(Plan, product=product, prices={"EUR": 2900, "USD": 2900})
    return World(operator_token, partner_token, customer_token, partner, customer, plan, now)


# --- seeds: add n rows to one connection -------------------------------------------------------------

Seed = Callable[[World, int], Awaitable[None]]


async def _members(world: World, n: int) -> None:
    for _ in range(n):
        await make(Membership, organization=world.partner, user=await make(User), role="MEMBER", permissions=[])


async def _membership_invitations(world: World, n: int) -> None:
    for _ in range(n):
        await make(
            MembershipInvitation,
            organization=world.partner,
            role="MEMBER",
            permissions=[],
            status="OPEN",
            expires_at=world.now + timedelta(days=14),
        )


async def _activity(world: World, n: int) -> None:
    staff = await make(User)
    relationship = await CustomerRelationship.get(customer=world.customer, ended_at=None)
    session = await ManagementSession.create(
        partner=world.partner,
        customer=world.customer,
        user=staff,
        relationship=relationship,
        started_at=world.now,
        last_activity_at=world.now,
    )
    for _ in range(n):
        await make(
            AuditEvent,
            organization=world.customer,
            actor_user=staff,
            management_session=session,
            partner_organization=world.partner,
            via="SESSION",
            action="organization.update",
            target_type="Organization",
            target_id=str(world.customer.id),
            created_at=world.now,
        )


async def _audit(world: World, n: int) -> None:
    actor = await make(User)
    for _ in range(n):
        await make(
            AuditEvent,
            organization=world.partner,
            actor_user=actor,
            via="SESSION",
            action="x.y",
            target_type="Organization",
            target_id=str(world.partner.id),
            created_at=world.now,
        )


async def _sessions(world: World, n: int) -> None:
    operator = (await SessionToken.get(token_hash=token_digest(world.operator))).user_id
    for _ in range(n):
        await make(SessionToken, user_id=operator, expires_at=world.now + timedelta(days=1))


async def _api_keys(world: World, n: int) -> None:
    for _ in range(n):
        await make(ApiKey, scopes=["billing:write"], created_at=world.now)


async def _organizations(world: World, n: int) -> None:
    for _ in range(n):
        await make(Organization)


async def _applications(world: World, n: int) -> None:
    for _ in range(n):
        await make(
            PartnerApplication,
            organization=await make(Organization),
            status="PENDING",
            country="DE",
            programs=["AFFILIATE"],
            approved_programs=[],
        )


async def _directory(world: World, n: int) -> None:
    for _ in range(n):
        partner = await make(Organization, country="DE")
        await make(PartnerProfile, organization=partner, listed_in_directory=True, approved_at=world.now)
        await ProgramEnrollment.create(partner=partner, program="SERVICE_PARTNER", enrolled_at=world.now)


async def _customers(world: World, n: int) -> None:
    for _ in range(n):
        customer = await make(Organization)
        await make(License, organization=customer, status="ACTIVE", currency="EUR", updated_at=world.now)
        await CustomerRelationship.create(
            customer=customer,
            partner=world.partner,
            source="INVITATION",
            started_at=world.now,
            grant_permissions=["VIEW_BILLING"],
        )


async def _invitations(world: World, n: int) -> None:
    for _ in range(n):
        await make(
            Invitation,
            partner=world.partner,
            status="OPEN",
            email=f"i{next(_unique)}@example.com",
            expires_at=world.now + timedelta(days=7),
            created_at=world.now,
        )


async def _products(world: World, n: int) -> None:
    for _ in range(n):
        product = await make(Product)
        await make(Plan, product=product, prices={"EUR": 1000})


async def _exchange_rates(world: World, n: int) -> None:
    for _ in range(n):
        await make(ExchangeRate, currency="EUR", rate="0.9")


async def _rules(world: World, n: int) -> None:
    for _ in range(n):
        await make(
            CommissionRule,
            program="AFFILIATE",
            kind="PERCENT",
            rate_bp=1000,
            recurrence="LIFETIME",
            created_at=world.now,
        )


async def _lines(world: World, n: int, payout: Payout | None = None) -> None:
    for _ in range(n):
        customer = await make(Organization)
        await make(
            Commission,
            partner=world.partner,
            customer=customer,
            payout=payout,
            type="PARTNER",
            status="PAID" if payout else "PENDING",
            amount=100,
            currency="EUR",
            original_currency="EUR",
            created_at=world.now,
        )


async def _payouts(world: World, n: int) -> None:
    for _ in range(n):
        await make(
            Payout,
            partner=world.partner,
            status="REQUESTED",
            amount=100,
            currency="EUR",
            method="PAYPAL",
            requested_at=world.now,
        )


async def _payout_lines(world: World, n: int) -> None:
    payout = await Payout.filter(partner=world.partner).first()
    if payout is None:
        payout = await make(
            Payout,
            partner=world.partner,
            status="PAID",
            amount=0,
            currency="EUR",
            method="PAYPAL",
            requested_at=world.now,
        )
    await _lines(world, n, payout)


async def _outbox(world: World, n: int) -> None:
    for _ in range(n):
        await make(
            OutboxMessage,
            payload={"to": "a@example.com", "subject": "s", "text": "t", "html": "<p>t</p>"},
            next_attempt_at=world.now,
            created_at=world.now,
        )


async def _affiliate_links(world: World, n: int) -> None:
    for _ in range(n):
        await make(AffiliateLink, partner=world.partner, landing_url="/pricing", created_at=world.now)


async def _coupon_orders(world: World, n: int) -> None:
    for _ in range(n):
        await make(CouponOrder, partner=world.partner, plan=world.plan, currency="EUR", created_at=world.now)


async def _coupons(world: World, n: int) -> None:
    order = await CouponOrder.filter(partner=world.partner).first()
    if order is None:
        order = await make(CouponOrder, partner=world.partner, plan=world.plan, currency="EUR", created_at=world.now)
    for _ in range(n):
        await make(Coupon, order=order, expires_at=world.now + timedelta(days=365))


async def _subscriptions(world: World, n: int) -> None:
    for _ in range(n):
        await make(
            WebhookSubscription,
            url="https://hooks.example/x",
            event_types=["payout.paid"],
            created_at=world.now,
            updated_at=world.now,
        )


async def _deliveries(world: World, n: int) -> None:
    subscription = await WebhookSubscription.first()
    if subscription is None:
        subscription = await make(
            WebhookSubscription,
            url="https://hooks.example/x",
            event_types=["payout.paid"],
            created_at=world.now,
            updated_at=world.now,
        )
    for _ in range(n):
        event = await make(
            WebhookEvent, id=f"evt_{secrets.token_hex(8)}", type="payout.paid", data={}, created_at=world.now
        )
        message = await make(OutboxMessage, kind="webhook", payload={}, next_attempt_at=world.now, created_at=world.now)
        await make(
            WebhookDelivery,
            subscription=subscription,
            event=event,
            message=message,
            attempt_log=[],
            created_at=world.now,
        )


async def _tiers(world: World, n: int) -> None:
    for _ in range(n):
        await make(Tier, name=f"Tier {next(_unique)}", rank=next(_unique), created_at=world.now, updated_at=world.now)


async def _assessments(world: World, n: int) -> None:
    for _ in range(n):
        await make(
            TierAssessment,
            partner=world.partner,
            period=f"2025-{next(_unique) % 12 + 1:02d}",
            evaluated_at=world.now,
            currency="EUR",
            certifications=[],
        )


# --- the cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """`path` reaches the connection in `template`, where `{connection}` stands for the connection's
    selection (`edges { node { … } }`); `who` is a World attribute holding a token."""

    template: str
    who: str
    seed: Seed
    variables: Callable[[World], Awaitable[dict]] | None = None


async def _subscription_variables(world: World) -> dict:
    subscription = await WebhookSubscription.first()
    if subscription is None:
        subscription = await make(
            WebhookSubscription,
            url="https://hooks.example/x",
            event_types=["payout.paid"],
            created_at=world.now,
            updated_at=world.now,
        )
    return {"subscription": to_base64("WebhookSubscription", subscription.id)}


CASES: dict[str, Case] = {
    "Organization.members": Case(
        "query($id: ID!) { node(id: $id) { ... on Organization { members(first: 20) {connection} } } }",
        "partner_admin",
        _members,
    ),
    "Organization.membershipInvitations": Case(
        "query($id: ID!) { node(id: $id) { ... on Organization { membershipInvitations(first: 20) {connection} } } }",
        "partner_admin",
        _membership_invitations,
    ),
    "Organization.serviceProviderActivity": Case(
        "query($id: ID!) { node(id: $id) { ... on Organization { serviceProviderActivity(first: 20) {connection} } } }",
        "customer_admin",
        _activity,
    ),
    "Query.apiKeys": Case("{ apiKeys(first: 20) {connection} }", "operator", _api_keys),
    "Query.organizations": Case("{ organizations(first: 20) {connection} }", "operator", _organizations),
    "Query.partnerApplications": Case("{ partnerApplications(first: 20) {connection} }", "operator", _applications),
    "Query.partnerDirectory": Case("{ partnerDirectory(first: 20) {connection} }", "operator", _directory),
    "Query.myCustomers": Case("{ myCustomers(first: 20) {connection} }", "partner_admin", _customers),
    "Query.invitations": Case("{ invitations(first: 20) {connection} }", "partner_admin", _invitations),
    "Query.products": Case("{ products(first: 20) {connection} }", "operator", _products),
    "Query.exchangeRates": Case("{ exchangeRates(first: 20) {connection} }", "operator", _exchange_rates),
    "Query.commissionRules": Case("{ commissionRules(first: 20) {connection} }", "operator", _rules),
    "CommissionTable.lines": Case("{ commissions(first: 20) { lines {connection} } }", "partner_admin", _lines),
    "Query.payouts": Case("{ payouts(first: 20) {connection} }", "partner_admin", _payouts),
    "Payout.lines": Case(
        "{ payouts(first: 1) { edges { node { lines(first: 20) {connection} } } } }", "partner_admin", _payout_lines
    ),
    "Query.auditEvents": Case(
        "query($id: ID!) { auditEvents(organizationId: $id, first: 20) {connection} }", "partner_admin", _audit
    ),
    "Query.outboxMessages": Case("{ outboxMessages(first: 20) {connection} }", "operator", _outbox),
    "Query.affiliateLinks": Case("{ affiliateLinks(first: 20) {connection} }", "partner_admin", _affiliate_links),
    "Query.couponOrders": Case("{ couponOrders(first: 20) {connection} }", "partner_admin", _coupon_orders),
    "Query.coupons": Case("{ coupons(first: 20) {connection} }", "partner_admin", _coupons),
    "Query.webhookSubscriptions": Case("{ webhookSubscriptions(first: 20) {connection} }", "operator", _subscriptions),
    "Query.webhookDeliveries": Case(
        "query($subscription: ID!) { webhookDeliveries(subscriptionId: $subscription, first: 20) {connection} }",
        "operator",
        _deliveries,
        _subscription_variables,
    ),
    "Query.tiers": Case("{ tiers(first: 20) {connection} }", "operator", _tiers),
    "Query.tierAssessments": Case("{ tierAssessments(first: 20) {connection} }", "operator", _assessments),
    "Query.viewerSessions": Case("{ viewerSessions(first: 20) {connection} }", "operator", _sessions),
    "PartnerTierStatus.assessments": Case(
        "{ partnerTier { assessments(first: 20) {connection} } }", "partner_admin", _assessments
    ),
}


# --- the schema's connections and the selection of their items ---------------------------------------


def _schema():
    return graphql_schema(build_schema(test_settings("sqlite://:memory:")))


def connection_fields() -> dict[str, Any]:
    """Every `Type.field` of the schema returning a `…Connection`, with that connection type."""
    found = {}
    for type_name, graphql_type in _schema().type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, field in graphql_type.fields.items():
            named = get_named_type(field.type)
            if named.name.endswith("Connection") and isinstance(named, GraphQLObjectType):
                found[f"{type_name}.{field_name}"] = named
    return found


# Fields left out of the selections, and why.
NOT_SELECTED = {
    # a NOT_FOUND error for everyone but the organization's own administrators, who read one
    # organization's history at a time
    "Organization.servicePartnerHistory",
}


def _selection(graphql_type: GraphQLObjectType, depth: int) -> str:
    """Every field without required arguments; nested objects `depth` levels down; no nested lists
    of other connections (they have their own cases)."""
    parts = []
    for name, field in graphql_type.fields.items():
        if f"{graphql_type.name}.{name}" in NOT_SELECTED:
            continue
        if any(is_non_null_type(arg.type) and arg.default_value is None for arg in field.args.values()):
            continue
        named = get_named_type(field.type)
        if isinstance(named, GraphQLScalarType | GraphQLEnumType):
            parts.append(name)
        elif named.name.endswith("Connection"):
            continue
        elif isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            parts.append(f"{name} {{ __typename }}")
        elif isinstance(named, GraphQLObjectType) and depth > 0:
            inner = _selection(named, depth - 1)
            if inner:
                parts.append(f"{name} {{ {inner} }}")
    return " ".join(parts)


def operation(path: str, connection_type: GraphQLObjectType) -> str:
    node_type = get_named_type(get_named_type(connection_type.fields["edges"].type).fields["node"].type)
    selection = f"{{ edges {{ cursor node {{ {_selection(node_type, NESTING)} }} }} pageInfo {{ hasNextPage }} }}"
    return CASES[path].template.replace("{connection}", selection)


def _edges(data: Any) -> list:
    """The edges of the (one) connection in a response, wherever it sits."""
    if isinstance(data, dict):
        if "edges" in data and "pageInfo" in data:
            return data["edges"]
        for value in data.values():
            found = _edges(value)
            if found is not None:
                return found
    if isinstance(data, list):
        for value in data:
            found = _edges(value)
            if found is not None:
                return found
    return None  # type: ignore[return-value]


def test_every_connection_has_a_case():
    assert sorted(connection_fields()) == sorted(CASES), "add the missing connections to CASES"


@pytest.fixture
async def roomy_api(database_url: str):
    """The app with cost limits out of the way: the selections below ask for every field."""
    async for running in start_api(test_settings(database_url, max_query_cost=1_000_000, query_budget=0)):
        yield running


@pytest.mark.parametrize("path", sorted(CASES))
async def test_the_query_count_of_a_connection_does_not_grow_with_its_length(roomy_api, path):
    api = roomy_api
    world = await build_world(api.settings)
    case = CASES[path]
    query = operation(path, connection_fields()[path])
    variables = {"id": _global_id(world, path)}
    if case.variables is not None:
        variables = await case.variables(world)

    async def ask() -> tuple[int, list[str]]:
        with api.count_queries() as counter:
            data = await api.data(query, variables, token=getattr(world, case.who))
        return len(_edges(data)), counter.statements

    await case.seed(world, SMALL)
    small_rows, _ = await ask()  # the first ask may write the session's last-used timestamp
    small_rows, small = await ask()
    await case.seed(world, LARGE - SMALL)
    large_rows, large = await ask()

    assert large_rows - small_rows == LARGE - SMALL, (small_rows, large_rows)
    # (fewer is fine: a loader may batch what it split into two batches on the shorter list)
    assert len(large) <= len(small), _repeated(small, large)


def _repeated(small: list[str], large: list[str]) -> str:
    """The statements the longer list sent more often: where the N+1 is."""

    def shapes(statements: list[str]) -> Counter:
        return Counter(statement.split(": [", 1)[0][:400] for statement in statements)

    grown = shapes(large) - shapes(small)
    return f"{len(small)} queries for {SMALL} rows, {len(large)} for {LARGE}; repeated per row:\n" + "\n".join(
        f"+{count}: {shape}" for shape, count in grown.most_common()
    )


def _global_id(world: World, path: str) -> str:
    organization = world.customer if path == "Organization.serviceProviderActivity" else world.partner
    return to_base64("Organization", organization.id)


# --- lists and connections nested under a list ---------------------------------------------------------

NESTED_ORGANIZATION = """id name viewerMembership { role }
  members(first: 5) { totalCount edges { node { role user { email } } } pageInfo { hasNextPage } }
  servicePartnerHistory { source partner { name } }
  serviceProviderActivity(first: 5) { totalCount edges { node { action } } }
  membershipInvitations(first: 5) { totalCount edges { node { email status } } }"""
NESTED = {
    "User.memberships": "{ viewer { memberships { role organization { %s } } } }" % NESTED_ORGANIZATION,
    "Query.organizations": "{ organizations(first: 20) { edges { node { %s } } } }" % NESTED_ORGANIZATION,
}


async def _customer_organization_of(world: World, admin: User) -> None:
    """An organization `admin` administers, with two more members, a former service partner and
    what the partner's staff did there."""
    organization = await make(Organization)
    await Membership.create(organization=organization, user=admin, role="ADMINISTRATOR", permissions=[])
    for _ in range(2):
        await make(Membership, organization=organization, user=await make(User), role="MEMBER", permissions=[])
    relationship = await CustomerRelationship.create(
        customer=organization, partner=world.partner, source="SELECTED", started_at=world.now, ended_at=world.now
    )
    staff = await make(User)
    session = await ManagementSession.create(
        partner=world.partner,
        customer=organization,
        user=staff,
        relationship=relationship,
        started_at=world.now,
        last_activity_at=world.now,
        ended_at=world.now,
    )
    await make(
        AuditEvent,
        organization=organization,
        actor_user=staff,
        management_session=session,
        partner_organization=world.partner,
        via="SESSION",
        action="organization.update",
        target_type="Organization",
        target_id=str(organization.id),
        created_at=world.now,
    )
    await make(
        MembershipInvitation,
        organization=organization,
        role="MEMBER",
        permissions=[],
        status="OPEN",
        expires_at=world.now + timedelta(days=14),
    )


@pytest.mark.parametrize("path", sorted(NESTED))
async def test_lists_and_connections_nested_under_a_list_cost_the_same_queries_for_any_length(roomy_api, path):
    # given: a user administering organizations, each with members, a service-partner history and activity
    api = roomy_api
    world = await build_world(api.settings)
    admin, token = await _person(api.settings, None)

    async def ask() -> tuple[list[dict], list[str]]:
        with api.count_queries() as counter:
            data = await api.data(NESTED[path], token=token)
        organizations = (
            [m["organization"] for m in data["viewer"]["memberships"]]
            if path == "User.memberships"
            else [edge["node"] for edge in data["organizations"]["edges"]]
        )
        return organizations, counter.statements

    for _ in range(SMALL):
        await _customer_organization_of(world, admin)
    await ask()  # the first ask may write the session's last-used timestamp
    small_organizations, small = await ask()

    # when
    for _ in range(LARGE - SMALL):
        await _customer_organization_of(world, admin)
    large_organizations, large = await ask()

    # then: every nested list is there, in the same number of statements
    assert len(small_organizations) == SMALL and len(large_organizations) == LARGE
    for organization in large_organizations:
        assert organization["members"]["totalCount"] == 3 and len(organization["members"]["edges"]) == 3
        assert [h["partner"]["name"] for h in organization["servicePartnerHistory"]] == ["Northwind Partners"]
        assert organization["serviceProviderActivity"]["totalCount"] == 1
        assert organization["membershipInvitations"]["totalCount"] == 1
    assert len(large) <= len(small), _repeated(small, large)
