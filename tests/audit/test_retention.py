"""Retention without deletion: `manage.py audit_archive` moves the oldest events to a signed,
complete file and records that it did; the file verifies offline with the public key, the
online trail goes on verifying from the archive's end, checkpoints from before still hold,
and rows that leave the table any other way are caught."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ims_portal.audit import checkpointing, exporting, keys, retention, signing
from ims_portal.audit.chain import GENESIS, canonical_time
from ims_portal.audit.management.commands import audit_archive
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.trail import SYSTEM, Target, record
from ims_portal.audit.verify_offline import main as verify_offline_main
from tests.audit.helpers import download_to, only, public_key_file, verify
from tests.audit.test_checkpoints import checkpoint
from tests.audit.test_verify_audit import as_attacker, fill

pytestmark = pytest.mark.django_db


def archive(folder: Path, *args: str) -> str:
    out = StringIO()
    call_command("audit_archive", "--to", str(folder), *args, stdout=out)
    return out.getvalue()


def cut_after(event: AuditEvent) -> str:
    """A `--before` between `event` and whatever is recorded next."""
    time.sleep(0.002)
    return canonical_time(event.at + timedelta(microseconds=1))


def offline(path: Path, checkpoint_file: Path, folder: Path) -> tuple[bool, str]:
    return verify(
        "--file",
        str(path),
        "--checkpoints",
        str(checkpoint_file.parent),
        "--public-key",
        str(public_key_file(folder)),
    )


def test_an_archived_range_verifies_offline_and_the_online_chain_goes_on_from_it(
    tmp_path, checkpoint_file
):
    old = fill(5)
    checkpoint()  # size 5: the archived range's last event
    before = cut_after(old[-1])
    newer = fill(3)
    checkpoint()  # size 8: an online event, taken before the archive

    out = archive(tmp_path / "archive", "--before", before)

    path = tmp_path / "archive" / "audit-archive-000000000001-000000000005.jsonl"
    assert path.exists() and not list(path.parent.glob("*.partial"))
    assert "Removed 5 archived events from the online trail" in out
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    # The archive is itself in the trail, sealed, naming the range, the file and its digest.
    event = only(Action.AUDIT_ARCHIVED)
    assert event.details["archived"]["count"] == 5
    assert event.details["archived"]["first"] == {
        "position": 1,
        "id": old[0].pk,
        "prev_hash": GENESIS,
    }
    assert event.details["archived"]["last"] == {
        "position": 5,
        "id": old[-1].pk,
        "hash": old[-1].hash,
    }
    assert event.details["file"] == path.name
    assert event.details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert event.details["before"] == before
    assert event.target_label == path.name
    retention.Archive(event.pk, event.details).check_seal(keys.public_key())

    # Offline: the auditor's check, with only the public key and the checkpoint files.
    passed, output = offline(path, checkpoint_file, tmp_path)
    assert passed, output
    assert "complete: 5 rows, chain positions 1 to 5" in output
    assert "1 of them name a row of this file" in output  # checkpoint 1, at position 5
    assert verify_offline_main(
        ["--file", str(path), "--checkpoints", str(checkpoint_file), "--public-key",
         str(public_key_file(tmp_path))]
    ) == 0  # fmt: skip

    # Online: the chain starts at the archive's end; the checkpoints still agree with it.
    passed, output = verify()
    assert passed, output
    assert "4 events checked: the audit chain is unbroken." in output
    assert "Archived (removed from the online trail): chain positions 1 to 5" in output
    assert "The online trail starts at chain position 6" in output
    assert "3 checkpoints (signed, chained" in output  # before, before, the archive's own
    assert checkpointing.trail_head() == (9, event.pk, event.hash)
    assert retention.chain_position(newer[0].pk) == 6

    # The archive file, checked on the portal, is the one the trail recorded.
    passed, output = verify("--file", str(path))
    assert passed, output
    assert f"the archive file recorded by event #{event.pk}" in output


def test_a_checkpoint_from_before_the_archive_still_catches_a_removed_tail(tmp_path):
    old = fill(3)
    before = cut_after(old[-1])
    fill(4)
    checkpoint()  # size 7, before anything was archived
    archive(tmp_path, "--before", before)
    last = record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", "9"), job_id="job-9")
    checkpoint()  # size 9: 7, the archive record, and this one
    as_attacker("DELETE FROM audit_event WHERE id = %s", [last.pk])

    passed, output = verify()
    assert not passed
    assert "the trail has 8 events, but checkpoint 3 of" in output
    assert "recorded 9: 1 event(s) removed from its end" in output


def test_a_second_archive_runs_on_from_the_first(tmp_path, checkpoint_file):
    first_batch = fill(3)
    first_cut = cut_after(first_batch[-1])
    second_batch = fill(4)
    archive(tmp_path, "--before", first_cut)
    first_record = only(Action.AUDIT_ARCHIVED)
    second_cut = cut_after(first_record)
    fill(2)

    out = archive(tmp_path, "--before", second_cut)

    # Positions 4 to 8: the second batch, and the first archive's own record.
    second_file = tmp_path / "audit-archive-000000000004-000000000008.jsonl"
    assert second_file.exists(), out
    header, rows = exporting.read(second_file.read_text().splitlines(keepends=True))
    assert header["range"]["first"]["prev_hash"] == first_batch[-1].hash
    assert [row["id"] for row in rows] == [e.pk for e in second_batch] + [first_record.pk]
    (second_record,) = AuditEvent.objects.filter(action=Action.AUDIT_ARCHIVED)
    assert second_record.details["archived"]["last"]["position"] == 8
    for path in (tmp_path / "audit-archive-000000000001-000000000003.jsonl", second_file):
        passed, output = offline(path, checkpoint_file, tmp_path)
        assert passed, output
    passed, output = verify()
    assert passed, output
    assert "3 events checked" in output  # two new ones, the second archive's record
    assert "The online trail starts at chain position 9" in output


def test_rows_deleted_without_an_archive_are_caught(tmp_path):
    events = fill(5)
    as_attacker("DELETE FROM audit_event WHERE id <= %s", [events[1].pk])
    passed, output = verify()
    assert not passed
    assert f"Audit chain BROKEN: the oldest online event #{events[2].pk} follows" in output
    assert "events were removed from the oldest end without being archived" in output


def test_rows_deleted_past_an_archive_are_caught(tmp_path):
    events = fill(5)
    archive(tmp_path, "--before", cut_after(events[1]))
    as_attacker("DELETE FROM audit_event WHERE id = %s", [events[2].pk])
    passed, output = verify()
    assert not passed
    assert f"the oldest online event #{events[3].pk} follows" in output


def test_a_made_up_archive_record_is_caught(tmp_path):
    events = fill(5)
    as_attacker("DELETE FROM audit_event WHERE id <= %s", [events[1].pk])
    # Whoever deleted the rows cannot seal a record of it without the portal's key.
    other_key = signing.load_private_pem(signing.generate_private_pem())
    details = {
        "archived": {
            "count": 2,
            "first": {"position": 1, "id": events[0].pk, "prev_hash": GENESIS},
            "last": {"position": 2, "id": events[1].pk, "hash": events[1].hash},
        },
        "file": "audit-archive-000000000001-000000000002.jsonl",
        "bytes": 1,
        "sha256": "0" * 64,
        "format": "jsonl",
        "before": canonical_time(events[2].at),
    }
    record(SYSTEM, Action.AUDIT_ARCHIVED, **retention.sealed_details(other_key, details))
    passed, output = verify()
    assert not passed
    assert "Audit archive: the archive record event" in output
    assert "cannot be trusted: it was signed with key" in output


@pytest.mark.parametrize("fault", ["a row lost", "disk full"])
def test_a_file_that_is_not_written_completely_removes_nothing(tmp_path, monkeypatch, fault):
    events = fill(6)
    written = exporting.stream

    def faulty(fmt, header, rows):
        pieces = written(fmt, header, rows)
        yield next(pieces)  # the metadata line
        if fault == "disk full":
            raise OSError(28, "No space left on device")
        lines = "".join(pieces).splitlines(keepends=True)
        yield "".join(lines[:2] + lines[3:])

    monkeypatch.setattr(audit_archive.exporting, "stream", faulty)
    with pytest.raises(CommandError, match="Nothing was recorded or removed"):
        archive(tmp_path, "--before", cut_after(events[-1]))
    assert AuditEvent.objects.count() == 6
    assert not AuditEvent.objects.filter(action=Action.AUDIT_ARCHIVED).exists()
    assert list(tmp_path.iterdir()) == []
    passed, output = verify()
    assert passed, output


def test_nothing_happens_when_no_retention_is_set_and_no_date_given(tmp_path, settings):
    settings.AUDIT_ONLINE_DAYS = None
    fill(3)
    out = archive(tmp_path)
    assert "AUDIT_ONLINE_DAYS is not set and no --before given" in out
    assert AuditEvent.objects.count() == 3
    assert list(tmp_path.iterdir()) == []


def test_audit_online_days_archives_what_is_older(tmp_path, settings, monkeypatch):
    settings.AUDIT_ONLINE_DAYS = 30
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() - timedelta(days=31))
    old = fill(2)
    monkeypatch.setattr(timezone, "now", real_now)
    recent = fill(2)

    archive(tmp_path)

    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in recent]).count() == 2
    assert (tmp_path / "audit-archive-000000000001-000000000002.jsonl").exists()
    passed, output = verify()
    assert passed, output


def test_a_failed_removal_leaves_the_file_and_record_and_the_next_run_finishes_it(
    tmp_path, monkeypatch
):
    events = fill(4)
    before = cut_after(events[1])

    def refused(archive):
        raise DatabaseError("permission denied for table audit_event")

    monkeypatch.setattr(retention, "remove_archived", refused)
    with pytest.raises(CommandError, match="could not be removed"):
        archive(tmp_path, "--before", before)
    monkeypatch.undo()
    record_event = only(Action.AUDIT_ARCHIVED)
    assert AuditEvent.objects.count() == 5  # nothing removed
    passed, output = verify()
    assert passed, output
    assert "Archived (still in the online trail): chain positions 1 to 2" in output

    # The trigger: even the owner (these tests connect as a superuser) deletes nothing
    # without naming the record, and nothing it does not cover.
    def refuses(statement: str, params: list) -> None:
        refused = pytest.raises(DatabaseError, match="append-only")
        with refused, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)

    refuses("DELETE FROM audit_event WHERE id <= %s", [events[1].pk])
    setting = "SELECT set_config('ims_portal.audit_archive', %s, true)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(setting, [str(events[3].pk)])  # not an archive record
        refuses("DELETE FROM audit_event WHERE id = %s", [events[0].pk])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(setting, [str(record_event.pk)])
        refuses("DELETE FROM audit_event WHERE id = %s", [events[2].pk])  # not covered
    assert AuditEvent.objects.count() == 5

    out = archive(tmp_path, "--before", before)
    assert "Finishing the removal of chain positions 1 to 2" in out
    assert "Removed 2 archived events" in out
    assert "No online event before" in out
    passed, output = verify()
    assert passed, output
    assert "The online trail starts at chain position 3" in output


def test_a_download_after_an_archive_starts_where_it_ends_and_says_so(
    as_carol, tmp_path, checkpoint_file
):
    events = fill(4)
    earlier = download_to(as_carol, tmp_path / "earlier.csv")
    archive(tmp_path / "archive", "--before", cut_after(events[1]))
    passed, output = verify("--file", str(earlier))
    assert not passed
    assert "was archived (it is older than the oldest online event)" in output
    archived = only(Action.AUDIT_ARCHIVED).details
    through = archived["archived"]["last"]["position"]  # carol's sign-in came first
    path = download_to(as_carol, tmp_path / "all.csv")
    header, rows = exporting.read(path.read_text().splitlines(keepends=True))
    assert header["range"]["first"]["position"] == through + 1
    assert header["archived"] == {"through_position": through, "file": archived["file"]}
    assert [row["id"] for row in rows][:2] == [events[2].pk, events[3].pk]
    checkpoint()
    passed, output = offline(path, checkpoint_file, tmp_path)
    assert passed, output
    passed, output = verify("--file", str(path))
    assert passed, output
