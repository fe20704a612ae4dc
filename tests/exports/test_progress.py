"""What the status page says of an export's progress and the time it has left."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from ims_portal.exports.models import Export, Status
from ims_portal.exports.progress import progress_of

pytestmark = pytest.mark.django_db
GIB = 1024**3


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def test_the_time_left_follows_the_clouds_percentage(alice, make_export):
    now = timezone.now()
    export = make_export(
        alice, status=Status.RUNNING, progress=0.25, running_at=now - timedelta(minutes=10)
    )
    progress = progress_of(export, now)
    assert progress.phase == 3 and progress.percent == 25 and progress.from_cloud
    assert progress.remaining == timedelta(minutes=30)


def test_without_a_percentage_the_time_left_comes_from_past_throughput(alice, make_export):
    now = timezone.now()
    # One past export moved 10 GiB in 100 s: 0.1 GiB/s.
    make_export(
        alice,
        status=Status.SUCCEEDED,
        image_size=10 * GIB,
        submitted_at=now - timedelta(seconds=200),
        finished_at=now - timedelta(seconds=100),
    )
    export = make_export(
        alice,
        status=Status.SUBMITTED,
        image_size=20 * GIB,
        submitted_at=now - timedelta(seconds=50),
    )
    progress = progress_of(export, now)
    assert not progress.from_cloud
    assert progress.remaining == timedelta(seconds=150)


def test_with_no_history_and_no_percentage_the_time_left_is_unknown(alice, make_export):
    export = make_export(alice, status=Status.SUBMITTED, submitted_at=timezone.now())
    assert progress_of(export).remaining is None


def test_an_ended_export_shows_done_and_no_time_left(alice, make_export):
    now = timezone.now()
    # An export that went the whole way: its timestamps say it passed every phase.
    export = make_export(
        alice,
        status=Status.SUCCEEDED,
        submitting_at=now - timedelta(seconds=30),
        submitted_at=now - timedelta(seconds=29),
        running_at=now - timedelta(seconds=20),
        finished_at=now,
    )
    progress = progress_of(Export.objects.get(pk=export.pk))
    assert progress.phase == 4 and progress.percent == 100 and progress.remaining is None
    assert [state for _, state in progress.phases] == ["done"] * 4 + ["current"]
