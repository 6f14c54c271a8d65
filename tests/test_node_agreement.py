"""Every path to an object agrees with `node(id:)` on whether the actor sees it, for every actor.

The paths are generated from the schema, so a new `Node` type or a new field leading to one is
covered without touching this file:
- the root fields (with `partnerId` left out and naming each partner, where a field takes one),
  walked through every object type down to the `Node` objects they reach;
- every field of every `Node` type that leads to a `Node` object (`Organization.servicePartner`,
  `Payout.lines`, …), asked through `node(id:)` on each parent the actor sees.

Two rules hold for each actor of tests/authorization_world.py:
1. Whatever a path shows, `node(id:)` shows too (a path never reaches further than `node`).
2. A field of a parent the actor sees shows every object it holds that the actor sees through
   `node(id:)`: what the field holds is what any actor saw through it. A field that refuses as a
   whole (FORBIDDEN) is closed to the actor, not in disagreement; `viewer…` fields are about the
   actor itself and are left out of this rule.

Root lists are narrower than `node(id:)` by design (one partner's, the current ones, active ones):
only rule 1 applies to them. Mutation payloads are left out (they change the world).
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
import time_machine
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
)
from strawberry.relay import GlobalID
from tortoise import Tortoise

from partner_portal.resolvers.keys import MODEL_OF_TYPE
from partner_portal.schema import build_schema
from partner_portal.schema.strawberry_internals import graphql_schema
from partner_portal.settings import Settings
from tests.authorization_world import ACTORS, World, add_assessments_and_a_redemption, build_world, credentials
from tests.conftest import POSTGRES_URL, START, Api, start_api, test_settings

pytestmark = pytest.mark.slow  # the world, then some 10,000 objects asked for by 19 actors (tens of seconds)

BATCH = 150  # aliases per request
MAX_HOPS = 4  # object types walked through between a field and the Node objects it reaches
UNLIMITED = {
    "max_aliases": 10_000,
    "max_selections": 100_000,
    "max_tokens": 1_000_000,
    "max_query_cost": 10**9,
    "query_budget": 0,
    "max_request_bytes": 16 * 1024 * 1024,
}

# Values for required arguments (and for optional ones that name an object), by argument name. A new
# required argument fails `test_every_required_argument_has_a_value` until it is given one here.
ARGUMENTS = {
    "from": '"2026-01-01"',
    "until": '"2026-12-31"',
    "first": "100",
    "period": "MONTH",
    "groupBy": "[STATUS]",
    "by": "COMMISSION",
    "orderBy": "NAME",
    "descending": "false",
    "newestFirst": "true",
    "changedOnly": "false",
    "includeInactive": "true",
}
WORLD_ARGUMENTS = {  # argument → how to name the world's objects
    "code": lambda world: [f'"{world.values["expert_code"]}"'],
    "subscriptionId": lambda world: [f'"{world.ids["subscription"]}"'],
}
PARTNER_ARGUMENT = "partnerId"  # left out, and each partner of the world


# --- the paths, from the schema ----------------------------------------------------------------------------


def _schema() -> GraphQLSchema:
    return graphql_schema(build_schema(Settings()))


def node_types(schema: GraphQLSchema) -> list[GraphQLObjectType]:
    return sorted(schema.get_possible_types(schema.get_type("Node")), key=lambda t: t.name)


def _is_node(schema: GraphQLSchema, named: Any) -> bool:
    return isinstance(named, GraphQLObjectType) and schema.get_type("Node") in named.interfaces


def _argument_sets(field_def: GraphQLField, world: World | None) -> list[str] | None:
    """The argument lists to call a field with (`partnerId` left out and naming each partner); None
    when a required argument has no value."""
    fixed: list[str] = []
    variants: list[str] = [""]
    for name, argument in field_def.args.items():
        required = isinstance(argument.type, GraphQLNonNull) and argument.default_value is None
        if name == PARTNER_ARGUMENT and world is not None:
            partners = [world.partner.id, world.other_partner.id]
            variants = ["", *(f'{name}: "{partner}"' for partner in partners)]
        elif name in ARGUMENTS and _fits(argument, ARGUMENTS[name]):
            fixed.append(f"{name}: {ARGUMENTS[name]}")
        elif name in WORLD_ARGUMENTS:
            fixed.append(f"{name}: {WORLD_ARGUMENTS[name](world)[0]}" if world is not None else f'{name}: "x"')
        elif required:
            named = get_named_type(argument.type)
            if isinstance(named, GraphQLEnumType):
                value = next(iter(named.values))
                fixed.append(f"{name}: [{value}]" if _is_list(argument.type) else f"{name}: {value}")
            else:
                return None
    return [", ".join(part for part in (*fixed, variant) if part) for variant in variants]


def _fits(argument: Any, value: str) -> bool:
    """An enum value (a bare name) fits an enum argument only: `period` is a report's MONTH, but a
    tier assessment's "2026-03" (left out)."""
    bare_name = value.isidentifier() and value not in ("true", "false")
    return not bare_name or isinstance(get_named_type(argument.type), GraphQLEnumType)


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _call(name: str, arguments: str) -> str:
    return f"{name}({arguments})" if arguments else name


