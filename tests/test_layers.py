"""The layers of DESIGN.md, read off the imports: `schema/` sends no queries, `permissions/` and
`models/` know nothing of GraphQL. And, read off the calls, the one writer of licenses."""

from __future__ import annotations

import ast
import enum
import importlib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOT_PACKAGE = "partner_portal"


def imports(package: str) -> list[tuple[str, str, str | None]]:
    """(file, imported module, imported name or None) for every import under `package/`, its
    subpackages included (`schema/guards/`); the project's own modules named without their `partner_portal.` root."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        file = str(path.relative_to(ROOT / package))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(file, _own(alias.name), None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found += [(file, _own(node.module), alias.name) for alias in node.names]
    return found


def _own(module: str) -> str:
    return module.removeprefix(f"{ROOT_PACKAGE}.")


def _top(module: str) -> str:
    return module.split(".", 1)[0]


@pytest.mark.parametrize("package", ["permissions", "models"])
def test_permissions_and_models_know_nothing_of_graphql(package):
    offending = [(file, module) for file, module, _ in imports(package) if _top(module) in {"strawberry", "graphql"}]

    assert offending == []


def test_the_schema_sends_no_queries():
    """No ORM, no database module; from `models` only enumerations (the values of GraphQL enums)
    and the clock."""
    offending = []
    for file, module, name in imports("schema"):
        if _top(module) == "tortoise" or module == "models.db":
            offending.append((file, module, name))
        elif _top(module) == "models" and module != "models.clock":
            imported = getattr(importlib.import_module(f"{ROOT_PACKAGE}.{module}"), name) if name else None
            if not (isinstance(imported, type) and issubclass(imported, enum.Enum)):
                offending.append((file, module, name))

    assert offending == []


def test_the_check_sees_a_query_in_the_schema():
    """The scan above is not vacuous: the schema does import from models, and a model would count."""
    from_models = [(module, name) for _, module, name in imports("schema") if _top(module) == "models"]
    assert from_models
    model = importlib.import_module("partner_portal.models.organizations").Organization
    assert not (isinstance(model, type) and issubclass(model, enum.Enum))


# --- the arrows point down: models, permissions < integrations < resolvers < schema < web < server, cli ------

BACK_ARROWS = {  # layer: the layers above it, which it may not import
    "models": {"resolvers", "schema", "web", "portal"},
    "permissions": {"resolvers", "schema", "web", "portal"},
    "integrations": {"resolvers", "schema", "web", "portal"},  # outbound adapters only
    "resolvers": {"schema", "web", "portal"},
    "schema": {"web", "portal"},
    "web": {"server", "cli", "portal"},  # the web edge may import every layer below it
    # The portal is a client of the public API: GraphQL only, beside settings and the mail-link paths.
    "portal": {"models", "permissions", "resolvers", "schema", "web", "server", "cli"},
}
DYNAMIC_IMPORTS = {"lazy", "import_module", "__import__"}  # strawberry.lazy, importlib.import_module


def references(source: Path) -> list[tuple[str, str]]:
    """(file, module) for every project module the files under `source` (a folder or a file) refer
    to: imports (relative ones resolved, `from partner_portal import web` as `web`) and dynamic ones
    (`strawberry.lazy("partner_portal.schema.x")`, `importlib.import_module(…)`), named without the
    `partner_portal.` root."""
    paths = sorted(source.rglob("*.py")) if source.is_dir() else [source]
    found = []
    for path in paths:
        relative = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(), str(path))
        package = [ROOT_PACKAGE, *relative.parent.parts]
        found += [(str(relative), module) for module in referenced_modules(tree, package)]
    return found


def referenced_modules(tree: ast.AST, package: list[str]) -> list[str]:
    """The project modules a parsed file in `package` (e.g. `["partner_portal", "resolvers"]`) refers to."""
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            modules += [module, *(f"{module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if callee in DYNAMIC_IMPORTS and isinstance(node.args[0].value, str):
                modules.append(node.args[0].value)
    return [_own(module) for module in modules if module.startswith(f"{ROOT_PACKAGE}.")]


def project_sources() -> list[Path]:
    return [path for path in sorted(ROOT.glob("**/*.py")) if not {".venv", "node_modules"} & set(path.parts)]


@pytest.mark.parametrize(("layer", "above"), sorted(BACK_ARROWS.items()))
def test_no_layer_imports_a_layer_above_it(layer, above):
    offending = [(file, module) for file, module in references(ROOT / layer) if _top(module) in above]

    assert offending == []


@pytest.mark.parametrize(("layer", "above"), sorted(BACK_ARROWS.items()))
def test_the_back_arrow_check_reads_the_layer_and_the_names_it_forbids(layer, above):
    """Not vacuous: the layer's files are read and their project imports seen, and each layer it may
    not import is imported somewhere (tests included) under the name the check compares."""
    assert references(ROOT / layer)
    everywhere = {_top(module) for path in project_sources() for _, module in references(path)}
    assert above <= everywhere


def test_the_back_arrow_scan_sees_every_form_of_import():
    tree = ast.parse(
        "import partner_portal.web.health\n"
        "from partner_portal import schema\n"
        "from ..web.outage import Outage\n"
        "from . import stripe\n"
        "def f():\n    from partner_portal.server import build_app\n"
        "Later = strawberry.lazy('partner_portal.schema.billing')\n"
        "module = importlib.import_module('partner_portal.web')\n"
        "import json\n"
    )
    tops = {_top(module) for module in referenced_modules(tree, [ROOT_PACKAGE, "resolvers"])}

    assert tops == {"web", "schema", "resolvers", "server"}


ORM_WRITES = {"create", "update", "update_or_create", "get_or_create", "bulk_create", "bulk_update", "delete", "save"}


class _LicenseWrites(ast.NodeVisitor):
    """The innermost function around each ORM write of `License` (`License.<write>(…)`, also
    through a queryset: `License.filter(…).update(…)`), and around SQL text that writes `licenses`."""

    def __init__(self) -> None:
        self.functions: list[str] = ["<module>"]
        self.found: set[str] = set()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:  # ast's names
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and node.func.attr in ORM_WRITES:
            root = node.func.value
            while isinstance(root, (ast.Call, ast.Attribute)):
                root = root.func if isinstance(root, ast.Call) else root.value
            if isinstance(root, ast.Name) and root.id == "License":
                self.found.add(self.functions[-1])
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        text = node.value.lower() if isinstance(node.value, str) else ""
        if any(
            f"{verb} licenses" in text or f'{verb} "licenses"' in text
            for verb in ("update", "insert into", "delete from")
        ):
            self.found.add(self.functions[-1])


def test_licenses_are_written_in_one_place_that_keeps_the_relationships_copy_of_the_status():
    """`resolvers/billing.py` `_write_license` also writes each relationship's copy of the status,
    which the dashboard and "my customers" count by: a license written anywhere else would leave
    the copy behind."""
    writers = set()
    for path in [
        *sorted((ROOT / "resolvers").glob("*.py")),
        *sorted((ROOT / "web").glob("*.py")),
        ROOT / "server.py",
        ROOT / "cli.py",
    ]:
        visitor = _LicenseWrites()
        visitor.visit(ast.parse(path.read_text(), str(path)))
        writers |= {(path.name, function) for function in visitor.found}

    assert writers == {("billing.py", "_write_license")}


def test_the_license_scan_sees_writes_through_querysets_and_sql():
    visitor = _LicenseWrites()
    visitor.visit(
        ast.parse(
            "async def a():\n    await License.filter(id=1).update(status='ACTIVE')\n"
            "async def b():\n    await client.execute_query('UPDATE \"licenses\" SET status = 1')\n"
            "async def c():\n    await License.filter(id=1).first()\n"
        )
    )
    assert visitor.found == {"a", "b"}


def test_the_distribution_installs_one_top_level_name():
    """Every module installs under `partner_portal`: a generic top-level name (`models`, `schema`…)
    would be overwritten by, or overwrite, another distribution's."""
    installed = {
        name
        for name, distributions in metadata.packages_distributions().items()
        if "partner-portal" in distributions and not name.startswith("__editable__")
    }

    assert installed == {ROOT_PACKAGE}


