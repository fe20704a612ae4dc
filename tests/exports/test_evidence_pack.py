"""An export's evidence pack: signed, complete about the export, verifiable offline with the
public key alone, and failing when any field is changed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.urls import reverse
from django.utils import timezone

from ims_portal.audit import signing
from ims_portal.audit.file_check import FileProblem
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.trail import Target, record
from ims_portal.audit.verify_offline import verify_evidence
from ims_portal.cloud import ObjectInfo
from ims_portal.exports import verification
from ims_portal.exports.models import Export, Status, Verification
from tests.audit.helpers import public_key_file
from tests.audit.test_checkpoints import checkpoint
from tests.startup.helpers import ROOT, bare_env

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(alice, make_export):
    """An export alice asked for, that went through the cloud and succeeded."""
    export = make_export(alice)
    record(alice, Action.EXPORT_REQUESTED, Target("export", str(export.pk)), **export.audit_facts())
    export.transition(Status.SUBMITTING, submit_attempts=1)
    export.transition(Status.SUBMITTED, job_id="job-77")
    export.transition(Status.RUNNING)
    export.transition(Status.SUCCEEDED, cloud_request_id="req-cloud-1")
    return export


@pytest.fixture
def pack_file(client, carol, finished, tmp_path):
    checkpoint()  # the trail's next checkpoint covers the export's status changes
    client.force_login(carol)
    response = client.get(reverse("exports:evidence_json", args=[finished.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="evidence-export-{finished.pk}.json"'
    )
    path = tmp_path / "evidence.json"
    path.write_bytes(response.content)
    return path


def test_the_pack_holds_the_request_every_status_change_and_the_events(pack_file, finished):
    pack = json.loads(pack_file.read_text())
    assert pack["requester"] == {
        "username": "alice",
        "email": "alice@example.com",
        "roles_then": "exporter",
    }
    assert pack["export"]["job_id"] == "job-77"
    assert pack["export"]["cloud_request_id"] == "req-cloud-1"
    assert pack["export"]["destination"] == finished.destination
    assert pack["export"]["status"] == "succeeded"
    assert [change["action"] for change in pack["status_changes"]] == [
        "export.requested",
        "export.submitting",
        "export.submitted",
        "export.running",
        "export.succeeded",
    ]
    assert pack["status_changes"][2]["details"]["job_id"] == "job-77"
    stored = list(AuditEvent.objects.for_target("export", finished.pk).order_by("id"))
    assert [e["hash"] for e in pack["events"]] == [e.hash for e in stored]
    assert stored[-1].action == Action.AUDIT_EVIDENCE  # the download, recorded first
    positions = [e["position"] for e in pack["events"]]
    assert positions == [AuditEvent.objects.filter(pk__lte=e.pk).count() for e in stored]
    succeeded = next(e for e in pack["events"] if e["action"] == "export.succeeded")
    assert pack["covering_checkpoint"]["size"] >= succeeded["position"]
    # Succeeded through transitions alone, the export was never set out to be checked.
    assert pack["object_verification"] == {"state": "legacy", "label": finished.proof.label}


def test_the_pack_carries_the_proof_of_the_object(client, alice, carol, make_export):
    export = make_export(
        alice, status=Status.SUCCEEDED, job_id="job-77", finished_at=timezone.now(),
        **verification.start(),
    )  # fmt: skip
    found = ObjectInfo(size=6_549_381_120, etag="9b2cf535f2773", last_modified=timezone.now())
    verification.record(export, found)
    client.force_login(carol)

    pack = client.get(reverse("exports:evidence_json", args=[export.pk])).json()

    proof = pack["object_verification"]
    assert proof["state"] == Verification.VERIFIED.value
    assert (proof["object_size"], proof["object_etag"]) == (6_549_381_120, found.etag)
    assert proof["verified_at"] == Export.objects.get(pk=export.pk).verified_at.isoformat()
    assert proof["job_id"] == "job-77"


def test_the_pack_verifies_offline_with_the_public_key_alone(pack_file, tmp_path):
    public = public_key_file(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ims_portal.audit.verify_offline",
            "--evidence",
            str(pack_file),
            "--public-key",
            str(public),
        ],
        cwd=ROOT,
        env=bare_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "verifies: signed, 6 audit events matching their hashes, in chain order" in result.stdout
    assert "Covered by checkpoint 1 of" in result.stdout


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["export"].update(job_id="job-78"),
        lambda p: p["requester"].update(roles_then="auditor"),
        lambda p: p["status_changes"].pop(),
        lambda p: p["events"][0].update(ip="198.51.100.1"),
        lambda p: p.update(made_by="mallory"),
        lambda p: p["covering_checkpoint"].update(size=1),
    ],
    ids=["job id", "roles", "status change", "event", "maker", "checkpoint"],
)
def test_changing_any_field_breaks_the_signature(pack_file, tmp_path, change):
    key = signing.load_public_pem(public_key_file(tmp_path).read_bytes())
    assert verify_evidence(pack_file, key)
    pack = json.loads(pack_file.read_text())
    change(pack)
    pack_file.write_text(json.dumps(pack))
    with pytest.raises(FileProblem, match="cannot be trusted: its signature does not verify"):
        verify_evidence(pack_file, key)


def test_the_printable_page_shows_the_same_pack(client, carol, finished):
    client.force_login(carol)
    response = client.get(reverse("exports:evidence", args=[finished.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Evidence pack of export" in text and "job-77" in text and "alice" in text
    assert "export.succeeded" in text


def test_exporters_cannot_download_it_and_the_export_page_links_it_for_auditors(
    client, alice, carol, finished
):
    client.force_login(alice)
    assert client.get(reverse("exports:evidence_json", args=[finished.pk])).status_code == 403
    assert (
        reverse("exports:evidence_json", args=[finished.pk])
        not in client.get(finished.get_absolute_url()).content.decode()
    )
    client.force_login(carol)
    assert (
        reverse("exports:evidence_json", args=[finished.pk])
        in client.get(finished.get_absolute_url()).content.decode()
    )
