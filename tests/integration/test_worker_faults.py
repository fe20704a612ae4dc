"""Workers killed in every way a machine kills them, with exports in flight: none is lost,
none gets a second POST, and only one whose POST was on the wire ends `unknown`.

Each test runs its own worker processes on a queue of its own (tests/integration/processes.py),
so what a killed worker leaves behind reaches no other test.
"""

from __future__ import annotations

import signal
import time

import pytest
from django.db import connection

from ims_portal.exports.models import Export, Status, Verification
from ims_portal.exports.tasks import submit_export
from ims_portal.simulator import seed
from tests.integration.processes import (
    export_posts_by_destination,
    signal_group,
    start_beat,
    statuses,
)
from tests.portal_fixtures import start_worker, stop, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
    # Only the test's own workers follow its exports (the rows are the database's, whichever
    # queue a worker takes).
    pytest.mark.usefixtures("poll_chains_held"),
]


def exports_of_bulk_images(make_export, owner, count: int, prefix: str) -> list[Export]:
    """`count` queued exports, each of its own image (one export in flight per image)."""
    return [
        make_export(
            owner,
            image_id=spec.id,
            image_name=spec.name,
            image_size=int(spec.size_gib * 1024**3),
            object_name=f"{prefix}-{n}.qcow2",
        )
        for n, spec in enumerate(seed.bulk_specs(count))
    ]


def all_ended(exports: list[Export]) -> bool:
    return not Export.objects.filter(pk__in=[e.pk for e in exports]).in_flight().exists()


def test_kill_9_of_the_worker_with_50_exports_in_flight_loses_none_and_posts_none_twice(
    worker_env, queue, sim, alice, make_export, tmp_path
):
    # Slow POSTs, so that some are on the wire when the worker dies; jobs that last a few
    # seconds, so that some exports are being polled.
    sim.control.fault(latency=1.0, methods="POST", paths="/file$")
    sim.control.configure(speed=10)
    env = {
        **worker_env,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        # A live worker is done with a POST in about a second here.
        "EXPORT_SUBMITTING_TIMEOUT": "6",
        "EXPORT_RECONCILE_EVERY": "2",
    }
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, concurrency=4, own_group=True)
    exports = exports_of_bulk_images(make_export, alice, 50, "kill9")
    for export in exports:
        submit_export.delay(export.pk)
    try:
        # The moment to kill: some followed, and some POSTs on the wire (each takes a second
        # there; between two of them a process may be polling, so wait for one to be out).
        wait_for(
            lambda: (
                len(sim.control.requests(method="POST", path_contains="/file")) >= 8
                and Export.objects.filter(
                    pk__in=[e.pk for e in exports], status=Status.SUBMITTING
                ).exists()
            )
        )
        signal_group(worker, signal.SIGKILL)
        worker.wait(10)
        at_the_kill = statuses(exports)
        sending = set(
            Export.objects.filter(
                pk__in=[e.pk for e in exports], status=Status.SUBMITTING
            ).values_list("pk", flat=True)
        )
        # A mix: some never sent, some on the wire, some followed.
        assert at_the_kill.get(Status.QUEUED, 0) > 0, at_the_kill
        assert at_the_kill.get(Status.SUBMITTING, 0) > 0, at_the_kill
        assert at_the_kill.get(Status.SUBMITTED, 0) + at_the_kill.get(Status.RUNNING, 0) > 0

        worker = start_worker(env, log, concurrency=4, own_group=True)
        beat = start_beat(env, tmp_path / "beat.log", tmp_path)
        try:
            wait_for(lambda: all_ended(exports), timeout=90, every=0.5)
        finally:
            stop(beat)
    finally:
        stop(worker)

    posts = export_posts_by_destination(sim)
    ended = Export.objects.filter(pk__in=[e.pk for e in exports])
    assert {e.status for e in ended} <= {Status.SUCCEEDED, Status.UNKNOWN}
    for export in ended:
        assert posts.get(export.bucket_url, 0) <= 1, export
    # `unknown` is exactly the ones being sent when the worker died. Their POST had almost
    # always left (each spends a second on the wire); a kill in the few milliseconds between
    # saving `submitting` and writing the POST leaves one that never left, which nobody can
    # tell from one that did: `unknown` either way, and never sent again.
    assert {e.pk for e in ended if e.status == Status.UNKNOWN} == sending


