"""Several processes writing at once (the web and workers) keep one unbroken chain."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from ims_portal.audit import checkpoints
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.trail import SYSTEM, Target, record
from tests.audit.helpers import verify
from tests.portal_fixtures import ROOT, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 4
EVENTS_EACH = 100

# One writer: wait at the barrier, then append events as fast as it can, some alone and
# some two to a transaction (as a status change records inside its own transaction).
WRITER = """
import sys, time
from pathlib import Path
import django
django.setup()
from django.db import transaction
from ims_portal.audit.models import Action
from ims_portal.audit.trail import SYSTEM, Target, record

name, count, barrier = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
print("ready", flush=True)
while not barrier.exists():
    time.sleep(0.001)
n = 0
while n < count:
    if n % 5 == 0 and n + 1 < count:
        with transaction.atomic():
            record(SYSTEM, Action.EXPORT_RUNNING, Target("writer", name), n=n)
            record(SYSTEM, Action.EXPORT_RUNNING, Target("writer", name), n=n + 1)
        n += 2
    else:
        record(SYSTEM, Action.EXPORT_RUNNING, Target("writer", name), n=n)
        n += 1
"""


# Checkpoints taken while the writers write: from the barrier until `done` appears.
CHECKPOINTER = """
import sys, time
from pathlib import Path
import django
django.setup()
from ims_portal.audit.checkpointing import write_checkpoint

barrier, done = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not barrier.exists():
    time.sleep(0.001)
while not done.exists():
    write_checkpoint()
    time.sleep(0.005)
"""


def test_four_processes_writing_at_once_keep_one_unbroken_chain(tmp_path):
    database = connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
    }
    barrier = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"w{i}", str(EVENTS_EACH), str(barrier)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WRITERS)
    ]
    for writer in writers:  # every one started up, so they really run at the same time
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
    barrier.touch()
    for writer in writers:
        _, errors = writer.communicate(timeout=120)
        assert writer.returncode == 0, errors

    assert AuditEvent.objects.count() == WRITERS * EVENTS_EACH
    passed, output = verify()
    assert passed, output
    assert f"{WRITERS * EVENTS_EACH} events checked" in output
    # The writers really took turns: along the chain, the writer changes many times.
    order = list(AuditEvent.objects.order_by("id").values_list("target_id", flat=True))
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches >= WRITERS * 5, f"only {switches} switches: the writers did not overlap"


def test_checkpoints_taken_among_the_writers_each_name_a_true_cut_of_the_chain(tmp_path):
    database = connection.settings_dict["NAME"]
    path = tmp_path / "checkpoints" / "audit-checkpoints.jsonl"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "AUDIT_CHECKPOINT_PATH": str(path),
    }
    barrier, done = tmp_path / "go", tmp_path / "done"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"w{i}", str(EVENTS_EACH), str(barrier)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ] + [
        subprocess.Popen(
            [sys.executable, "-c", CHECKPOINTER, str(barrier), str(done)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)  # two checkpoint writers: they must not fork the checkpoints
    ]  # fmt: skip
    for process in processes:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
    barrier.touch()
    for writer in processes[:2]:
        _, errors = writer.communicate(timeout=120)
        assert writer.returncode == 0, errors
    done.touch()
    for checkpointer in processes[2:]:
        _, errors = checkpointer.communicate(timeout=60)
        assert checkpointer.returncode == 0, errors

    written = checkpoints.read([path])
    sizes = {checkpoint.size for checkpoint in written}
    # Taken while the chain grew: many different cuts, not just the start and the end.
    assert len(sizes & set(range(1, 2 * EVENTS_EACH))) >= 5, sorted(sizes)
    passed, output = verify("--checkpoints", str(path))
    assert passed, output
    assert f"{len(written)} checkpoints (signed, chained" in output


def test_a_writer_that_waited_for_the_lock_links_to_the_event_committed_meanwhile():
    # The lock and the read of the chain's head go in one round trip: the head must be read
    # after the lock is granted, not when the statement began to wait for it.
    held, release = threading.Event(), threading.Event()

    def first() -> AuditEvent:
        try:
            with transaction.atomic():
                event = record(SYSTEM, Action.EXPORT_RUNNING, Target("writer", "1"))
                held.set()
                release.wait(timeout=30)
            return event
        finally:
            connection.close()

    def second() -> AuditEvent:
        try:
            return record(SYSTEM, Action.EXPORT_RUNNING, Target("writer", "2"))
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as threads:
        earlier = threads.submit(first)
        assert held.wait(timeout=30)
        later = threads.submit(second)
        wait_for(lambda: advisory_lock_waiters() == 1, timeout=30, every=0.05)
        release.set()
        assert later.result(timeout=30).prev_hash == earlier.result(timeout=30).hash
    passed, output = verify()
    assert passed, output


def advisory_lock_waiters() -> int:
    """How many sessions wait for an advisory lock now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        return int(cursor.fetchone()[0])
