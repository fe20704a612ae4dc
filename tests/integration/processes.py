"""Real processes for the fault tests: a private Redis that a test may stop and start, Celery
beat, the web app under gunicorn, and a signed-in browser-like HTTP session against it.

The worker itself is `tests.portal_fixtures.start_worker` (with `own_group=True` a test can
signal its whole process group, as a service manager does).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from ims_portal.exports.models import Export
from tests.portal_fixtures import ROOT, stop

READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def private_queue() -> str:
    """A queue of the test's own: messages a killed worker left behind reach no other test."""
    return f"ims-portal-faults-{uuid.uuid4().hex[:12]}"


def wait_for_log(log: Path, text: bytes, process: subprocess.Popen, since: int = 0) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited: {log.read_text()[-2000:]}")
        if text in log.read_bytes()[since:]:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{text!r} not in {log}: {log.read_text()[-2000:]}")


class RedisServer:
    """A `redis-server` of the test's own on a free port, which it may stop and start again
    on the same port (with nothing kept: a restarted Redis has lost every message)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.folder),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def start_beat(env: dict[str, str], log: Path, var_dir: Path) -> subprocess.Popen:
    """`celery beat`, its schedule file in `var_dir`."""
    command = [
        sys.executable, "-m", "celery", "-A", "ims_portal", "beat", "--loglevel", "INFO",
        "--schedule", str(var_dir / "celerybeat-schedule"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**env, "IMS_VAR_DIR": str(var_dir)},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    wait_for_log(log, b"beat: Starting", process)
    return process


def start_web(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """The web app under gunicorn (one process, a few threads); returns it and its URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "ims_portal.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
        "--access-logfile", "-",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            requests.get(f"{url}/accounts/login/", timeout=2)
            return process, url
        except (requests.ConnectionError, requests.Timeout):  # not listening, or still loading
            time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"gunicorn did not start: {log.read_text()[-2000:]}")


def signal_group(process: subprocess.Popen, signum: signal.Signals) -> None:
    """Send `signum` to the process and everything in its group (its pool included)."""
    os.killpg(process.pid, signum)


CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Browser:
    """A person's HTTP session with the web process: cookies kept by hand, since the
    portal's are `Secure` and the test speaks plain HTTP to it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if method == "POST":
            headers["X-CSRFToken"] = self.cookies.get("csrftoken", "")
            headers["Referer"] = self.url + path
        response = self.session.request(
            method,
            self.url + path,
            headers=headers,
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )
        for name, value in response.cookies.items():
            self.cookies[name] = value
        return response

    def get(self, path: str) -> requests.Response:
        return self.request("GET", path)

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        return self.request("POST", path, data=data)

    def sign_in(self, username: str, password: str) -> None:
        page = self.get("/accounts/login/")
        token = CSRF_FIELD.search(page.text)
        assert token, page.text[:500]
        answer = self.post(
            "/accounts/login/",
            {"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
        )
        assert answer.status_code == 302, answer.text[:1000]

    def send_new_export(
        self, image_id: str, file_prefix: str
    ) -> tuple[requests.Response, requests.Response]:
        """Open the new-export page and send its form for `image_id` to ims-exports, as a
        person does; both answers (the page's, the POST's)."""
        page = self.get("/exports/new/")
        assert page.status_code == 200, page.text[:2000]
        token = CSRF_FIELD.search(page.text)
        assert token
        answer = self.post(
            "/exports/new/",
            {
                "csrfmiddlewaretoken": token[1],
                "image": image_id,
                "bucket": "ims-exports",
                "file_name": f"{file_prefix}-{uuid.uuid4().hex[:8]}.qcow2",
                "file_format": "qcow2",
                "request_token": str(uuid.uuid4()),
            },
        )
        return page, answer


def export_posts_by_destination(sim) -> dict[str, int]:
    """How many export POSTs the cloud took up per `bucket:object` (a 401 is refused
    before IMS looks at it, and repeated once by the client, by design; a POST whose body
    never arrived, its sender killed between the headers and the body, names nothing to
    export and is refused too)."""
    counts: dict[str, int] = {}
    for entry in sim.control.requests(method="POST", path_contains="/file"):
        if entry["status"] != 401 and isinstance(entry["body"], dict):
            destination = entry["body"]["bucket_url"]
            counts[destination] = counts.get(destination, 0) + 1
    return counts


def statuses(exports: list[Export]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for export in Export.objects.filter(pk__in=[e.pk for e in exports]):
        counts[export.status] = counts.get(export.status, 0) + 1
    return counts
