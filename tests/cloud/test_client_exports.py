"""Exporting against the simulator: request bodies, jobs to the end, and every refusal."""

from __future__ import annotations

import pytest

from ims_portal.cloud import Client, NotFound, RequestRejected, explain
from ims_portal.simulator import seed

from .conftest import ims_requests, wait_for_job


def test_a_normal_export_runs_to_success(sim, client: Client, mode):
    job_id = client.export_image(seed.SMALL_CENTOS, "ims-exports:web.qcow2", "qcow2")

    job = wait_for_job(client, job_id)

    assert job.id == job_id
    assert job.status == "SUCCESS"
    assert job.job_type == "imsNativeExportImageJob"
    assert job.progress == 1.0
    assert "web.qcow2" in sim.control.objects()["ims-exports"]
    [post] = ims_requests(sim, "POST", "/file")
    assert post["auth"] == mode
    assert post["body"] == {
        "bucket_url": "ims-exports:web.qcow2",
        "file_format": "qcow2",
        "is_quick_export": False,
    }


def test_a_fast_export_sends_no_file_format_at_all(sim, client: Client):
    sim.control.configure(speed=1000)  # a 200 GB image; no need to watch it crawl
    job_id = client.export_image(seed.LARGE_200G, "ims-exports:erp.zvhd2", quick=True)

    assert wait_for_job(client, job_id).status == "SUCCESS"
    [post] = ims_requests(sim, "POST", "/file")
    assert post["body"] == {"bucket_url": "ims-exports:erp.zvhd2", "is_quick_export": True}


def test_a_failing_image_ends_in_fail_with_its_code(client: Client):
    job_id = client.export_image(seed.FAILS_DURING_EXPORT, "ims-exports:legacy.qcow2", "qcow2")

    job = wait_for_job(client, job_id)

    assert job.status == "FAIL"
    assert job.error_code == "IMG.0014"
    assert job.fail_reason
    assert job.end_time is not None


REJECTIONS = [
    # (image, bucket_url, file_format, quick, IMS code)
    pytest.param(seed.GOLD_CENTOS_7, "ims-exports:a.qcow2", "qcow2", False, "IMG.0077", id="public"),
    pytest.param(seed.FULL_ECS, "ims-exports:a.qcow2", "qcow2", False, "IMG.0128", id="full-ecs"),
    pytest.param(seed.ISO, "ims-exports:a.qcow2", "qcow2", False, "IMG.0071", id="iso"),
    pytest.param(seed.WINDOWS_DERIVED, "ims-exports:a.vhd", "vhd", False, "IMG.0071", id="windows"),
    pytest.param(seed.SUSE_DERIVED, "ims-exports:a.qcow2", "qcow2", False, "IMG.0071", id="suse"),
    pytest.param(seed.HUGE_1500G, "ims-exports:a", None, True, "IMG.0071", id="1tb-or-more"),
    pytest.param(seed.LARGE_200G, "ims-exports:a.qcow2", "qcow2", False, "IMG.0160", id="200g-normal"),
    pytest.param(seed.EXACTLY_128G, "ims-exports:a.vmdk", "vmdk", False, "IMG.0160", id="128g-normal"),
    pytest.param(seed.ENCRYPTED, "ims-exports:a", None, True, "IMG.0071", id="encrypted-fast"),
    pytest.param(seed.SMALL_CENTOS, "ims-exports:a", "qcow2", True, "IMG.0001", id="fast-with-format"),
    pytest.param(seed.SMALL_CENTOS, "ims-exports:a", None, False, "IMG.0001", id="normal-no-format"),
    pytest.param(seed.SMALL_CENTOS, "ims-exports:a.raw", "raw", False, "IMG.0072", id="bad-format"),
    pytest.param(seed.SMALL_CENTOS, ":a.qcow2", "qcow2", False, "IMG.0068", id="no-bucket"),
    pytest.param(seed.SMALL_CENTOS, "Bad_Bucket:a.qcow2", "qcow2", False, "IMG.0109", id="bucket-chars"),
    pytest.param(seed.SMALL_CENTOS, "192.168.1.10:a.qcow2", "qcow2", False, "IMG.0109", id="bucket-ip"),
    pytest.param(seed.SMALL_CENTOS, "ims-exports:", "qcow2", False, "IMG.0073", id="no-file"),
    pytest.param(seed.SMALL_CENTOS, "ims-exports:/a.qcow2", "qcow2", False, "IMG.0075", id="file-slash"),
    pytest.param(seed.SMALL_CENTOS, "ims-exports:" + "x" * 1025, "qcow2", False, "IMG.0074", id="file-long"),
    pytest.param(seed.SMALL_CENTOS, "archive-class-bucket:a.qcow2", "qcow2", False, "IMG.0069", id="archive-bucket"),
    pytest.param(seed.SMALL_CENTOS, "ims-exports:existing.qcow2", "qcow2", False, "IMG.0070", id="object-exists"),
]  # fmt: skip


