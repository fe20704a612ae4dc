"""Load: people watching their exports and making new ones, against the whole product.

Run on demand (not a test):  .venv/bin/python bench/load.py [--watchers 200 --creators 20
--duration 300]   (`make load` runs the small default)

It makes a scratch PostgreSQL database (`ims_portal_bench_load`, dropped and re-created),
migrates it, seeds the demo users as `make run` does (`create_demo_users`), and starts the
simulator, then the web, worker(s) and beat commands of the Procfile (the production line, on
loopback ports), with `make run`'s settings (DEBUG on: the demo users' password sign-in is
development's; SSO has no passwords).
Then, with locust in this process (headless, for `--duration` seconds after every user has
signed in):

- watchers sign in with a password (the demo exporters alice and bob), open their history,
  follow the newest export in flight as its page does (the status fragment every 2 s, with
  the version it last got), and go back to the history when it ends or every so often;
- creators sign in the same way and make an export every few seconds through the form, each
  of another of the simulator's images, and follow it.

At the end it prints p50/p95/p99 per page, the error count, and holds every export the
creators were redirected to against the database: each must be there, ended or still
followed (a cloud job with its next poll due), none missing. It exits 1 if a request
failed or an export was lost. Every process it started is stopped.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import gevent
import psycopg
from locust import HttpUser, between, task
from locust.env import Environment
from locust.exception import StopUser
from requests.adapters import HTTPAdapter
from scratch import ROOT  # bench/ is the script's folder
from servers import free_port, procfile, wait_for_port
from urllib3.util.retry import Retry

sys.path.insert(0, str(ROOT))

from ims_portal.audit.signing import generate_private_pem
from ims_portal.simulator import seed
from ims_portal.simulator.defaults import SimulatorSettings

DB = "ims_portal_bench_load"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
PASSWORD = "demo-password"  # create_demo_users' development password  # noqa: S105
ACCOUNTS = ("alice", "bob")  # the demo exporters
POLL_SECONDS = 2.0  # the status fragment's hx-trigger="every 2s"
# The simulator's default bulk images: creators take them in turn, so no two exports of one
# image are in flight at once (the form refuses that).
BULK_IMAGES = [spec.id for spec in seed.bulk_specs(500)]
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
EXPORT_LINK = re.compile(r'href="/exports/(\d+)/"')
FINAL = {"succeeded", "failed", "rejected", "unknown", "cancelled", "abandoned"}
FOLLOWED = {"submitted", "running"}


class Shared:
    """What the users of this run tell the script: who signed in, what was created."""

    people = 0
    sessions_wanted = 1
    sessions: list[dict[str, str]] = []
    signed_in = 0
    sign_in_failed = 0
    created: list[int] = []
    image_turn = 0


class Person(HttpUser):
    """A browser-like session: its cookies, and the CSRF token and origin on a POST."""

    abstract = True
    account = "alice"

    def on_start(self) -> None:
        # A browser sends a GET again, once, when the server closed the kept-alive
        # connection just as it was reused (gunicorn keeps one for 2 s, the poll's period).
        retry = Retry(total=1, connect=0, read=1, status=0, other=0, allowed_methods={"GET"})
        self.client.mount("http://", HTTPAdapter(max_retries=retry))
        self.cookies: dict[str, str] = {}
        Shared.people += 1
        number = Shared.people
        if number > Shared.sessions_wanted:  # one of the sessions already signed in
            slot = number % Shared.sessions_wanted
            while len(Shared.sessions) <= slot:
                gevent.sleep(0.2)
            self.cookies = dict(Shared.sessions[slot])
            Shared.signed_in += 1
            return
        self.account = ACCOUNTS[number % len(ACCOUNTS)]
        page = self.call("GET", "/accounts/login/", "sign-in page")
        token = CSRF_FIELD.search(page.text if page is not None else "")
        form = {"username": self.account, "password": PASSWORD}
        if token is None or not self.call(
            "POST",
            "/accounts/login/",
            "sign-in",
            data=form | {"csrfmiddlewaretoken": token[1]},
            expect=(302,),
        ):
            Shared.sign_in_failed += 1
            raise StopUser()
        Shared.sessions.append(dict(self.cookies))
        Shared.signed_in += 1

    def call(
        self,
        method: str,
        path: str,
        name: str,
        *,
        expect: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
    ):
        sent = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            **(headers or {}),
        }
        if method == "POST":
            sent["X-CSRFToken"] = self.cookies.get("csrftoken", "")
            sent["Origin"] = self.host
            sent["Referer"] = sent["Origin"] + path
        with self.client.request(
            method,
            path,
            name=name,
            headers=sent,
            data=data,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            for cookie, value in response.cookies.items():
                self.cookies[cookie] = value
            if response.status_code in expect:
                response.success()
                return response
            problem = response.error if response.status_code == 0 else response.status_code
            response.failure(f"{problem} (expected {expect})")
            return None

    def follow(self, export_id: int, seconds: float) -> None:
        """Poll the export's status fragment as its open page does, until it ends or
        `seconds` have passed."""
        etag = ""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            headers = {"HX-Request": "true"} | ({"If-None-Match": etag} if etag else {})
            path = f"/exports/{export_id}/status/"
            answer = self.call(
                "GET", path, "status fragment", expect=(200, 304, 286), headers=headers
            )
            if answer is None or answer.status_code == 286:  # htmx: stop polling, it ended
                return
            etag = answer.headers.get("ETag", etag)
            gevent.sleep(POLL_SECONDS)


class Watcher(Person):
    """Someone with an export's page open, glancing at the history now and then."""

    wait_time = between(1, 3)

    @task
    def watch(self) -> None:
        page = self.call("GET", "/exports/", "history")
        if page is None:
            return
        if "?page=2" in page.text:
            self.call("GET", "/exports/?page=2", "history page 2")
        found = EXPORT_LINK.search(page.text)
        if found is None:
            return
        export_id = int(found[1])
        self.call("GET", f"/exports/{export_id}/", "export page")
        self.follow(export_id, seconds=30)


