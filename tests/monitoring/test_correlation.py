"""The request id travels with the work: onto the tasks a request or task sends, and back
onto an export's repairs, which the reconciler makes under the export's own id. (The whole
journey, click to cloud, is test_export_observed.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ims_portal.audit import context, task_origin
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.trail import record
from ims_portal.exports.models import Export, Status
from ims_portal.exports.tasks import reconcile_exports

CLICK = context.Origin(request_id="req-click-000000001", ip="192.0.2.10", user_agent="Firefox")


def test_a_task_sent_under_a_request_carries_its_id_unless_the_sender_named_one():
    headers: dict[str, str] = {}
    with context.bound(CLICK):
        task_origin.carry_request_id(headers=headers)
    assert headers == {task_origin.REQUEST_ID_HEADER: CLICK.request_id}

    named = {task_origin.REQUEST_ID_HEADER: "req-given-000000001"}
    with context.bound(CLICK):
        task_origin.carry_request_id(headers=named)
    assert named[task_origin.REQUEST_ID_HEADER] == "req-given-000000001"

    nothing: dict[str, str] = {}
    task_origin.carry_request_id(headers=nothing)  # sent from nowhere (beat)
    assert nothing == {}


@pytest.mark.django_db
def test_the_reconciler_records_its_repair_under_the_exports_own_request_id(alice, make_export):
    export = make_export(alice, status=Status.SUBMITTING)
    with context.bound(CLICK):
        record(alice, Action.EXPORT_REQUESTED, export)
    Export.objects.filter(pk=export.pk).update(submitting_at=timezone.now() - timedelta(hours=1))
    assert export.request_id() == CLICK.request_id

    # Beat's task has an id of its own; the export's event still names the click's.
    with context.bound(context.Origin(request_id="beat-task-0000000001", task_id="beat-1")):
        assert reconcile_exports()["unknown"] == 1
        assert context.current().request_id == "beat-task-0000000001"  # restored after

    unknown = AuditEvent.objects.get(action=Action.EXPORT_UNKNOWN, target_id=str(export.pk))
    assert unknown.request_id == CLICK.request_id


@pytest.mark.django_db
def test_an_export_without_a_recorded_request_has_no_id_to_continue(alice, make_export):
    export = make_export(alice)
    assert export.request_id() == ""
    beat = context.Origin(request_id="beat-task-0000000002")
    with context.bound(beat), context.continuing(export.request_id()):
        assert context.current().request_id == "beat-task-0000000002"
