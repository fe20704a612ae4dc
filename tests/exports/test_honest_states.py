"""What the status page says of an export in each state: the phases it passed, where it
stopped, the bar's figure and where that figure comes from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims_portal.cloud import Job
from ims_portal.cloud.models import JobStatus
from ims_portal.exports import workflow
from ims_portal.exports.models import Export, Status, Tone
from ims_portal.exports.progress import Basis, Mark, progress_of

pytestmark = pytest.mark.django_db

P, C, T, U, H = Mark.PASSED, Mark.CURRENT, Mark.TODO, Mark.UNSEEN, Mark.HALTED


def job(status: JobStatus, progress: float | None = None, **kw: str) -> Job:
    return Job(
        id="job-1",
        job_type="imsNativeExportImageJob",
        status=status,
        begin_time=None,
        end_time=None,
        error_code=kw.get("error_code", ""),
        fail_reason=kw.get("fail_reason", ""),
        progress=progress,
        current_step="",
        request_id=kw.get("request_id", ""),
    )


def walk(export: Export, *statuses: Status, **last_changes: object) -> Export:
    """Move `export` through `statuses` as the workers would; the last move carries
    `last_changes`."""
    for i, status in enumerate(statuses):
        export.transition(status, **(last_changes if i == len(statuses) - 1 else {}))
    return Export.objects.get(pk=export.pk)


def marks(export: Export) -> list[Mark]:
    return [phase.state for phase in progress_of(export).phases]


def test_the_strip_names_submitting_and_not_initializing():
    from ims_portal.exports.progress import PHASES

    assert PHASES == ("Queued", "Submitting", "Submitted", "Running", "Done")


def test_in_flight_each_phase_before_the_current_one_is_ticked_as_it_was_passed(alice, make_export):
    export = make_export(alice)
    assert marks(export) == [C, T, T, T, T]
    export = walk(export, Status.SUBMITTING)
    assert marks(export) == [P, C, T, T, T]
    export = walk(export, Status.SUBMITTED, job_id="job-1")
    assert marks(export) == [P, P, C, T, T]
    export = walk(export, Status.RUNNING)
    assert marks(export) == [P, P, P, C, T]


def test_an_export_queued_again_after_a_busy_cloud_is_not_shown_as_submitting(alice, make_export):
    export = walk(make_export(alice), Status.SUBMITTING, Status.QUEUED, error_message="busy")
    assert export.submitting_at is not None  # it did try once ...
    assert marks(export) == [C, T, T, T, T]  # ... but it is back in the queue


def test_a_succeeded_export_is_green_at_100_percent_with_every_phase_it_passed(alice, make_export):
    export = walk(
        make_export(alice),
        Status.SUBMITTING,
        Status.SUBMITTED,
        Status.RUNNING,
        Status.SUCCEEDED,
        progress=1.0,
    )
    progress = progress_of(export)
    assert export.tone == Tone.OK
    assert marks(export) == [P, P, P, P, C]
    assert (progress.percent, progress.basis, progress.show_bar) == (100, Basis.FINISHED, True)


def test_a_job_that_succeeded_before_the_portal_saw_it_run_leaves_running_unticked(
    alice, make_export
):
    export = walk(make_export(alice), Status.SUBMITTING, Status.SUBMITTED, Status.SUCCEEDED)
    assert marks(export) == [P, P, P, U, C]


def test_a_failed_export_is_red_marks_the_phase_it_failed_in_and_keeps_its_bar(alice, make_export):
    export = walk(make_export(alice), Status.SUBMITTING, Status.SUBMITTED, job_id="job-1")
    workflow.apply_job(export, job(JobStatus.RUNNING, 0.39))
    workflow.apply_job(export, job(JobStatus.FAIL, None, error_code="IMG.0014"))
    export = Export.objects.get(pk=export.pk)
    progress = progress_of(export)
    assert export.status == Status.FAILED and export.tone == Tone.ERROR
    assert marks(export) == [P, P, P, H, T]
    assert progress.halt_note == "failed here"
    assert (progress.percent, progress.basis, progress.show_bar) == (39, Basis.CLOUD, True)


def test_an_export_that_failed_at_submit_marks_submitting_and_nothing_after(alice, make_export):
    export = walk(make_export(alice), Status.SUBMITTING, Status.FAILED, error_message="down")
    assert marks(export) == [P, H, T, T, T]
    assert progress_of(export).percent is None
    assert progress_of(export).show_bar is False  # no figure ever: no bar to leave standing


def test_a_rejected_export_shows_submitting_refused_and_no_bar(alice, make_export):
    export = walk(make_export(alice), Status.SUBMITTING, Status.REJECTED, error_code="IMG.0070")
    progress = progress_of(export)
    assert export.tone == Tone.ERROR
    assert marks(export) == [P, H, T, T, T]
    assert progress.halt_note == "refused by the cloud"
    assert progress.show_bar is False and progress.percent is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((Status.SUBMITTING, Status.UNKNOWN), [P, H, T, T, T]),
        ((Status.SUBMITTING, Status.SUBMITTED, Status.RUNNING, Status.UNKNOWN), [P, P, P, H, T]),
    ],
)
def test_an_unknown_export_is_amber_at_the_phase_where_the_portal_lost_track(
    alice, make_export, path, expected
):
    export = walk(make_export(alice), *path)
    assert export.tone == Tone.WARNING
    assert marks(export) == expected
    assert progress_of(export).halt_note == "outcome unknown"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((Status.CANCELLED,), [H, T, T, T, T]),
        ((Status.SUBMITTING, Status.UNKNOWN, Status.ABANDONED), [P, H, T, T, T]),
        ((Status.SUBMITTING, Status.SUBMITTED, Status.RUNNING, Status.ABANDONED), [P, P, P, H, T]),
    ],
)
def test_a_cancelled_or_abandoned_export_is_grey_stopped_where_a_person_stopped_it(
    alice, make_export, path, expected
):
    export = walk(make_export(alice), *path)
    assert export.tone == Tone.STOPPED and export.is_stopped
    assert marks(export) == expected
    assert progress_of(export).halt_note == "stopped here"


def test_before_the_cloud_gives_a_figure_the_bar_is_indeterminate_not_guessed(alice, make_export):
    export = walk(make_export(alice), Status.SUBMITTING, Status.SUBMITTED, job_id="job-1")
    progress = progress_of(export)
    assert (progress.percent, progress.basis, progress.show_bar) == (None, Basis.NONE, True)
    assert not progress.from_cloud


def test_the_figure_is_rounded_down_so_an_unfinished_export_never_shows_100(alice, make_export):
    running = make_export(alice, status=Status.RUNNING, progress=0.999)
    assert progress_of(running).percent == 99
    assert progress_of(make_export(alice, status=Status.RUNNING, progress=0.29)).percent == 29


def test_a_lower_figure_from_the_cloud_never_lowers_the_recorded_one(alice, make_export):
    export = walk(make_export(alice), Status.SUBMITTING, Status.SUBMITTED, job_id="job-1")
    workflow.apply_job(export, job(JobStatus.INIT, 0.05))
    workflow.apply_job(export, job(JobStatus.RUNNING, 0.0))  # the job restarts its count
    assert Export.objects.get(pk=export.pk).progress == 0.05
    workflow.apply_job(export, job(JobStatus.RUNNING, None))  # the status call has none
    assert Export.objects.get(pk=export.pk).progress == 0.05


figures = st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=1, max_size=12)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(answers=st.tuples(st.booleans(), figures))
def test_whatever_the_cloud_reports_the_bar_never_moves_backwards(alice, make_export, answers):
    start_running_early, reported = answers
    export = walk(make_export(alice), Status.SUBMITTING, Status.SUBMITTED, job_id="job-1")
    shown: list[int] = []
    for i, figure in enumerate(reported):
        status = JobStatus.RUNNING if start_running_early or i > 0 else JobStatus.INIT
        workflow.apply_job(export, job(status, figure))
        export = Export.objects.get(pk=export.pk)
        percent = progress_of(export).percent
        if percent is not None:
            shown.append(percent)
        elif shown:
            pytest.fail(f"the bar lost its figure after {shown}")
        seen = [f for f in reported[: i + 1] if f is not None]
        if seen:
            assert export.progress == max(seen)  # the highest figure seen, never lowered
    workflow.apply_job(export, job(JobStatus.SUCCESS, None))
    shown.append(progress_of(Export.objects.get(pk=export.pk)).percent or 0)
    assert shown == sorted(shown), shown
    assert shown[-1] == 100


def test_the_time_after_the_last_figure_does_not_move_the_bar(alice, make_export):
    export = make_export(alice, status=Status.RUNNING, progress=0.5)
    later = progress_of(export, export.created_at + timedelta(hours=3))
    assert later.percent == 50
