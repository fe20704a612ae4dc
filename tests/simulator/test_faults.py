"""Injected faults: error bursts, throttling, latency, and their filters."""

from __future__ import annotations

import time

import pytest
import requests

from ims_portal.simulator import seed
from tests.simulator.conftest import TIMEOUT, token_request


def list_once(ims):
    return ims.get("/v2/cloudimages", limit=1)


def test_a_503_burst_answers_the_next_n_calls_then_stops(ims, sim):
    sim.control.fault(status=503, count=3)

    statuses = [list_once(ims).status_code for _ in range(4)]

    assert statuses == [503, 503, 503, 200]
    assert sim.control.faults() == []


def test_a_503_from_ims_uses_the_ims_error_shape(ims, sim):
    sim.control.fault(status=503, count=1)

    body = list_once(ims).json()

    assert body["error"]["code"].startswith("IMG.")


def test_throttling_answers_429_in_gateway_shape_with_retry_after(ims, sim):
    sim.control.fault(status=429, count=2, retry_after=1)

    first, second, third = (list_once(ims) for _ in range(3))

    for response in (first, second):
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error_code"] == "APIGW.0308"
        assert response.json()["request_id"] == response.headers["X-Request-Id"]
    assert third.status_code == 200


@pytest.mark.parametrize(("status", "code"), [(502, "APIGW.0202"), (504, "APIGW.0203")])
def test_gateway_errors_use_the_gateway_shape(ims, sim, status, code):
    sim.control.fault(status=status, count=1)

    response = list_once(ims)

    assert response.status_code == status
    assert response.json()["error_code"] == code


def test_a_fault_can_target_only_post_requests(ims, sim):
    sim.control.fault(status=500, methods="POST")

    assert list_once(ims).status_code == 200
    response = ims.export(seed.SMALL_CENTOS)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "IMG.0061"
    assert sim.control.jobs() == []


def test_a_fault_can_target_only_some_paths(ims, sim):
    sim.control.fault(status=503, paths=r"/jobs/")
    job_id = ims.start_export(seed.SMALL_CENTOS)

    assert ims.status(job_id).status_code == 503
    assert ims.progress(job_id).status_code == 200


def test_a_fault_on_the_token_api_answers_in_iams_shape(sim):
    sim.control.fault(status=503, count=1, paths="^/v3/")

    response = requests.post(f"{sim.url}/v3/auth/tokens", json=token_request(sim), timeout=TIMEOUT)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == 503


def test_latency_delays_every_matching_request(ims, sim):
    sim.control.fault(latency=0.3)

    started = time.monotonic()
    response = list_once(ims)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_latency_longer_than_the_clients_timeout_makes_it_time_out(ims, sim):
    sim.control.fault(latency=0.5, count=1)

    with pytest.raises(requests.Timeout):
        requests.get(f"{sim.url}/v2/cloudimages", headers={"X-Auth-Token": ims.token}, timeout=0.1)
    # The simulator still answers (and logs) the request late; wait, so that the entry
    # cannot land in the next test's log.
    deadline = time.monotonic() + 3
    while not sim.control.requests("GET", "/v2/cloudimages") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.control.requests("GET", "/v2/cloudimages")


def test_a_dropped_connection_acts_on_the_request_and_never_answers(ims, sim):
    sim.control.fault(drop=True, count=1, methods="POST", paths="/file$")
    with pytest.raises(requests.ConnectionError):
        requests.post(
            f"{sim.url}/v1/cloudimages/{seed.SMALL_CENTOS}/file",
            headers={"X-Auth-Token": ims.token},
            json={"bucket_url": "ims-exports:dropped.qcow2", "file_format": "qcow2"},
            timeout=TIMEOUT,
        )
    # The cloud took it up: the job runs, and the log has the answer that was never sent.
    assert len(sim.control.jobs()) == 1
    assert [r["status"] for r in sim.control.requests("POST", "/file")] == [200]
    assert sim.control.faults() == []  # spent


def test_clearing_faults_restores_normal_answers(ims, sim):
    sim.control.fault(status=503)
    sim.control.clear_faults()

    assert list_once(ims).status_code == 200


def test_stacked_bursts_play_one_after_the_other(ims, sim):
    sim.control.fault(status=503, count=1)
    sim.control.fault(status=429, count=1)

    statuses = [list_once(ims).status_code for _ in range(3)]

    assert statuses == [503, 429, 200]


def test_faulted_requests_are_logged_too(ims, sim):
    sim.control.fault(status=503, count=1, methods="POST")

    ims.export(seed.SMALL_CENTOS)
    ims.export(seed.SMALL_CENTOS)

    posts = sim.control.requests(method="POST", path_contains="/file")
    assert [entry["status"] for entry in posts] == [503, 200]


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"status": 200},
        {"status": 503, "count": 0},
        {"latency": -1},
        {"paths": "("},
        {"colour": 1},
        {"drop": "yes"},
        {"drop": True, "status": 503},
    ],
)
def test_a_malformed_fault_is_refused(sim, spec):
    response = requests.post(f"{sim.url}/_sim/faults", json=spec, timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json()["error"]
