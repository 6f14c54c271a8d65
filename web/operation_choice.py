"""Which operation of a GraphQL document a request runs, decided before anything runs."""

from __future__ import annotations

from typing import NamedTuple

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse


class OperationChoice(NamedTuple):
    """The type of the operation a request runs, or why no operation can be chosen (a request error)."""

    type: OperationType | None
    error: str | None = None


def choose_operation(query: str | None, operation_name: str | None, max_tokens: int) -> OperationChoice:
    """GraphQL's GetOperation(): the operation named `operation_name`, else the document's only one.
    Several operations and no name, or an unknown name, is a request error (nothing runs).
    Parsed with the token limit, like execution: an unlimited parse of a flood costs seconds. A missing
    query or one that does not parse gives no choice and no error: execution refuses it."""
    if not query:
        return OperationChoice(None)
    try:
        document = parse(query, max_tokens=max_tokens)
    except GraphQLError:
        return OperationChoice(None)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
        if not operations:
            return OperationChoice(None, f'The document has no operation named "{operation_name}".')
    elif len(operations) > 1:
        return OperationChoice(None, "The document has several operations: name the one to run in `operationName`.")
    elif not operations:
        return OperationChoice(None, "The document has no operation to run.")
    return OperationChoice(operations[0].operation)
