"""Redis, the broker and the cache, goes away while people use the portal: every page still
answers, every export is saved, and each is sent within seconds of Redis coming back.

Everything is a real process: a Redis of the test's own (so stopping it disturbs no other
test), the web app under gunicorn, a Celery worker and beat, and the simulator.
"""

from __future__ import annotations

import time

import pytest

from ims_portal.exports.models import Export, Status
from ims_portal.simulator import seed
from tests.integration.processes import (
    Browser,
    RedisServer,
    export_posts_by_destination,
    private_queue,
    start_beat,
    start_web,
)
from tests.portal_fixtures import start_worker, stop, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
]

IMAGES = {
    "alice": (seed.SMALL_CENTOS, seed.SMALL_UBUNTU, seed.SMALL_DEBIAN),
    "bob": (seed.SMALL_EULEROS, seed.SMALL_FEDORA, seed.SMALL_CENTOS_STREAM),
}
# Seconds an export saved during the outage may take to leave `queued` once Redis is back,
# beyond the worker's reconnection (`reconnect_wait`): a run of `send_waiting_exports`
# (every second here) and its submit, on a loaded machine.
SEND_SLACK = 10.0


def reconnect_wait(outage: float) -> float:
    """The longest a Celery worker can still wait to reconnect once a broker outage of
    `outage` seconds ends: between its tries kombu sleeps 2 s, then 4, 6... at most 30 s
    (Celery's consumer uses kombu's defaults; no setting changes them)."""
    elapsed, interval = 0.0, 2.0
    while elapsed + interval < outage:
        elapsed += interval
        interval = min(interval + 2.0, 30.0)
    return interval


def new_export(browser: Browser, image_id: str) -> tuple[int, str]:
    """Open the new-export page (it must answer) and send its form; the POST's status, and
    where it sent the browser."""
    _, answer = browser.send_new_export(image_id, "outage")
    return answer.status_code, answer.headers.get("Location", "")


def test_with_redis_down_pages_answer_exports_are_saved_and_sent_when_it_returns(
    worker_env, sim, alice, bob, tmp_path
):
    redis = RedisServer(tmp_path).start()
    env = {
        **worker_env,
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url,
        "CELERY_TASK_DEFAULT_QUEUE": private_queue(),
        "EXPORT_QUEUE_RETRY_EVERY": "1",
        "REDIS_TIMEOUT": "1",
    }
    env.pop("CACHE_URL", None)  # the cache follows the broker: the same Redis
    web, url = start_web(env, tmp_path / "web.log")
    worker = start_worker(env, tmp_path / "worker.log")
    beat = start_beat(env, tmp_path / "beat.log", tmp_path)
    try:
        browsers = {name: Browser(url) for name in IMAGES}
        for name, browser in browsers.items():
            browser.sign_in(name, f"pw-{name}")

        redis.stop()
        down = time.monotonic()
        answers = [
            new_export(browsers[name], image) for name, images in IMAGES.items() for image in images
        ]
        assert [status for status, _ in answers] == [302] * len(answers), answers
        exports = list(Export.objects.order_by("id"))
        assert len(exports) == len(answers)
        assert {e.status for e in exports} == {Status.QUEUED}
        assert all(e.is_waiting_for_queue for e in exports)
        for (_, location), owner in zip(answers, ["alice"] * 3 + ["bob"] * 3, strict=True):
            page = browsers[owner].get(location)
            assert page.status_code == 200
            assert "Waiting for the work queue" in page.text
        # Every other page a person opens meanwhile answers too.
        for path in ("/", "/exports/", "/exports/new/", "/overview/live/"):
            assert browsers["alice"].get(path).status_code == 200, path

        redis.start()
        back = time.monotonic()
        # The outage's length decides how long the worker may still sleep before it tries
        # again: a loaded machine makes the pages above, and so the outage, slower.
        sent_within = reconnect_wait(back - down) + SEND_SLACK
        wait_for(
            lambda: not Export.objects.filter(status=Status.QUEUED).exists(),
            timeout=sent_within,
            every=0.2,
        )
        sent_after = time.monotonic() - back
        wait_for(lambda: not Export.objects.in_flight().exists(), timeout=60, every=0.5)
    finally:
        stop(beat)
        stop(worker)
        stop(web)
        redis.stop()

    assert sent_after < sent_within
    ended = Export.objects.all()
    assert {e.status for e in ended} == {Status.SUCCEEDED}
    posts = export_posts_by_destination(sim)
    assert all(posts[e.bucket_url] == 1 for e in ended)
    web_log = (tmp_path / "web.log").read_text()
    assert '" 50' not in web_log  # no 5xx in gunicorn's access log
    # The cache's outage is one line, not a traceback per request.
    assert web_log.count("cache unavailable") == 1
    assert "Traceback" not in web_log
