"""Export statuses, verification states and cloud job statuses are named once: `Status`
(with its table), `Verification` (with its own) and `JobStatus`. Everything else asks them, so a renamed or added status cannot be missed in a
template comparison or a string literal somewhere. The simulator is the cloud and keeps its
own vocabulary; migrations are history; the command-line client (`ims_portal/cli/`) imports
nothing of the portal and reads statuses off the API's wire, its exit-code table held to
`Status` by `tests/cli/test_exit_codes.py`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ims_portal.cloud.models import JobStatus
from ims_portal.exports.models import Status, Verification

ROOT = Path(__file__).resolve().parent.parent
VOCABULARY = (
    frozenset(Status.values)
    | {s.value for s in JobStatus if s != JobStatus.UNRECOGNISED}
    | {v.value for v in Verification if v.value}
)
# The modules whose writes to an export row must all go through the model's guarded methods.
WRITERS = (
    "ims_portal/exports/tasks.py",
    "ims_portal/exports/workflow.py",
    "ims_portal/exports/views.py",
)

_WORDS = "|".join(sorted(VOCABULARY))
_QUOTED = re.compile(rf"""(["'])({_WORDS})\1""")
_STATUS_COMPARISON = re.compile(r"status\s*(==|!=)")


def _defines_a_vocabulary(node: ast.ClassDef) -> bool:
    """An enum or Django choices class: its members' values are where the words belong."""
    for base in node.bases:
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        if name.endswith(("Choices", "Enum")):
            return True
    return False


def raw_statuses_in_python(source: str) -> list[tuple[int, str]]:
    """(line, value) of every string constant equal to a status, outside enum members."""
    tree = ast.parse(source)
    members: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and _defines_a_vocabulary(node):
            for statement in node.body:
                if isinstance(statement, ast.Assign):
                    members.update(id(n) for n in ast.walk(statement.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in VOCABULARY
        and id(node) not in members
    ]


def raw_statuses_in_template(text: str) -> list[tuple[int, str]]:
    """(line, text) of every status comparison or quoted status word in a template."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        found += [(number, m.group(0)) for m in _STATUS_COMPARISON.finditer(line)]
        found += [(number, m.group(0)) for m in _QUOTED.finditer(line)]
    return found


def bare_row_updates(source: str) -> list[int]:
    """Lines of `<queryset>.filter(...).update(...)` and the like: writes past the model."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("update", "bulk_update")
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Attribute)
        and node.func.value.func.attr in ("filter", "exclude", "all", "select_for_update")
    ]


def python_modules() -> list[Path]:
    modules = (ROOT / "ims_portal").rglob("*.py")
    skipped = ("migrations", "simulator", "cli")
    return sorted(p for p in modules if not set(p.relative_to(ROOT).parts) & set(skipped))


def test_the_scanners_catch_what_they_are_for():
    python = """
class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
class JobStatus(StrEnum):
    SUCCESS = "SUCCESS"
def f(export, job):
    return export.status == "succeeded" or job.status in ("FAIL",)
"""
    assert raw_statuses_in_python(python) == [(7, "succeeded"), (7, "FAIL")]
    template = (
        "{% if export.is_failed %}\n{% elif export.status == \"unknown\" %}\n<p data-x='RUNNING'>"
    )
    assert [line for line, _ in raw_statuses_in_template(template)] == [2, 2, 3]
    assert (
        raw_statuses_in_template('<li class="status-{{ export.status }}">time left unknown') == []
    )
    writer = "Export.objects.filter(pk=1).update(status=x)\nfields.update(a=1)\n"
    assert bare_row_updates(writer) == [1]


@pytest.mark.parametrize("path", python_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_names_statuses_only_through_their_enums(path):
    assert raw_statuses_in_python(path.read_text()) == []


@pytest.mark.parametrize(
    "path", sorted((ROOT / "templates").rglob("*.html")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_templates_ask_the_model_never_compare_status_strings(path):
    assert raw_statuses_in_template(path.read_text()) == []


@pytest.mark.parametrize("path", WRITERS)
def test_export_rows_are_written_only_through_the_model(path):
    assert bare_row_updates((ROOT / path).read_text()) == []
