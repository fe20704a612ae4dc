"""One export from the form to succeeded with every real part (this process as the web app,
a Celery worker process logging JSON, Redis, PostgreSQL, the simulator), followed as an
operator would: on `/metrics`, and by one request id through the audit trail, the worker's
log lines and the cloud's request log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse

from ims_portal.audit.models import AuditEvent
from ims_portal.celery import app as celery_app
from ims_portal.celery import work_queues
from ims_portal.exports.models import Export, Status
from ims_portal.simulator import seed
from tests.monitoring.helpers import Samples, samples, value
from tests.portal_fixtures import LASTING_WORKERS, start_worker, stop, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "scrape-token-for-tests"
EXPORT_ROUTE = "/v1/cloudimages/{image_id}/file"


@pytest.fixture(scope="module")
def json_worker(worker_env, portal_queue, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A worker of its own (its own queue) with LOG_FORMAT=json; yields (queue, log)."""
    queue = f"{portal_queue}-observed"
    log = tmp_path_factory.mktemp("json-worker") / "worker.log"
    env = {**worker_env, "CELERY_TASK_DEFAULT_QUEUE": queue, "LOG_FORMAT": "json"}
    process = start_worker(env, log)
    with LASTING_WORKERS.running("json_worker", env):
        yield queue, log
    stop(process)


@pytest.fixture
def observed(json_worker, client, alice, cloud_settings, sim, settings):
    """alice signed in, tasks going to the JSON worker, a metrics token set."""
    queue, log = json_worker
    saved = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    settings.METRICS_TOKEN = TOKEN
    client.force_login(alice)
    yield client, log
    celery_app.conf.task_default_queue = saved


def scrape(client) -> Samples:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return samples(response.content.decode())


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_an_export_is_on_the_metrics_and_one_request_id_follows_it_to_the_cloud(observed, sim):
    client, worker_log = observed
    before = scrape(client)

    response = client.post(
        reverse("exports:new"),
        {
            "image": seed.SMALL_CENTOS,
            "bucket": "ims-exports",
            "file_name": f"observed-{uuid.uuid4().hex[:8]}.qcow2",
            "file_format": "qcow2",
            "request_token": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 302
    request_id = response["X-Request-Id"]
    export = Export.objects.get()
    wait_for(lambda: Export.objects.get(pk=export.pk).status == Status.SUCCEEDED, timeout=60)
    after = scrape(client)

    # --- metrics: the web process's and the worker's on one scrape ------------------------
    assert delta(before, after, "ims_portal_exports_created_total") == 1  # the web (here)
    # Written by the worker alone: this process never finishes an export, never posts one.
    assert delta(before, after, "ims_portal_exports_finished_total", status="succeeded") == 1
    post = {"method": "POST", "endpoint": EXPORT_ROUTE, "code": "200"}
    assert delta(before, after, "ims_portal_cloud_request_duration_seconds_count", **post) == 1
    assert value(after, "ims_portal_cloud_request_duration_seconds_bucket", le="+Inf", **post) >= 1
    assert value(after, "ims_portal_cloud_request_duration_seconds_sum", **post) > 0
    polls = {"method": "GET", "endpoint": "/v1/cloudimages/job/{job_id}", "code": "200"}
    assert delta(before, after, "ims_portal_cloud_request_duration_seconds_count", **polls) >= 1
    assert delta(before, after, "ims_portal_poll_lateness_seconds_count") >= 1
    assert delta(before, after, "ims_portal_audit_events_total",
                 action="export.succeeded", outcome="success") == 1  # fmt: skip
    # Computed at scrape from the database and the broker.
    assert value(after, "ims_portal_exports", status="succeeded") == 1
    assert value(after, "ims_portal_exports", status="queued") == 0
    assert value(after, "ims_portal_poll_lag_seconds") == 0
    for queue in work_queues("all", celery_app.conf.task_default_queue):
        assert ("ims_portal_queue_depth", frozenset({("queue", queue)})) in after
    assert value(after, "ims_portal_metrics_source_up", source="database") == 1
    assert value(after, "ims_portal_metrics_source_up", source="broker") == 1

    # --- one request id: the page, the audit trail, the worker's log, the cloud -------------
    assert export.request_id() == request_id
    page = client.get(export.get_absolute_url()).content.decode()
    assert f'<code id="export-portal-request-id">{request_id}</code>' in page

    events = AuditEvent.objects.for_target("export", export.pk).filter(action__startswith="export.")
    actions = [event.action for event in events.order_by("id")]
    # After succeeded, only the proof of the object may follow (the check runs under the id too).
    ended = actions.index("export.succeeded")
    assert actions[0] == "export.requested"
    assert set(actions[ended + 1 :]) <= {"export.verified", "export.not_verified"}
    assert {event.request_id for event in events} == {request_id}

    # IMS calls only: IAM's (a token, OBS's temporary keys) and OBS's serve the portal as a
    # whole, not one export.
    iam = {"/v3/auth/tokens", "/v3.0/OS-CREDENTIAL/securitytokens"}
    cloud_calls = [r for r in sim.control.requests(service="ims") if r["path"] not in iam]
    posted = [r for r in cloud_calls if r["method"] == "POST"]
    assert [r["client_request_id"] for r in posted] == [request_id]
    worker_calls = [r for r in cloud_calls if "/job/" in r["path"] or r["method"] == "POST"]
    assert {r["client_request_id"] for r in worker_calls} == {request_id}

    lines = [
        json.loads(line) for line in worker_log.read_text().splitlines() if line.startswith("{")
    ]
    ours = [line for line in lines if line["request_id"] == request_id]
    messages = " | ".join(line["message"] for line in ours)
    assert f"export {export.pk}: submitting" in messages
    assert f"submitted as job {export.job_id}" in messages
    # The line that pairs our id with the cloud's own id of its answer to the export POST.
    cloud_id = posted[0]["request_id"]
    assert any(f"request_id={cloud_id}" in line["message"] for line in ours), messages
    assert all(line.get("task_id") for line in ours)  # each names the task it came from
    assert {"time", "level", "logger", "message"} <= set(ours[0])
