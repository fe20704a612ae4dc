"""Fixtures of the portal's tests: the web side pointed at the simulator, and a real Celery
worker process on Redis, working on the test database. Loaded from `tests/conftest.py`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

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
    """A real `celery worker` process for the whole session."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = start_worker(worker_env, log)
    yield process
    stop(process)


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
