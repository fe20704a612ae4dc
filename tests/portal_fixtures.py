"""Fixtures of the portal's tests: the web side pointed at the simulator, and a real Celery
worker process on Redis, working on the test database. Loaded from `tests/conftest.py`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from ims_portal.accounts.roles import AUDITOR, EXPORTER, set_roles
from ims_portal.exports import cloud_access
from ims_portal.exports.models import Export
from ims_portal.simulator import seed
from tests.simulator_process import RunningSimulator

ROOT = Path(__file__).resolve().parents[1]

# Fast follow-up so that a whole export takes seconds.
FAST_FOLLOW = {
    "EXPORT_POLL_FIRST": "0.3",
    "EXPORT_POLL_FACTOR": "1.2",
    "EXPORT_POLL_MAX": "1",
    "EXPORT_SUBMIT_RETRIES": "2",
    # The proof of the object: a missing one is checked again within a second or two.
    "EXPORT_VERIFY_DELAY": "0.3",
    "EXPORT_VERIFY_RETRY_AFTER": "2",
}


def cloud_env(simulator: RunningSimulator) -> dict[str, str]:
    return simulator.client_environment()


@pytest.fixture(scope="session")
def portal_queue() -> str:
    # A queue of our own, so a developer's running worker never takes the tests' tasks.
    return f"ims-portal-tests-{os.getpid()}"


@pytest.fixture(scope="session")
def cloud_settings(simulator, portal_queue) -> Iterator[dict[str, str]]:
    """Point this process (the web side) at the simulator and the test queue."""
    from django.conf import settings

    env = {**cloud_env(simulator), **FAST_FOLLOW}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    overridden = {key: getattr(settings, key) for key in FAST_FOLLOW}
    for key, value in FAST_FOLLOW.items():
        setattr(settings, key, float(value))
    from ims_portal.celery import app

    app.conf.task_default_queue = portal_queue
    cloud_access.get_client.cache_clear()
    yield env
    cloud_access.get_client.cache_clear()
    for key, value in overridden.items():
        setattr(settings, key, value)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def start_worker(
    env: dict[str, str],
    log: Path,
    *,
    concurrency: int = 2,
    own_group: bool = False,
    app: str = "ims_portal",
    work: str = "all",
) -> subprocess.Popen:
    """A `celery worker` process; with `own_group`, the leader of its own process group
    (as a service manager runs it), so a test can signal it and its pool at once. `app`
    names the module holding the Celery app (a fault test may load one that wraps it).
    It takes the queues `work` names (`celery worker --work`), named after the
    environment's CELERY_TASK_DEFAULT_QUEUE."""
    command = [
        sys.executable, "-m", "celery", "-A", app, "worker",
        "--loglevel", "INFO", "--concurrency", str(concurrency), "--without-mingle",
        "--without-gossip", "--work", work,
    ]  # fmt: skip
    started = log.stat().st_size if log.exists() else 0  # a restarted worker's log goes on
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=own_group,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited: {log.read_text()[-2000:]}")
        if b"ready." in log.read_bytes()[started:]:
            return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"worker did not start: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def cloud(cloud_settings, sim):
    """The simulator at its seed, and the portal's cached image list emptied to match."""
    from django.core.cache import cache

    cache.clear()
    return sim


def export_form_data(**fields: str) -> dict[str, str]:
    """A valid new-export POST (a small exportable image), with `fields` changed."""
    return {
        "image": seed.SMALL_CENTOS,
        "bucket": "ims-exports",
        "file_name": "web.qcow2",
        "file_format": "qcow2",
        "request_token": str(uuid.uuid4()),
        **fields,
    }


@pytest.fixture(scope="session")
def worker_env(cloud_settings, portal_queue, django_db_setup, django_db_blocker) -> dict[str, str]:
    """The environment of a worker that shares this test session's database and queue."""
    with django_db_blocker.unblock():
        database = connection.settings_dict["NAME"]
    from django.conf import settings

    return {
        **os.environ,
        **cloud_settings,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": portal_queue,
        # The notifications of the exports these workers finish stay in the worker's memory;
        # the notification tests start a worker of their own with a real SMTP server.
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="session")
def celery_worker_process(worker_env, tmp_path_factory) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process for the whole session (see `lasting_workers_chains`
    for the tests its poll chains run in)."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = start_worker(worker_env, log)
    with LASTING_WORKERS.running("celery_worker_process", worker_env):
        yield process
    stop(process)


