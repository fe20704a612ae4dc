"""The simulator imports nothing of the portal, directly or through another module.

The walker reads the source with `ast` (nothing is imported), follows every import that
lands inside the project's top package, module by module, and counts the parent packages an
import runs too (`import a.b.c` runs `a/__init__.py` and `a/b/__init__.py`). It is tried on
small packages written for the purpose, so the guard cannot pass because the walker sees
nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ims_portal

PROJECT_ROOT = Path(ims_portal.__file__).resolve().parents[1]
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def module_file(root: Path, name: str) -> Path | None:
    """The source file of module `name` under `root`, or None if it is not a module there."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path, name: str) -> set[str]:
    """Every module name one source file may import (candidates; unresolved ones are dropped
    by the caller). Relative imports are made absolute; `import_module("x")` counts too."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.add(base)
            # `from package import name` imports a submodule when `name` is one.
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in DYNAMIC_IMPORTERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def with_parents(name: str) -> list[str]:
    """`a.b.c` -> `a`, `a.b`, `a.b.c`: what importing it runs."""
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts) + 1)]


def reachable_modules(root: Path, package: str) -> dict[str, str]:
    """Every project module that importing any module of `package` runs, transitively.

    Maps each module reached to the module that first imported it (the start modules map to
    themselves), so a failure can show the chain. Only modules under `root` inside the same
    top-level package as `package` are followed; the standard library and third parties are
    not the question here.
    """
    top = package.split(".")[0]
    package_dir = root.joinpath(*package.split("."))
    starts = [
        ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for path in sorted(package_dir.rglob("*.py"))
    ]
    reached: dict[str, str] = {}
    queue: list[tuple[str, str]] = [(name, name) for name in starts]
    while queue:
        name, importer = queue.pop()
        for module in with_parents(name):
            if module in reached or module_file(root, module) is None:
                continue
            reached[module] = importer
            path = module_file(root, module)
            assert path is not None
            queue.extend(
                (imported, module)
                for imported in imports_of(path, module)
                if imported.split(".")[0] == top
            )
    return reached


def foreign_modules(root: Path, package: str) -> dict[str, str]:
    """Reached modules outside `package` (its top package's `__init__` is allowed: importing
    anything in it runs that file, whose own imports are followed all the same)."""
    top = package.split(".")[0]
    return {
        module: importer
        for module, importer in reachable_modules(root, package).items()
        if module != top and module != package and not module.startswith(package + ".")
    }


def chain(reached: dict[str, str], module: str) -> str:
    """`start -> ... -> module`, following who imported whom."""
    links = [module]
    while reached.get(links[-1], links[-1]) != links[-1]:
        links.append(reached[links[-1]])
    return " -> ".join(reversed(links))


def test_no_simulator_module_reaches_a_portal_module():
    reached = reachable_modules(PROJECT_ROOT, "ims_portal.simulator")
    foreign = foreign_modules(PROJECT_ROOT, "ims_portal.simulator")

    assert foreign == {}, [chain(reached, module) for module in foreign]
    # Not vacuous: the walk found the package's own modules and their imports of each other.
    assert {"ims_portal.simulator.server", "ims_portal.simulator.export_rules"} <= set(reached)
    assert reached["ims_portal.simulator.export_rules"] != "ims_portal.simulator.export_rules"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


CLEAN = {
    "app/__init__.py": "",
    "app/exports/__init__.py": "",
    "app/exports/rules.py": "X = 1\n",
    "app/sim/__init__.py": "from app.sim import server\n",
    "app/sim/server.py": "import json\nfrom . import state\n",
    "app/sim/state.py": "from .rules_of_cloud import Y\n",
    "app/sim/rules_of_cloud.py": "Y = 2\n",
}


def test_the_walker_finds_nothing_foreign_in_a_clean_package(tmp_path):
    root = write_tree(tmp_path, CLEAN)

    assert foreign_modules(root, "app.sim") == {}
    assert "app.sim.rules_of_cloud" in reachable_modules(root, "app.sim")


@pytest.mark.parametrize(
    ("changes", "culprit"),
    [
        pytest.param(
            {"app/sim/rules_of_cloud.py": "from app.exports.rules import X as Y\n"},
            "app.exports.rules",
            id="direct-import-in-a-leaf-module",
        ),
        pytest.param(
            {
                "app/sim/rules_of_cloud.py": "from app import util\nY = 2\n",
                "app/util.py": "from app.exports import rules\n",
            },
            "app.exports.rules",
            id="through-a-module-outside-the-package",
        ),
        pytest.param(
            {"app/sim/state.py": "from ..exports.rules import X\n"},
            "app.exports.rules",
            id="relative-import-two-levels-up",
        ),
        pytest.param(
            {"app/__init__.py": "import app.exports.rules\n"},
            "app.exports.rules",
            id="through-the-parent-package-init",
        ),
        pytest.param(
            {"app/sim/state.py": "import importlib\nimportlib.import_module('app.exports')\n"},
            "app.exports",
            id="dynamic-import",
        ),
        pytest.param(
            {
                "app/sim/state.py": (
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from app.exports import rules\n"
                )
            },
            "app.exports.rules",
            id="import-under-type-checking",
        ),
    ],
)
def test_the_walker_catches_a_portal_import_however_it_gets_in(tmp_path, changes, culprit):
    root = write_tree(tmp_path, {**CLEAN, **changes})

    foreign = foreign_modules(root, "app.sim")

    assert culprit in foreign
    assert chain(reachable_modules(root, "app.sim"), culprit).startswith("app.sim")
