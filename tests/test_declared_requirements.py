"""Every root field declares what it requires, once (`schema/requires.py`), or is public on purpose;
the "Requires:" texts of the committed SDL are the declarations' own; a declaration is decided once
per request, and again after each mutation."""

from __future__ import annotations

from pathlib import Path

import graphql
import pytest
import strawberry
from strawberry.types.field import StrawberryField

from partner_portal.schema import build_schema
from partner_portal.schema.requires import PUBLIC_FIELDS, REQUIRES, declared
from partner_portal.settings import Settings
from tests.support import make_partner, operator

COMMITTED_SDL = Path(__file__).resolve().parents[1] / "schema.graphql"
ROOTS = ("Query", "Mutation")


@pytest.fixture(scope="module")
def schema() -> strawberry.Schema:
    return build_schema(Settings())


def root_fields(schema: strawberry.Schema) -> list[tuple[str, str, StrawberryField]]:
    """(root type, field name, strawberry field) of every root field."""
    name_of = schema.config.name_converter.get_graphql_name
    return [(root, name_of(field), field) for root in ROOTS for field in schema.get_type_by_name(root).fields]


def test_every_root_field_declares_a_requirement_or_is_listed_public(schema):
    fields = root_fields(schema)
    undeclared = [
        f"{root}.{name}" for root, name, field in fields if declared(field) is None and name not in PUBLIC_FIELDS
    ]
    public_yet_declared = [
        f"{root}.{name}" for root, name, field in fields if declared(field) is not None and name in PUBLIC_FIELDS
    ]
    listed_but_absent = PUBLIC_FIELDS - {name for _, name, _ in fields}

    assert undeclared == []
    assert public_yet_declared == []
    assert listed_but_absent == set()


def test_the_check_sees_both_kinds(schema):
    """Not vacuous: most root fields declare a requirement, and a few are public."""
    fields = root_fields(schema)
    assert sum(declared(field) is not None for _, _, field in fields) > 80
    assert sum(declared(field) is None for _, _, field in fields) == len(PUBLIC_FIELDS)


def test_the_committed_sdl_shows_each_declaration_once(schema):
    committed = graphql.build_schema(COMMITTED_SDL.read_text())
    wrong = {}
    for root, name, field in root_fields(schema):
        description = committed.get_type(root).fields[name].description or ""
        requires = declared(field)
        expected_tail = requires.text() if requires else None
        shown = description[description.index(REQUIRES) :] if REQUIRES in description else None
        if shown != expected_tail or description.count(REQUIRES) > 1:
            wrong[f"{root}.{name}"] = (shown, expected_tail)

    assert wrong == {}


def test_input_types_leave_who_may_send_them_to_the_declarations():
    """An input's description that restated its field's requirement ("operators with …") would be a
    second copy of the rule, free to drift from the declaration."""
    committed = graphql.build_schema(COMMITTED_SDL.read_text())
    restating = [
        name
        for name, named in committed.type_map.items()
        if isinstance(named, graphql.GraphQLInputObjectType)
        and any(words in (named.description or "") for words in ("operators with", "API keys with"))
    ]

    assert [name for name in committed.type_map if name.endswith("Input")]
    assert restating == []


def test_an_undeclared_requirement_text_in_the_description_would_be_caught(schema):
    """The comparison above reads the text after "Requires:" from the declaration, not a copy."""
    _, _, field = next(item for item in root_fields(schema) if item[1] == "approvePayout")
    requires = declared(field)

    assert requires.text() == "Requires: an operator with MANAGE_PAYOUTS."
    assert field.description.endswith(requires.text())


PROFILE_THEN_SETTINGS = """
mutation Change($partnerId: ID!) {
  updatePartnerProfile(input: {partnerId: $partnerId, payoutCurrency: "USD"}) { errors { code } }
  setPayoutSettings(input: {partnerId: $partnerId, method: PAYPAL, paypalEmail: "pay@northwind.example"}) {
    payoutSettings { payoutCurrency } errors { code }
  }
}"""

TWO_LISTS = "{ a: affiliateLinks { totalCount } b: affiliateLinks { totalCount } }"


async def test_each_mutation_decides_on_what_the_mutations_before_it_changed(api, clock):
    """The two mutations declare the same requirement for the same partner; the second one's answer
    (the partner's profile) is decided again, after the first one changed the payout currency."""
    northwind = await make_partner(api, await operator(api))

    data = await api.data(PROFILE_THEN_SETTINGS, {"partnerId": northwind.id}, token=northwind.admin.token)

    assert data["updatePartnerProfile"]["errors"] == []
    assert data["setPayoutSettings"] == {"payoutSettings": {"payoutCurrency": "USD"}, "errors": []}


async def test_sibling_fields_with_one_requirement_decide_it_once(api, clock):
    """Both lists need MANAGE_PARTNER_PORTAL in the same partner: its profile is read once, by the
    first field's check; the second field waits for that answer."""
    northwind = await make_partner(api, await operator(api))

    with api.count_queries() as counter:
        data = await api.data(TWO_LISTS, token=northwind.admin.token)

    assert data == {"a": {"totalCount": 0}, "b": {"totalCount": 0}}
    assert sum("partner_profiles" in statement for statement in counter.statements) == 1