@pytest.mark.parametrize(("image_id", "bucket_url", "file_format", "quick", "code"), REJECTIONS)
def test_each_rule_is_refused_with_its_ims_code(
    sim, client: Client, image_id, bucket_url, file_format, quick, code
):
    with pytest.raises(RequestRejected) as caught:
        client.export_image(image_id, bucket_url, file_format, quick=quick)

    error = caught.value
    assert error.status == 400
    assert error.code == code
    assert error.message
    assert error.request_id
    assert not error.retryable
    assert not error.outcome_unknown
    assert error.explanation == explain(code)
    assert sim.control.jobs() == []
    assert len(ims_requests(sim, "POST", "/file")) == 1  # refused once, never repeated


def test_an_image_already_being_exported_is_refused(sim, client: Client):
    sim.control.configure(speed=1.0)  # keep the first export running
    client.export_image(seed.SMALL_UBUNTU, "ims-exports:one.qcow2", "qcow2")

    with pytest.raises(RequestRejected) as caught:
        client.export_image(seed.SMALL_UBUNTU, "ims-exports:two.qcow2", "qcow2")

    assert caught.value.code == "IMG.0148"
    assert len(sim.control.jobs()) == 1


def test_an_unknown_image_is_not_found(client: Client):
    with pytest.raises(NotFound) as caught:
        client.export_image("00000000-0000-0000-0000-000000000000", "ims-exports:a", "qcow2")
    assert caught.value.code == "IMG.0027"
    assert not caught.value.outcome_unknown


def test_an_image_id_cannot_change_the_path(sim, client: Client):
    with pytest.raises(NotFound):
        client.export_image("../../v3/auth/tokens", "ims-exports:a", "qcow2")
    [post] = ims_requests(sim, "POST", "/file")
    assert post["path"] == "/v1/cloudimages/..%2F..%2Fv3%2Fauth%2Ftokens/file"


def test_the_v1_export_call_is_the_default(sim, client: Client):
    client.export_image(seed.SMALL_CENTOS, "ims-exports:v1.qcow2", "qcow2")

    [post] = ims_requests(sim, "POST", "/file")
    assert post["path"] == f"/v1/cloudimages/{seed.SMALL_CENTOS}/file"


def test_the_v2_1_export_call_runs_to_success(sim, new_client, mode):
    client = new_client(mode, export_api_version="v2.1")

    job_id = client.export_image(seed.SMALL_CENTOS, "ims-exports:v21.qcow2", "qcow2")
    job = wait_for_job(client, job_id)

    assert job.status == "SUCCESS"
    assert "v21.qcow2" in sim.control.objects()["ims-exports"]
    [post] = ims_requests(sim, "POST", "/file")
    # The simulator authenticated the call (token, or an AK/SK signature over this path).
    assert post["path"] == f"/v2.1/cloudimages/{seed.SMALL_CENTOS}/file"
    assert post["status"] == 200
    assert post["auth"] == mode
    assert post["body"] == {
        "bucket_url": "ims-exports:v21.qcow2",
        "file_format": "qcow2",
        "is_quick_export": False,
    }


def test_the_v2_1_export_call_is_refused_like_v1(sim, new_client, mode):
    client = new_client(mode, export_api_version="v2.1")

    with pytest.raises(RequestRejected) as caught:
        client.export_image(seed.SMALL_CENTOS, "ims-exports:existing.qcow2", "qcow2")

    assert caught.value.code == "IMG.0070"
    assert caught.value.path == f"/v2.1/cloudimages/{seed.SMALL_CENTOS}/file"
    assert sim.control.jobs() == []
