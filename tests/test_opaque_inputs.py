"""Opaque inputs (cursors and global ids) through the whole schema, and `node` for every Node type.

The fields are read off the schema by introspection, not listed by hand: every connection (a field with
`after`) gets crafted cursors, every `ID` argument and `ID` input field of the root fields gets crafted
ids, and every type implementing `Node` must be fetchable by `node(id:)`. Crafted opaque input is
BAD_USER_INPUT (never INTERNAL_SERVER_ERROR, which the database's refusal of a number too large for its
column used to become); a well-formed id of nothing visible stays NOT_FOUND.
The world is the authorization suite's (tests/authorization_world.py), built once for the module.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from graphql import (
    GraphQLEnumType,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_client_schema,
    get_introspection_query,
    get_named_type,
)
from graphql.pyutils import Undefined
from strawberry.relay import GlobalID
from tortoise import Tortoise

from partner_portal.models.tortoise_internals import primary_key
from partner_portal.resolvers.keys import MODEL_OF_TYPE
from tests.authorization_world import World, add_assessments_and_a_redemption, build_world
from tests.conftest import POSTGRES_URL, START, Api, start_api, test_settings

INT4_MAX, INT8_MAX = 2**31 - 1, 2**63 - 1


def cursor_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def id_of(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CRAFTED_CURSORS = {
    "a-string-key": cursor_of(b'["x"]'),
    "an-object-key": cursor_of(b"[{}]"),
    "a-list-key": cursor_of(b"[[1]]"),
    "a-huge-integer": cursor_of(b"[" + b"9" * 40 + b"]"),
    "beyond-64-bits": cursor_of(f"[{INT8_MAX + 1}]".encode()),
    "a-float": cursor_of(b"[1.5]"),
    "a-boolean": cursor_of(b"[true]"),
    "null": cursor_of(b"[null]"),
    "empty": cursor_of(b"[]"),
    "too-long-a-list": cursor_of(b'[1, "x", 2]'),
    "not-a-list": cursor_of(b"7"),
    "not-json": cursor_of(b"{"),
    "not-base64": "%%%",
    "deeply-nested": cursor_of(b"[" * 100_000 + b"]" * 100_000)[:1900],
    "very-long": cursor_of(b"[" + b"1" * 3000 + b"]"),
}


# --- the module's app and world -----------------------------------------------------------------------------


@dataclass
class Env:
    api: Api
    world: World
    schema: GraphQLSchema

    def credentials(self, actor: str) -> dict[str, str]:
        if actor.startswith("key:"):
            return {"api_key": self.world.keys[actor.removeprefix("key:")]}
        return {"token": self.world.people[actor].token}

    def ids_by_type(self) -> dict[str, list[str]]:
        """The world's global ids (and its partners' organizations) by type name."""
        found: dict[str, list[str]] = {}
        known = [
            *self.world.ids.values(),
            *self.world.sessions.values(),
            self.world.partner.id,
            self.world.other_partner.id,
            *(person.user_id for person in self.world.people.values()),
        ]
        for value in known:
            found.setdefault(GlobalID.from_id(value).type_name, []).append(value)
        return found


# Who may reach what: tried in this order until one reads the field without an error.
ACTORS = ["partner_admin", "operator", "administrator", "key:WEBHOOKS_MANAGE", "key:REPORTS_READ"]


@pytest.fixture(scope="module")
async def env(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    """The world, unchanged by the tests: every crafted input is refused before anything is written."""
    if POSTGRES_URL:
        url = POSTGRES_URL
    else:
        path = tmp_path_factory.mktemp("opaque") / "portal.sqlite3"
        shutil.copyfile(template_database, path)
        url = f"sqlite://{path}"
    with time_machine.travel(START, tick=False) as clock:
        async for api in start_api(test_settings(url, webhook_allow_private_networks=True, query_budget=0)):
            world = await build_world(api, clock)
            await add_assessments_and_a_redemption(api, world)
            introspection = await api.data(get_introspection_query())
            yield Env(api, world, build_client_schema(introspection))


def first_code(body: dict) -> str | None:
    errors = body.get("errors") or []
    return errors[0].get("extensions", {}).get("code") if errors else None


# --- cursors --------------------------------------------------------------------------------------------------


def connection_fields(schema: GraphQLSchema) -> Iterator[tuple[GraphQLObjectType, str]]:
    """Every field of an object type that takes `after` (a cursor)."""
    for named in schema.type_map.values():
        if isinstance(named, GraphQLObjectType) and not named.name.startswith("__"):
            for name, field in named.fields.items():
                if "after" in field.args:
                    yield named, name


def is_required(argument: Any) -> bool:
    """Non-null without a default (graphql-core 3.3 keeps an introspected default in `default`)."""
    has_default = getattr(argument, "default", None) is not None or argument.default_value is not Undefined
    return isinstance(argument.type, GraphQLNonNull) and not has_default


def _required_arguments(field_args: dict[str, Any], env: Env) -> dict[str, str]:
    """Values for the arguments a field cannot do without, and `partnerId` (Northwind) where it takes one."""
    values = {}
    for name, argument in field_args.items():
        if name == "partnerId":
            values[name] = json.dumps(env.world.partner.id)
        elif is_required(argument) and name != "after":
            known = {"subscriptionId": env.world.ids["subscription"]}
            assert name in known, f"give the required argument `{name}` a value in this test"
            values[name] = json.dumps(known[name])
    return values


def _call(field: str, arguments: dict[str, str], selection: str = "{ __typename }", *, cursor: bool) -> str:
    """`field(arguments…, after: $after) selection`."""
    listed = {**arguments, **({"after": "$after"} if cursor else {})}
    written = ", ".join(f"{name}: {value}" for name, value in listed.items())
    return f"{field}{f'({written})' if written else ''} {selection}"


def paths_to(env: Env, owner: GraphQLObjectType, field: str) -> Iterator[tuple[str, str, list[str]]]:
    """Queries that reach `owner.field`, without and with `after: $after`, and the response path to it:
    a root field directly; a Node through `node(id:)` with each of the world's ids of its type; any
    other type through the root fields that return it."""
    schema = env.schema

    def document(cursor: bool, around: str = "{}") -> str:
        inner = _call(field, _required_arguments(owner.fields[field].args, env), cursor=cursor)
        return ("query Q($after: String)" if cursor else "query Q") + " { " + around.format(inner) + " }"

    if owner is schema.query_type:
        yield document(False), document(True), [field]
        return
    if any(interface.name == "Node" for interface in owner.interfaces):
        for value in env.ids_by_type().get(owner.name, []):
            around = f'node(id: "{value}") {{{{ ... on {owner.name} {{{{ {{}} }}}} }}}}'
            yield document(False, around), document(True, around), ["node", field]
    for root_name, root in schema.query_type.fields.items():
        if get_named_type(root.type) is owner and not isinstance(_unwrapped(root.type), GraphQLList):
            around = _call(root_name, _required_arguments(root.args, env), "{{ {} }}", cursor=False)
            yield document(False, around), document(True, around), [root_name, field]


async def reach(env: Env, owner: GraphQLObjectType, field: str) -> tuple[str, list[str], str]:
    """A query with `$after`, its path to `owner.field` and an actor for which it gets there without error."""
    for probe, document, path in paths_to(env, owner, field):
        for actor in ACTORS:
            body = await env.api.post(probe, **env.credentials(actor))
            data = body.get("data")
            for step in path[:-1]:
                data = data.get(step) if isinstance(data, dict) else None
            if not body.get("errors") and isinstance(data, dict) and path[-1] in data:
                return document, path, actor
    raise AssertionError(
        f"no query of this test reaches {owner.name}.{field} without an error: give the world an object on the way"
    )


def test_the_schema_has_connections_to_walk(env):
    assert len(list(connection_fields(env.schema))) >= 20


async def test_every_connection_refuses_crafted_cursors(env):
    # given: every connection of the schema, reached by an actor that may read it
    failures = []
    for owner, field in connection_fields(env.schema):
        document, path, actor = await reach(env, owner, field)

        for name, crafted in CRAFTED_CURSORS.items():
            # when
            body = await env.api.post(document, {"after": crafted}, **env.credentials(actor))

            # then
            errors = body.get("errors") or []
            if first_code(body) != "BAD_USER_INPUT" or errors[0].get("path") != path:
                failures.append(f"{owner.name}.{field} with {name}: {errors or body.get('data')}")

    assert not failures, f"{len(failures)} crafted cursors were not refused as BAD_USER_INPUT:\n" + "\n".join(failures)


async def test_a_cursor_of_the_connection_still_continues_it(env):
    # given
    document = "query Q($after: String) { organizations(first: 1, after: $after) { edges { cursor node { id } } } }"
    first = await env.api.data(document, {"after": None}, **env.credentials("operator"))
    edge = first["organizations"]["edges"][0]

    # when
    second = await env.api.data(document, {"after": edge["cursor"]}, **env.credentials("operator"))

    # then
    assert second["organizations"]["edges"][0]["node"]["id"] != edge["node"]["id"]


async def test_a_cursor_beyond_an_integer_column_is_refused(env):
    # given: organizations page by their `integer` id (PostgreSQL refuses a larger number as its argument)
    document = "query Q($after: String) { organizations(after: $after) { edges { cursor } } }"

    # when
    beyond = await env.api.post(
        document, {"after": cursor_of(f"[{INT4_MAX + 1}]".encode())}, **env.credentials("operator")
    )
    largest = await env.api.post(
        document, {"after": cursor_of(f"[{INT4_MAX}]".encode())}, **env.credentials("operator")
    )

    # then
    assert first_code(beyond) == "BAD_USER_INPUT", beyond
    assert largest["data"]["organizations"]["edges"] == []


@pytest.mark.parametrize(
    "crafted",
    [
        cursor_of(b'["Contoso\\u0000", 1]'),
        cursor_of(b"[1, 1]"),
        cursor_of(b'["x", "y"]'),
        cursor_of(json.dumps(["x" * 201, 1]).encode()),
        cursor_of(f'["x", {INT4_MAX + 1}]'.encode()),
    ],
    ids=["nul-character", "a-number-for-the-name", "text-for-the-id", "longer-than-a-name", "beyond-the-id-column"],
)
async def test_a_cursor_by_name_checks_both_keys(env, crafted):
    # given: customers ordered by name, then id
    document = """query Q($after: String) {
      myCustomers(orderBy: NAME, after: $after) { edges { cursor } } }"""

    # when
    body = await env.api.post(document, {"after": crafted}, **env.credentials("partner_admin"))

    # then
    assert first_code(body) == "BAD_USER_INPUT", body


# --- global ids -------------------------------------------------------------------------------------------------


def largest_id(type_name: str) -> int:
    return primary_key(Tortoise.apps.get_model("models", MODEL_OF_TYPE.get(type_name, type_name))).constraints["le"]


def crafted_ids(type_name: str) -> dict[str, str]:
    """Ids that name `type_name` (or pretend to) and that no table can answer for."""
    other = "User" if type_name != "User" else "Organization"
    return {
        "not-base64": "%%%",
        "no-type": id_of("12"),
        "an-unknown-type": id_of("Nope:1"),
        "another-type": id_of(f"{other}:1"),
        "a-word": id_of(f"{type_name}:x"),
        "negative": id_of(f"{type_name}:-1"),
        "zero": id_of(f"{type_name}:0"),
        "a-leading-zero": id_of(f"{type_name}:01"),
        "unicode-digits": id_of(f"{type_name}:١٢"),
        "a-nul-character": id_of(f"{type_name}:1\x00"),
        "beyond-its-column": id_of(f"{type_name}:{largest_id(type_name) + 1}"),
        "beyond-64-bits": id_of(f"{type_name}:{INT8_MAX + 1}"),
        "huge": id_of(f"{type_name}:{'9' * 40}"),
    }


def node_types(schema: GraphQLSchema) -> list[str]:
    return sorted(
        named.name
        for named in schema.type_map.values()
        if isinstance(named, GraphQLObjectType) and any(i.name == "Node" for i in named.interfaces)
    )


async def test_node_and_nodes_refuse_crafted_ids(env):
    # given
    failures = []
    cases = {
        f"{type_name}-{name}": value
        for type_name in node_types(env.schema)
        for name, value in crafted_ids(type_name).items()
        if name != "another-type"
    }  # `node` takes any type
    cases["not-a-node-type"] = id_of("Refund:1")  # a table, but no GraphQL type

    for name, crafted in cases.items():
        # when
        node = await env.api.post(
            "query Q($id: ID!) { node(id: $id) { id } }", {"id": crafted}, **env.credentials("operator")
        )
        nodes = await env.api.post(
            "query Q($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            {"ids": [env.world.ids["customer"], crafted]},
            **env.credentials("operator"),
        )

        # then
        for field, body in (("node", node), ("nodes", nodes)):
            if first_code(body) != "BAD_USER_INPUT":
                failures.append(f"{field} with {name}: {body.get('errors') or body.get('data')}")

    assert not failures, "\n".join(failures)


async def test_the_largest_id_a_column_holds_is_not_found_for_every_node_type(env):
    for type_name in node_types(env.schema):
        # when
        body = await env.api.post(
            "query Q($id: ID!) { node(id: $id) { id } }",
            {"id": id_of(f"{type_name}:{largest_id(type_name)}")},
            **env.credentials("operator"),
        )

        # then
        assert first_code(body) == "NOT_FOUND", (type_name, body)


# The type of object each `ID` argument or input field names, by its name (the schema types them all `ID`).
ID_TYPES = {
    "partnerId": "Organization",
    "organizationId": "Organization",
    "customerId": "Organization",
    "orderId": "CouponOrder",
    "subscriptionId": "WebhookSubscription",
    "apiKeyId": "ApiKey",
    "invitationId": "Invitation",
    "membershipId": "Membership",
    "applicationId": "PartnerApplication",
    "sessionId": "ManagementSession",
    "productId": "Product",
    "ruleId": "CommissionRule",
    "payoutId": "Payout",
    "payoutIds": "Payout",
    "linkId": "AffiliateLink",
    "planId": "Plan",
    "deliveryId": "WebhookDelivery",
    "tierId": "Tier",
    "userId": "User",
}
ID_TYPE_EXCEPTIONS = {
    ("revokeMembershipInvitation", "invitationId"): "MembershipInvitation",
    ("endSession", "sessionId"): "SessionToken",
}


def _is_id(type_: GraphQLInputType) -> bool:
    return get_named_type(type_) is GraphQLID


def _unwrapped(type_: GraphQLInputType) -> GraphQLInputType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def filler(type_: GraphQLInputType) -> Any:
    """A value of the type that coerces (its meaning does not matter: the ids are refused first)."""
    type_ = _unwrapped(type_)
    if isinstance(type_, GraphQLList):
        return []
    if isinstance(type_, GraphQLInputObjectType):
        return {name: filler(field.type) for name, field in type_.fields.items() if is_required(field)}
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if type_ is GraphQLID:
        return id_of("Organization:1")
    scalars = {
        "String": "x",
        "Int": 1,
        "Float": 1.0,
        "Boolean": False,
        "Decimal": "1.00",
        "Date": "2026-03-02",
        "DateTime": "2026-03-02T09:00:00+00:00",
        "JSON": {},
    }
    assert isinstance(type_, GraphQLScalarType)
    return scalars.get(type_.name, "1")


@dataclass(frozen=True)
class IdPosition:
    """An `ID` argument (`input` is None) or an `ID` field of a root field's `input`."""

    root: str
    operation: str  # query or mutation
    argument: str
    input_field: str | None
    type_: GraphQLInputType

    @property
    def name(self) -> str:
        return self.input_field or self.argument

    @property
    def label(self) -> str:
        return f"{self.root}({self.argument}{'.' + self.input_field if self.input_field else ''})"


