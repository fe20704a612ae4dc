"""The admin site's change log, copied into the audit trail.

Every admin change goes through `LogEntryManager.log_actions`, which saves one entry but
bulk-creates several (deleting many rows at once) without a `post_save` signal. So the
audit hooks the method itself rather than the signal, and misses none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry, LogEntryManager

from ims_portal.audit.models import Action
from ims_portal.audit.trail import Target, record

ADMIN_ACTIONS = {
    ADDITION: Action.ADMIN_ADDED,
    CHANGE: Action.ADMIN_CHANGED,
    DELETION: Action.ADMIN_DELETED,
}


def record_admin_entry(entry: LogEntry) -> None:
    """One audit event per admin log entry, in the admin's own transaction."""
    content_type = entry.content_type
    record(
        entry.user,
        ADMIN_ACTIONS.get(entry.action_flag, Action.ADMIN_CHANGED),
        Target(
            content_type.model if content_type else "",
            str(entry.object_id or ""),
            entry.object_repr,
        ),
        app_label=content_type.app_label if content_type else "",
        message=entry.get_change_message(),
    )


def _audited(log_actions: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(log_actions)
    def wrapper(manager: LogEntryManager, *args: Any, **kwargs: Any) -> Any:
        result = log_actions(manager, *args, **kwargs)
        for entry in [result] if isinstance(result, LogEntry) else result:
            record_admin_entry(entry)
        return result

    wrapper.audited = True  # type: ignore[attr-defined]
    return wrapper


def audit_admin_log() -> None:
    """Make every admin log entry also an audit event (once, however often it is called)."""
    if not getattr(LogEntryManager.log_actions, "audited", False):
        LogEntryManager.log_actions = _audited(LogEntryManager.log_actions)  # type: ignore[method-assign]
