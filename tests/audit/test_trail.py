"""`record()` writes one chained event with who, what, when, from where; nothing changes it."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from ims_portal.audit import chain, context
from ims_portal.audit.models import Action, AppendOnlyError, AuditEvent, Outcome
from ims_portal.audit.trail import SYSTEM, Target, record
from ims_portal.exports.models import Export, Status

pytestmark = pytest.mark.django_db

ORIGIN = context.Origin(request_id="req-0123456789", ip="198.51.100.4", user_agent="Firefox/140")


def test_an_event_records_who_what_when_from_where_and_the_outcome(alice, make_export):
    export = make_export(alice)
    with context.bound(ORIGIN):
        event = record(
            alice, Action.EXPORT_REQUESTED, export, bucket_url="ims-exports:web-01.qcow2"
        )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.at.tzinfo is not None and stored.at.utcoffset().total_seconds() == 0
    assert (stored.actor_id, stored.actor_username, stored.actor_email) == (
        alice.pk,
        "alice",
        "alice@example.com",
    )
    assert stored.actor_roles == "exporter"
    assert (stored.ip, stored.user_agent, stored.request_id) == (
        "198.51.100.4",
        "Firefox/140",
        "req-0123456789",
    )
    assert (stored.target_type, stored.target_id, stored.target_label) == (
        "export",
        str(export.pk),
        str(export),
    )
    assert stored.outcome == Outcome.SUCCESS
    assert stored.details == {"bucket_url": "ims-exports:web-01.qcow2"}


def test_workers_act_as_the_system_and_anonymous_visitors_as_nobody():
    system = record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", "1", "x"))
    anonymous = record(AnonymousUser(), Action.SIGN_IN_FAILED, outcome=Outcome.FAILURE)
    assert (system.actor_id, system.actor_username, system.actor_roles) == (
        None,
        "system",
        "system",
    )
    assert (anonymous.actor_id, anonymous.actor_username, anonymous.actor_roles) == (None, "", "")
    assert anonymous.actor_display == "anonymous"


def test_a_superusers_role_snapshot_says_so(django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    assert record(root, Action.ADMIN_CHANGED).actor_roles == "superuser"


def test_each_event_carries_the_hash_of_its_content_and_its_predecessors_hash():
    first = record(SYSTEM, Action.EXPORT_SUBMITTED)
    second = record(SYSTEM, Action.EXPORT_RUNNING)
    assert first.prev_hash == chain.GENESIS
    assert second.prev_hash == first.hash
    stored = AuditEvent.objects.get(pk=second.pk)
    assert chain.digest(chain.values_of(stored)) == stored.hash


def test_the_hash_is_sha256_of_canonical_json_with_sorted_keys_and_utc_time():
    values = {field: "" for field in chain.FIELDS}
    values |= {
        "at": datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
        "action": "export.requested",
        "details": {"b": 1, "a": "é"},
        "prev_hash": chain.GENESIS,
    }
    canonical = chain.canonical_json(chain.content(values))
    assert '"at":"2026-06-01T12:00:00.000000+00:00"' in canonical
    assert '"details":{"a":"é","b":1}' in canonical
    assert chain.digest(values) == hashlib.sha256(canonical.encode()).hexdigest()


def test_details_are_stored_as_plain_json_and_hash_the_same_read_back():
    event = record(
        SYSTEM,
        Action.EXPORT_FAILED,
        when=datetime(2026, 1, 2, tzinfo=UTC),
        token_like=uuid.UUID(int=1),
        steps=("a", "b"),
        ratio=0.30000000000000004,
        nul="a\x00b",
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.details["steps"] == ["a", "b"]
    assert stored.details["nul"] == "a\ufffdb"
    assert chain.digest(chain.values_of(stored)) == stored.hash


def test_details_that_look_like_secrets_never_reach_the_trail():
    event = record(
        SYSTEM,
        Action.SIGN_IN_FAILED,
        password="hunter2",
        nested={"id_token": "eyJ...", "fine": 1},
        api_key="AK",
    )
    assert event.details == {
        "password": "[redacted]",
        "nested": {"id_token": "[redacted]", "fine": 1},
        "api_key": "[redacted]",
    }
    assert "hunter2" not in json.dumps(AuditEvent.objects.get(pk=event.pk).details)


def test_the_model_refuses_updates_and_deletes_in_code():
    event = record(SYSTEM, Action.EXPORT_SUBMITTED)
    event.outcome = Outcome.FAILURE
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(outcome=Outcome.FAILURE)
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create([AuditEvent(action=Action.EXPORT_SUBMITTED)])
    with pytest.raises(AppendOnlyError):
        AuditEvent(action=Action.SIGN_IN, prev_hash=chain.GENESIS, hash="0" * 64).save()
    assert AuditEvent.objects.get().outcome == Outcome.SUCCESS


def test_an_event_and_the_change_it_records_commit_or_roll_back_together(alice, make_export):
    export = make_export(alice)

    class Crash(Exception):
        pass

    with pytest.raises(Crash), transaction.atomic():
        export.transition(Status.SUBMITTING)
        raise Crash
    assert Export.objects.get(pk=export.pk).status == Status.QUEUED
    assert not AuditEvent.objects.exists()

    fresh = Export.objects.get(pk=export.pk)
    fresh.transition(Status.SUBMITTING)
    assert AuditEvent.objects.get().action == Action.EXPORT_SUBMITTING


def test_a_failed_write_of_the_event_undoes_the_status_change(alice, make_export, monkeypatch):
    export = make_export(alice)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("ims_portal.exports.models.record", broken)
    with pytest.raises(RuntimeError):
        export.transition(Status.SUBMITTING)
    assert Export.objects.get(pk=export.pk).status == Status.QUEUED
    assert export.status_history() == []
