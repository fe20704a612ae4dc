"""The Celery app: configured from Django settings (namespace CELERY), tasks autodiscovered.

Loaded by every Django process (see `exports/apps.py`) and by `celery -A ims_portal`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery, signals

from ims_portal.startup import log_services

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_portal.settings")

app = Celery("ims_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

EMBEDDED_BROKER_FOLDERS = (
    "data_folder_in",
    "data_folder_out",
    "processed_folder",
    "control_folder",
)


@app.on_after_configure.connect
def prepare_embedded_broker(sender: Celery, **kwargs: Any) -> None:
    """Create the file-system broker's folders, in each process that sends or takes tasks.

    Runs when the configuration is first read (the first task sent, the worker's start),
    so importing this module touches nothing.
    """
    if not str(sender.conf.broker_url).startswith("filesystem://"):
        return
    options = sender.conf.broker_transport_options
    for key in EMBEDDED_BROKER_FOLDERS:
        Path(options[key]).mkdir(parents=True, exist_ok=True)


@signals.worker_init.connect
def announce_worker(**kwargs: Any) -> None:
    """The worker's start-up line (after Django is set up, before it takes tasks)."""
    log_services("worker")


@signals.beat_init.connect
def announce_beat(**kwargs: Any) -> None:
    """Beat's start-up line."""
    log_services("beat")