def test_code_imports_the_project_through_its_root():
    """`import models` would work from the repository's folder alone, and load a second copy of
    every module beside `partner_portal.models`."""
    folders = [path.name for path in ROOT.iterdir() if (path / "__init__.py").exists()]
    modules = [path.stem for path in ROOT.glob("*.py")]
    generic = set(folders + modules) - {"tests", "bench"}
    offending = []
    for path in sorted(ROOT.glob("**/*.py")):
        if ".venv" in path.parts or "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            )
            offending += [(str(path.relative_to(ROOT)), name) for name in names if _top(name) in generic]

    assert "models" in generic and "server" in generic
    assert offending == []


def imported_test_modules(source: str) -> list[str]:
    """The test modules (`tests.test_*`) a source imports, in every form of import."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found += dict.fromkeys(".".join(name.split(".")[:2]) for name in names if name.startswith("tests.test_"))
    return found


def test_no_test_module_imports_another():
    """What test modules share lives in support modules (tests/support.py, tests/documents.py, the
    worlds): a test module imported by another is collected twice and ties their tests together."""
    offending = {
        path.name: imported
        for path in sorted((ROOT / "tests").glob("test_*.py"))
        if (imported := imported_test_modules(path.read_text()))
    }

    assert offending == {}


def test_the_test_import_scan_sees_every_form_of_import():
    source = "import tests.test_a\nfrom tests.test_b import x\nfrom tests import test_c\nfrom tests.support import y"

    assert imported_test_modules(source) == ["tests.test_a", "tests.test_b", "tests.test_c"]
