"""Beat's schedule holds the checkpoint entry, at AUDIT_CHECKPOINT_EVERY seconds."""

from __future__ import annotations

import json

from django.conf import settings

from tests.startup.helpers import bare_env, run_python

TASK = "ims_portal.audit.tasks.write_checkpoint"


def test_beat_writes_a_checkpoint_every_ten_minutes_by_default():
    from ims_portal.celery import app

    entry = app.conf.beat_schedule["audit-checkpoint"]
    assert entry["task"] == TASK
    assert entry["schedule"] == settings.AUDIT_CHECKPOINT_EVERY == 600
    app.loader.import_default_modules()
    assert TASK in app.tasks  # the worker knows the task beat sends


def test_the_interval_is_the_setting():
    result = run_python(
        "import json; from ims_portal import settings; "
        "print(json.dumps(settings.CELERY_BEAT_SCHEDULE['audit-checkpoint']))",
        bare_env(DEBUG="true", AUDIT_CHECKPOINT_EVERY="42"),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"task": TASK, "schedule": 42.0}