def selection(schema: GraphQLSchema, named: Any, world: World | None, hops: int = MAX_HOPS) -> str | None:
    """The selection reaching every Node object below a type (`id` on each), or None when none is reached."""
    if _is_node(schema, named):
        return "id"
    if not isinstance(named, GraphQLObjectType) or hops == 0:
        return None
    parts = []
    for name, field_def in named.fields.items():
        below = selection(schema, get_named_type(field_def.type), world, hops - 1)
        if below is None:
            continue
        argument_sets = _argument_sets(field_def, world)
        if argument_sets is None:
            continue
        parts.extend(f"{name}_{i}: {_call(name, arguments)} {{ {below} }}" for i, arguments in enumerate(argument_sets))
    return " ".join(parts) or None


@dataclass(frozen=True)
class RootPath:
    name: str  # how the failure names it
    document: str  # the root selection


def root_paths(schema: GraphQLSchema, world: World) -> list[RootPath]:
    paths = []
    for name, field_def in schema.query_type.fields.items():
        named = get_named_type(field_def.type)
        if isinstance(named, GraphQLInterfaceType):
            continue  # node, nodes: the other side of the comparison
        below = selection(schema, named, world)
        argument_sets = _argument_sets(field_def, world)
        if below is None or argument_sets is None:
            continue
        paths.extend(
            RootPath(_call(name, arguments), f"{_call(name, arguments)} {{ {below} }}") for arguments in argument_sets
        )
    return paths


def nested_fields(schema: GraphQLSchema, world: World | None) -> dict[str, dict[str, str]]:
    """Node type → its fields that lead to Node objects → the selection of each (`field { … }`)."""
    found: dict[str, dict[str, str]] = {}
    for node_type in node_types(schema):
        for name, field_def in node_type.fields.items():
            below = selection(schema, get_named_type(field_def.type), world)
            argument_sets = _argument_sets(field_def, world)
            if below is None or argument_sets is None:
                continue
            found.setdefault(node_type.name, {})[name] = " ".join(
                f"{name}_{i}: {_call(name, arguments)} {{ {below} }}" for i, arguments in enumerate(argument_sets)
            )
    return found


def ids_in(value: Any) -> set[str]:
    """The Node ids anywhere in a response (the generated selections ask `id` of Node objects only)."""
    if isinstance(value, dict):
        return set().union(*(({item} if key == "id" else ids_in(item)) for key, item in value.items()))
    if isinstance(value, list):
        return set().union(*(ids_in(item) for item in value))
    return set()


# --- asking many aliases at once ---------------------------------------------------------------------------


async def ask(api: Api, actor_credentials: dict[str, str], groups: Iterable[dict[str, str]]) -> tuple[dict, dict]:
    """Each alias's data, and the error code of each alias that failed.

    A failing non-null field nulls the whole response, and graphql-core then reports that one error
    only. Each group (aliases likely to answer alike: one Node type, one field) is asked at once; a
    group that fails is asked alias by alias."""
    answers: dict[str, Any] = {}
    failures: dict[str, str] = {}

    async def batch(selections: dict[str, str]) -> bool:
        body = await api.post(
            "query Q { " + " ".join(f"{a}: {s}" for a, s in selections.items()) + " }", **actor_credentials
        )
        errors = body.get("errors") or []
        for error in errors:
            assert error.get("path"), f"An error without a path: {error}"
        if body.get("data") is None:
            if len(selections) == 1:
                failures.update({alias: _code(errors[0]) for alias in selections})
            return False
        answers.update(body["data"])
        failures.update({error["path"][0]: _code(error) for error in errors})
        return True

    for group in groups:
        aliases = list(group)
        for start in range(0, len(aliases), BATCH):
            chunk = {alias: group[alias] for alias in aliases[start : start + BATCH]}
            if not await batch(chunk) and len(chunk) > 1:
                for alias, text in chunk.items():
                    await batch({alias: text})
    return answers, failures


