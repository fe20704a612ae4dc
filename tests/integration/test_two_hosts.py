"""Two web processes and two workers against one PostgreSQL and one Redis, as on two hosts
(README, "Beyond one machine"): exports submitted through either web process are spread
over both workers, each is POSTed once, and either web process shows the same export alike.

Each process is the leader of its own process group, on its own port, sharing nothing but
the database, the broker and the cloud.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ims_portal.exports.models import Export, Status
from ims_portal.simulator import seed
from tests.integration.processes import (
    Browser,
    export_posts_by_destination,
    start_web,
)
from tests.portal_fixtures import start_worker, stop, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
]

IMAGES = (
    seed.SMALL_CENTOS, seed.SMALL_UBUNTU, seed.SMALL_DEBIAN, seed.SMALL_EULEROS,
    seed.SMALL_FEDORA, seed.SMALL_ORACLE, seed.SMALL_RHEL, seed.SMALL_CENTOS_STREAM,
)  # fmt: skip
SUBMITTING = re.compile(rb"export (\d+): submitting ")
# What differs between two answers of the same page by design: the CSP nonce and the
# (masked, so fresh each time) CSRF token.
NONCE = re.compile(r'nonce="[^"]*"|name="csrfmiddlewaretoken" value="[^"]*"|"X-CSRFToken": "[^"]*"')


def new_export(browser: Browser, image_id: str) -> str:
    """Send the new-export form for `image_id`; return the export page it redirects to."""
    _, answer = browser.send_new_export(image_id, "two-hosts")
    assert answer.status_code == 302, answer.text[:2000]
    return answer.headers["Location"]


def submitted_by(log: Path) -> set[int]:
    """The exports whose POST this worker sent, from its log."""
    return {int(pk) for pk in SUBMITTING.findall(log.read_bytes())}


def test_two_web_processes_and_two_workers_share_the_work_and_agree(
    worker_env, queue, sim, alice, tmp_path
):
    # Each POST holds its worker process a while, so that neither worker can take them all.
    sim.control.fault(latency=1.5, methods="POST", paths="/file$")
    env = {**worker_env, "CELERY_TASK_DEFAULT_QUEUE": queue}
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [start_worker(env, log, concurrency=2, own_group=True) for log in logs]
    webs = [start_web(env, tmp_path / f"web-{name}.log") for name in ("a", "b")]
    try:
        first = Browser(webs[0][1])
        first.sign_in("alice", "pw-alice")
        # The session made by one web process is good on the other: both read it from the
        # one database.
        second = Browser(webs[1][1])
        second.cookies = dict(first.cookies)
        browsers = (first, second)
        pages = [new_export(browsers[n % 2], image) for n, image in enumerate(IMAGES)]
        exports = list(Export.objects.filter(owner=alice).order_by("pk"))
        assert len(exports) == len(IMAGES)
        wait_for(
            lambda: not Export.objects.filter(pk__in=[e.pk for e in exports]).in_flight().exists(),
            timeout=90,
            every=0.5,
        )

        # Spread over both workers, each export submitted by exactly one of them.
        by_worker = [submitted_by(log) for log in logs]
        assert all(by_worker), by_worker
        assert by_worker[0].isdisjoint(by_worker[1]), by_worker
        assert by_worker[0] | by_worker[1] == {e.pk for e in exports}
        posts = export_posts_by_destination(sim)
        for export in Export.objects.filter(pk__in=[e.pk for e in exports]):
            assert export.status == Status.SUCCEEDED, export
            assert posts.get(export.bucket_url) == 1, export

        # Either web process shows each export the same: the same fragment, the same
        # version of it, and the same page (the CSP nonce aside).
        for export, page in zip(exports, pages, strict=True):
            fragment = f"/exports/{export.pk}/status/"
            answers = [browser.get(fragment) for browser in browsers]
            assert [a.status_code for a in answers] == [200, 200]
            assert answers[0].text == answers[1].text
            assert answers[0].headers.get("ETag") == answers[1].headers.get("ETag")
            full = [NONCE.sub("", browser.get(page).text) for browser in browsers]
            assert export.image_name in full[0]
            assert full[0] == full[1]
    finally:
        for web, _ in webs:
            stop(web)
        for worker in workers:
            stop(worker)
