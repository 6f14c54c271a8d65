"""The layers of DESIGN.md, read off the imports: `schema/` sends no queries, `permissions/` and
`models/` know nothing of GraphQL."""

from __future__ import annotations

import ast
import enum
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports(package: str) -> list[tuple[str, str, str | None]]:
    """(file, imported module, imported name or None) for every import under `package/`."""
    found = []
    for path in sorted((ROOT / package).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found += [(path.name, node.module, alias.name) for alias in node.names]
    return found


def _top(module: str) -> str:
    return module.split(".", 1)[0]


@pytest.mark.parametrize("package", ["permissions", "models"])
def test_permissions_and_models_know_nothing_of_graphql(package):
    offending = [(file, module) for file, module, _ in imports(package) if _top(module) in {"strawberry", "graphql"}]

    assert offending == []


def test_the_schema_sends_no_queries():
    """No ORM, no database module; from `models` only enumerations (the values of GraphQL enums)."""
    offending = []
    for file, module, name in imports("schema"):
        if _top(module) == "tortoise" or module == "models.db":
            offending.append((file, module, name))
        elif _top(module) == "models":
            imported = getattr(importlib.import_module(module), name) if name else None
            if not (isinstance(imported, type) and issubclass(imported, enum.Enum)):
                offending.append((file, module, name))

    assert offending == []


def test_the_check_sees_a_query_in_the_schema():
    """The scan above is not vacuous: the schema does import from models, and a model would count."""
    from_models = [(module, name) for _, module, name in imports("schema") if _top(module) == "models"]
    assert from_models
    model = importlib.import_module("models.organizations").Organization
    assert not (isinstance(model, type) and issubclass(model, enum.Enum))
