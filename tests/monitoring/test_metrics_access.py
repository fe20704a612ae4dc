"""Who may read `/metrics`: a bearer token (METRICS_TOKEN) or a source address in
METRICS_ALLOWED_NETWORKS, either one; nobody when neither is set. A scrape writes no audit
event and reads no session."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from ims_portal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

TOKEN = "a-long-random-scrape-token"


def scrape(settings, *, networks: list[str], token: str = "", **headers: str):
    settings.METRICS_ALLOWED_NETWORKS = networks
    settings.METRICS_TOKEN = token
    return Client(**headers).get("/metrics")  # a new client loads the middleware anew


def test_with_neither_setting_nobody_reads_the_metrics(settings):
    response = scrape(settings, networks=[])
    assert response.status_code == 403
    assert b"METRICS_TOKEN" in response.content


def test_the_token_opens_them_and_a_wrong_or_missing_one_does_not(settings):
    assert scrape(settings, networks=[], token=TOKEN).status_code == 401
    wrong = scrape(settings, networks=[], token=TOKEN, HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    right = scrape(settings, networks=[], token=TOKEN, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain; version=")
    assert b"ims_portal_exports{" in right.content


def test_an_allowed_network_opens_them_without_a_token(settings):
    inside = scrape(settings, networks=["192.0.2.0/24"], REMOTE_ADDR="192.0.2.9")
    assert inside.status_code == 200
    outside = scrape(settings, networks=["192.0.2.0/24"], REMOTE_ADDR="198.51.100.9")
    assert outside.status_code == 403
    # Either one suffices: a scraper outside the network with the token is let in.
    both = scrape(
        settings,
        networks=["192.0.2.0/24"],
        token=TOKEN,
        REMOTE_ADDR="198.51.100.9",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
    )
    assert both.status_code == 200


def test_a_forwarded_address_counts_only_from_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    via_proxy = scrape(
        settings,
        networks=["192.0.2.0/24"],
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.9",
    )
    assert via_proxy.status_code == 200
    forged = scrape(
        settings,
        networks=["192.0.2.0/24"],
        REMOTE_ADDR="198.51.100.9",
        HTTP_X_FORWARDED_FOR="192.0.2.9",
    )
    assert forged.status_code == 403


def test_a_scrape_writes_no_audit_event_and_sets_no_cookie(settings):
    before = AuditEvent.objects.count()
    response = scrape(settings, networks=["127.0.0.1/32"], HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert AuditEvent.objects.count() == before
    assert "Set-Cookie" not in response.headers


def test_a_malformed_network_is_a_system_check_error(settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/33"]
    with pytest.raises(SystemCheckError, match=r"monitoring\.E001"):
        call_command("check")
