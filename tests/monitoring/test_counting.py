"""Business counters come from the audit trail as each event commits: a sign-in counts under
its outcome, and an event rolled back with its transaction counts not at all."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse
from prometheus_client import generate_latest

from ims_portal.audit.models import Action
from ims_portal.audit.trail import SYSTEM, record
from ims_portal.monitoring import scrape
from tests.monitoring.helpers import samples, value

pytestmark = pytest.mark.django_db


def scraped():
    return samples(generate_latest(scrape.registry()).decode())


def test_sign_ins_count_by_outcome(client, settings, alice, django_capture_on_commit_callbacks):
    settings.DEVELOPMENT_SIGN_IN = True
    before = scraped()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:login"), {"username": "alice", "password": "wrong"})
        client.post(reverse("accounts:login"), {"username": "alice", "password": "pw-alice"})
    after = scraped()
    for outcome in ("failure", "success"):
        change = value(after, "ims_portal_sign_ins_total", outcome=outcome) - value(
            before, "ims_portal_sign_ins_total", outcome=outcome
        )
        assert change == 1, outcome
    signed_in = {"action": "auth.sign_in", "outcome": "success"}
    assert (
        value(after, "ims_portal_audit_events_total", **signed_in)
        - value(before, "ims_portal_audit_events_total", **signed_in)
        == 1
    )


def test_an_event_rolled_back_with_its_change_is_not_counted(django_capture_on_commit_callbacks):
    before = scraped()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        record(SYSTEM, Action.EXPORT_REQUESTED)
        raise RuntimeError("the change failed")
    assert value(scraped(), "ims_portal_exports_created_total") == value(
        before, "ims_portal_exports_created_total"
    )
