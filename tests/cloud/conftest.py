"""Clients pointed at the running simulator (`sim` from tests/conftest.py), one per auth mode."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ims_portal.cloud import AkSkAuth, Client, Job, TokenAuth
from ims_portal.cloud.obs import ObsEndpoint
from tests.simulator_process import RunningSimulator

TOKEN, AKSK = "token", "aksk"

# Fast retries so that fault tests take milliseconds; generous enough timeouts for a busy box.
FAST = {"timeout": (2.0, 5.0), "retries": 3, "backoff": 0.01, "max_backoff": 0.05}


def make_auth(sim: RunningSimulator, mode: str, **overrides: str) -> TokenAuth | AkSkAuth:
    """Credentials for the simulator, with any of them replaced by `overrides`."""
    if mode == TOKEN:
        return TokenAuth(
            sim.url,
            overrides.get("username", sim.username),
            overrides.get("password", sim.password),
            overrides.get("domain", sim.domain),
            sim.project_id,
            timeout=(2.0, 5.0),
        )
    return AkSkAuth(overrides.get("ak", sim.ak), overrides.get("sk", sim.sk), sim.project_id)


@pytest.fixture
def new_client(sim: RunningSimulator) -> Iterator[Callable[..., Client]]:
    """A factory: `new_client(mode, **client_options)`, reaching OBS too (path style); every
    client is closed afterwards."""
    made: list[Client] = []

    def factory(mode: str = AKSK, *, auth: Any = None, **options: Any) -> Client:
        options = {"obs": ObsEndpoint(sim.obs_url, "path"), **FAST, **options}
        client = Client(sim.url, sim.project_id, auth or make_auth(sim, mode), **options)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


@pytest.fixture(params=[TOKEN, AKSK])
def mode(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once with an IAM token and once with AK/SK signing."""
    return request.param


@pytest.fixture
def client(new_client: Callable[..., Client], mode: str) -> Client:
    """A client for the simulator in the current auth mode."""
    return new_client(mode)


def wait_for_job(client: Client, job_id: str, timeout: float = 10.0) -> Job:
    """Poll until the job has finished; fail the test if it takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get_job(job_id)
        if job.finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish within {timeout}s")


def ims_requests(sim: RunningSimulator, method: str | None = None, path: str | None = None):
    """The simulator's log of cloud requests, optionally filtered."""
    return sim.control.requests(method=method, path_contains=path)


def iam_requests(sim: RunningSimulator):
    """The token requests the simulator received."""
    return ims_requests(sim, "POST", "/v3/auth/tokens")


def wait_for_log(
    sim: RunningSimulator, method: str, path: str, timeout: float = 3.0, count: int = 1
):
    """The matching log entries, once at least `count` are there (the simulator logs a
    request only when it answers, which an injected latency delays). A test whose client
    gave up on slow requests waits for them, so that their late entries never land in the
    next test's log."""
    deadline = time.monotonic() + timeout
    while True:
        entries = ims_requests(sim, method, path)
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)
