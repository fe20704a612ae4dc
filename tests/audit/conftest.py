"""Fixtures of the audit tests: the auditor's client, and requests from a known origin."""

from __future__ import annotations

import pytest

# What the test client sends as the browser: the events must carry it.
BROWSER = {"REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": "AuditTest/1.0"}


@pytest.fixture
def browser_client(client):
    """The test client, seen by the portal as a browser at a known address."""
    client.defaults.update(BROWSER)
    return client


@pytest.fixture
def as_carol(browser_client, carol):
    browser_client.force_login(carol)
    return browser_client


@pytest.fixture
def as_alice(browser_client, alice):
    browser_client.force_login(alice)
    return browser_client
