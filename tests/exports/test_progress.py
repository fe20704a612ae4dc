"""What the status page says of an export's progress and the time it has left."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from ims_portal.cloud import Job
from ims_portal.cloud.models import JobStatus
from ims_portal.exports import workflow
from ims_portal.exports.models import Export, Status
from ims_portal.exports.progress import progress_of

pytestmark = pytest.mark.django_db
GIB = 1024**3


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def job(status: JobStatus, progress: float | None) -> Job:
    return Job(
        id="job-1",
        job_type="imsNativeExportImageJob",
        status=status,
        begin_time=None,
        end_time=None,
        error_code="",
        fail_reason="",
        progress=progress,
        current_step="",
    )


def followed(make_export, owner, **fields) -> Export:
    export = make_export(owner, **fields)
    export.transition(Status.SUBMITTING)
    export.transition(Status.SUBMITTED, job_id="job-1", submitted_at=fields.get("submitted_at"))
    return export


def test_the_time_left_follows_the_clouds_percentage(alice, make_export):
    now = timezone.now()
    export = followed(make_export, alice, submitted_at=now - timedelta(minutes=11))
    # Polls every 2.5 min from 0% ten minutes ago to 25% now: 2.5% a minute.
    for minutes_ago, percent in ((10, 0.0), (7.5, 0.0625), (5, 0.125), (2.5, 0.1875), (0, 0.25)):
        workflow.apply_job(
            export, job(JobStatus.RUNNING, percent), now - timedelta(minutes=minutes_ago)
        )
    progress = progress_of(Export.objects.get(pk=export.pk), now)
    assert progress.phase == 3 and progress.percent == 25 and progress.from_cloud
    assert progress.remaining == timedelta(minutes=30)
    later = progress_of(Export.objects.get(pk=export.pk), now + timedelta(minutes=1))
    assert later.remaining == timedelta(minutes=29)  # a page view counts it down


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
    export = followed(
        make_export, alice, image_size=20 * GIB, submitted_at=now - timedelta(seconds=50)
    )
    workflow.apply_job(export, job(JobStatus.INIT, None), now)
    progress = progress_of(Export.objects.get(pk=export.pk), now)
    assert not progress.from_cloud
    assert progress.remaining == timedelta(seconds=150)
    assert Export.objects.get(pk=export.pk).eta_prior_only  # shown as less certain


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
