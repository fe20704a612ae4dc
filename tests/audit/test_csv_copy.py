"""The CSV export's fast path (PostgreSQL's COPY) writes the very bytes the plain path
writes, whatever the cells hold, and the file it makes passes `verify_audit --file`."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from ims_portal.audit import context, csv_copy, exporting
from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.audit.trail import SYSTEM, Target, record
from tests.audit.helpers import download_to, public_key_file, verify

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's"),
]

# Every value a CSV or a spreadsheet treats specially, each at the start of a cell and
# inside one.
AWKWARD = [
    "plain",
    "",
    'say "hi"',
    "a, b",
    "two\nlines",
    "carriage\rreturn",
    "both\r\nends",
    "tab\there",
    "x\x1fy",
    "\x1f",
    "→ ünïcödé ✓",
    "back\\slash",
    "\\.",  # COPY's end-of-data line, which it quotes only as a row's one cell
    " spaced ",
    *exporting.FORMULA_START,
    *(start + "cell" for start in exporting.FORMULA_START),
]


@pytest.fixture
def awkward_trail(alice):
    """One event per awkward value, in the user agent, the target and the details."""
    return _trail(alice, AWKWARD)


def _trail(alice, values: list[str]):
    user = get_user_model().objects.create_user("=odd,user", "o@example.com", "x")
    for n, value in enumerate(values):
        origin = context.Origin(f"req-{n:010d}", value[:45], value)
        with context.bound(origin):
            record(
                alice if n % 2 else user,
                Action.EXPORT_FAILED if n % 3 else Action.EXPORT_REQUESTED,
                Target(value[:40], value[:64], value),
                outcome=Outcome.FAILURE if n % 3 else Outcome.SUCCESS,
                text=value,
                nested={"list": [value, 1.5, None, True], "deep": {"n": -7}},
                number=n * 10**20,
                ratio=n / 7,
                tiny=1e-7,
            )
    # Details in every shape the database can hold: none at all, and a value at the start.
    record(SYSTEM, Action.EXPORT_RUNNING, Target("export", "1"))
    record(SYSTEM, Action.EXPORT_RUNNING, Target("export", "2"), **{"=": "-1", "a,b": '"'})
    return AuditEvent.objects.all()


def plain(events) -> str:
    rows = events.order_by("id").values_list(*exporting.COLUMNS).iterator(chunk_size=7)
    return "".join(exporting.stream("csv", {"filter": {}}, rows))


def test_the_fast_path_writes_the_plain_paths_bytes(awkward_trail):
    fast = "".join(csv_copy.stream({"filter": {}}, awkward_trail))
    assert fast == plain(awkward_trail)
    assert fast.count("\n") > len(AWKWARD) + 2  # the rows are there, quoted newlines too


def test_a_filter_selects_the_same_rows_on_both_paths(awkward_trail):
    some = awkward_trail.filter(outcome=Outcome.FAILURE, actor_username="alice")
    fast = "".join(csv_copy.stream({"filter": {"actor": "alice"}}, some))
    assert fast == "".join(
        exporting.stream(
            "csv",
            {"filter": {"actor": "alice"}},
            some.order_by("id").values_list(*exporting.COLUMNS),
        )
    )
    assert ",alice," in fast and "odd,user" not in fast


def test_pieces_are_large_and_the_rows_arrive_whole(awkward_trail, monkeypatch):
    monkeypatch.setattr(csv_copy, "CHUNK_BYTES", 200)
    pieces = list(csv_copy.stream({"filter": {}}, awkward_trail))
    assert len(pieces) > 3
    assert "".join(pieces) == plain(awkward_trail)


def test_the_downloaded_file_verifies(alice, as_carol, tmp_path):
    # Every awkward value, a bare CR too (quoted, so that a reader does not end the row there).
    _trail(alice, AWKWARD)
    path = download_to(as_carol, tmp_path / "trail.csv")
    passed, output = verify("--file", str(path), "--public-key", str(public_key_file(tmp_path)))
    assert passed, output
    assert "complete" in output
