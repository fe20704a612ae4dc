"""Helpers for talking to the simulator the way a real client does: over HTTP, with a token
or an AK/SK signature."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import requests

from ims_portal.cloud import signing
from tests.simulator_process import RunningSimulator

TIMEOUT = 10


def token_request(sim: RunningSimulator, **overrides: Any) -> dict[str, Any]:
    """The body of a password-login token request, with fields replaced by `overrides`."""
    user = {
        "name": overrides.get("username", sim.username),
        "password": overrides.get("password", sim.password),
        "domain": {"name": overrides.get("domain", sim.domain)},
    }
    scope = overrides.get("scope", {"project": {"id": sim.project_id}})
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": scope,
        }
    }


def get_token(sim: RunningSimulator) -> str:
    """Log in with the simulator's credentials and return the token."""
    response = requests.post(f"{sim.url}/v3/auth/tokens", json=token_request(sim), timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def signed_request(
    sim: RunningSimulator,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    body: Any = None,
    when: datetime | None = None,
    ak: str | None = None,
    sk: str | None = None,
    project_id: str | None = None,
    tamper: bytes | None = None,
) -> requests.Response:
    """Send a request signed with AK/SK, as the official SDKs sign.

    `tamper` replaces the body after signing, to show a signature covers the body.
    """
    url = sim.url + path + (f"?{signing.encode_query(params)}" if params else "")
    payload = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json", "X-Project-Id": project_id or sim.project_id}
    headers.update(signing.sign(method, url, headers, payload, ak or sim.ak, sk or sim.sk, when))
    return requests.request(
        method,
        url,
        data=tamper if tamper is not None else payload,
        headers=headers,
        timeout=TIMEOUT,
    )


@dataclass
class Ims:
    """An IMS client holding a token, with shortcuts for the calls the tests make."""

    sim: RunningSimulator
    token: str

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(
            self.sim.url + path,
            params=params,
            headers={"X-Auth-Token": self.token},
            timeout=TIMEOUT,
        )

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None) -> requests.Response:
        data = raw if raw is not None else json.dumps(body).encode()
        return requests.post(
            self.sim.url + path,
            data=data,
            headers={"X-Auth-Token": self.token, "Content-Type": "application/json"},
            timeout=TIMEOUT,
        )

    def images(self, **params: Any) -> list[dict[str, Any]]:
        response = self.get("/v2/cloudimages", **params)
        assert response.status_code == 200, response.text
        return response.json()["images"]

    def export(
        self,
        image_id: str,
        bucket_url: str = "ims-exports:new-export.qcow2",
        file_format: str | None = "qcow2",
        quick: bool | None = None,
    ) -> requests.Response:
        body: dict[str, Any] = {"bucket_url": bucket_url}
        if file_format is not None:
            body["file_format"] = file_format
        if quick is not None:
            body["is_quick_export"] = quick
        return self.post(f"/v1/cloudimages/{image_id}/file", body)

    def start_export(self, image_id: str, **kwargs: Any) -> str:
        response = self.export(image_id, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["job_id"]

    def status(self, job_id: str) -> requests.Response:
        return self.get(f"/v1/{self.sim.project_id}/jobs/{job_id}")

    def progress(self, job_id: str) -> requests.Response:
        return self.get(f"/v1/cloudimages/job/{job_id}")

    def wait_until_finished(self, job_id: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.status(job_id).json()
            if job["status"] in ("SUCCESS", "FAIL"):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish within {timeout}s")


@pytest.fixture
def ims(sim: RunningSimulator) -> Ims:
    """A token-holding IMS client for a freshly reset simulator."""
    return Ims(sim, get_token(sim))
