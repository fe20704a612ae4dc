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
from ims_portal.exports.progress import (
    DurationLine,
    Priors,
    duration_line,
    expected_duration,
    fit_duration,
    progress_of,
)

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
    assert progress.time_left == "about 30 min left"
    later = progress_of(Export.objects.get(pk=export.pk), now + timedelta(minutes=1))
    assert later.remaining == timedelta(minutes=29)  # a page view counts it down
    ran_out = progress_of(Export.objects.get(pk=export.pk), now + timedelta(minutes=45))
    assert ran_out.remaining == timedelta(0) and ran_out.time_left == "finishing…"


def past(make_export, owner, gib: float, seconds: float, ago: float = 300, **fields) -> Export:
    """A succeeded export of `gib` GiB that took `seconds` from its submit to its end,
    `ago` seconds ago."""
    finished = timezone.now() - timedelta(seconds=ago)
    return make_export(
        owner,
        status=Status.SUCCEEDED,
        image_size=round(gib * GIB),
        submitted_at=finished - timedelta(seconds=seconds),
        finished_at=finished,
        **fields,
    )


def in_gib(line: DurationLine | None) -> tuple[float, float]:
    """A fitted line as (fixed seconds, seconds per GiB)."""
    assert line is not None
    return line.fixed, line.per_byte * GIB


def test_the_line_through_past_durations_recovers_a_fixed_part_and_a_per_byte_part():
    # 60 s whatever the size, then 5 s a GiB.
    line = fit_duration([(10 * GIB, 110.0), (20 * GIB, 160.0), (40 * GIB, 260.0)])
    assert line is not None
    assert line.fixed == pytest.approx(60)
    assert line.per_byte * GIB == pytest.approx(5)
    assert line.at(30 * GIB) == pytest.approx(210)


def test_the_line_is_least_squares_through_scattered_points():
    # Scattered either side of 100 s + 2 s/GiB: the fit is the least-squares one.
    points = [(10 * GIB, 118.0), (20 * GIB, 142.0), (30 * GIB, 158.0), (40 * GIB, 182.0)]
    line = fit_duration(points)
    assert line is not None
    assert line.fixed == pytest.approx(98)
    assert line.per_byte * GIB == pytest.approx(2.08)


def test_a_fixed_part_below_zero_is_clamped_and_the_line_goes_through_the_origin():
    # The unclamped fit would be -40 s + 5 s/GiB; through the origin the best is 3.29 s/GiB.
    line = fit_duration([(10 * GIB, 10.0), (20 * GIB, 60.0), (30 * GIB, 110.0)])
    assert line is not None
    assert line.fixed == 0
    assert line.per_byte * GIB == pytest.approx(4600 / 1400)


@pytest.mark.parametrize(
    "points",
    [
        [(10 * GIB, 110.0), (40 * GIB, 260.0)],  # too few
        [(20 * GIB, 100.0), (25 * GIB, 130.0), (30 * GIB, 150.0)],  # sizes too alike
        [(10 * GIB, 300.0), (20 * GIB, 200.0), (40 * GIB, 100.0)],  # larger was quicker
        [(0, 50.0), (10 * GIB, 110.0), (40 * GIB, 260.0)],  # an empty image has no size
    ],
    ids=["too-few", "sizes-alike", "larger-quicker", "zero-size"],
)
def test_no_line_is_fitted_through_points_that_cannot_carry_one(points):
    assert fit_duration(points) is None


def test_without_a_percentage_the_time_left_comes_from_the_line_of_past_durations(
    alice, make_export
):
    now = timezone.now()
    for gib, seconds in ((10, 110), (20, 160), (40, 260)):  # 60 s + 5 s/GiB
        past(make_export, alice, gib, seconds)
    export = followed(
        make_export, alice, image_size=30 * GIB, submitted_at=now - timedelta(seconds=50)
    )
    workflow.apply_job(export, job(JobStatus.INIT, None), now)
    progress = progress_of(Export.objects.get(pk=export.pk), now)
    assert not progress.from_cloud
    # 210 s expected in all, 50 s spent (their median rate would have said 240 s in all).
    assert progress.remaining == timedelta(seconds=160)
    assert Export.objects.get(pk=export.pk).eta_prior_only


