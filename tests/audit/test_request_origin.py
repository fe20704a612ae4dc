"""Each request gets an id (in the response, the logs and its events) and a source IP that
only a trusted proxy can vouch for."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from ims_portal.audit import context
from ims_portal.audit.log_filters import RequestIdFilter
from ims_portal.audit.models import Action
from tests.audit.conftest import BROWSER
from tests.audit.helpers import only

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"


def test_every_response_carries_a_fresh_request_id(client):
    first = client.get(reverse("accounts:login"))["X-Request-Id"]
    second = client.get(reverse("accounts:login"))["X-Request-Id"]
    assert len(first) == 32 and first != second


def test_a_trusted_proxys_well_formed_request_id_is_kept_and_junk_is_replaced(client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]  # the test client's address
    kept = client.get(reverse("accounts:login"), headers={"X-Request-Id": "lb-7f3a9c21-0001"})
    assert kept["X-Request-Id"] == "lb-7f3a9c21-0001"
    for junk in ("short", "has spaces in it", "x" * 65, "inject\nline-0000", "ünïcode-00000"):
        replaced = client.get(reverse("accounts:login"), headers={"X-Request-Id": junk})
        assert replaced["X-Request-Id"] != junk


def test_a_request_id_from_anyone_else_is_replaced(client):
    response = client.get(reverse("accounts:login"), headers={"X-Request-Id": "lb-7f3a9c21-0001"})
    assert response["X-Request-Id"] != "lb-7f3a9c21-0001"


def test_log_lines_written_during_a_request_carry_its_id(
    as_alice, caplog, make_export, alice, settings
):
    settings.TRUSTED_PROXIES = [BROWSER["REMOTE_ADDR"]]  # as if it came through our proxy
    caplog.handler.addFilter(RequestIdFilter())
    theirs_missing = reverse("exports:detail", args=[999999])
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = as_alice.get(theirs_missing, headers={"X-Request-Id": "req-for-the-logs"})
    assert response.status_code == 404
    assert [r.request_id for r in caplog.records if r.name == "django.request"] == [
        "req-for-the-logs"
    ]


def test_the_log_filter_names_the_bound_request_or_task_and_a_dash_outside():
    def filtered() -> str:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
        RequestIdFilter().filter(record)
        return record.request_id

    with context.bound(context.Origin(request_id="celery-task-0001")):
        assert filtered() == "celery-task-0001"
    assert filtered() == "-"


def test_the_source_ip_is_the_socket_peer_when_no_proxy_is_trusted(client, alice, settings):
    settings.TRUSTED_PROXIES = []
    client.post(
        reverse("accounts:login"),
        {"username": "alice", "password": "pw-alice"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="198.51.100.9",
    )
    assert only(Action.SIGN_IN).ip == PROXY  # a forged header changes nothing


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_used(client, alice, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    client.post(
        reverse("accounts:login"),
        {"username": "alice", "password": "pw-alice"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="192.0.2.66, 198.51.100.9, 10.0.0.4",
    )
    # Right to left, past the trusted hops: what the client wrote further left is ignored.
    assert only(Action.SIGN_IN).ip == "198.51.100.9"


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.1", "", "203.0.113.1"),
        ("203.0.113.1", "1.2.3.4", "203.0.113.1"),  # not from a proxy: header ignored
        (PROXY, "", PROXY),
        (PROXY, "198.51.100.9", "198.51.100.9"),
        (PROXY, "198.51.100.9, 10.1.1.1", "198.51.100.9"),
        (PROXY, "junk, 198.51.100.9", "198.51.100.9"),
        (PROXY, "198.51.100.9, junk", PROXY),  # a bad hop: trust nothing beyond it
        (PROXY, "2001:db8::1", "2001:db8::1"),
        ("::ffff:203.0.113.1", "", "203.0.113.1"),
        ("", "", ""),
    ],
)
def test_client_ip_reads_forwarded_for_only_through_trusted_proxies(remote, forwarded, expected):
    trusted = context.parse_networks(["10.0.0.0/8"])
    meta = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}
    assert context.client_ip(meta, trusted) == expected


def test_a_malformed_trusted_proxy_setting_is_refused():
    with pytest.raises(ValueError):
        context.parse_networks(["10.0.0.0/8", "not-an-address"])