def _code(error: dict[str, Any]) -> str:
    return error.get("extensions", {}).get("code", error["message"])


# --- the world and what each actor sees ----------------------------------------------------------------------


@dataclass
class Views:
    """What each actor sees: through `node(id:)`, and through each path."""

    world: World
    every_id: dict[str, set[str]] = field(default_factory=dict)  # Node type → every id in the database
    by_node: dict[str, set[str]] = field(default_factory=dict)  # actor → ids `node(id:)` answers
    node_refusals: dict[str, set[str]] = field(default_factory=dict)  # actor → error codes of `node(id:)`
    by_root: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # actor → root path → ids
    # actor → (parent id, field) → ids, and the (parent id, field) pairs that refused
    by_field: dict[str, dict[tuple[str, str], set[str]]] = field(default_factory=dict)
    closed: dict[str, dict[tuple[str, str], str]] = field(default_factory=dict)


def _model(type_name: str) -> Any:
    model_name = MODEL_OF_TYPE.get(type_name, type_name)
    for app in Tortoise.apps.values():
        if model_name in app:
            return app[model_name]
    raise AssertionError(f"No model named {type_name} for the Node type {type_name}: teach the test its table.")


async def _every_id(schema: GraphQLSchema) -> dict[str, set[str]]:
    return {
        node_type.name: {
            str(GlobalID(node_type.name, str(pk)))
            for pk in await _model(node_type.name).all().values_list("id", flat=True)
        }
        for node_type in node_types(schema)
    }


async def _views(api: Api, world: World) -> Views:
    schema = _schema()
    views = Views(world, every_id=await _every_id(schema))
    type_of = {global_id: type_name for type_name, ids in views.every_id.items() for global_id in ids}
    paths = root_paths(schema, world)
    fields = nested_fields(schema, world)
    for actor in ACTORS:
        who = credentials(world, actor)
        answers, failures = await ask(
            api,
            who,
            [
                {f"n{type_name}{i}": f'node(id: "{gid}") {{ id }}' for i, gid in enumerate(sorted(ids))}
                for type_name, ids in views.every_id.items()
            ],
        )
        views.by_node[actor] = {answer["id"] for answer in answers.values() if answer is not None}  # null: refused
        views.node_refusals[actor] = set(failures.values())

        answers, _ = await ask(api, who, [{f"r{i}": path.document} for i, path in enumerate(paths)])
        views.by_root[actor] = {path.name: ids_in(answers.get(f"r{i}")) for i, path in enumerate(paths)}

        asked: dict[str, tuple[str, str]] = {}
        groups: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        for parent in sorted(views.by_node[actor]):
            type_name = type_of[parent]
            for name, text in fields.get(type_name, {}).items():
                alias = f"f{len(asked)}"
                asked[alias] = (parent, name)
                groups[type_name, name][alias] = f'node(id: "{parent}") {{ ... on {type_name} {{ {text} }} }}'
        answers, failures = await ask(api, who, groups.values())
        views.by_field[actor] = {  # a field that failed is closed, not empty (`node` is nullable: data stays)
            key: ids_in(answers[alias]) for alias, key in asked.items() if alias in answers and alias not in failures
        }
        views.closed[actor] = {asked[alias]: code for alias, code in failures.items()}
    return views


@pytest.fixture(scope="module")
async def views(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Views]:
    if POSTGRES_URL:
        url = POSTGRES_URL
    else:
        folder = tmp_path_factory.mktemp("agreement")
        shutil.copyfile(template_database, folder / "portal.sqlite3")
        url = f"sqlite://{folder / 'portal.sqlite3'}"
    with time_machine.travel(START, tick=False) as clock:
        async for api in start_api(test_settings(url, webhook_allow_private_networks=True, **UNLIMITED)):
            world = await build_world(api, clock)
            await add_assessments_and_a_redemption(api, world)
            yield await _views(api, world)


