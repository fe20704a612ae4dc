"""Signed checkpoints hold the newest events in place: a trail cut short or given a forged
tail fails `verify_audit`, as do checkpoints that are stale, edited, missing or signed with
another key."""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ims_portal.audit import checkpointing, checkpoints, keys, signing
from ims_portal.audit.chain import GENESIS
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.trail import SYSTEM, Target, record
from tests.audit.helpers import verify
from tests.audit.test_verify_audit import as_attacker, fill

pytestmark = pytest.mark.django_db


def checkpoint() -> str:
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    return out.getvalue()


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_checkpoint_signs_the_trails_size_and_head_and_an_idle_one_chains_on(checkpoint_file):
    events = fill(3)
    assert "Wrote checkpoint 1" in checkpoint()
    checkpoint()  # nothing happened in between: a checkpoint all the same

    first, second = lines(checkpoint_file)
    assert (first["seq"], first["size"], first["head_id"]) == (1, 3, events[-1].pk)
    assert first["head_hash"] == events[-1].hash and first["prev"] == GENESIS
    assert first["every"] == 600
    assert (second["seq"], second["size"], second["head_hash"]) == (2, 3, events[-1].hash)
    written = checkpoints.read([checkpoint_file])
    assert second["prev"] == written[0].hash
    checkpoints.check_chain(written, keys.public_key())  # signed, chained
    assert second["signature"]["key"] == signing.fingerprint(keys.public_key())


def test_an_empty_trail_has_a_checkpoint_too(checkpoint_file):
    checkpoint()
    (only,) = lines(checkpoint_file)
    assert (only["size"], only["head_id"], only["head_hash"]) == (0, None, GENESIS)
    passed, output = verify()
    assert passed, output


def test_a_trail_that_agrees_with_its_checkpoints_passes():
    fill(3)
    checkpoint()
    fill(2)
    checkpoint()
    fill(2)  # after the newest checkpoint: not yet covered, still fine
    passed, output = verify()
    assert passed, output
    assert "7 events checked" in output
    assert "2 checkpoints (signed, chained" in output and "agree with the trail" in output


def test_without_checkpoints_the_check_passes_and_says_the_tail_is_unprotected(checkpoint_file):
    fill(2)
    passed, output = verify()
    assert passed, output
    assert f"No checkpoints at {checkpoint_file}" in output


def test_deleting_the_newest_events_is_caught():
    events = fill(5)
    checkpoint()
    as_attacker("DELETE FROM audit_event WHERE id >= %s", [events[3].pk])
    passed, output = verify()
    assert not passed
    # The chain alone cannot tell: what is left is unbroken.
    assert "3 events checked: the audit chain is unbroken." in output
    assert "the trail has 3 events, but checkpoint 1 of" in output
    assert "recorded 5: 2 event(s) removed from its end" in output


def test_a_forged_tail_written_in_place_of_the_newest_event_is_caught():
    events = fill(5)
    checkpoint()
    as_attacker("DELETE FROM audit_event WHERE id = %s", [events[4].pk])
    # Appended the regular way, so it is well-formed and chained: only the checkpoint knows.
    forged = record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", "4"), job_id="job-forged")
    assert AuditEvent.objects.count() == 5
    passed, output = verify()
    assert not passed
    assert "the event at chain position 5 has hash " + forged.hash[:16] in output
    assert "the newest events were replaced after that checkpoint" in output


def test_a_tail_rewritten_with_recomputed_hashes_is_caught():
    events = fill(4)
    checkpoint()
    as_attacker("DELETE FROM audit_event WHERE id >= %s", [events[2].pk])
    for n in (2, 3):  # the same two events again, one detail changed
        record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", str(n)), job_id=f"forged-{n}")
    passed, output = verify()
    assert not passed and "the event at chain position 4" in output


def test_a_checkpoint_older_than_twice_its_interval_fails(checkpoint_file):
    fill(2)
    size, head_id, head_hash = checkpointing.trail_head()
    old = checkpoints.make(
        keys.private_key(),
        None,
        size=size,
        head_id=head_id,
        head_hash=head_hash,
        at=timezone.now() - timedelta(seconds=1201),
        every=600,
    )
    checkpointing.sink().append(old)
    passed, output = verify()
    assert not passed
    assert "is 1201 s old, more than 2 times its interval of 600 s" in output
    assert "checkpoints stopped being written, or the newest ones were removed" in output

    checkpoint()  # beat catches up: fresh again
    assert verify()[0]


def test_a_checkpoint_edited_in_its_file_fails_its_signature(checkpoint_file):
    fill(5)
    checkpoint()
    as_attacker("DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)")
    # The attacker lowers the checkpoint's size to match what is left.
    checkpoint_file.write_text(checkpoint_file.read_text().replace('"size":5', '"size":4'))
    passed, output = verify()
    assert not passed
    assert "checkpoint 1 of" in output
    assert "bad signature: its signature does not verify: it was altered after signing" in output


