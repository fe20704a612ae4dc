"""How the tasks decide that a step went missing: the reconciler's graces come from the
poll and back-off settings, and `submitting` ends after the client's own limits. (An export
the broker could not take: tests/integration/test_redis_outage.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ims_portal.exports import workflow
from ims_portal.exports.cloud_access import get_client
from ims_portal.exports.models import Export, Status
from ims_portal.exports.tasks import (
    SUBMITTING_MARGIN,
    reconcile_exports,
    reconcile_graces,
    submitting_timeout,
)

pytestmark = pytest.mark.django_db


def test_the_graces_follow_the_poll_and_back_off_settings(settings):
    settings.EXPORT_POLL_MAX = 60.0
    poll, retried = reconcile_graces()
    assert poll == timedelta(seconds=2 * 66.0)  # two longest poll waits, jitter included
    assert retried == timedelta(seconds=workflow.longest_submit_wait() + 66.0)
    settings.EXPORT_POLL_MAX = 1.0
    assert reconcile_graces()[0] == timedelta(seconds=2.2)  # no fixed minute under it


def test_submitting_ends_after_the_clients_longest_export_post_unless_set(cloud, settings):
    settings.EXPORT_SUBMITTING_TIMEOUT = None
    # The tests' client authenticates with an IAM token: token + POST, twice after a 401.
    assert submitting_timeout() == get_client().longest_export_seconds() + SUBMITTING_MARGIN
    assert submitting_timeout() == 4 * 35.0 + SUBMITTING_MARGIN
    settings.EXPORT_SUBMITTING_TIMEOUT = 12.0
    assert submitting_timeout() == 12.0


def test_an_export_stuck_submitting_longer_than_the_timeout_becomes_unknown(
    cloud, settings, alice, make_export
):
    settings.EXPORT_SUBMITTING_TIMEOUT = None
    limit = submitting_timeout()
    fresh = make_export(alice, status=Status.SUBMITTING, object_name="fresh.qcow2")
    stuck = make_export(alice, status=Status.SUBMITTING, object_name="stuck.qcow2")
    now = timezone.now()
    Export.objects.filter(pk=fresh.pk).update(submitting_at=now - timedelta(seconds=limit - 5))
    Export.objects.filter(pk=stuck.pk).update(submitting_at=now - timedelta(seconds=limit + 5))
    assert reconcile_exports()["unknown"] == 1
    assert Export.objects.get(pk=stuck.pk).status == Status.UNKNOWN
    assert Export.objects.get(pk=fresh.pk).status == Status.SUBMITTING