def test_sigterm_to_the_workers_process_group_loses_no_poll_even_without_the_reconciler(
    worker_env, queue, sim, alice, make_export, tmp_path
):
    # What systemd does on `stop` (KillMode=control-group): SIGTERM to the main process and
    # its pool at once. No beat runs, so no reconciler can make up for a dropped poll.
    sim.control.configure(speed=4)
    env = {**worker_env, "CELERY_TASK_DEFAULT_QUEUE": queue}
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, concurrency=2, own_group=True)
    exports = exports_of_bulk_images(make_export, alice, 10, "sigterm")
    for export in exports:
        submit_export.delay(export.pk)
    try:
        wait_for(
            lambda: (
                Export.objects.filter(pk__in=[e.pk for e in exports]).followed().count()
                == len(exports)
            )
        )
        signal_group(worker, signal.SIGTERM)
        worker.wait(30)
        assert not all_ended(exports)  # the jobs outlast the worker
        worker = start_worker(env, log, concurrency=2, own_group=True)
        wait_for(lambda: all_ended(exports), timeout=60, every=0.5)
    finally:
        stop(worker)
    assert statuses(exports) == {Status.SUCCEEDED: len(exports)}
    posts = export_posts_by_destination(sim)
    assert all(posts[e.bucket_url] == 1 for e in exports)


def test_a_process_killed_in_the_middle_of_a_poll_round_loses_nothing(
    worker_env, queue, sim, alice, make_export, tmp_path
):
    # The windows that a SIGTERM to the process group hits only now and then, forced: the
    # round's rows are claimed (leased), some of them saved, and the process dies before
    # the rest are polled and before the round's successor is sent. No beat runs. Jobs slow
    # enough that each one is polled twice at least.
    sim.control.configure(speed=2)
    folder = tmp_path / "die"
    folder.mkdir()
    env = {**worker_env, "CELERY_TASK_DEFAULT_QUEUE": queue, "DIE_BEFORE_SENDING": str(folder)}
    first_poll, second_poll, object_check = exports_of_bulk_images(make_export, alice, 3, "die")
    deaths = [
        f"claimed-{first_poll.pk}",
        f"{first_poll.pk}-1",
        f"{second_poll.pk}-2",
        f"{object_check.pk}-ended",
    ]
    for name in deaths:
        (folder / name).touch()
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, app="tests.integration.dying_worker")
    exports = [first_poll, second_poll, object_check]
    for export in exports:
        submit_export.delay(export.pk)
    try:
        wait_for(lambda: all_ended(exports), timeout=60, every=0.5)
        wait_for(
            lambda: (
                not Export.objects.filter(pk=object_check.pk, verify_due_at__isnull=False).exists()
            )
        )
    finally:
        stop(worker)
    assert not [name for name in deaths if (folder / name).exists()], "each one died"
    assert log.read_text().count("exited with 'signal 9 (SIGKILL)'") == len(deaths)
    assert statuses(exports) == {Status.SUCCEEDED: 3}
    object_check.refresh_from_db()
    assert object_check.verification == Verification.VERIFIED
    posts = export_posts_by_destination(sim)
    assert all(posts[e.bucket_url] == 1 for e in exports)


def test_killed_database_connections_cost_no_export(
    worker_env, queue, sim, alice, make_export, tmp_path
):
    sim.control.configure(speed=4)
    env = {**worker_env, "CELERY_TASK_DEFAULT_QUEUE": queue, "EXPORT_RECONCILE_EVERY": "2"}
    worker = start_worker(env, tmp_path / "worker.log", concurrency=2, own_group=True)
    beat = start_beat(env, tmp_path / "beat.log", tmp_path)
    exports = exports_of_bulk_images(make_export, alice, 6, "pgkill")
    for export in exports:
        submit_export.delay(export.pk)
    try:
        wait_for(
            lambda: (
                Export.objects.filter(pk__in=[e.pk for e in exports]).followed().count()
                == len(exports)
            )
        )
        # Every other connection to the test database, over and over for a few seconds:
        # the worker's (held while a task runs, or kept between tasks) and beat's.
        killed, until = 0, time.monotonic() + 6
        while killed < 5 and time.monotonic() < until:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                killed += cursor.fetchone()[0]
            time.sleep(0.02)
        assert killed > 0
        wait_for(lambda: all_ended(exports), timeout=60, every=0.5)
    finally:
        stop(beat)
        stop(worker)
    assert statuses(exports) == {Status.SUCCEEDED: len(exports)}
    posts = export_posts_by_destination(sim)
    assert all(posts[e.bucket_url] == 1 for e in exports)