def id_positions(schema: GraphQLSchema) -> Iterator[IdPosition]:
    for operation, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        for field_name, field in root.fields.items():
            if field_name in ("node", "nodes"):
                continue  # above, for every Node type
            for argument_name, argument in field.args.items():
                if _is_id(argument.type):
                    yield IdPosition(field_name, operation, argument_name, None, argument.type)
                named = get_named_type(argument.type)
                if isinstance(named, GraphQLInputObjectType):
                    for input_name, input_field in named.fields.items():
                        assert not isinstance(get_named_type(input_field.type), GraphQLInputObjectType) or not any(
                            _is_id(f.type) for f in get_named_type(input_field.type).fields.values()
                        ), f"{field_name}: ids nested deeper than `input` — teach this test"
                        if _is_id(input_field.type):
                            yield IdPosition(field_name, operation, argument_name, input_name, input_field.type)


def request_with(position: IdPosition, schema: GraphQLSchema, crafted: str) -> tuple[str, dict[str, Any]]:
    """The root field with the crafted id at `position` (in a list where the position is one)."""
    root = (schema.query_type if position.operation == "query" else schema.mutation_type).fields[position.root]
    argument = root.args[position.argument]
    value = [crafted] if isinstance(_unwrapped(position.type_), GraphQLList) else crafted
    variable = value if position.input_field is None else {**filler(argument.type), position.input_field: value}
    others = {name: other for name, other in root.args.items() if name != position.argument and is_required(other)}
    declared = "".join(f", ${name}: {other.type}" for name, other in others.items())
    passed = "".join(f", {name}: ${name}" for name in others)
    selection = "{ __typename }" if isinstance(get_named_type(root.type), GraphQLObjectType) else ""
    document = (
        f"{position.operation} Q($v: {argument.type}{declared}) "
        f"{{ {position.root}({position.argument}: $v{passed}) {selection} }}"
    )
    return document, {"v": variable, **{name: filler(other.type) for name, other in others.items()}}


