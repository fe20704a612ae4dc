"""Test tooling: start the simulator as a process, and steer it through `/_sim/`.

The simulator package ships only the stand-in cloud and its command; these helpers belong
to the tests (and the benchmarks, which import them from here).

    with SimulatorProcess(speed=50) as process:
        sim = process.running()  # .url, .obs_url, .project_id, credentials, .control
        sim.control.fault(status=503, count=2)
        sim.control.obs_down()  # OBS resets every connection; IMS still answers
        ...  # point the portal at sim.url
        assert len(sim.control.requests(method="POST", path_contains="/file")) == 1

`SimulatorProcess` runs `python -m ims_portal.simulator` on two free ports (IAM and IMS with
the control API on one, OBS on the other) and waits until `/_sim/health` answers; its log goes to a file (`log_path`), so a long run never blocks on a
full pipe. `SimulatorControl` wraps the `/_sim/` control API.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict

import requests

from ims_portal.simulator.defaults import DEFAULT_HOST, SPEED, SimulatorSettings

CONTROL_TIMEOUT = 5.0  # seconds; the control API answers at once unless the box is starved


class LoggedRequest(TypedDict):
    """One entry of `GET /_sim/requests`."""

    time: str
    method: str
    path: str
    query: str
    params: dict[str, str]
    status: int
    auth: str | None  # "password", "token", "aksk" or None: the credential presented
    request_id: str  # the simulator's own id of the request (its X-Request-Id answer)
    client_request_id: str  # the X-Request-Id the caller sent, "" if none
    body: Any  # the JSON body of IMS requests; None for IAM (it holds the password)
    service: str  # "ims" (IAM and IMS) or "obs"


class SimulatorControl:
    """A thin client for the `/_sim/` control API of a running simulator."""

    def __init__(self, base_url: str, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()

    def _call(self, method: str, name: str, payload: dict[str, Any] | None = None) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/_sim/{name}", json=payload, timeout=CONTROL_TIMEOUT
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"simulator control {method} /_sim/{name} failed "
                f"({response.status_code}): {response.text}"
            )
        return response.json()

    def health(self) -> dict[str, Any]:
        """`GET /_sim/health`."""
        return self._call("GET", "health")

    def reset(self) -> None:
        """Restore the seed: images, jobs, objects, tokens, faults, request log, config."""
        self._call("POST", "reset")

    def fault(
        self,
        status: int | None = None,
        *,
        count: int | None = None,
        latency: float | None = None,
        retry_after: float | None = None,
        paths: str | None = None,
        methods: list[str] | str | None = None,
        code: str | None = None,
        message: str | None = None,
        drop: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Add a fault to IAM/IMS (see `faults.py`); return every fault now set.

        `status` answers the next `count` matching requests (all of them if `count` is
        None); `latency` delays each matching request; `paths` is a regular expression
        searched in the request path; `methods` limits it to e.g. "POST"; `drop` acts on the
        request and resets the connection without answering.
        """
        spec = {
            "status": status,
            "count": count,
            "latency": latency,
            "retry_after": retry_after,
            "paths": paths,
            "methods": methods,
            "code": code,
            "message": message,
            "drop": drop,
        }
        return self._call("POST", "faults", {k: v for k, v in spec.items() if v is not None})[
            "faults"
        ]

    def obs_down(self, *, reset: bool = True) -> list[dict[str, Any]]:
        """Make OBS unreachable until `clear_faults()`: every connection reset (or, with
        `reset=False`, every answer a 503 ServiceUnavailable). IMS and IAM still work."""
        if reset:
            return self._call("POST", "faults", {"service": "obs", "drop": True})["faults"]
        return self._call("POST", "faults", {"service": "obs", "status": 503})["faults"]

    def obs_forbidden(self) -> list[dict[str, Any]]:
        """Make OBS answer 403 AccessDenied to everything until `clear_faults()`."""
        return self._call("POST", "faults", {"service": "obs", "status": 403})["faults"]

    def obs_fault(self, status: int | None = None, **spec: Any) -> list[dict[str, Any]]:
        """Add a fault to OBS only; the fields are `fault()`'s, plus `drop=True`."""
        body = {"service": "obs", "status": status, **spec}
        return self._call("POST", "faults", {k: v for k, v in body.items() if v is not None})[
            "faults"
        ]

    def buckets(self) -> list[dict[str, Any]]:
        """Every bucket, listed or not: name, region, storage_class, created, listed,
        accessible."""
        return self._call("GET", "buckets")["buckets"]

    def add_bucket(
        self,
        name: str,
        *,
        region: str | None = None,
        storage_class: str = "STANDARD",
        listed: bool = True,
        accessible: bool = True,
        created: str | None = None,
    ) -> dict[str, Any]:
        """Add (or replace) a bucket until the next reset; region defaults to the
        simulator's."""
        spec = {
            "name": name,
            "region": region,
            "storage_class": storage_class,
            "listed": listed,
            "accessible": accessible,
            "created": created,
        }
        return self._call("POST", "buckets", {k: v for k, v in spec.items() if v is not None})

    def put_object(
        self,
        bucket: str,
        key: str,
        size: int = 1024,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """Write an object's metadata into an existing bucket."""
        spec = {
            "bucket": bucket,
            "key": key,
            "size": size,
            "etag": etag,
            "last_modified": last_modified,
            "content_type": content_type,
        }
        return self._call("POST", "objects", {k: v for k, v in spec.items() if v is not None})

    def delete_object(self, bucket: str, key: str) -> bool:
        """Remove an object; whether there was one."""
        return self._call("DELETE", "objects", {"bucket": bucket, "key": key})["deleted"]

    def object_details(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every object's metadata per bucket: size, etag, last_modified, content_type."""
        return self._call("GET", "objects")["objects"]

    def faults(self) -> list[dict[str, Any]]:
        """The faults currently set."""
        return self._call("GET", "faults")["faults"]

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._call("DELETE", "faults")

    def add_image(self, record: dict[str, Any]) -> None:
        """Add (or replace) an image record until the next reset."""
        self._call("POST", "images", record)

    def expire_tokens(self) -> int:
        """Expire every issued token now; return how many there were."""
        return self._call("POST", "expire-tokens")["expired"]

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change run-time settings, e.g. `configure(speed=50, progress_api=False)`."""
        return self._call("POST", "config", changes)

    def config(self) -> dict[str, Any]:
        """The run-time settings in force."""
        return self._call("GET", "config")

    def requests(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        service: str | None = None,
    ) -> list[LoggedRequest]:
        """Cloud requests (IAM, IMS and OBS) received since the last reset, oldest first,
        optionally filtered (`service`: "ims" or "obs")."""
        entries: list[LoggedRequest] = self._call("GET", "requests")["requests"]
        return [
            entry
            for entry in entries
            if (method is None or entry["method"] == method.upper())
            and (path_contains is None or path_contains in entry["path"])
            and (service is None or entry["service"] == service)
        ]

    def request_counts(self) -> dict[str, int]:
        """IMS/IAM requests by method since the log was last emptied (the log itself keeps
        only the latest few thousand)."""
        return self.health()["request_counts"]

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._call("DELETE", "requests")

    def jobs(self) -> list[dict[str, Any]]:
        """Every export job, with its progress body plus bucket_url and format."""
        return self._call("GET", "jobs")["jobs"]

    def objects(self) -> dict[str, list[str]]:
        """Objects per bucket, including those written by finished exports."""
        return self._call("GET", "objects")["buckets"]


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """What a test or script needs to talk to a running simulator: where, as whom, and how
    to steer it. IAM and IMS share the one `url`."""

    url: str
    settings: SimulatorSettings
    control: SimulatorControl
    obs_url: str = ""  # OBS's own listener (path-style addressing)

    def client_environment(self) -> dict[str, str]:
        """The portal's cloud variables pointing at this simulator, OBS included."""
        return self.settings.client_environment(self.url, self.obs_url)

    @property
    def project_id(self) -> str:
        return self.settings.project_id

    @property
    def project_name(self) -> str:
        return self.settings.project_name

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def username(self) -> str:
        return self.settings.username

    @property
    def password(self) -> str:
        return self.settings.password

    @property
    def domain(self) -> str:
        return self.settings.domain

    @property
    def ak(self) -> str:
        return self.settings.ak

    @property
    def sk(self) -> str:
        return self.settings.sk


class SimulatorProcess:
    """The simulator running as a child process on a free port."""

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        obs_port: int | None = None,
        speed: float = SPEED,
        progress_api: bool = True,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.obs_port = obs_port or _free_port(host)
        self.speed = speed
        self.progress_api = progress_api
        self.env = env
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"ims-simulator-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of both the IAM and the IMS endpoints (and of `/_sim/`)."""
        return f"http://{self.host}:{self.port}"

    @property
    def obs_url(self) -> str:
        """Base URL of the OBS listener."""
        return f"http://{self.host}:{self.obs_port}"

    @property
    def settings(self) -> SimulatorSettings:
        """The credentials the process runs with (same environment lookup as the child)."""
        return SimulatorSettings.from_env(self._child_env())

    def running(self) -> RunningSimulator:
        """A handle on the started process: URL, credentials and a control client."""
        return RunningSimulator(
            self.url, self.settings, SimulatorControl(self.url), obs_url=self.obs_url
        )

    def _child_env(self) -> dict[str, str]:
        ports = {"SIMULATOR_PORT": str(self.port), "SIMULATOR_OBS_PORT": str(self.obs_port)}
        return {**os.environ, **(self.env or {}), **ports}

    def start(self, timeout: float = 20.0) -> SimulatorProcess:
        """Launch the process and wait until `/_sim/health` answers; return self."""
        command = [
            sys.executable,
            "-m",
            "ims_portal.simulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--obs-port",
            str(self.obs_port),
            "--speed",
            str(self.speed),
        ]
        if not self.progress_api:
            command.append("--no-progress-api")
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self._child_env()
            )
        self._wait_until_healthy(timeout)
        return self

    def _wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"the simulator exited with {self._process.returncode}: {self.log_tail()}"
                )
            try:
                if requests.get(f"{self.url}/_sim/health", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the simulator did not answer within {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        """Terminate the process (and kill it if it does not go within a few seconds)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the process's log, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _free_port(host: str) -> int:
    # Ask the OS for a free port, then release it for the child. Another process could grab
    # it in between, but on a test machine that race is rare, and start() then fails loudly.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
