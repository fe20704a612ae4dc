"""An auditor checks an exported file away from the portal, with only the public key and
the checkpoint files: no settings, no database. Events removed or replaced in the trail
before the export still show, because the checkpoints remember the trail as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from ims_portal.audit import checkpointing, checkpoints, keys, signing
from ims_portal.audit.file_check import FileProblem
from ims_portal.audit.models import Action
from ims_portal.audit.trail import SYSTEM, Target, record
from ims_portal.audit.verify_offline import verify
from tests.audit.helpers import download_to, public_key_file
from tests.audit.test_checkpoints import checkpoint
from tests.audit.test_complete_exports import rewrite_rows
from tests.audit.test_verify_audit import as_attacker, fill
from tests.startup.helpers import ROOT, bare_env

pytestmark = pytest.mark.django_db


def offline(path, checkpoint_file, folder) -> list[str]:
    return verify(
        path, [checkpoint_file], signing.load_public_pem(public_key_file(folder).read_bytes())
    )


@pytest.fixture
def handed_over(as_carol, tmp_path, checkpoint_file):
    """What the auditor takes away: a month of events, the checkpoints, the public key."""
    fill(4)
    checkpoint()
    fill(2)
    path = download_to(as_carol, tmp_path / "month.csv")
    checkpoint()  # beat's next one, after the export
    return path, checkpoint_file, public_key_file(tmp_path)


def run_alone(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=bare_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_plain_module_verifies_without_settings_or_database(handed_over):
    path, checkpoint_file, public = handed_over
    # No DJANGO_SETTINGS_MODULE, no DATABASE_URL, no signing key: only what an auditor has.
    result = run_alone(
        "-m",
        "ims_portal.audit.verify_offline",
        "--file",
        str(path),
        "--checkpoints",
        str(checkpoint_file),
        "--public-key",
        str(public),
    )
    assert result.returncode == 0, result.stderr
    assert "complete: 8 rows, chain positions 1 to 8, none missing" in result.stdout
    assert "2 checkpoints (signatures and chain intact) agree with it; 2 of them" in result.stdout


def test_manage_py_verifies_offline_with_a_database_that_does_not_answer(handed_over, tmp_path):
    path, checkpoint_file, public = handed_over
    result = run_alone(
        "manage.py",
        "verify_audit",
        "--file",
        str(path),
        "--checkpoints",
        str(checkpoint_file),
        "--public-key",
        str(public),
        DEBUG="true",
        IMS_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing",
    )
    assert result.returncode == 0, result.stderr
    assert "complete: 8 rows" in result.stdout


def test_offline_a_removed_row_fails_with_exit_status_1(handed_over):
    path, checkpoint_file, public = handed_over
    rewrite_rows(path, lambda rows: rows[:3] + rows[4:])
    result = run_alone(
        "-m",
        "ims_portal.audit.verify_offline",
        "--file",
        str(path),
        "--checkpoints",
        str(checkpoint_file),
        "--public-key",
        str(public),
    )
    assert result.returncode == 1
    assert result.stderr.startswith("FAILED: ")
    assert "rows are missing or out of order between them" in result.stderr


def test_offline_another_public_key_fails(handed_over, tmp_path):
    path, checkpoint_file, _ = handed_over
    stranger = tmp_path / "stranger.pem"
    stranger.write_text(
        signing.public_pem(signing.load_private_pem(signing.generate_private_pem()).public_key())
    )
    with pytest.raises(FileProblem, match="it was signed with key SHA256:"):
        verify(path, [checkpoint_file], signing.load_public_pem(stranger.read_bytes()))


def test_events_removed_before_the_export_show_offline(as_carol, tmp_path, checkpoint_file):
    events = fill(5)
    checkpoint()
    as_attacker("DELETE FROM audit_event WHERE id >= %s", [events[3].pk])
    path = download_to(as_carol, tmp_path / "after-the-cut.csv")  # self-consistent, signed
    with pytest.raises(FileProblem) as failed:
        offline(path, checkpoint_file, tmp_path)
    assert "checkpoint 1 of" in str(failed.value)
    assert "recorded 6 events before this file's end" in str(failed.value)
    assert "events were removed from the trail before it was exported" in str(failed.value)

    checkpoint()  # the next checkpoint, of the shortened trail, gives it away too
    with pytest.raises(FileProblem, match="records a smaller trail than checkpoint 1"):
        offline(path, checkpoint_file, tmp_path)


def test_a_forged_tail_before_the_export_shows_offline(as_carol, tmp_path, checkpoint_file):
    events = fill(5)
    checkpoint()
    as_attacker("DELETE FROM audit_event WHERE id = %s", [events[4].pk])
    record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", "4"), job_id="job-forged")
    path = download_to(as_carol, tmp_path / "forged.csv")
    with pytest.raises(FileProblem, match="the newest events were replaced after that checkpoint"):
        offline(path, checkpoint_file, tmp_path)


def test_checkpoints_that_stop_long_before_the_file_ends_fail(as_carol, tmp_path, checkpoint_file):
    fill(2)
    size, head_id, head_hash = checkpointing.trail_head()
    old = checkpoints.make(
        keys.private_key(),
        None,
        size=size,
        head_id=head_id,
        head_hash=head_hash,
        at=timezone.now() - timedelta(hours=1),
        every=600,
    )
    checkpointing.sink().append(old)
    path = download_to(as_carol, tmp_path / "late.csv")
    with pytest.raises(FileProblem, match="the file's newest events are not covered"):
        offline(path, checkpoint_file, tmp_path)


def test_a_checkpoint_file_with_a_gap_fails_offline(handed_over, tmp_path):
    path, checkpoint_file, public = handed_over
    first, second = checkpoint_file.read_text().splitlines(keepends=True)
    checkpoint_file.write_text(second)  # only the later one: that is allowed (a recent copy)
    assert verify(path, [checkpoint_file], signing.load_public_pem(public.read_bytes()))
    later = json.loads(second)
    later["seq"] = 3
    checkpoint_file.write_text(first + json.dumps(signing.signed(keys.private_key(), later)))
    with pytest.raises(FileProblem, match="gap in the checkpoint chain"):
        verify(path, [checkpoint_file], signing.load_public_pem(public.read_bytes()))