async def test_every_id_argument_of_the_root_fields_refuses_crafted_ids(env):
    # given
    failures, positions = [], list(id_positions(env.schema))
    assert len(positions) > 50

    for position in positions:
        type_name = ID_TYPE_EXCEPTIONS.get((position.root, position.name)) or ID_TYPES.get(position.name)
        assert type_name, f"{position.label}: say in ID_TYPES which type of object `{position.name}` names"
        for name, crafted in crafted_ids(type_name).items():
            # when
            document, variables = request_with(position, env.schema, crafted)
            body = await env.api.post(document, variables, **env.credentials("operator"))

            # then
            if first_code(body) != "BAD_USER_INPUT":
                failures.append(f"{position.label} with {name}: {body.get('errors') or body.get('data')}")

    assert not failures, f"{len(failures)} crafted ids were not refused as BAD_USER_INPUT:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "actor", [None, "key:REPORTS_READ", "no_organization"], ids=["anonymous", "a-key", "no-organization"]
)
@pytest.mark.parametrize(
    "document",
    [
        "query Q($v: ID) { commissions(customerId: $v) { __typename } }",
        "mutation Q($v: ID!) { approvePayout(input: {payoutId: $v}) { __typename } }",
    ],
    ids=["query", "mutation"],
)
async def test_a_crafted_id_is_refused_before_who_may_ask(env, actor, document):
    # given: callers the field refuses (the id is checked first)
    credentials = env.credentials(actor) if actor else {}
    type_name = "Organization" if "customerId" in document else "Payout"

    # when
    crafted = await env.api.post(document, {"v": id_of(f"{type_name}:x")}, **credentials)
    well_formed = await env.api.post(document, {"v": id_of(f"{type_name}:{largest_id(type_name)}")}, **credentials)

    # then
    assert first_code(crafted) == "BAD_USER_INPUT", crafted
    assert first_code(well_formed) in {"UNAUTHENTICATED", "FORBIDDEN", "NO_ORGANIZATION", "NOT_FOUND"}, well_formed


