"""Every IMS call needs a valid token or a valid AK/SK signature."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import requests

from ims_portal.cloud import signing
from ims_portal.simulator import seed
from tests.simulator.conftest import TIMEOUT, get_token, signed_request


def assert_gateway_401(response, code="APIGW.0301"):
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error_code"] == code
    assert body["error_msg"]
    assert body["request_id"] == response.headers["X-Request-Id"]


def test_a_call_without_credentials_is_refused(sim):
    assert_gateway_401(requests.get(f"{sim.url}/v2/cloudimages", timeout=TIMEOUT))


def test_an_unknown_token_is_refused(sim):
    response = requests.get(
        f"{sim.url}/v2/cloudimages", headers={"X-Auth-Token": "MIInot-a-token"}, timeout=TIMEOUT
    )

    assert_gateway_401(response)


def test_a_valid_token_is_accepted(ims):
    assert ims.get("/v2/cloudimages", limit=1).status_code == 200


def test_expired_tokens_are_refused_until_a_new_one_is_fetched(ims, sim):
    assert sim.control.expire_tokens() == 1

    assert_gateway_401(ims.get("/v2/cloudimages", limit=1), code="APIGW.0307")
    ims.token = get_token(sim)
    assert ims.get("/v2/cloudimages", limit=1).status_code == 200


def test_a_token_expires_by_itself_after_its_ttl(sim):
    sim.control.configure(token_ttl=0.2)
    token = get_token(sim)
    headers = {"X-Auth-Token": token}

    assert requests.get(f"{sim.url}/v2/cloudimages?limit=1", headers=headers, timeout=TIMEOUT).ok
    time.sleep(0.3)
    response = requests.get(f"{sim.url}/v2/cloudimages?limit=1", headers=headers, timeout=TIMEOUT)
    assert_gateway_401(response, code="APIGW.0307")


def test_an_aksk_signed_listing_is_accepted(sim):
    response = signed_request(
        sim, "GET", "/v2/cloudimages", params={"limit": 2, "name": "rescue-toolkit-iso"}
    )

    assert response.status_code == 200, response.text
    assert [image["id"] for image in response.json()["images"]] == [seed.ISO]


def test_an_aksk_signed_export_and_job_query_are_accepted(sim):
    export = signed_request(
        sim,
        "POST",
        f"/v1/cloudimages/{seed.SMALL_CENTOS}/file",
        body={"bucket_url": "ims-exports:signed.qcow2", "file_format": "qcow2"},
    )
    assert export.status_code == 200, export.text

    job_id = export.json()["job_id"]
    assert signed_request(sim, "GET", f"/v1/{sim.project_id}/jobs/{job_id}").status_code == 200
    assert signed_request(sim, "GET", f"/v1/cloudimages/job/{job_id}").status_code == 200
    assert sim.control.requests(method="POST")[0]["auth"] == "aksk"


def test_a_signature_made_with_the_wrong_secret_key_is_refused(sim):
    assert_gateway_401(signed_request(sim, "GET", "/v2/cloudimages", sk="not-the-secret"))


def test_an_unknown_access_key_is_refused(sim):
    assert_gateway_401(signed_request(sim, "GET", "/v2/cloudimages", ak="UNKNOWNAK000000000000"))


def test_a_body_changed_after_signing_is_refused(sim):
    response = signed_request(
        sim,
        "POST",
        f"/v1/cloudimages/{seed.SMALL_CENTOS}/file",
        body={"bucket_url": "ims-exports:a.qcow2", "file_format": "qcow2"},
        tamper=b'{"bucket_url": "ims-exports:b.qcow2", "file_format": "qcow2"}',
    )

    assert_gateway_401(response)
    assert sim.control.jobs() == []


def test_a_signature_dated_more_than_15_minutes_ago_is_refused(sim):
    stale = datetime.now(UTC) - timedelta(minutes=16)

    assert_gateway_401(signed_request(sim, "GET", "/v2/cloudimages", when=stale))


def test_a_signature_dated_a_few_minutes_off_is_still_accepted(sim):
    skewed = datetime.now(UTC) - timedelta(minutes=5)

    assert signed_request(sim, "GET", "/v2/cloudimages", params={"limit": 1}, when=skewed).ok


def test_a_garbled_authorization_header_is_refused(sim):
    response = requests.get(
        f"{sim.url}/v2/cloudimages",
        headers={"Authorization": "SDK-HMAC-SHA256 nonsense", "X-Sdk-Date": "20240101T000000Z"},
        timeout=TIMEOUT,
    )

    assert_gateway_401(response)


def test_another_projects_id_in_x_project_id_is_refused(sim):
    assert_gateway_401(signed_request(sim, "GET", "/v2/cloudimages", project_id="0" * 32))


def test_every_response_carries_a_request_id(sim, ims):
    responses = [
        requests.get(f"{sim.url}/v2/cloudimages", timeout=TIMEOUT),
        ims.get("/v2/cloudimages", limit=1),
        ims.export(seed.FULL_ECS),
        requests.get(f"{sim.url}/nowhere", timeout=TIMEOUT),
        requests.get(f"{sim.url}/_sim/health", timeout=TIMEOUT),
    ]

    ids = [response.headers["X-Request-Id"] for response in responses]
    assert len(set(ids)) == len(ids)
    assert all(len(request_id) == 32 for request_id in ids)


def test_the_v2_1_export_call_is_served_with_a_token(ims, sim):
    response = ims.post(
        f"/v2.1/cloudimages/{seed.SMALL_CENTOS}/file",
        {"bucket_url": "ims-exports:v21-token.qcow2", "file_format": "qcow2"},
    )

    assert response.status_code == 200, response.text
    assert ims.wait_until_finished(response.json()["job_id"])["status"] == "SUCCESS"
    [post] = sim.control.requests(method="POST", path_contains="/file")
    assert post["path"] == f"/v2.1/cloudimages/{seed.SMALL_CENTOS}/file"
    assert post["auth"] == "token"


def test_the_v2_1_export_call_is_served_with_an_aksk_signature(sim):
    response = signed_request(
        sim,
        "POST",
        f"/v2.1/cloudimages/{seed.SMALL_CENTOS}/file",
        body={"bucket_url": "ims-exports:v21-signed.qcow2", "file_format": "qcow2"},
    )

    assert response.status_code == 200, response.text
    [post] = sim.control.requests(method="POST", path_contains="/file")
    assert post["path"] == f"/v2.1/cloudimages/{seed.SMALL_CENTOS}/file"
    assert post["auth"] == "aksk"


def test_a_signature_for_the_v1_path_does_not_open_the_v2_1_path(sim):
    v1_url = f"{sim.url}/v1/cloudimages/{seed.SMALL_CENTOS}/file"
    payload = b'{"bucket_url": "ims-exports:moved.qcow2", "file_format": "qcow2"}'
    headers = {"Content-Type": "application/json", "X-Project-Id": sim.project_id}
    headers.update(signing.sign("POST", v1_url, headers, payload, sim.ak, sim.sk))

    response = requests.post(
        v1_url.replace("/v1/", "/v2.1/"), data=payload, headers=headers, timeout=TIMEOUT
    )

    assert_gateway_401(response)
    assert sim.control.jobs() == []
