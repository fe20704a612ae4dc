"""The origin of a Celery task's audit events: its task id and its name.

A task's "request id" is its Celery task id, also in the worker's own log lines; its
"user agent" names the task. Bound before the task runs, unbound after it.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from celery.signals import task_postrun, task_prerun

from ims_portal.audit import context

_task_origins: dict[str, Token[context.Origin]] = {}


@task_prerun.connect(dispatch_uid="audit-task-origin")
def task_started(task_id: str, task: Any, **kwargs: Any) -> None:
    """Bind the task's origin for the audit events it records."""
    origin = context.Origin(request_id=task_id, user_agent=f"celery {task.name}")
    _task_origins[task_id] = context.bind(origin)


@task_postrun.connect(dispatch_uid="audit-task-origin-end")
def task_ended(task_id: str, **kwargs: Any) -> None:
    """Unbind the origin of a task that has finished."""
    token = _task_origins.pop(task_id, None)
    if token is not None:
        context.unbind(token)
