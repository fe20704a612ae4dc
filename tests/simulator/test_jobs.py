"""Export jobs: the status call, the progress call, and how jobs move through time."""

from __future__ import annotations

import re

import pytest

from ims_portal.simulator import seed
from ims_portal.simulator.jobs import ExportJob, export_duration

GIB = 1024**3
JOB_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


# --- over HTTP ---------------------------------------------------------------------------


def test_a_job_ends_in_success_with_begin_and_end_times(ims):
    job_id = ims.start_export(seed.SMALL_CENTOS)

    job = ims.wait_until_finished(job_id)

    assert job["status"] == "SUCCESS"
    assert job["job_id"] == job_id
    assert job["job_type"] == "imsNativeExportImageJob"
    assert JOB_TIME.fullmatch(job["begin_time"])
    assert JOB_TIME.fullmatch(job["end_time"])
    assert job["end_time"] > job["begin_time"]
    assert job["error_code"] is None
    assert job["fail_reason"] is None
    assert job["entities"] == {
        "image_id": seed.SMALL_CENTOS,
        "image_name": "web-frontend-centos7-2025-01",
    }


def test_a_fresh_job_is_init_or_running_and_has_no_end_time(ims, sim):
    sim.control.configure(speed=1)
    job_id = ims.start_export(seed.SMALL_CENTOS)

    job = ims.status(job_id).json()

    assert job["status"] in ("INIT", "RUNNING")
    assert job["end_time"] is None


def test_the_progress_call_adds_a_fraction_and_the_current_step(ims):
    job_id = ims.start_export(seed.SMALL_CENTOS)
    ims.wait_until_finished(job_id)

    body = ims.progress(job_id).json()

    assert body["status"] == "SUCCESS"
    assert body["entities"]["process_percent"] == 1
    assert body["entities"]["current_task"]
    assert body["entities"]["image_id"] == seed.SMALL_CENTOS


def test_an_image_seeded_to_fail_ends_in_fail_with_a_code_and_reason(ims):
    job_id = ims.start_export(seed.FAILS_DURING_EXPORT)

    job = ims.wait_until_finished(job_id)

    assert job["status"] == "FAIL"
    assert job["error_code"] == "IMG.0014"
    assert job["fail_reason"]
    assert job["end_time"]


def test_a_failed_export_writes_no_object(ims, sim):
    ims.wait_until_finished(ims.start_export(seed.FAILS_DURING_EXPORT))

    assert "new-export.qcow2" not in sim.control.objects()["ims-exports"]


def test_with_the_progress_call_switched_off_it_answers_like_an_unknown_path(ims, sim):
    job_id = ims.start_export(seed.SMALL_CENTOS)
    sim.control.configure(progress_api=False)

    response = ims.progress(job_id)

    assert response.status_code == 404
    assert response.json()["error_code"] == "APIGW.0101"
    assert ims.status(job_id).status_code == 200


def test_an_unknown_job_is_a_404_in_ims_shape_on_both_calls(ims):
    for response in (ims.status("f" * 32), ims.progress("f" * 32)):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "IMG.0023"


def test_the_status_call_refuses_another_projects_path(ims):
    job_id = ims.start_export(seed.SMALL_CENTOS)

    response = ims.get(f"/v1/{'0' * 32}/jobs/{job_id}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "IMG.0030"


# --- timing, with a hand-wound clock ------------------------------------------------------


def make_job(size_gib=6.0, quick=False, failure=None, speed=1.0):
    return ExportJob(
        id="a" * 32,
        image_id=seed.SMALL_CENTOS,
        image_name="web-frontend-centos7-2025-01",
        bucket="ims-exports",
        object_name="x.qcow2",
        file_format="zvhd2" if quick else "qcow2",
        quick=quick,
        begin=1000.0,
        duration=export_duration(int(size_gib * GIB), quick, speed),
        failure=failure,
    )


def test_a_job_goes_init_then_running_with_rising_progress_then_success():
    job = make_job()
    times = [1000 + job.duration * share for share in (0, 0.05, 0.2, 0.4, 0.7, 0.9, 0.99, 1.0)]

    snapshots = [job.at(moment) for moment in times]

    statuses = [snap.status for snap in snapshots]
    assert statuses == ["INIT", "INIT", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "SUCCESS"]  # fmt: skip
    fractions = [snap.fraction for snap in snapshots]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert max(fractions[:-1]) < 1.0
    assert len({snap.step for snap in snapshots}) >= 4


def test_a_small_image_takes_20_to_40_seconds_at_speed_1_and_bigger_ones_longer():
    assert 20 <= export_duration(4 * GIB, quick=False, speed=1) <= 40
    assert 20 <= export_duration(12 * GIB, quick=False, speed=1) <= 40
    assert export_duration(120 * GIB, False, 1) > export_duration(12 * GIB, False, 1)


def test_speed_divides_the_duration():
    assert export_duration(6 * GIB, False, 50) == pytest.approx(
        export_duration(6 * GIB, False, 1) / 50
    )


def test_fast_export_is_quicker_per_gigabyte():
    assert export_duration(200 * GIB, True, 1) < export_duration(200 * GIB, False, 1)


def test_a_failing_job_stops_before_halfway_and_stays_failed():
    job = make_job(failure=("IMG.0014", "broken"))

    early, late = job.at(1000 + job.duration * 0.3), job.at(1000 + job.duration * 5)

    assert early.status == "RUNNING"
    assert late.status == "FAIL"
    assert late.end_time == pytest.approx(1000 + job.duration * 0.45)
    assert job.status_body(1000 + job.duration)["error_code"] == "IMG.0014"


def test_the_progress_body_reports_a_fraction_rounded_to_hundredths():
    job = make_job()

    body = job.progress_body(1000 + job.duration * 0.5)

    assert body["status"] == "RUNNING"
    assert 0 < body["entities"]["process_percent"] < 1
    assert body["entities"]["process_percent"] == round(body["entities"]["process_percent"], 2)
