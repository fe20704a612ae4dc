"""What the worker and beat write to the log while nothing much happens."""

from __future__ import annotations

import pytest

from ims_portal.exports.models import Export, Status
from tests.integration.processes import start_beat
from tests.portal_fixtures import start_worker, stop, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_housekeeping_beat_sends_every_few_seconds_leaves_no_celery_lines(
    worker_env, queue, alice, make_export, tmp_path
):
    # An export saved while the broker was down: the routine task has something to say.
    export = make_export(alice)
    export.note_queue(reached=False)
    env = {**worker_env, "CELERY_TASK_DEFAULT_QUEUE": queue, "EXPORT_QUEUE_RETRY_EVERY": "0.5"}
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    worker = start_worker(env, worker_log)
    beat = start_beat(env, beat_log, tmp_path)
    try:
        wait_for(lambda: "that waited for the work queue" in worker_log.read_text())
        wait_for(lambda: Export.objects.get(pk=export.pk).status != Status.QUEUED)
    finally:
        stop(beat)
        stop(worker)
    logs = worker_log.read_text() + beat_log.read_text()
    # It ran (its own line says so), and Celery's three lines per run are gone...
    assert "sent 1 export(s) that waited for the work queue" in logs
    assert "Sending due task send-waiting-exports" not in logs
    assert "send_waiting_exports[" not in logs  # received, succeeded
    # ...while the tasks that matter keep theirs.
    assert "Task ims_portal.exports.tasks.submit_export[" in logs
