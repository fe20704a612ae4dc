"""`/healthz` and `/readyz` in this process: what they answer, and what they never touch
(the database for /healthz; sessions, sign-in, the host check and the audit trail for all)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ims_portal.audit.models import AuditEvent


def test_healthz_answers_without_the_database():
    # No database mark: pytest-django refuses any query, so a probe that made one fails.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert response["X-Request-Id"]  # still under a request id, like every answer


def test_probes_skip_the_host_check_sessions_and_sign_in(db, settings):
    # An orchestrator probes the pod's own address, which is no allowed host; a browser's
    # old session cookie changes nothing either.
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    client = Client(HTTP_HOST="10.11.12.13:8000")
    client.cookies["sessionid"] = "no-such-session"
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz/")
    assert response.status_code == 200
    assert len(queries) == 0
    assert "Set-Cookie" not in response.headers
    assert client.get("/overview/live/").status_code == 400  # the host check still guards pages


def test_only_get_and_head_are_answered():
    client = Client()
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_readyz_reports_each_part_with_its_latency_and_writes_no_audit_event(cloud_settings):
    before = AuditEvent.objects.count()
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "cache", "cloud"}
    for name, check in body["checks"].items():
        assert check["ok"] is True, (name, check)
        assert 0 <= check["ms"] < 2000
    assert body["checks"]["cloud"]["required"] is False
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_cloud_is_reported_and_fails_readiness_only_when_required(
    cloud_settings, settings, monkeypatch
):
    from ims_portal.exports import cloud_access

    monkeypatch.setenv("IMS_ENDPOINT", "http://127.0.0.1:1")  # nothing listens on port 1
    cloud_access.get_client.cache_clear()
    try:
        body = Client().get("/readyz").json()
        assert body["status"] == "ready"
        assert body["checks"]["cloud"] == {
            "ok": False,
            "ms": body["checks"]["cloud"]["ms"],
            "required": False,
            "error": "ConnectionFailed",
        }
        settings.READINESS_REQUIRES_CLOUD = True
        response = Client().get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "not ready"
    finally:
        cloud_access.get_client.cache_clear()
