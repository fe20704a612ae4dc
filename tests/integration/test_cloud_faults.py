"""Cloud faults, end to end: a worker with short client timeouts meets each way the cloud
can misbehave, and every export ends in the state the README documents, with at most one
export POST the cloud took up.

What the client does at each fault on its own (retries, timeouts, tokens) is
tests/cloud/test_client_faults.py; a 500 and a single 503 through the whole portal are in
tests/integration/test_export_flow.py.
"""

from __future__ import annotations

import pytest

from ims_portal.celery import app
from ims_portal.exports.models import Export, Status
from ims_portal.exports.tasks import submit_export
from ims_portal.simulator import seed
from tests.integration.processes import export_posts_by_destination, private_queue
from tests.portal_fixtures import LASTING_WORKERS, start_worker, stop, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
]

EXPORT_POST = "/file$"
TIMEOUT = 1.0  # the worker's connect and read timeouts, seconds


@pytest.fixture(scope="module")
def short_timeout_worker(worker_env, tmp_path_factory):
    """A worker whose cloud client gives up after TIMEOUT, on a queue of its own.

    One pool process: each process holds its own IAM token, and the simulator's reset
    before every test forgets them all. With two, the warm-up could renew one process's
    token while the other still held the old one, and the fault meant for a POST the cloud
    acts on would hit that process's POST, refused as 401, instead."""
    queue, before = private_queue(), app.conf.task_default_queue
    env = {
        **worker_env,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "IMS_CONNECT_TIMEOUT": str(TIMEOUT),
        "IMS_READ_TIMEOUT": str(TIMEOUT),
    }
    worker = start_worker(env, tmp_path_factory.mktemp("faults") / "worker.log", concurrency=1)
    app.conf.task_default_queue = queue
    with LASTING_WORKERS.running("short_timeout_worker", env):
        yield worker
    app.conf.task_default_queue = before
    stop(worker)


def run_export(make_export, owner, image_id: str, name: str) -> Export:
    export = make_export(owner, image_id=image_id, object_name=f"{name}.qcow2")
    submit_export.delay(export.pk)

    def ended() -> bool:
        export.refresh_from_db()
        return export.is_terminal

    wait_for(ended, timeout=60, every=0.2)
    return export


@pytest.fixture
def fresh_token(short_timeout_worker, sim, alice, make_export):
    """One export run through first, so the worker holds a token the simulator (reset for
    this test) accepts: a 401 slowed down or dropped would be a fault of its own."""
    assert run_export(make_export, alice, seed.SMALL_RHEL, "warm-up").is_succeeded
    sim.control.clear_requests()


def posts_of(sim, export: Export) -> int:
    return export_posts_by_destination(sim).get(export.bucket_url, 0)


def test_a_429_with_retry_after_is_waited_out_and_the_export_succeeds(
    short_timeout_worker, sim, alice, make_export
):
    sim.control.fault(status=429, count=1, retry_after=1.5, methods="POST", paths=EXPORT_POST)
    export = run_export(make_export, alice, seed.SMALL_CENTOS, "throttled")
    assert export.status == Status.SUCCEEDED
    steps = [(s.from_status, s.to_status, s.at) for s in export.status_history()]
    requeued = next(
        at for before, after, at in steps if (before, after) == ("submitting", "queued")
    )
    resent = next(at for before, after, at in steps if at > requeued and after == "submitting")
    assert (resent - requeued).total_seconds() >= 1.5  # not sooner than the cloud asked
    # The 429 was refused before IMS acted; the one POST it took up made the job.
    assert posts_of(sim, export) == 2
    assert len(sim.control.jobs()) == 1


def test_a_burst_of_503_longer_than_the_retries_ends_failed_and_nothing_started(
    short_timeout_worker, sim, alice, make_export
):
    sim.control.fault(status=503, count=5, methods="POST", paths=EXPORT_POST)
    export = run_export(make_export, alice, seed.SMALL_UBUNTU, "unavailable")
    assert export.status == Status.FAILED
    assert "unavailable after 2 attempts" in export.error_message
    assert export.retry_advice == "helps"
    assert sim.control.jobs() == []  # every attempt was refused before IMS acted


def test_an_export_post_slower_than_the_timeout_ends_unknown_and_is_never_resent(
    fresh_token, sim, alice, make_export
):
    sim.control.fault(latency=TIMEOUT + 1, methods="POST", paths=EXPORT_POST)
    export = run_export(make_export, alice, seed.SMALL_DEBIAN, "slow")
    assert export.status == Status.UNKNOWN
    assert "did not confirm" in export.error_message
    wait_for(lambda: posts_of(sim, export) == 1)  # logged once the late answer is made
    assert len(sim.control.jobs()) == 2  # the warm-up's, and this one: the cloud did act


def test_a_connection_dropped_after_the_post_ends_unknown_and_is_never_resent(
    fresh_token, sim, alice, make_export
):
    sim.control.fault(drop=True, count=1, methods="POST", paths=EXPORT_POST)
    export = run_export(make_export, alice, seed.SMALL_EULEROS, "dropped")
    assert export.status == Status.UNKNOWN
    assert posts_of(sim, export) == 1
    assert len(sim.control.jobs()) == 2  # the warm-up's, and this one


def test_expired_tokens_and_slow_polls_cost_the_export_nothing(
    short_timeout_worker, sim, alice, make_export
):
    sim.control.configure(speed=10)
    sim.control.expire_tokens()
    # Polls slower than the timeout, twice: the client asks again.
    sim.control.fault(latency=TIMEOUT + 0.5, count=2, methods="GET", paths="/jobs?/")
    export = make_export(alice, image_id=seed.SMALL_FEDORA, object_name="tokens.qcow2")
    submit_export.delay(export.pk)
    wait_for(lambda: Export.objects.get(pk=export.pk).status in Status.FOLLOWED)
    sim.control.expire_tokens()  # and again while it is being followed
    wait_for(lambda: Export.objects.get(pk=export.pk).is_terminal, timeout=60)
    export.refresh_from_db()
    assert export.status == Status.SUCCEEDED
    assert posts_of(sim, export) == 1  # a 401 is refused before IMS acts; not counted
