"""POST /v1/cloudimages/{image_id}/file: every export rule, with its documented code."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from ims_portal.simulator import seed

GOOD_URL = "ims-exports:new-export.qcow2"


def assert_ims_error(response, status, code):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_an_allowed_export_answers_200_with_a_32_hex_job_id(ims):
    response = ims.export(seed.SMALL_CENTOS)

    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response.json()["job_id"])


@pytest.mark.parametrize(
    ("image_id", "body_changes", "code"),
    [
        pytest.param(seed.SMALL_CENTOS, {"bucket_url": ":file.qcow2"}, "IMG.0068", id="empty bucket"),
        pytest.param(seed.SMALL_CENTOS, {"bucket_url": "ims-exports:"}, "IMG.0073", id="empty file"),
        pytest.param(seed.SMALL_CENTOS, {"bucket_url": "ims-exports"}, "IMG.0073", id="no colon"),
        pytest.param(seed.SMALL_CENTOS, {"bucket_url": "Bad_Bucket:f.qcow2"}, "IMG.0109", id="bucket chars"),
        pytest.param(seed.SMALL_CENTOS, {"bucket_url": "192.168.1.1:f.qcow2"}, "IMG.0109", id="ip bucket"),
        pytest.param(seed.SMALL_CENTOS, {"bucket_url": "ims-exports:/f.qcow2"}, "IMG.0075", id="leading slash"),
        pytest.param(seed.SMALL_CENTOS, {"file_format": "raw"}, "IMG.0072", id="unknown format"),
        pytest.param(seed.SMALL_CENTOS, {"file_format": None}, "IMG.0001", id="no format"),
        pytest.param(seed.SMALL_CENTOS, {"is_quick_export": True}, "IMG.0001", id="format with fast export"),
        pytest.param(seed.GOLD_CENTOS_7, {}, "IMG.0077", id="public image"),
        pytest.param(seed.FULL_ECS, {}, "IMG.0128", id="full-ECS image"),
        pytest.param(seed.ISO, {}, "IMG.0071", id="ISO image"),
        pytest.param(seed.WINDOWS_DERIVED, {}, "IMG.0071", id="from Windows"),
        pytest.param(seed.SUSE_DERIVED, {}, "IMG.0071", id="from SUSE"),
        pytest.param(seed.HUGE_1500G, {"file_format": None, "is_quick_export": True}, "IMG.0071", id="1 TB or more"),
        pytest.param(seed.LARGE_200G, {}, "IMG.0160", id="200 GB without fast export"),
        pytest.param(seed.EXACTLY_128G, {}, "IMG.0160", id="exactly 128 GB without fast export"),
        pytest.param(seed.ENCRYPTED, {"file_format": None, "is_quick_export": True}, "IMG.0071", id="encrypted fast"),
        pytest.param(seed.SMALL_CENTOS, {"bucket_url": "archive-class-bucket:f.qcow2"}, "IMG.0069", id="archive bucket"),
        pytest.param(seed.SMALL_CENTOS, {"bucket_url": "other-region-bucket:f.qcow2"}, "IMG.0069", id="other region"),
        pytest.param(seed.SMALL_CENTOS, {"bucket_url": "ims-exports:existing.qcow2"}, "IMG.0070", id="object exists"),
    ],
)  # fmt: skip
def test_a_broken_rule_is_refused_with_its_code(ims, image_id, body_changes, code):
    body = {"bucket_url": GOOD_URL, "file_format": "qcow2", **body_changes}
    body = {key: value for key, value in body.items() if value is not None}

    response = ims.post(f"/v1/cloudimages/{image_id}/file", body)

    assert_ims_error(response, 400, code)


@pytest.mark.parametrize(
    ("image_id", "quick"),
    [
        pytest.param(seed.LARGE_200G, True, id="200 GB with fast export"),
        pytest.param(seed.EXACTLY_128G, True, id="128 GB with fast export"),
        pytest.param(seed.JUST_UNDER_128G, False, id="120 GB normally"),
        pytest.param(seed.ENCRYPTED, False, id="encrypted normally"),
        pytest.param(seed.SMALL_ORACLE, False, id="Oracle Linux origin on the default policy"),
        pytest.param(seed.DATA_DISK, False, id="data disk image"),
    ],
)
def test_images_at_the_edges_of_the_rules_are_accepted(ims, image_id, quick):
    response = ims.export(image_id, file_format=None if quick else "vmdk", quick=quick)

    assert response.status_code == 200, response.text


def test_an_unknown_image_is_a_404(ims):
    response = ims.export("00000000-1111-2222-3333-444444444444")

    assert_ims_error(response, 404, "IMG.0027")


def test_malformed_json_is_refused(ims):
    response = ims.post(f"/v1/cloudimages/{seed.SMALL_CENTOS}/file", raw=b'{"bucket_url": ')

    assert_ims_error(response, 400, "IMG.0001")


def test_wrongly_typed_fields_are_refused(ims):
    response = ims.post(
        f"/v1/cloudimages/{seed.SMALL_CENTOS}/file",
        {"bucket_url": GOOD_URL, "file_format": "qcow2", "is_quick_export": "yes"},
    )

    assert_ims_error(response, 400, "IMG.0001")


def test_an_image_already_being_exported_is_refused(ims, sim):
    sim.control.configure(speed=1)  # keep the first job running for a good while
    ims.start_export(seed.SMALL_CENTOS)

    response = ims.export(seed.SMALL_CENTOS, bucket_url="ims-exports:second.qcow2")

    assert_ims_error(response, 400, "IMG.0148")


def test_a_running_export_reserves_its_object_name(ims, sim):
    sim.control.configure(speed=1)
    ims.start_export(seed.SMALL_CENTOS, bucket_url="ims-exports:shared.qcow2")

    response = ims.export(seed.SMALL_UBUNTU, bucket_url="ims-exports:shared.qcow2")

    assert_ims_error(response, 400, "IMG.0070")


def test_a_finished_export_leaves_its_object_so_the_same_name_is_refused_next_time(ims, sim):
    job_id = ims.start_export(seed.SMALL_CENTOS, bucket_url="ims-exports:done.qcow2")
    assert ims.wait_until_finished(job_id)["status"] == "SUCCESS"

    response = ims.export(seed.SMALL_CENTOS, bucket_url="ims-exports:done.qcow2")

    assert_ims_error(response, 400, "IMG.0070")
    assert "done.qcow2" in sim.control.objects()["ims-exports"]


def test_the_image_can_be_exported_again_once_its_job_has_ended(ims):
    job_id = ims.start_export(seed.SMALL_CENTOS)
    ims.wait_until_finished(job_id)

    assert ims.export(seed.SMALL_CENTOS, bucket_url="ims-exports:again.qcow2").status_code == 200


def test_the_refused_platforms_follow_the_configured_policy(ims, sim):
    sim.control.configure(refused_platforms=["Windows", "SUSE", "Ubuntu"])

    assert_ims_error(ims.export(seed.SMALL_UBUNTU), 400, "IMG.0071")


def test_a_refused_export_starts_no_job(ims, sim):
    ims.export(seed.FULL_ECS)

    assert sim.control.jobs() == []


def test_simultaneous_exports_of_one_image_start_exactly_one_job(ims, sim):
    sim.control.configure(speed=1)
    targets = [f"ims-exports:race-{n}.qcow2" for n in range(8)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(lambda url: ims.export(seed.SMALL_CENTOS, bucket_url=url), targets)
        )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [400] * 7
    assert len(sim.control.jobs()) == 1
