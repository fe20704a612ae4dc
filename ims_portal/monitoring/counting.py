"""What each process counts as it happens: audit events written, and calls to the cloud.

Business events are counted from the audit trail itself, the one record of them: each
committed `AuditEvent` counts once, as an audit event, and, by its action, as an export
requested or ended or a sign-in. An event rolled back with its transaction counts not at
all. Cloud calls are counted by an observer of the cloud client's transport, which knows
nothing of Django or of these metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from ims_portal.audit.models import Action, AuditEvent
from ims_portal.cloud import transport
from ims_portal.exports.models import STATUS_TABLE, Status
from ims_portal.monitoring import metrics

# A terminal status is entered with its own audit action (the state machine's table).
FINISHED_BY_ACTION = {
    str(rule.action): status.value
    for status, rule in STATUS_TABLE.items()
    if status in Status.TERMINAL
}
SIGN_IN_OUTCOMES = {
    str(Action.SIGN_IN): "success",
    str(Action.SUPERUSER_SIGN_IN): "superuser",
    str(Action.SIGN_IN_FAILED): "failure",
    str(Action.SIGN_IN_REFUSED): "refused",
    str(Action.NO_ACCESS): "no_access",
}

_stop_observing: Callable[[], None] | None = None


def count_event(action: str, outcome: str) -> None:
    """Count one committed audit event under every metric its action feeds."""
    metrics.AUDIT_EVENTS.labels(action, outcome).inc()
    if action == Action.EXPORT_REQUESTED:
        metrics.EXPORTS_CREATED.inc()
    if action in FINISHED_BY_ACTION:
        metrics.EXPORTS_FINISHED.labels(FINISHED_BY_ACTION[action]).inc()
    if action in SIGN_IN_OUTCOMES:
        metrics.SIGN_INS.labels(SIGN_IN_OUTCOMES[action]).inc()


def audit_event_saved(
    sender: type[AuditEvent], instance: AuditEvent, created: bool, using: str, **kwargs: Any
) -> None:
    """`post_save` receiver: count the event once its transaction has committed."""
    if not created:
        return
    action, outcome = instance.action, instance.outcome
    transaction.on_commit(lambda: count_event(action, outcome), using=using)


def cloud_exchange(exchange: transport.Exchange) -> None:
    """Cloud transport observer: time the exchange under its endpoint and status code."""
    metrics.CLOUD_REQUESTS.labels(exchange.method, exchange.route, exchange.code).observe(
        exchange.seconds
    )


def start() -> None:
    """Start counting in this process (the app's `ready()`); a second call does nothing."""
    global _stop_observing
    post_save.connect(audit_event_saved, sender=AuditEvent, dispatch_uid="monitoring-audit")
    if _stop_observing is None:
        _stop_observing = transport.observe(cloud_exchange)