def _type(global_id: str) -> str:
    return GlobalID.from_id(global_id).type_name


def _listed(ids: Iterable[str]) -> str:
    return ", ".join(f"{_type(i)}:{GlobalID.from_id(i).node_id}" for i in sorted(ids))


# --- the rules ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ACTORS)
def test_node_refuses_with_not_found_only(views, actor):
    assert views.node_refusals[actor] <= {"NOT_FOUND"}, views.node_refusals[actor]


@pytest.mark.parametrize("actor", ACTORS)
def test_a_root_field_shows_nothing_node_hides(views, actor):
    beyond = {path: ids - views.by_node[actor] for path, ids in views.by_root[actor].items()}
    beyond = {path: ids for path, ids in beyond.items() if ids}
    assert not beyond, "\n".join(
        f"{actor}: {path} shows {_listed(ids)}, node(id:) does not" for path, ids in beyond.items()
    )


@pytest.mark.parametrize("actor", ACTORS)
def test_a_field_shows_nothing_node_hides(views, actor):
    beyond = {key: ids - views.by_node[actor] for key, ids in views.by_field[actor].items()}
    beyond = {key: ids for key, ids in beyond.items() if ids}
    assert not beyond, "\n".join(
        f"{actor}: node(id: {_listed([parent])}) {{ {name} }} shows {_listed(ids)}, node(id:) does not"
        for (parent, name), ids in beyond.items()
    )


@pytest.mark.parametrize("actor", ACTORS)
def test_a_field_shows_everything_node_shows(views, actor):
    held: dict[tuple[str, str], set[str]] = defaultdict(set)  # what each field holds: what anybody saw there
    for seen in views.by_field.values():
        for key, ids in seen.items():
            held[key] |= ids
    missing = {}
    for key, ids in views.by_field[actor].items():
        if key[1].startswith("viewer"):
            continue
        hidden = (held[key] & views.by_node[actor]) - ids
        if hidden:
            missing[key] = hidden
    assert not missing, "\n".join(
        f"{actor}: node(id: {_listed([parent])}) {{ {name} }} leaves out {_listed(ids)}, which node(id:) shows"
        for (parent, name), ids in missing.items()
    )


def test_only_access_errors_close_a_field(views):
    codes = {code for closed in views.closed.values() for code in closed.values()}
    assert codes <= {"FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED", "NO_ORGANIZATION"}, codes


def test_every_node_type_is_reached_and_checked(views):
    seen = set().union(*views.by_node.values())
    unseen = [name for name, ids in views.every_id.items() if not ids & seen]
    assert not unseen, f"Node types no actor of the world sees (add one to tests/authorization_world.py): {unseen}"


def test_every_required_argument_has_a_value():
    schema = _schema()
    missing = []
    for type_ in [schema.query_type, *node_types(schema)]:
        for name, field_def in type_.fields.items():
            if isinstance(get_named_type(field_def.type), GraphQLInterfaceType):
                continue
            if selection(schema, get_named_type(field_def.type), None) and _argument_sets(field_def, None) is None:
                missing.append(f"{type_.name}.{name}")
    assert not missing, f"Fields leading to Node objects with a required argument the test cannot fill: {missing}"


# --- the decisions where two paths disagreed (each allowed and denied) ------------------------------------------


def _current_relationship(views: Views, organization: str) -> str:
    """The relationship the customer's administrator reads as `servicePartner`."""
    (relationship,) = views.by_field["administrator"][organization, "servicePartner"]
    return relationship


@pytest.mark.parametrize(
    ("actor", "sees"),
    [
        ("operator", True),
        ("operator_reviewer", True),
        ("administrator", True),
        ("ADMINISTER_CUSTOMERS", True),
        ("other_administrator", False),
        ("partner_member", False),
        ("key_reports", False),
        ("anonymous", False),
    ],
)
def test_operators_read_a_customers_relationship_as_they_read_the_customer(views, actor, sees):
    # given: Contoso's current relationship with Northwind (operators see every organization and its servicePartner)
    relationship = _current_relationship(views, views.world.ids["customer"])

    # then
    assert (relationship in views.by_node[actor]) is sees


