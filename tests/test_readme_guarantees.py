"""Each promise of the README's Guarantees section names a test that exists."""

from __future__ import annotations

import ast
import re

from tests.test_readme_layout import ROOT


def named_tests() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", section)


def test_every_promise_names_a_test_and_every_named_test_exists():
    named = named_tests()
    assert len(named) >= 10
    missing = []
    for path, name in named:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        if name not in functions:
            missing.append(f"{path}::{name}")
    assert missing == []