# --- node(id:) fetches every Node type ---------------------------------------------------------------------------


INSTANCES = """query Instances($partnerId: ID) {
  auditEvents(first: 1) { edges { node { id } } }
  outboxMessages(first: 1) { edges { node { id } } }
  commissions(partnerId: $partnerId, first: 100) { lines { edges { node { id payment { id } } } } }
  coupons(partnerId: $partnerId, first: 1) { edges { node { id } } }
  couponOrders(partnerId: $partnerId, first: 1) { edges { node { id invoice { id } } } }
  tierAssessments(first: 1) { edges { node { id } } }
}"""
CUSTOMERS = "query { myCustomers(first: 1) { edges { node { id } } } }"
MEMBERSHIP_INVITATIONS = """query Q($id: ID!) {
  node(id: $id) { ... on Organization { membershipInvitations(first: 1) { edges { node { id } } } } } }"""


def ids_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "id" and isinstance(item, str):
                yield item
            else:
                yield from ids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from ids_in(item)


async def test_node_fetches_an_object_of_every_node_type(env):
    # given: the world's objects, and those only lists show
    found = env.ids_by_type()
    listed = await env.api.data(INSTANCES, {"partnerId": env.world.partner.id}, **env.credentials("operator"))
    listed |= await env.api.data(CUSTOMERS, **env.credentials("partner_admin"))
    for value in ids_in(listed):
        found.setdefault(GlobalID.from_id(value).type_name, []).append(value)
    invitations = await env.api.post(
        MEMBERSHIP_INVITATIONS, {"id": env.world.partner.id}, **env.credentials("partner_admin")
    )
    for value in ids_in(invitations.get("data")):
        found.setdefault(GlobalID.from_id(value).type_name, []).append(value)
    missing, unfetched = [], []

    for type_name in node_types(env.schema):
        if type_name not in found:
            missing.append(type_name)
            continue
        # when
        value = found[type_name][0]
        answers = [
            await env.api.post(
                "query Q($id: ID!) { node(id: $id) { __typename id } }", {"id": value}, **env.credentials(actor)
            )
            for actor in [*ACTORS, "key:BILLING_WRITE", *env.world.people]  # the billing key: redemptions
        ]

        # then
        if not any((body.get("data") or {}).get("node") == {"__typename": type_name, "id": value} for body in answers):
            unfetched.append(f"{type_name}: {[body.get('errors') for body in answers]}")

    assert not unfetched, "node(id:) cannot fetch these:\n" + "\n".join(unfetched)
    assert set(missing) <= {"MembershipInvitation"}, f"give the world an object of each of these types: {missing}"
