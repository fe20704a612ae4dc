"""Beat writes the trail's checkpoints on its schedule, also when nothing happens: a real
`celery beat` and a real worker, every second instead of every ten minutes."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from ims_portal.audit import checkpoints, keys
from ims_portal.audit.models import Action
from ims_portal.audit.trail import SYSTEM, record
from tests.audit.helpers import verify
from tests.portal_fixtures import ROOT, start_worker, stop, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_idle_portal_still_writes_a_signed_checkpoint_every_interval(tmp_path):
    event = record(SYSTEM, Action.EXPORT_RUNNING)  # and then nothing happens
    path = tmp_path / "checkpoints" / "audit-checkpoints.jsonl"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": f"checkpoints-{uuid.uuid4().hex[:8]}",
        "AUDIT_CHECKPOINT_EVERY": "1",
        "AUDIT_CHECKPOINT_PATH": str(path),
        "IMS_VAR_DIR": str(tmp_path),  # beat's schedule file
        "PYTHONUNBUFFERED": "1",
    }
    worker = start_worker(env, tmp_path / "worker.log")
    beat_log = tmp_path / "beat.log"
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ims_portal", "beat", "--loglevel", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=beat_log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: path.exists() and len(path.read_text().splitlines()) >= 3,
            timeout=60,
        )
    finally:
        stop(beat)
        stop(worker)

    written = checkpoints.read([path])
    checkpoints.check_chain(written, keys.public_key())  # signed, one unbroken chain
    assert [c.seq for c in written[:3]] == [1, 2, 3]
    assert {(c.size, c.head_hash) for c in written} == {(1, event.hash)}  # idle: same head
    assert all(c.every == 1 for c in written)
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(written)]
    assert all(timedelta(seconds=0.5) < gap < timedelta(seconds=3) for gap in gaps), gaps

    # Beat is stopped: two intervals later, the check says checkpoints stopped.
    newest = checkpoints.read([path])[-1]
    time.sleep(max(0.0, (newest.at + timedelta(seconds=2.5) - timezone.now()).total_seconds()))
    passed, output = verify("--checkpoints", str(path))
    assert not passed
    assert f"the newest checkpoint ({newest})" in output
    assert "checkpoints stopped being written" in output
