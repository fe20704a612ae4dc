"""The origin of a Celery task's audit events and log lines, and how it travels.

A task carries the request id of the work that sent it, in the `portal_request_id` message
header: the browser request that queued an export, then the task that scheduled the next
poll, and so on. While it runs, that id is its request id (in its audit events, its log
lines and its calls to the cloud), so one id follows an export from the click to the cloud
job. A task sent from nowhere (Celery beat) has its own task id instead. Its "user agent"
names the task. Bound before the task runs, unbound after it.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from ims_portal.audit import context

REQUEST_ID_HEADER = "portal_request_id"

_task_origins: dict[str, Token[context.Origin]] = {}


@before_task_publish.connect(dispatch_uid="audit-task-origin-publish")
def carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Put the current request id on the outgoing task (unless the sender set one)."""
    request_id = context.current().request_id
    if headers is not None and request_id:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def request_id_of(task: Any, task_id: str) -> str:
    """The request id a task works under: the one it carries, else its own task id."""
    carried = task.request.get(REQUEST_ID_HEADER)
    if isinstance(carried, str) and context.REQUEST_ID_PATTERN.fullmatch(carried):
        return carried
    if task.request.is_eager:
        # Run in place (CELERY_TASK_ALWAYS_EAGER): no message, but the sender's origin is
        # the current one.
        return context.current().request_id or task_id
    return task_id


@task_prerun.connect(dispatch_uid="audit-task-origin")
def task_started(task_id: str, task: Any, **kwargs: Any) -> None:
    """Bind the task's origin for the audit events it records."""
    origin = context.Origin(
        request_id=request_id_of(task, task_id),
        user_agent=f"celery {task.name}",
        task_id=task_id,
    )
    _task_origins[task_id] = context.bind(origin)


@task_postrun.connect(dispatch_uid="audit-task-origin-end")
def task_ended(task_id: str, **kwargs: Any) -> None:
    """Unbind the origin of a task that has finished."""
    token = _task_origins.pop(task_id, None)
    if token is not None:
        context.unbind(token)
