"""The Celery app: configured from Django settings (namespace CELERY), tasks autodiscovered.

Loaded by every Django process (see `exports/apps.py`) and by `celery -A ims_portal`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click
from celery import Celery, bootsteps, signals
from celery.worker import WorkController
from kombu.transport import redis as kombu_redis

from ims_portal.startup import log_services

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_portal.settings")

app = Celery("ims_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The work queues (README, "Beyond one machine"). The export POSTs, and the sweeps that send
# them, have a queue of their own, so a new export never waits behind the polls of thousands
# in flight; everything else (polls, object checks, notifications, checkpoints) takes the
# default queue. Both are named from the one setting CELERY_TASK_DEFAULT_QUEUE.
SUBMIT_TASKS = frozenset(
    {
        "ims_portal.exports.tasks.submit_export",
        "ims_portal.exports.tasks.send_waiting_exports",
        "ims_portal.exports.tasks.reconcile_exports",
    }
)
# What a worker started with `--work` takes: both queues, the submit queue alone, or the
# default queue alone.
WORK_CHOICES = ("all", "submit", "follow")


def submit_queue(default_queue: str) -> str:
    """The submit queue that goes with a default queue."""
    return f"{default_queue}.submit"


def work_queues(work: str, default_queue: str) -> tuple[str, ...]:
    """The queues a worker started with `--work <work>` consumes."""
    return {
        "all": (default_queue, submit_queue(default_queue)),
        "submit": (submit_queue(default_queue),),
        "follow": (default_queue,),
    }[work]


def route_task(name: str, *args: Any, **kwargs: Any) -> dict[str, str] | None:
    """Celery's router (CELERY_TASK_ROUTES): the submit queue for `SUBMIT_TASKS`, the
    default queue (None) for the rest. The name is worked out at each send, from the default
    queue in force."""
    if name in SUBMIT_TASKS:
        return {"queue": submit_queue(app.conf.task_default_queue)}
    return None


app.user_options["worker"].add(
    click.Option(
        ["--work"],
        type=click.Choice(WORK_CHOICES),
        default="all",
        show_default=True,
        help="Which queues to consume: both, the submit queue, or the default queue.",
    )
)


class ChooseQueues(bootsteps.Step):
    """Point the worker at the queues its `--work` names (an explicit -Q wins)."""

    def __init__(self, parent: WorkController, work: str = "all", **options: Any) -> None:
        super().__init__(parent, **options)
        table = parent.app.amqp.queues
        if table._consume_from is not None:
            return  # -Q chose them (Celery keeps no public mark of that)
        # Declared as a sender declares a queue it routes to (Celery's missing-queue rule:
        # an exchange of the queue's name), so both sides bind the same way.
        table.select(work_queues(work, parent.app.conf.task_default_queue))


app.steps["worker"].add(ChooseQueues)


def _restore_unacked_or_leave_them(qos: Any, client: Any = None) -> None:
    """kombu's Redis `QoS.restore_unacked`, except that a Redis gone away leaves the
    messages where they are instead of killing the worker.

    A worker holds unacknowledged messages at nearly every instant (a poll chain's next
    round waits out its countdown in it), and when Redis vanishes kombu puts them back
    as it closes the channel, which without a connection raises an AttributeError the
    worker does not survive. Left in Redis's unacknowledged set, they come back after the
    visibility timeout; a Redis restarted empty has lost them anyway, and the poll chains
    are started again by the reconciler.
    """
    try:
        _restore_unacked(qos, client)
    except Exception as error:  # kombu raises what its client happens to meet
        logging.getLogger(__name__).warning(
            "broker: %d unacknowledged message(s) left for the visibility timeout: %s",
            len(qos._delivered),
            error,
        )


_restore_unacked = kombu_redis.QoS.restore_unacked
kombu_redis.QoS.restore_unacked = _restore_unacked_or_leave_them  # type: ignore[method-assign,assignment]

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
