"""The GraphQL schema itself: the committed SDL, descriptions, naming and mutation conventions."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    specified_scalar_types,
)
from tortoise.models import Model

from partner_portal.models import MODEL_MODULES
from partner_portal.resolvers.keys import MODEL_OF_TYPE
from partner_portal.schema import build_schema
from partner_portal.schema.common import NODE_FETCHERS
from partner_portal.schema.strawberry_internals import graphql_schema
from partner_portal.settings import Settings

COMMITTED_SDL = Path(__file__).resolve().parents[1] / "schema.graphql"
REGENERATE = "run `partner-portal export-schema > schema.graphql` and commit the result"

CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")
PASCAL_CASE = re.compile(r"^[A-Z][a-zA-Z0-9]*$")
SCREAMING_SNAKE_CASE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return graphql_schema(build_schema(Settings()))


def own_types(schema: GraphQLSchema) -> list[GraphQLNamedType]:
    """The schema's types, without introspection types and the built-in scalars."""
    return [
        named
        for name, named in schema.type_map.items()
        if not name.startswith("__") and name not in specified_scalar_types
    ]


def described_elements(schema: GraphQLSchema) -> Iterator[tuple[str, str | None]]:
    """(coordinate, description) of every type, field, argument, input field and enum value."""
    for named in own_types(schema):
        yield named.name, named.description
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                yield f"{named.name}.{field_name}", field.description
                for arg_name, arg in field.args.items():
                    yield f"{named.name}.{field_name}({arg_name}:)", arg.description
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                yield f"{named.name}.{field_name}", input_field.description
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                yield f"{named.name}.{value_name}", value.description


def mutations(schema: GraphQLSchema) -> list[tuple[str, GraphQLField]]:
    assert schema.mutation_type is not None
    return list(schema.mutation_type.fields.items())


def is_user_error_list(field: GraphQLField | None) -> bool:
    """`[UserError!]!`"""
    if field is None or not isinstance(field.type, GraphQLNonNull):
        return False
    listed = field.type.of_type
    if not isinstance(listed, GraphQLList) or not isinstance(listed.of_type, GraphQLNonNull):
        return False
    return getattr(listed.of_type.of_type, "name", None) == "UserError"


def test_the_committed_schema_matches_the_code():
    # given
    committed = COMMITTED_SDL.read_text(encoding="utf-8")

    # when
    generated = build_schema(Settings()).as_str() + "\n"

    # then
    assert committed == generated, f"schema.graphql is out of date: {REGENERATE}"


def test_every_element_of_the_schema_is_described(schema):
    # when
    undescribed = [coordinate for coordinate, text in described_elements(schema) if not (text or "").strip()]

    # then
    assert undescribed == [], f"describe these in the schema code: {undescribed}"


def test_names_follow_the_conventions(schema):
    # given
    problems = []

    # when
    for named in own_types(schema):
        if not PASCAL_CASE.match(named.name):
            problems.append(f"type {named.name}: PascalCase")
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in named.fields.items():
                if not CAMEL_CASE.match(field_name):
                    problems.append(f"{named.name}.{field_name}: camelCase")
                for arg_name in getattr(field, "args", {}):
                    if not CAMEL_CASE.match(arg_name):
                        problems.append(f"{named.name}.{field_name}({arg_name}:): camelCase")
        if isinstance(named, GraphQLEnumType):
            problems += [
                f"{named.name}.{value}: SCREAMING_SNAKE_CASE"
                for value in named.values
                if not SCREAMING_SNAKE_CASE.match(value)
            ]

    # then
    assert problems == []


def test_every_mutation_takes_its_own_input_and_returns_a_payload(schema):
    # given
    problems = []

    # when
    for name, field in mutations(schema):
        if not CAMEL_CASE.match(name):
            problems.append(f"{name}: a camelCase verbNoun")
        returned = field.type.of_type if isinstance(field.type, GraphQLNonNull) else None
        if not isinstance(returned, GraphQLObjectType) or not returned.name.endswith("Payload"):
            problems.append(f"{name}: must return a non-null ...Payload, not {field.type}")
        if not field.args:
            continue
        expected_input = name[0].upper() + name[1:] + "Input"
        argument = field.args.get("input")
        if list(field.args) != ["input"] or argument is None:
            problems.append(f"{name}: must take exactly one argument, `input`, not {list(field.args)}")
        elif not (
            isinstance(argument.type, GraphQLNonNull)
            and isinstance(argument.type.of_type, GraphQLInputObjectType)
            and argument.type.of_type.name == expected_input
        ):
            problems.append(f"{name}: `input` must be `{expected_input}!`, not {argument.type}")

    # then
    assert problems == []


def test_every_payload_reports_user_errors(schema):
    # given
    payloads = {
        field.type.of_type.name: field.type.of_type
        for _, field in mutations(schema)
        if isinstance(field.type, GraphQLNonNull) and isinstance(field.type.of_type, GraphQLObjectType)
    }

    # when
    without_errors = [
        name for name, payload in payloads.items() if not is_user_error_list(payload.fields.get("errors"))
    ]

    # then
    assert payloads, "the schema has no mutation payloads"
    assert without_errors == [], "these payloads lack `errors: [UserError!]!`"


def test_a_user_error_names_the_field_a_code_and_a_message(schema):
    # given
    user_error = schema.type_map["UserError"]

    # when
    fields = {name: str(field.type) for name, field in user_error.fields.items()}

    # then
    assert fields == {"field": "String", "code": "UserErrorCode!", "message": "String!"}
    assert isinstance(schema.type_map["UserErrorCode"], GraphQLEnumType)


def test_node_fetches_every_type_that_implements_node(schema):
    """`node(id:)` has a fetcher for every Node type (`schema/common.py node_type`), and each type is named
    after its model, whose primary key bounds the ids `node` and the id arguments accept (resolvers/keys.py).
    Fetching a real object of each type: tests/test_opaque_inputs.py."""
    # given
    node_types = {
        named.name
        for named in own_types(schema)
        if isinstance(named, GraphQLObjectType) and any(i.name == "Node" for i in named.interfaces)
    }
    models = {
        name
        for module in MODEL_MODULES
        for name, value in vars(importlib.import_module(module)).items()
        if isinstance(value, type) and issubclass(value, Model)
    }

    # then
    assert len(node_types) > 10
    assert node_types - set(NODE_FETCHERS) == set(), "register a fetcher with `@node_type(...)`"
    assert {MODEL_OF_TYPE.get(name, name) for name in node_types} - models == set(), (
        "name each Node type after its model (or, where the names differ, map it in resolvers/keys.py MODEL_OF_TYPE)"
    )