class LastingWorkers:
    """The workers that outlive a test (session or module fixtures), by fixture name, with
    their queue: each one's poll chains poll every due row of the test database, whoever
    made it, so they run only in the tests that ask for that worker (see
    `lasting_workers_chains`). Their slots are written on a connection of their own, so
    that a hold is committed whatever transaction the test runs in."""

    def __init__(self) -> None:
        self.queues: dict[str, str] = {}
        self.database_url = ""

    @contextlib.contextmanager
    def running(self, fixture: str, env: dict[str, str]) -> Iterator[None]:
        self.database_url = env["DATABASE_URL"]
        self.queues[fixture] = env["CELERY_TASK_DEFAULT_QUEUE"]
        try:
            yield
        finally:
            del self.queues[fixture]

    def set(self, wanted: Callable[[str], bool]) -> None:
        """Hold the chains of every lasting worker for which `wanted(fixture)` is false;
        start those of the others (a starter whose chain is alive ends at once)."""
        from ims_portal.exports import poller, tasks

        held, started = [], []
        for fixture, queue in self.queues.items():
            (started if wanted(fixture) else held).append(queue)
        names = [poller.slot_name(n, queue) for queue in held for n in poller.chain_numbers()]
        with psycopg.connect(self.database_url, autocommit=True) as db:
            # A live chain finds its slot no longer its own at its next write and ends.
            db.cursor().executemany(
                "INSERT INTO exports_pollchain (name, owner, held_until, claim_lease)"
                " VALUES (%s, 'tests', now() + interval '1 hour', NULL)"
                " ON CONFLICT (name) DO UPDATE SET owner = 'tests',"
                " held_until = EXCLUDED.held_until",
                [(name,) for name in names],
            )
            db.execute(
                "DELETE FROM exports_pollchain WHERE owner = 'tests' AND NOT name = ANY(%s)",
                [names],
            )
        for queue in started:
            for number in poller.chain_numbers():
                tasks.poll_due_exports.apply_async((number,), queue=queue)


LASTING_WORKERS = LastingWorkers()


@pytest.fixture(autouse=True)
def lasting_workers_chains(request) -> None:
    """The poll chains of a worker that outlives a test run only in a test that asks for
    that worker (the session's one: and not for `poll_chains_held`); in any other, a row
    the test makes due is polled by the test itself or by a worker of its own, never
    behind its back."""
    if LASTING_WORKERS.queues:  # else none runs; one that starts now runs its chains
        LASTING_WORKERS.set(chains_wanted(request.fixturenames))


def chains_wanted(names: list[str]) -> Callable[[str], bool]:
    """Whether the chains of the lasting worker of each fixture run in a test asking for
    the fixtures `names`."""
    held = {"celery_worker_process"} if "poll_chains_held" in names else set()
    return lambda fixture: fixture in names and fixture not in held


def wait_for(predicate: Callable[[], object], timeout: float = 30, every: float = 0.2) -> object:
    """Poll until `predicate()` is truthy; fail with its last value otherwise."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = predicate()
    assert value, "condition not reached in time"
    return value


# --- Personas: two exporters and an auditor -----------------------------------------------


@pytest.fixture
def make_user(db):
    def make(username: str, *roles: str):
        user = get_user_model().objects.create_user(
            username, f"{username}@example.com", "pw-" + username
        )
        set_roles(user, set(roles))
        return user

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice", EXPORTER)


@pytest.fixture
def bob(make_user):
    return make_user("bob", EXPORTER)


@pytest.fixture
def carol(make_user):
    return make_user("carol", AUDITOR)


@pytest.fixture
def make_export(db):
    def make(owner, **fields) -> Export:
        values = dict(
            image_id=str(uuid.uuid4()),
            image_name="web-01",
            image_size=20 * 1024**3,
            bucket="ims-exports",
            object_name="web-01.qcow2",
            file_format="qcow2",
        )
        values.update(fields)
        return Export.objects.create(owner=owner, **values)

    return make


@pytest.fixture
def poll_chains_held(request, transactional_db) -> None:
    """The session worker's poll chains are held for the test even if it uses that worker,
    so that they do not poll the rows the test makes due; a test's own workers, on a queue
    of their own, run chains of their own."""
    if "celery_worker_process" in request.fixturenames:
        request.getfixturevalue("celery_worker_process")  # its start starts its chains
    if LASTING_WORKERS.queues:
        LASTING_WORKERS.set(chains_wanted(request.fixturenames))
