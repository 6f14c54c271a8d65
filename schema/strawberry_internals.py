"""The names of strawberry that are not its public API, used in this one module, each with why.

The request guards (schema/guards/) work on the graphql-core schema strawberry builds, as
strawberry's own execution does; strawberry exports no public way to reach it. Every other module
goes through the functions here, so a strawberry upgrade that moves them breaks here and nowhere
else. tests/test_dependencies.py fails when another module imports a private name of strawberry;
ruff's SLF001 when one reads a private attribute.
"""

from __future__ import annotations

from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLField, GraphQLNamedType, GraphQLSchema
from strawberry import relay
from strawberry.schema.base import BaseSchema
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.schema.schema_converter import GraphQLCoreConverter


def graphql_schema(schema: BaseSchema) -> GraphQLSchema:
    """The graphql-core schema strawberry built and executes against: `Schema._schema`."""
    built: GraphQLSchema = schema._schema  # type: ignore[attr-defined]  # strawberry.Schema's, not BaseSchema's
    return built


def validate(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    """graphql-core's validation with `rules` and strawberry's own rules (`@oneOf` inputs, `Maybe`), as
    strawberry's validation step runs it: `strawberry.schema.schema.validate_document`, not exported."""
    return validate_document(schema, document, rules)


def strawberry_type(definition: GraphQLNamedType) -> Any:
    """The strawberry type definition a graphql-core type was built from (None for introspection types)."""
    return (definition.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)


def is_relay_id(field: Any) -> bool:
    """Whether a strawberry field is relay's `Node.id`, whose resolver is the private classmethod `Node._id`."""
    resolver = field.base_resolver
    return resolver is not None and getattr(resolver.wrapped_func, "__func__", None) is relay.Node._id.__func__


def strawberry_field(definition: GraphQLField) -> Any:
    """The strawberry field a graphql-core field was built from (None for introspection fields):
    strawberry keeps it in the field's extensions under `GraphQLCoreConverter.DEFINITION_BACKREF`."""
    return (definition.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)


# strawberry's graphql-core executor (it builds strawberry's `Info`): schema/execution_plans.py extends it
# and passes the subclass as `execution_context_class`, the public way to change how fields complete.
ExecutionContextBase = StrawberryGraphQLCoreExecutionContext
