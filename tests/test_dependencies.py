"""What the code takes from other distributions: only what pyproject.toml declares (a package that
merely comes along with another, like cross-web with strawberry, can go away in any upgrade), and
from strawberry and tortoise only public names: their private ones are imported in one module per
library, which says why. (Private attributes, such as `Model._meta`, are ruff's SLF001.)"""

from __future__ import annotations

import ast
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
OWN = {"partner_portal", "tests", "bench"}  # the project's own import names
SKIPPED = {".git", ".venv", "node_modules", "migrations", "__pycache__", "build", "var"}  # migrations are generated
# The pyproject groups code may import from, by top folder ("" is [project] dependencies); elsewhere only "".
GROUPS = {"tests": ("", "test"), "bench": ("", "bench"), ".ci": ("", "test")}
# The one module per library where its private names may be imported.
INTERNALS = {"tortoise": "models/tortoise_internals.py", "strawberry": "schema/strawberry_internals.py"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def python_files() -> Iterator[Path]:
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED and not d.endswith((".egg-info", "_cache")))
        yield from (Path(folder, name) for name in sorted(files) if name.endswith(".py"))


def imports(source: str) -> Iterator[tuple[str, str | None]]:
    """(module, imported name or None) for every absolute import in `source`, also inside functions."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield from ((node.module, alias.name) for alias in node.names)


@cache
def declared(group: str) -> frozenset[str]:
    """The distributions pyproject.toml names in `group`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] if group == "" else project["optional-dependencies"][group]
    return frozenset(canonical(Requirement(text).name) for text in requirements)


@cache
def providers() -> dict[str, list[str]]:
    """Top-level module → the installed distributions that provide it."""
    return metadata.packages_distributions()


def undeclared(source: str, allowed: set[str]) -> list[str]:
    """The top-level modules `source` imports that no distribution in `allowed` provides."""
    provided = providers()
    found = []
    for module, _ in imports(source):
        top = module.split(".")[0]
        if top in OWN or top in sys.stdlib_module_names:
            continue
        if not {canonical(name) for name in provided.get(top, [])} & allowed:
            found.append(top)
    return sorted(set(found))


def private_names(source: str) -> list[str]:
    """The private names (a part starting with `_`) of the libraries of INTERNALS that `source` imports."""
    found = []
    for module, name in imports(source):
        dotted = f"{module}.{name}" if name else module
        if module.split(".")[0] in INTERNALS and any(part.startswith("_") for part in dotted.split(".")):
            found.append(dotted)
    return found


def test_every_imported_distribution_is_declared():
    offending = []
    for path in python_files():
        relative = path.relative_to(ROOT)
        allowed = set().union(*(declared(group) for group in GROUPS.get(relative.parts[0], ("",))))
        offending += [(str(relative), module) for module in undeclared(path.read_text(), allowed)]

    assert offending == []


def test_the_declaration_check_sees_a_package_that_only_comes_along():
    """cross_web is installed (strawberry requires it), but counts only when named."""
    source = "import os\nfrom cross_web import HTTPException\nimport strawberry\nfrom partner_portal import server\n"

    assert undeclared(source, {"strawberry-graphql"}) == ["cross_web"]
    assert undeclared(source, {"strawberry-graphql", "cross-web"}) == []


def test_private_names_of_strawberry_and_tortoise_are_imported_in_their_internals_module_only():
    internals = {ROOT / path for path in INTERNALS.values()}
    offending = [
        (str(path.relative_to(ROOT)), name)
        for path in python_files()
        if path not in internals
        for name in private_names(path.read_text())
    ]

    assert all(path.is_file() for path in internals)
    assert offending == []


def test_the_private_name_check_sees_private_modules_and_names():
    source = (
        "from tortoise.contrib.test import _topological_sort_models\n"
        "import strawberry._private.helpers\n"
        "from strawberry.relay import GlobalID\n"
        "from graphql import _hidden\n"  # not one of the two libraries
    )

    assert private_names(source) == ["tortoise.contrib.test._topological_sort_models", "strawberry._private.helpers"]
