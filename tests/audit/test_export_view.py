"""Exporting the filtered events: streamed CSV and JSON Lines that round-trip, name their
filter and chain head, and can be checked against the trail later."""

from __future__ import annotations

import io
import json

import pytest

from ims_portal.audit import chain, context, exporting
from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.audit.trail import SYSTEM, Target, record
from tests.audit.helpers import only, verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(alice, bob):
    """A small trail of two exports, with awkward values where files break."""
    with context.bound(context.Origin("req-0000000001", "2001:db8::7", 'Agent "quoted", comma')):
        events = [
            record(
                alice, Action.EXPORT_REQUESTED, Target("export", "1", "web → a:b"), bucket="alpha"
            ),
            record(
                SYSTEM, Action.EXPORT_SUBMITTED, Target("export", "1"), job_id="j-1", bucket="alpha"
            ),
            record(
                bob, Action.EXPORT_REQUESTED, Target("export", "2", "=HYPERLINK(1)"), bucket="beta"
            ),
            record(
                SYSTEM,
                Action.EXPORT_FAILED,
                Target("export", "2", "-2+3"),
                outcome=Outcome.FAILURE,
                error_message='line one\nline two, with "quotes"',
                bucket="beta",
            ),
        ]
    return events


def download(client, fmt: str, **query) -> tuple[object, str]:
    response = client.get(f"/audit/export.{fmt}", query)
    assert response.status_code == 200, response.content
    assert response.streaming
    return response, b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_round_trips_every_hashed_field_of_every_event(as_carol, trail, fmt):
    response, text = download(as_carol, fmt)
    _, rows = exporting.read(io.StringIO(text, newline=""))
    rows = list(rows)
    events = list(AuditEvent.objects.order_by("id"))
    assert [row["id"] for row in rows] == [event.pk for event in events]  # chain order
    for row, event in zip(rows, events, strict=True):
        assert chain.content(row) == chain.content(chain.values_of(event))
        assert row["hash"] == event.hash == chain.digest(row)
    assert chain.Walk().run(rows) is None  # unfiltered: the rows are the chain itself
    assert response["Content-Type"] == exporting.CONTENT_TYPES[fmt]
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')


def test_the_csv_is_a_csv_a_spreadsheet_will_not_run_formulas_from(as_carol, trail):
    _, text = download(as_carol, "csv")
    lines = text.splitlines()
    assert lines[0].startswith("# {")
    assert lines[1] == ",".join(exporting.COLUMNS)
    assert ",'=HYPERLINK(1)," in text and ",'-2+3," in text
    _, rows = exporting.read(io.StringIO(text, newline=""))
    labels = [row["target_label"] for row in rows]
    assert "=HYPERLINK(1)" in labels and "-2+3" in labels


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_holds_exactly_the_filtered_events_and_names_its_filter_and_head(
    as_carol, trail, fmt
):
    response, text = download(as_carol, fmt, bucket="beta", outcome="failure")
    header, rows = exporting.read(io.StringIO(text, newline=""))
    assert [row["id"] for row in rows] == [trail[3].pk]
    marker = only(Action.AUDIT_EXPORTED)
    assert header["filter"] == {"bucket": "beta", "outcome": "failure"}
    assert header["chain_head"] == {"id": marker.pk, "hash": marker.hash}
    assert header["exported_by"] == "carol" and header["format"] == exporting.FORMAT
    assert response["X-Audit-Chain-Head"] == f"{marker.pk}:{marker.hash}"


def test_the_export_itself_is_audited_and_is_the_last_event_in_it(as_carol, carol, trail):
    _, text = download(as_carol, "jsonl", since="2000-01-01T00:00")
    marker = only(Action.AUDIT_EXPORTED)
    assert (marker.actor_id, marker.actor_roles) == (carol.pk, "auditor")
    assert marker.details == {
        "format": "jsonl",
        "filter": {"since": "2000-01-01T00:00:00.000000+00:00"},
    }
    _, rows = exporting.read(io.StringIO(text))
    assert [row["id"] for row in rows][-1] == marker.pk


def test_events_written_while_the_file_streams_are_not_in_it(as_carol, trail):
    response = as_carol.get("/audit/export.csv")
    record(SYSTEM, Action.EXPORT_RUNNING, Target("export", "1"))  # after the head was taken
    header, rows = exporting.read(
        io.StringIO(b"".join(response.streaming_content).decode(), newline="")
    )
    assert max(row["id"] for row in rows) == header["chain_head"]["id"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_verify_audit_passes_an_untouched_file_and_catches_an_edited_one(
    as_carol, trail, fmt, tmp_path
):
    _, text = download(as_carol, fmt, action="export.*")
    path = tmp_path / f"month.{fmt}"
    path.write_text(text, encoding="utf-8", newline="")
    passed, output = verify("--file", str(path))
    assert passed, output
    assert "4 events match the audit trail" in output

    path.write_text(text.replace("j-1", "j-9"), encoding="utf-8", newline="")
    passed, output = verify("--file", str(path))
    assert not passed
    assert f"(event #{trail[1].pk}) was edited" in output


def test_a_file_whose_rows_were_recomputed_is_caught_against_the_trail(as_carol, trail, tmp_path):
    _, text = download(as_carol, "jsonl")
    lines = text.splitlines()
    row = json.loads(lines[2])
    row["details"]["job_id"] = "j-9"
    row["hash"] = chain.digest(row)  # a careful forger keeps the file self-consistent
    lines[2] = json.dumps(row)
    path = tmp_path / "forged.jsonl"
    path.write_text("\n".join(lines) + "\n")
    passed, output = verify("--file", str(path))
    assert not passed and f"event #{row['id']} is not in the audit trail" in output


def test_an_unknown_format_is_404_and_a_junk_filter_400(as_carol):
    assert as_carol.get("/audit/export.xlsx").status_code == 404
    assert as_carol.get("/audit/export.csv", {"since": "soon"}).status_code == 400
    assert not AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED).exists()


def test_streaming_holds_a_few_rows_in_memory_not_the_whole_trail():
    def row(n: int) -> tuple:
        values = dict.fromkeys(exporting.COLUMNS, "") | {"id": n, "details": {"n": n}}
        return tuple(values[column] for column in exporting.COLUMNS)

    read_so_far = []

    def rows():
        for n in range(5000):
            read_so_far.append(n)
            yield row(n)

    ahead = []
    sizes = []
    for piece in exporting.stream("csv", {"filter": {}}, rows()):
        sizes.append(piece.count("\n"))
        ahead.append(len(read_so_far) - (sum(sizes) - 2))  # rows read but not yet sent
    assert max(ahead) <= 1  # the database cursor is read as the file goes out
    assert max(sizes) <= exporting.ROWS_PER_CHUNK
    assert sum(sizes) == 5000 + 2
