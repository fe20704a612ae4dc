"""A file of the whole trail or of a time range is complete: its signed metadata states the
first and last chain positions and the count, and `verify_audit --file` fails on any row
missing, duplicated or out of order. Filtered files say so and are checked row by row."""

from __future__ import annotations

import io
import json

import pytest

from ims_portal.audit import exporting, keys, signing
from ims_portal.audit.chain import GENESIS
from ims_portal.audit.models import Action, AuditEvent
from tests.audit.helpers import download_to, only, verify
from tests.audit.test_verify_audit import fill

pytestmark = pytest.mark.django_db


def header_of(path) -> dict:
    header, _ = exporting.read(io.StringIO(path.read_text(), newline=""))
    return header


def rewrite_rows(path, change) -> None:
    """Edit a CSV file's data rows (each one line here) as a list of lines."""
    head, columns, *rows = path.read_text().splitlines(keepends=True)
    path.write_text(head + columns + "".join(change(rows)))


def position(event: AuditEvent) -> int:
    return AuditEvent.objects.filter(pk__lte=event.pk).count()


@pytest.fixture
def whole(as_carol, tmp_path):
    """A file of the whole trail: carol's sign-in, five events, the export's own event."""
    fill(5)
    return download_to(as_carol, tmp_path / "whole.csv")


def test_a_whole_trail_file_states_its_first_and_last_positions_and_count_signed(whole):
    header = header_of(whole)
    events = list(AuditEvent.objects.order_by("id"))
    marker = only(Action.AUDIT_EXPORTED)
    assert len(events) == 7 and events[-1] == marker
    assert header["scope"] == "complete"
    assert header["range"] == {
        "count": 7,
        "first": {"position": 1, "id": events[0].pk, "prev_hash": GENESIS},
        "last": {"position": 7, "id": marker.pk, "hash": marker.hash},
    }
    signing.check(keys.public_key(), header)  # raises if not signed by the portal's key
    passed, output = verify("--file", str(whole))
    assert passed, output
    assert "complete: 7 rows, chain positions 1 to 7, none missing" in output


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_time_range_is_one_unbroken_run_from_its_position_in_the_chain(as_carol, tmp_path, fmt):
    early = fill(3)
    since = early[-1].at  # the range starts at the third event
    later = fill(2)
    start = since.isoformat(timespec="microseconds").replace("+00:00", "")
    path = download_to(as_carol, tmp_path / f"range.{fmt}", fmt, since=start)
    header = header_of(path)
    assert header["scope"] == "complete"
    first = position(early[-1])
    assert header["range"]["first"] == {
        "position": first,
        "id": early[-1].pk,
        "prev_hash": early[-2].hash,
    }
    assert header["range"]["count"] == 4  # early[-1], the two later ones, the export
    assert later[-1].pk < header["range"]["last"]["id"]
    passed, output = verify("--file", str(path))
    assert passed, output
    assert f"chain positions {first} to {first + 3}" in output


def ids_in(path) -> list[int]:
    return [row["id"] for row in exporting.read(io.StringIO(path.read_text(), newline=""))[1]]


def test_a_removed_row_is_caught(whole):
    ids = ids_in(whole)
    rewrite_rows(whole, lambda rows: rows[:2] + rows[3:])
    passed, output = verify("--file", str(whole))
    assert not passed
    assert f"row 3 (event #{ids[3]}) does not follow the row before it (event #{ids[1]})" in output
    assert "rows are missing or out of order between them" in output


def test_a_duplicated_row_is_caught(whole):
    rewrite_rows(whole, lambda rows: rows[:3] + rows[2:])
    passed, output = verify("--file", str(whole))
    assert not passed and "a row is duplicated" in output


def test_an_earlier_row_repeated_further_down_is_caught(whole):
    ids = ids_in(whole)
    rewrite_rows(whole, lambda rows: [*rows[:3], rows[1], *rows[3:]])
    passed, output = verify("--file", str(whole))
    assert not passed
    assert f"row 4 (event #{ids[1]}) is older than the row before it (event #{ids[2]})" in output


def test_two_rows_swapped_are_caught(whole):
    ids = ids_in(whole)
    rewrite_rows(whole, lambda rows: [rows[0], rows[2], rows[1], *rows[3:]])
    passed, output = verify("--file", str(whole))
    assert not passed
    assert f"row 2 (event #{ids[2]}) does not follow the row before it (event #{ids[0]})" in output


def test_the_last_rows_removed_are_caught_by_the_signed_count(whole):
    rewrite_rows(whole, lambda rows: rows[:-2])
    passed, output = verify("--file", str(whole))
    assert not passed
    assert "holds 5 rows but its signed metadata says 7: rows were removed from its end" in output


def test_the_first_row_removed_is_caught(whole):
    rewrite_rows(whole, lambda rows: rows[1:])
    passed, output = verify("--file", str(whole))
    assert not passed
    assert "is not the first event the metadata names: rows are missing from the start" in output


def test_metadata_edited_to_match_fails_its_signature(whole):
    rewrite_rows(whole, lambda rows: rows[:-1])
    text = whole.read_text()
    whole.write_text(text.replace('"count":7', '"count":6', 1))
    passed, output = verify("--file", str(whole))
    assert not passed
    assert "its metadata line cannot be trusted: its signature does not verify" in output


def test_a_file_whose_signature_was_removed_fails(whole):
    first, rest = whole.read_text().split("\n", 1)
    header = json.loads(first[len(exporting.CSV_MARK) :])
    del header["signature"]
    whole.write_text(exporting.CSV_MARK + json.dumps(header) + "\n" + rest)
    passed, output = verify("--file", str(whole))
    assert not passed and "it carries no signature" in output


def test_a_filtered_file_says_so_and_is_checked_row_by_row(as_carol, tmp_path):
    fill(4)
    path = download_to(as_carol, tmp_path / "filtered.csv", action="export.submitted")
    header = header_of(path)
    assert header["scope"] == "filtered" and "range" not in header
    passed, output = verify("--file", str(path))
    assert passed, output
    assert "a filtered export ({'action': 'export.submitted'})" in output
    assert "cannot show that no row was left out" in output

    rewrite_rows(path, lambda rows: rows[1:])  # what a filtered file cannot show
    assert verify("--file", str(path))[0]
    rewrite_rows(path, lambda rows: [rows[0].replace("job-1", "job-7"), *rows[1:]])
    passed, output = verify("--file", str(path))
    assert not passed and "was edited" in output
