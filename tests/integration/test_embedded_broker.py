"""With no Redis to be had, development runs on a broker embedded in the file system."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ims_portal.exports.models import Status
from ims_portal.simulator import seed
from tests.portal_fixtures import ROOT, start_worker, stop, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_without_redis_an_export_still_runs_to_the_end(
    worker_env, tmp_path, sim, alice, make_export
):
    env = {
        **worker_env,
        "DJANGO_SETTINGS_MODULE": "ims_portal.settings",
        "DEBUG": "true",
        "REDIS_URL": "redis://127.0.0.1:9/0",  # nothing listens there
        "IMS_VAR_DIR": str(tmp_path),
        "CELERY_TASK_DEFAULT_QUEUE": "celery",
    }
    env.pop("CELERY_BROKER_URL")
    # What `make run` does before it starts its processes: choose the broker, once.
    chosen = subprocess.run(
        [sys.executable, "-m", "ims_portal.startup"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert chosen.stdout.strip() == "export CELERY_BROKER_URL=filesystem://"
    env["CELERY_BROKER_URL"] = "filesystem://"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        export = make_export(alice, image_id=seed.SMALL_EULEROS, image_name="embedded")
        send = (
            "import django; django.setup()\n"
            "from django.conf import settings\n"
            "assert settings.CELERY_BROKER_URL.startswith('filesystem://'), settings.CELERY_BROKER_URL\n"
            "from ims_portal.exports.tasks import submit_export\n"
            f"submit_export.delay({export.pk})\n"
        )
        subprocess.run([sys.executable, "-c", send], cwd=ROOT, env=env, check=True, timeout=60)

        def ended() -> str | None:
            export.refresh_from_db()
            return export.status if export.is_terminal else None

        assert wait_for(ended, timeout=60) == Status.SUCCEEDED
        assert "filesystem" in log.read_text()
        assert "worker: broker: filesystem:// (embedded" in log.read_text()
        assert (tmp_path / "broker").is_dir()  # made by the Celery app, not the settings
    finally:
        stop(worker)