def test_the_line_is_fitted_over_exports_of_the_same_format_and_fast_flag(alice, make_export):
    for gib, seconds in ((10, 110), (20, 160), (40, 260)):
        past(make_export, alice, gib, seconds)
    for gib, seconds in ((10, 20), (20, 40), (40, 80)):  # faster, and of other kinds
        past(make_export, alice, gib, seconds, file_format="vmdk")
        past(make_export, alice, gib, seconds, quick=True, file_format="")
    assert in_gib(duration_line(quick=False, file_format="qcow2")) == pytest.approx((60, 5))
    assert in_gib(duration_line(quick=True, file_format="")) == pytest.approx((0, 2), abs=1e-6)


def test_the_line_is_fitted_over_the_last_thirty_exports_alike_only(alice, make_export):
    for gib, seconds in ((10, 1000), (20, 2000), (40, 4000)):  # long ago, much slower
        past(make_export, alice, gib, seconds, ago=86400)
    for i in range(30):
        past(make_export, alice, 10 + i, 60 + 5 * (10 + i))
    assert in_gib(duration_line(quick=False, file_format="qcow2")) == pytest.approx((60, 5))


def test_the_line_is_cached_per_format_and_fast_flag(alice, make_export):
    for gib, seconds in ((10, 110), (20, 160), (40, 260)):
        past(make_export, alice, gib, seconds)
    assert expected_duration(30 * GIB, quick=False, file_format="qcow2") == pytest.approx(210)
    past(make_export, alice, 80, 2000)  # would bend the line, but the cached one stands
    assert expected_duration(30 * GIB, quick=False, file_format="qcow2") == pytest.approx(210)
    # Another format or the fast flag has its own line, fitted from its own history.
    for gib, seconds in ((10, 20), (20, 40), (40, 80)):
        past(make_export, alice, gib, seconds, file_format="vmdk")
    assert expected_duration(30 * GIB, quick=False, file_format="vmdk") == pytest.approx(60)
    assert expected_duration(30 * GIB, quick=True, file_format="qcow2") is None
    cache.clear()
    assert expected_duration(30 * GIB, quick=False, file_format="qcow2") != pytest.approx(210)


def test_while_no_line_can_be_fitted_the_prior_is_the_median_rate_near_this_size(
    alice, make_export
):
    # Two past exports cannot carry a line: the median bytes/s within 4x of the size stands.
    past(make_export, alice, 10, 100)
    past(make_export, alice, 20, 100)
    assert duration_line(quick=False, file_format="qcow2") is None
    # Within 4x of 20 GiB: 0.1 and 0.2 GiB/s, median 0.15 GiB/s, so 30 GiB take 200 s.
    assert expected_duration(30 * GIB, quick=False, file_format="qcow2") == pytest.approx(200)


def test_no_history_or_an_empty_image_gives_no_prior(alice, make_export):
    assert expected_duration(30 * GIB, quick=False, file_format="qcow2") is None
    past(make_export, alice, 10, 100)  # no line: the median rate, and 0 bytes take 0 s
    assert expected_duration(0, quick=False, file_format="qcow2") is None
    for gib, seconds in ((10, 20), (20, 40), (40, 80)):  # a line with no fixed part
        past(make_export, alice, gib, seconds, file_format="vmdk")
    assert expected_duration(0, quick=False, file_format="vmdk") is None


def test_while_no_line_can_be_fitted_the_time_left_comes_from_past_throughput(alice, make_export):
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
    assert progress_of(export).time_left == "estimating…"


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
    assert progress.time_left == ""
    assert [state for _, state in progress.phases] == ["done"] * 4 + ["current"]


def test_a_round_of_polls_asks_the_cache_for_the_prior_once_per_kind_of_export(
    alice, make_export, monkeypatch
):
    for gib, seconds in ((10, 110), (20, 160), (40, 260)):
        past(make_export, alice, gib, seconds)
    asked: list[str] = []
    get = cache.get
    monkeypatch.setattr(cache, "get", lambda key, *args: asked.append(key) or get(key, *args))
    priors: Priors = {}
    for gib in (10, 30, 50):  # three polls of one round, of exports alike
        assert expected_duration(gib * GIB, quick=False, file_format="qcow2", priors=priors)
    expected_duration(30 * GIB, quick=False, file_format="vmdk", priors=priors)  # no line
    assert len(asked) == 3  # the qcow2 line, then the vmdk line and its fallback rate
    expected_duration(30 * GIB, quick=False, file_format="qcow2")  # outside a round
    assert len(asked) == 4