def test_checkpoints_signed_with_another_key_fail(settings):
    fill(2)
    own = settings.AUDIT_SIGNING_KEY
    settings.AUDIT_SIGNING_KEY = signing.generate_private_pem().decode()
    checkpoint()
    other = signing.fingerprint(keys.public_key())
    settings.AUDIT_SIGNING_KEY = own  # verify_audit holds them to the portal's own key
    passed, output = verify()
    assert not passed
    assert f"it was signed with key {other}, not with" in output


def test_a_checkpoint_removed_from_the_file_is_a_gap_in_their_chain(checkpoint_file):
    for _ in range(3):
        fill(1)
        checkpoint()
    first, _, third = checkpoint_file.read_text().splitlines(keepends=True)
    checkpoint_file.write_text(first + third)
    passed, output = verify()
    assert not passed
    assert "gap in the checkpoint chain: checkpoint 1 of" in output
    assert "checkpoints 2 to 2 are missing" in output


def test_two_different_checkpoints_with_one_number_are_a_fork(checkpoint_file):
    fill(1)
    checkpoint()
    checkpoint()
    text = checkpoint_file.read_text()
    # A second, different checkpoint 2 (signed properly, as by a second writer's key holder).
    forged = json.loads(text.splitlines()[1])
    forged["size"] = 7
    signed = signing.signed(keys.private_key(), forged)
    checkpoint_file.write_text(text + json.dumps(signed) + "\n")
    passed, output = verify()
    assert not passed and "two different checkpoints numbered 2" in output


def test_the_file_rotates_and_the_chain_runs_on_across_files(settings, checkpoint_file):
    settings.AUDIT_CHECKPOINT_ROTATE_BYTES = 1  # every checkpoint starts a new file
    for _ in range(3):
        fill(1)
        checkpoint()
    sink = checkpointing.sink()
    rotated = sink.rotated()
    assert [path.name for path in rotated] == [
        "audit-checkpoints.000000001.jsonl",
        "audit-checkpoints.000000002.jsonl",
    ]
    assert [lines(path)[0]["seq"] for path in sink.files()] == [1, 2, 3]
    assert lines(checkpoint_file)[0]["prev"] == checkpoints.read([rotated[1]])[0].hash
    passed, output = verify()
    assert passed, output
    assert "3 checkpoints" in output

    rotated[1].unlink()  # a rotated file lost: the chain has a gap
    passed, output = verify()
    assert not passed and "checkpoints 2 to 2 are missing" in output


def test_without_a_signing_key_the_command_says_which_setting_to_set(settings):
    settings.AUDIT_SIGNING_KEY = settings.AUDIT_SIGNING_KEY_FILE = ""
    with pytest.raises(CommandError, match="set AUDIT_SIGNING_KEY_FILE"):
        checkpoint()


def test_audit_keygen_makes_a_private_key_file_and_never_overwrites_one(tmp_path, settings):
    path = tmp_path / "keys" / "audit.pem"
    out = StringIO()
    call_command("audit_keygen", "--out", str(path), stdout=out)
    assert path.stat().st_mode & 0o777 == 0o600
    settings.AUDIT_SIGNING_KEY_FILE = str(path)
    assert signing.public_pem(keys.public_key()) in out.getvalue()
    assert signing.fingerprint(keys.public_key()) in out.getvalue()
    before = path.read_bytes()
    with pytest.raises(CommandError, match="exists: a key is never overwritten"):
        call_command("audit_keygen", "--out", str(path))
    assert path.read_bytes() == before


class Collector:
    """A syslog collector on TCP: keeps every byte it is sent."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.received = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection, _ = self.server.accept()
        with connection:
            while chunk := connection.recv(65536):
                self.received += chunk

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.server.close()


def test_each_checkpoint_also_goes_to_a_syslog_collector_over_tcp(settings, checkpoint_file):
    collector = Collector()
    settings.AUDIT_CHECKPOINT_SYSLOG = collector.address
    fill(1)
    checkpoint()
    collector.close()
    length, _, message = collector.received.partition(b" ")
    assert int(length) == len(message)  # RFC 6587 octet counting
    assert message.startswith(b"<110>1 ")  # facility log audit, informational, RFC 5424
    assert message.endswith(checkpoint_file.read_text().strip().encode())


def test_a_collector_that_is_down_does_not_stop_the_checkpoint(settings, checkpoint_file, caplog):
    closed = socket.create_server(("127.0.0.1", 0))
    settings.AUDIT_CHECKPOINT_SYSLOG = f"127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    with caplog.at_level(logging.ERROR):
        checkpoint()
    assert len(lines(checkpoint_file)) == 1
    assert "not sent to syslog" in caplog.text