@pytest.mark.parametrize(
    ("actor", "key", "sees"),
    [
        ("key_reports", "REPORTS_READ", True),
        ("key_billing", "BILLING_WRITE", True),
        ("key_reports", "BILLING_WRITE", False),
        ("key_webhooks", "spare", False),
        ("operator", "spare", True),
    ],
)
def test_an_api_key_reads_itself_through_node_as_through_viewer_api_key(views, actor, key, sees):
    assert (views.world.ids[f"api_key:{key}"] in views.by_node[actor]) is sees


@pytest.mark.parametrize(
    ("actor", "sees"),
    [
        ("key_billing", True),
        ("key_reports", True),
        ("operator", True),
        ("key_webhooks", False),
        ("partner_member", False),
        ("anonymous", False),
    ],
)
def test_a_billing_key_reads_the_commission_lines_its_payments_earn_through_node(views, actor, sees):
    """`recordPayment` answers a billing key with the line its payment earned: `node(id:)` agrees."""
    lines = views.every_id["Commission"]
    assert lines

    assert (lines <= views.by_node[actor]) is sees


def _seen(views: Views, type_name: str, actor: str) -> str:
    """How many objects of the type the actor reads through `node(id:)`: "all", "some" or "none"."""
    every = views.every_id[type_name]
    assert every, f"the world holds no {type_name}"
    seen = every & views.by_node[actor]
    return "all" if seen == every else "some" if seen else "none"


@pytest.mark.parametrize(
    ("type_name", "actor", "sees"),
    [
        # a payment: the billing system that records it, and whoever reads the commission lines it earned
        ("Payment", "key_billing", "all"),
        ("Payment", "key_reports", "all"),
        ("Payment", "operator", "all"),
        ("Payment", "partner_admin", "all"),  # the world's one payment earned Northwind a line
        ("Payment", "MANAGE_PARTNER_PORTAL", "all"),
        ("Payment", "partner_member", "none"),
        ("Payment", "ADMINISTER_CUSTOMERS", "none"),
        ("Payment", "administrator", "none"),
        ("Payment", "other_administrator", "none"),
        ("Payment", "operator_reviewer", "none"),
        ("Payment", "key_webhooks", "none"),
        ("Payment", "anonymous", "none"),
        # coupons, their orders and invoices: the reseller's portal staff and operators with MANAGE_PROGRAMS
        *(
            (type_name, actor, sees)
            for type_name in ("Coupon", "CouponOrder", "CouponInvoice")
            for actor, sees in [
                ("partner_admin", "all"),
                ("MANAGE_PARTNER_PORTAL", "all"),
                ("operator", "all"),
                ("partner_member", "none"),
                ("CREATE_CUSTOMER_ORGANIZATIONS", "none"),
                ("other_administrator", "none"),
                ("administrator", "none"),
                ("operator_reviewer", "none"),
                ("key_billing", "none"),
                ("key_reports", "none"),
                ("anonymous", "none"),
            ]
        ),
        # tier assessments: each partner's portal staff its own, operators with MANAGE_PROGRAMS every one
        ("TierAssessment", "operator", "all"),
        ("TierAssessment", "partner_admin", "some"),
        ("TierAssessment", "other_administrator", "some"),
        ("TierAssessment", "MANAGE_PARTNER_PORTAL", "some"),
        ("TierAssessment", "partner_member", "none"),
        ("TierAssessment", "operator_reviewer", "none"),
        ("TierAssessment", "key_reports", "none"),
        ("TierAssessment", "anonymous", "none"),
        # discount code redemptions: the checkout (billing key) that records them, nobody else
        ("DiscountRedemption", "key_billing", "all"),
        ("DiscountRedemption", "partner_admin", "none"),
        ("DiscountRedemption", "operator", "none"),
        ("DiscountRedemption", "key_reports", "none"),
        ("DiscountRedemption", "anonymous", "none"),
    ],
)
def test_node_reads_the_new_node_types_as_the_other_paths_do(views, type_name, actor, sees):
    assert _seen(views, type_name, actor) == sees


def test_the_partners_assessments_are_their_own(views):
    """Northwind's and Southwind's portal staff read disjoint assessments: each its partner's."""
    northwind = views.every_id["TierAssessment"] & views.by_node["partner_admin"]
    southwind = views.every_id["TierAssessment"] & views.by_node["other_administrator"]

    assert northwind and southwind and not northwind & southwind
