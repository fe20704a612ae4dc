"""Faults: expired tokens, bursts of errors, throttling, slowness and a dead endpoint.

The rule throughout: GETs are retried when that may help, the export POST never is (apart
from the one repeat after a 401, which the cloud answers before acting), and every error
says whether the cloud may have acted.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ims_portal.cloud import (
    AkSkAuth,
    AuthenticationError,
    Client,
    ConnectionFailed,
    PermissionDenied,
    ServerError,
    Throttled,
    Timeout,
    TokenAuth,
)
from ims_portal.simulator import seed

from .conftest import AKSK, TOKEN, iam_requests, ims_requests, make_auth, wait_for_log

EXPORT = "/file"


def export(client: Client, name: str = "x.qcow2") -> str:
    return client.export_image(seed.SMALL_CENTOS, f"ims-exports:{name}", "qcow2")


# --- authentication -------------------------------------------------------------------------


def test_an_expired_token_is_renewed_once_and_the_call_repeated(sim, new_client):
    client = new_client(TOKEN)
    client.get_image(seed.SMALL_CENTOS)
    assert len(iam_requests(sim)) == 1

    sim.control.expire_tokens()
    image = client.get_image(seed.SMALL_CENTOS)

    assert image.id == seed.SMALL_CENTOS
    assert len(iam_requests(sim)) == 2  # exactly one extra token request
    statuses = [entry["status"] for entry in ims_requests(sim, "GET", "/v2/cloudimages")]
    assert statuses == [200, 401, 200]


def test_an_expired_token_during_export_is_renewed_and_the_post_repeated(sim, new_client):
    client = new_client(TOKEN)
    client.get_image(seed.SMALL_CENTOS)
    sim.control.expire_tokens()

    job_id = export(client)

    assert job_id
    assert [entry["status"] for entry in ims_requests(sim, "POST", EXPORT)] == [401, 200]
    assert len(sim.control.jobs()) == 1
    assert len(iam_requests(sim)) == 2


def test_the_token_is_reused_until_shortly_before_it_expires(sim, new_client):
    sim.control.configure(token_ttl=301)  # renewal is due 5 minutes early: after 1 s
    client = new_client(TOKEN)

    client.get_image(seed.SMALL_CENTOS)
    client.get_image(seed.SMALL_CENTOS)
    assert len(iam_requests(sim)) == 1

    time.sleep(1.1)
    client.get_image(seed.SMALL_CENTOS)
    assert len(iam_requests(sim)) == 2
    assert all(entry["status"] == 200 for entry in ims_requests(sim, "GET"))


def test_threads_share_one_token_request(sim, new_client):
    client = new_client(TOKEN)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            client.get_image(seed.SMALL_CENTOS)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(iam_requests(sim)) == 1
    assert len(ims_requests(sim, "GET")) == 8


def test_a_refused_token_twice_is_an_authentication_error(sim, new_client):
    sim.control.fault(401, paths="/v2/cloudimages")
    client = new_client(TOKEN)

    with pytest.raises(AuthenticationError) as caught:
        client.get_image(seed.SMALL_CENTOS)

    assert caught.value.code == "APIGW.0301"
    assert not caught.value.retryable
    assert len(ims_requests(sim, "GET")) == 2  # the call and its one repeat
    assert len(iam_requests(sim)) == 2


def test_a_wrong_password_fails_at_iam_without_retrying(sim, new_client):
    client = new_client(auth=make_auth(sim, TOKEN, password="wrong-password-123"))

    with pytest.raises(AuthenticationError) as caught:
        next(client.list_images())

    assert caught.value.status == 401
    assert caught.value.path == "/v3/auth/tokens"
    assert len(iam_requests(sim)) == 1
    assert ims_requests(sim, "GET") == []


def test_a_wrong_secret_key_is_refused_once(sim, new_client):
    client = new_client(auth=make_auth(sim, AKSK, sk="not-the-secret-key"))

    with pytest.raises(AuthenticationError) as caught:
        export(client)

    assert caught.value.code == "APIGW.0301"
    assert not caught.value.outcome_unknown
    assert len(ims_requests(sim, "POST", EXPORT)) == 1
    assert sim.control.jobs() == []


def test_iam_trouble_before_an_export_leaves_no_doubt(sim, new_client):
    sim.control.fault(500, count=1, paths="/v3/auth/tokens")
    client = new_client(TOKEN)

    with pytest.raises(ServerError) as caught:
        export(client)

    assert caught.value.path == "/v3/auth/tokens"
    assert not caught.value.outcome_unknown  # IMS never saw the export
    assert ims_requests(sim, "POST", EXPORT) == []


# --- retries of GETs ------------------------------------------------------------------------


def test_gets_ride_out_a_burst_of_503(sim, client: Client):
    sim.control.fault(503, count=3, paths="/v2/cloudimages")

    image = client.get_image(seed.SMALL_CENTOS)

    assert image.id == seed.SMALL_CENTOS
    statuses = [entry["status"] for entry in ims_requests(sim, "GET", "/v2/cloudimages")]
    assert statuses == [503, 503, 503, 200]


def test_gets_give_up_when_the_burst_outlasts_the_budget(sim, client: Client):
    sim.control.fault(503, count=10, paths="/v1/")
    job_id = "0123456789abcdef0123456789abcdef"

    with pytest.raises(ServerError) as caught:
        client.get_job(job_id)

    assert caught.value.retryable
    assert len(ims_requests(sim, "GET")) == 4  # 1 + client.retry_policy.retries


def test_gets_honour_retry_after(sim, client: Client):
    sim.control.fault(429, count=2, retry_after=1, paths="/v2/cloudimages")

    started = time.monotonic()
    client.get_image(seed.SMALL_CENTOS)
    elapsed = time.monotonic() - started

    assert elapsed >= 2.0  # waited as told, twice
    assert [e["status"] for e in ims_requests(sim, "GET")] == [429, 429, 200]


def test_a_retry_after_longer_than_allowed_is_handed_to_the_caller(sim, new_client):
    sim.control.fault(429, count=1, retry_after=120, paths="/v2/cloudimages")
    client = new_client(AKSK, max_retry_after=10)

    with pytest.raises(Throttled) as caught:
        client.get_image(seed.SMALL_CENTOS)

    assert caught.value.retry_after == 120
    assert caught.value.code == "APIGW.0308"
    assert len(ims_requests(sim, "GET")) == 1


def test_final_errors_are_not_retried(sim, client: Client):
    sim.control.fault(403, count=5, paths="/v2/cloudimages")
    with pytest.raises(PermissionDenied) as caught:
        client.get_image(seed.SMALL_CENTOS)
    assert caught.value.status == 403
    assert len(ims_requests(sim, "GET")) == 1


# --- the export POST is sent once -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "outcome_unknown"),
    [
        (503, ServerError, False),
        (429, Throttled, False),
        (500, ServerError, True),
        (502, ServerError, True),
        (504, ServerError, True),
    ],
)
def test_the_export_post_is_sent_exactly_once(sim, client: Client, status, error, outcome_unknown):
    sim.control.fault(status, count=3, paths=EXPORT)

    with pytest.raises(error) as caught:
        export(client)

    assert caught.value.status == status
    assert caught.value.retryable  # a person or task may decide to try again...
    assert caught.value.outcome_unknown is outcome_unknown  # ...knowing whether that is safe
    assert len(ims_requests(sim, "POST", EXPORT)) == 1


# --- timeouts and a dead endpoint ---------------------------------------------------------


def test_a_slow_get_times_out_and_is_retried(sim, new_client, mode):
    sim.control.fault(latency=0.5, count=2, paths="/v2/cloudimages")
    client = new_client(mode, timeout=(1.0, 0.2))

    image = client.get_image(seed.SMALL_CENTOS)

    assert image.id == seed.SMALL_CENTOS
    # The two slow answers are logged when the simulator finishes them.
    assert len(wait_for_log(sim, "GET", "/v2/cloudimages", count=3)) == 3


def test_a_get_that_keeps_timing_out_raises_timeout(sim, new_client):
    sim.control.fault(latency=0.4, paths="/v2/cloudimages")
    client = new_client(AKSK, timeout=(1.0, 0.1), retries=1)

    with pytest.raises(Timeout) as caught:
        client.get_image(seed.SMALL_CENTOS)

    assert caught.value.retryable
    assert caught.value.status is None
    # Both attempts (1 + retries) reached the simulator; wait for their late answers.
    assert len(wait_for_log(sim, "GET", "/v2/cloudimages", count=2)) == 2


def test_a_slow_export_times_out_once_with_an_unknown_outcome(sim, new_client, mode):
    sim.control.fault(latency=0.5, paths=EXPORT)
    client = new_client(mode, timeout=(1.0, 0.2))

    started = time.monotonic()
    with pytest.raises(Timeout) as caught:
        export(client)

    assert time.monotonic() - started < 0.5  # the client did not wait for the answer
    assert caught.value.outcome_unknown  # the simulator did get it, and acted
    assert len(wait_for_log(sim, "POST", EXPORT)) == 1
    time.sleep(0.2)
    assert len(ims_requests(sim, "POST", EXPORT)) == 1
    assert len(sim.control.jobs()) == 1


def dead_url() -> str:
    """An address where nothing listens: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_a_refused_connection_means_nothing_was_sent(sim):
    auth = AkSkAuth(sim.ak, sim.sk, sim.project_id)
    client = Client(dead_url(), sim.project_id, auth, retries=2, backoff=0.01, max_backoff=0.02)

    with pytest.raises(ConnectionFailed) as caught:
        export(client)
    assert not caught.value.outcome_unknown
    assert caught.value.retryable

    with pytest.raises(ConnectionFailed):
        client.get_image(seed.SMALL_CENTOS)


def test_an_unreachable_iam_is_a_connection_failure(sim, new_client):
    auth = TokenAuth(dead_url(), sim.username, sim.password, sim.domain, sim.project_id)
    client = new_client(auth=auth, retries=0)

    with pytest.raises(ConnectionFailed) as caught:
        export(client)
    assert not caught.value.outcome_unknown
    assert ims_requests(sim) == []
