"""What the client tells its observers of each exchange, the X-Request-Id it sends, and its
unauthenticated reachability probe, against the simulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ims_portal.cloud import AkSkAuth, Client, ConnectionFailed, ServerError
from ims_portal.cloud.transport import Exchange, observe
from ims_portal.simulator import seed

from .conftest import AKSK, ims_requests, wait_for_job
from .test_client_faults import dead_url

CORRELATION = "req-0123456789abcdef"


@pytest.fixture
def exchanges() -> Iterator[list[Exchange]]:
    seen: list[Exchange] = []
    stop = observe(seen.append)
    yield seen
    stop()


def test_each_exchange_is_told_by_route_without_ids_and_by_status_code(new_client, mode, exchanges):
    client = new_client(mode)
    job_id = client.export_image(seed.SMALL_CENTOS, "ims-exports:obs.qcow2", "qcow2")
    wait_for_job(client, job_id)

    routes = {(e.method, e.route, e.code) for e in exchanges}
    assert ("POST", "/v1/cloudimages/{image_id}/file", "200") in routes
    assert ("GET", "/v1/cloudimages/job/{job_id}", "200") in routes
    if mode != AKSK:
        assert ("POST", "/v3/auth/tokens", "201") in routes
    # No id of an image or a job ever becomes a label.
    assert not any(seed.SMALL_CENTOS in e.route or job_id in e.route for e in exchanges)
    assert all(e.seconds >= 0 for e in exchanges)


def test_an_error_answer_and_a_refused_connection_are_told_too(sim, new_client, exchanges):
    sim.control.fault(status=503, count=10, paths="/v2/cloudimages")
    with pytest.raises(ServerError):
        list(new_client(AKSK, retries=1).list_images())
    assert [e.code for e in exchanges if e.route == "/v2/cloudimages"] == ["503", "503"]

    exchanges.clear()
    dead = Client(dead_url(), sim.project_id, AkSkAuth(sim.ak, sim.sk, sim.project_id), retries=0)
    with pytest.raises(ConnectionFailed):
        dead.get_image(seed.SMALL_CENTOS)
    assert [(e.route, e.code) for e in exchanges] == [("/v2/cloudimages", "ConnectionFailed")]


def test_an_observer_that_fails_never_fails_the_call(new_client, exchanges):
    def broken(exchange: Exchange) -> None:
        raise RuntimeError("a bug in a metrics library")

    stop = observe(broken)
    try:
        image = new_client(AKSK).get_image(seed.SMALL_CENTOS)
    finally:
        stop()
    assert image.id == seed.SMALL_CENTOS
    assert exchanges  # the other observer still heard of it


def test_the_callers_request_id_is_sent_on_every_call_and_signed_requests_still_pass(
    sim, new_client, mode
):
    client = new_client(mode, request_id=lambda: CORRELATION)
    job_id = client.export_image(seed.SMALL_CENTOS, "ims-exports:rid.qcow2", "qcow2")
    client.get_job(job_id)

    logged = ims_requests(sim)
    ims_calls = [r for r in logged if r["path"] != "/v3/auth/tokens"]
    assert {r["status"] for r in ims_calls} <= {200, 201, 202}
    assert [r["client_request_id"] for r in ims_calls] == [CORRELATION] * len(ims_calls)
    # The cloud's own id of each answer stays its own.
    assert all(r["request_id"] != CORRELATION for r in ims_calls)


def test_no_request_id_is_sent_when_the_caller_has_none(sim, new_client):
    new_client(AKSK, request_id=lambda: "").get_image(seed.SMALL_CENTOS)
    new_client(AKSK).get_image(seed.SMALL_CENTOS)
    assert [r["client_request_id"] for r in ims_requests(sim)] == ["", ""]


def test_reach_needs_no_credentials_and_says_why_it_failed(sim, new_client):
    before = len(ims_requests(sim))
    assert 0 <= new_client(AKSK).reach(timeout=2.0) < 2.0
    # Nothing authenticated was asked of the cloud (the root is no API call it logs as one).
    assert all(r["auth"] is None for r in ims_requests(sim)[before:])

    dead = Client(dead_url(), sim.project_id, AkSkAuth(sim.ak, sim.sk, sim.project_id))
    with pytest.raises(ConnectionFailed):
        dead.reach(timeout=1.0)
