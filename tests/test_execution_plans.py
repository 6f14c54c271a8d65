"""Completion plans (schema/execution_plans.py) answer exactly what graphql-core's own completion does.

Differential tests: the same documents run with the plans and with strawberry's executor (the one the
plans extend), and the whole responses (data, errors with their paths and messages, extensions)
must be equal. On the real app over the demo data, with the portal's own documents for every kind of
demo person; and on a small schema built to meet each case where a plan must give way (a null in a
non-null field, a value a scalar refuses, an object of the wrong type, an awaitable, directives,
abstract types, resolvers, arguments).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import strawberry
from graphql import NonNullTypeNode, OperationDefinitionNode, OperationType, parse
from strawberry import relay

from partner_portal.portal.graphql_client import load_operations
from partner_portal.resolvers.demo import DEMO_PASSWORD, seed_demo
from partner_portal.schema import build_schema
from partner_portal.schema.execution_plans import PlanningExecutionContext
from partner_portal.schema.strawberry_internals import ExecutionContextBase
from tests.documents import LOGIN

DEMO_PEOPLE = (
    "operator@vendor.example",
    "admin@northwind.example",
    "customers@northwind.example",
    "portal@northwind.example",
    "admin@contoso.example",
    "admin@adventure-works.example",
    "admin@litware.example",
)


@contextmanager
def general_execution(schema: Any) -> Iterator[None]:
    """The schema completing every field through graphql-core, as without plans."""
    schema.execution_context_class = ExecutionContextBase
    try:
        yield
    finally:
        schema.execution_context_class = PlanningExecutionContext


CHANGING = {"AccountDataExport"}  # each export is audited: the next one lists it


def _queries_without_required_variables() -> dict[str, str]:
    """The portal's read operations that run without variables (a page's first view)."""
    runnable = {}
    for name, document in load_operations().items():
        [operation] = [d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode)]
        required = [v for v in operation.variable_definitions or () if isinstance(v.type, NonNullTypeNode)]
        if operation.operation is OperationType.QUERY and not required and name not in CHANGING:
            runnable[name] = document
    return runnable


async def test_the_portal_s_documents_answer_alike_with_and_without_plans(clock, api):
    await seed_demo(api.settings)
    schema = build_schema(api.settings)
    documents = _queries_without_required_variables()
    assert len(documents) >= 15  # the pages' queries, not an accidentally empty corpus
    compared = 0
    for email in DEMO_PEOPLE:
        login = await api.data(LOGIN, {"input": {"email": email, "password": DEMO_PASSWORD}})
        token = login["login"]["token"]
        for name, document in documents.items():
            planned = await api.post(document, token=token)
            with general_execution(schema):
                general = await api.post(document, token=token)
            _assert_alike(planned, general, (email, name))
            compared += bool(planned.get("data"))
    assert compared >= 40  # most of them answered data, not only refusals


def _assert_alike(planned: dict, general: dict, where: tuple[str, str]) -> None:
    """Equal, but for the query budget's `remaining` (each request lowers it) and, when a refused
    non-null root field nulls `data`, for which of the root fields' refusals are in: graphql-core
    cancels the fields still running then, so that set depends on timing with or without plans
    (both must still be refusals of the same kinds)."""
    for body in (planned, general):
        body.get("extensions", {}).get("cost", {}).pop("remaining", None)
    if planned.get("data") is None and general.get("data") is None and "errors" in planned:
        codes = [{error["extensions"]["code"] for error in body.pop("errors")} for body in (planned, general)]
        assert codes[0] == codes[1] and codes[0], where
    assert planned == general, where


MY_CUSTOMERS = """{ myCustomers(first: 10) { totalCount edges { cursor node {
  id source startedAt endedAt grant { permissions expiresAt } customer { id name website country __typename }
  license { status plan seats monthlyRecurringRevenue { amount currency } trialEndsAt } } } } }"""


async def test_a_list_page_is_completed_by_its_plan_not_field_by_field(api, monkeypatch):
    await seed_demo(api.settings)
    login = await api.data(LOGIN, {"input": {"email": "customers@northwind.example", "password": DEMO_PASSWORD}})
    token = login["login"]["token"]
    executed: list[str] = []
    original = ExecutionContextBase.execute_field

    def counting(self, parent_type, source, field_details_list, path, position_context):
        executed.append(f"{parent_type.name}.{field_details_list[0].node.name.value}")
        return original(self, parent_type, source, field_details_list, path, position_context)

    monkeypatch.setattr(ExecutionContextBase, "execute_field", counting)
    planned = await api.data(MY_CUSTOMERS, token=token)
    assert len(planned["myCustomers"]["edges"]) == 2
    # The root field; `totalCount` has a resolver, so the connection's fields run the general way, and
    # `edges` with everything below it is one plan.
    assert sorted(executed) == [
        "CustomerRelationshipConnection.edges",
        "CustomerRelationshipConnection.totalCount",
        "Query.myCustomers",
    ]
    executed.clear()
    with general_execution(build_schema(api.settings)):
        assert await api.data(MY_CUSTOMERS, token=token) == planned
    assert len(executed) > 40  # field by field


# --- where a plan must give way: a schema built for it ------------------------------------------


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Elsewhere(enum.Enum):
    GREEN = "green"


@strawberry.type
class Leaf:
    name: str
    count: int
    colour: Colour
    maybe: str | None = None


@strawberry.type
class Thing(relay.Node):
    id: relay.NodeID[int]
    name: str
    leaves: list[Leaf]
    first: Leaf | None
    strict: Leaf

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Person(Named):
    email: str


class Broken:
    """Not a Thing: what a buggy resolver could return."""

    name = "broken"


async def _later(value: Any) -> Any:
    return value


def _things() -> list[Any]:
    good = Leaf(name="a", count=1, colour=Colour.RED)
    return [
        Thing(
            id=1,
            name="one",
            leaves=[good, Leaf(name="b", count=2, colour=Colour.BLUE, maybe="m")],
            first=good,
            strict=good,
        ),
        Thing(id=2, name="two", leaves=[], first=None, strict=good),
    ]


SCENARIOS: dict[str, tuple[Any, str]] = {
    "plain values, aliases, __typename, relay ids": (
        _things,
        "{ things { id __typename n: name leaves { name count colour maybe } first { name } strict { name } } }",
    ),
    "fragments": (
        _things,
        "{ things { ...T } } fragment T on Thing { id leaves { ...L } } fragment L on Leaf { name }",
    ),
    "a null in a non-null field": (
        lambda: [Thing(id=3, name=None, leaves=[], first=None, strict=Leaf(name="x", count=1, colour=Colour.RED))],  # type: ignore[arg-type]
        "{ things { id name } }",
    ),
    "a null object in a non-null field, under a nullable list item": (
        lambda: [Thing(id=4, name="n", leaves=[], first=None, strict=None)],  # type: ignore[arg-type]
        "{ things { strict { name } } }",
    ),
    "a value the scalar refuses": (
        lambda: [
            Thing(
                id=5,
                name="n",
                leaves=[Leaf(name="a", count=2**40, colour=Colour.RED)],
                first=None,
                strict=Leaf(name="x", count=1, colour=Colour.RED),
            )
        ],
        "{ things { leaves { count } } }",
    ),
    "a member of another enum": (
        lambda: [
            Thing(
                id=6,
                name="n",
                leaves=[Leaf(name="a", count=1, colour=Elsewhere.GREEN)],
                first=None,
                strict=Leaf(name="x", count=1, colour=Colour.RED),
            )
        ],  # type: ignore[arg-type]
        "{ things { leaves { colour } } }",
    ),
    "an object of the wrong type": (lambda: [Broken()], "{ things { name } }"),
    "an awaitable value": (
        lambda: [
            Thing(
                id=7,
                name="n",
                leaves=[],
                first=_later(Leaf(name="late", count=1, colour=Colour.RED)),
                strict=Leaf(name="x", count=1, colour=Colour.RED),
            )
        ],  # type: ignore[arg-type]
        "{ things { first { name } } }",
    ),
    "a string where a list belongs": (
        lambda: [Thing(id=8, name="n", leaves="ab", first=None, strict=Leaf(name="x", count=1, colour=Colour.RED))],  # type: ignore[arg-type]
        "{ things { leaves { name } } }",
    ),
    "a field with a resolver and arguments": (_things, "{ things { name shout(times: 2) } }"),
    "directives": (_things, "query Q($with: Boolean!) { things { name leaves @include(if: $with) { name } } }"),
    "an interface": (lambda: [Person(name="p", email="p@example.com")], "{ named { name ... on Person { email } } }"),
}


def _schema(things: Any, planned: bool) -> strawberry.Schema:
    @strawberry.type
    class Query:
        @strawberry.field
        async def things(self) -> list[Thing | None]:
            return things()

        @strawberry.field
        def named(self) -> list[Named]:
            return things()

    return strawberry.Schema(
        query=Query,
        types=[Person],
        execution_context_class=PlanningExecutionContext if planned else ExecutionContextBase,
    )


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("with_directive", [True, False])
def test_a_plan_answers_as_graphql_core_in_every_case(scenario, with_directive):
    things, document = SCENARIOS[scenario]
    results = []
    for planned in (True, False):
        result = asyncio.run(_schema(things, planned).execute(document, variable_values={"with": with_directive}))
        errors = [(error.message, error.path) for error in result.errors or ()]
        results.append((result.data, errors))
    assert results[0] == results[1]