class Creator(Person):
    """Someone making exports, one after another, each of another image."""

    wait_time = between(3, 8)

    @task
    def create(self) -> None:
        self.call("GET", "/exports/new/", "new export form")
        Shared.image_turn += 1
        image = BULK_IMAGES[Shared.image_turn % len(BULK_IMAGES)]
        form = {
            "image": image,
            "bucket": "ims-exports",
            "file_name": f"load-{uuid.uuid4().hex[:12]}.qcow2",
            "file_format": "qcow2",
            "request_token": str(uuid.uuid4()),
        }
        made = self.call("POST", "/exports/new/", "create export", data=form, expect=(302,))
        if made is None:
            return
        found = re.search(r"/exports/(\d+)/$", made.headers.get("Location", ""))
        if found is None:
            return
        export_id = int(found[1])
        Shared.created.append(export_id)
        self.call("GET", f"/exports/{export_id}/", "export page")
        self.follow(export_id, seconds=6)


# --- The script: services up, locust run, figures, services down ---------------------------


def fresh_database(name: str) -> None:
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def held_to_database(name: str, created: list[int]) -> tuple[Counter, list[int]]:
    """Each created export's state: ended (by status), followed, being submitted; and the
    lost ones (missing, or in a followed status with no poll due)."""
    with psycopg.connect(f"{POSTGRES}/{name}") as conn:
        rows = conn.execute(
            "SELECT id, status, next_poll_at FROM exports_export WHERE id = ANY(%s)", [created]
        ).fetchall()
    seen = {row[0]: row for row in rows}
    states: Counter = Counter()
    lost = [export_id for export_id in created if export_id not in seen]
    for export_id, status, next_poll_at in rows:
        if status in FINAL:
            states[f"ended {status}"] += 1
        elif status in FOLLOWED and next_poll_at is not None:
            states["followed"] += 1
        elif status in FOLLOWED:
            lost.append(export_id)
        else:
            states[f"being submitted ({status})"] += 1
    return states, lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", type=int, default=40)
    parser.add_argument("--creators", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument(
        "--sessions",
        type=int,
        default=None,
        help="password sign-ins, shared by the users in turn (default: one per user)",
    )
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="users started a second")
    parser.add_argument("--speed", type=float, default=1.0, help="the simulator's pace")
    parser.add_argument("--database", default=DB, help="scratch database (dropped first)")
    args = parser.parse_args()

    fresh_database(args.database)
    folder = Path(tempfile.mkdtemp(prefix="ims-portal-load-"))
    (folder / "prometheus").mkdir()
    web_port, sim_port, obs_port = free_port(), free_port(), free_port()
    simulator = SimulatorSettings.from_env()
    env = {
        **os.environ,
        **simulator.client_environment(
            f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{obs_port}"
        ),
        "DJANGO_SETTINGS_MODULE": "ims_portal.settings",
        # As `make run`: the password sign-in of the demo users is development's (DEBUG on);
        # with company SSO there is no password to sign in with.
        "DEBUG": "true",
        "SECRET_KEY": "load-benchmark-only",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.database}",
        "AUDIT_SIGNING_KEY": generate_private_pem().decode(),
        "IMS_VAR_DIR": str(folder),
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"),
        # Many people share the two demo accounts here: their per-account limits would
        # measure the limiter, not the pages.
        "EXPORT_RATE_LIMIT": "100000/m",
        "SIGN_IN_RATE_LIMIT": "100000/m",
        "LOG_LEVEL": "WARNING",
        "WEB_PORT": str(web_port),
        "PYTHONUNBUFFERED": "1",
    }
    python = str(ROOT / ".venv/bin/python")
    setup = (["migrate", "--noinput"], ["create_demo_users"])
    for command in setup:
        subprocess.run([python, "manage.py", *command], cwd=ROOT, env=env, check=True)

    commands = procfile()
    simulator_command = f"{python} -m ims_portal.simulator --host 127.0.0.1"
    simulator_command += f" --port {sim_port} --obs-port {obs_port} --speed {args.speed:g}"
    started: list[subprocess.Popen] = []

    def start(name: str, command: str) -> subprocess.Popen:
        log = folder / f"{name}.log"
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stopped with everything it started
        )
        started.append(process)
        return process

    try:
        wait_for_port(
            sim_port, start("simulator", simulator_command), "simulator", folder / "simulator.log"
        )
        web = start("web", commands["web"])
        for name, command in commands.items():
            if name not in ("web", "simulator"):  # every worker kind and beat
                start(name, command)
        wait_for_port(web_port, web, "web", folder / "web.log")
        print(f"web: {commands['web']}  (WEB_PORT={web_port}); logs in {folder}", flush=True)
        return run_load(args, f"http://127.0.0.1:{web_port}")
    finally:
        for process in reversed(started):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in started:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def run_load(args: argparse.Namespace, url: str) -> int:
    Watcher.fixed_count = args.watchers
    Creator.fixed_count = args.creators
    users = args.watchers + args.creators
    Shared.sessions_wanted = min(args.sessions or users, users)
    environment = Environment(user_classes=[Watcher, Creator], host=url)
    runner = environment.create_local_runner()
    began = time.monotonic()
    runner.start(users, spawn_rate=args.spawn_rate)
    # Bounded: a password sign-in is slow by design (the hasher), and they queue.
    deadline = began + 30 + Shared.sessions_wanted * 3.0
    while Shared.signed_in + Shared.sign_in_failed < users and time.monotonic() < deadline:
        gevent.sleep(0.5)
    signed = time.monotonic() - began
    sign_in = environment.stats.get("sign-in", "POST")
    print(
        f"{Shared.signed_in}/{users} users signed in in {signed:.0f} s over "
        f"{len(Shared.sessions)} password sign-ins ({Shared.sign_in_failed} failed; "
        f"p50 {sign_in.get_response_time_percentile(0.5):.0f} ms); "
        f"now {args.duration:g} s of load",
        flush=True,
    )
    for error in list(environment.stats.errors.values())[:5]:
        print(f"  sign-in error: {error.method} {error.name}: {error.error}", flush=True)
    environment.stats.reset_all()
    Shared.created.clear()
    gevent.sleep(args.duration)
    runner.quit()
    created = list(Shared.created)
    gevent.sleep(2)  # the last POSTs' submits are sent on commit

    stats = environment.stats
    print(
        f"\n{args.watchers} watchers, {args.creators} creators, {args.duration:g} s, "
        f"{Shared.sessions_wanted} sessions "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, this machine)"
    )
    print(f"{'page':22} {'requests':>9} {'errors':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for entry in sorted(stats.entries.values(), key=lambda e: e.name):
        if not entry.num_requests:
            continue
        print(
            f"{entry.name:22} {entry.num_requests:9d} {entry.num_failures:7d} "
            f"{entry.get_response_time_percentile(0.5):7.0f} "
            f"{entry.get_response_time_percentile(0.95):7.0f} "
            f"{entry.get_response_time_percentile(0.99):7.0f}"
        )
    total = stats.total
    print(
        f"{'all':22} {total.num_requests:9d} {total.num_failures:7d} "
        f"{total.get_response_time_percentile(0.5):7.0f} "
        f"{total.get_response_time_percentile(0.95):7.0f} "
        f"{total.get_response_time_percentile(0.99):7.0f}   ({total.total_rps:.0f} requests/s)"
    )
    for error in list(stats.errors.values())[:10]:
        print(f"  error: {error.method} {error.name}: {error.error} (x{error.occurrences})")

    states, lost = held_to_database(args.database, created)
    summary = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    print(f"\nexports created during the load: {len(created)} ({summary or 'none'})")
    print(f"exports lost: {len(lost)}" + (f" {lost[:20]}" if lost else ""))
    return 1 if lost or total.num_failures else 0


if __name__ == "__main__":
    sys.exit(main())
