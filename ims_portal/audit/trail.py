"""`record()`: the one way anything is written to the audit trail.

An event joins the chain inside the caller's transaction: if the change it records is
rolled back, so is the event, and the reverse. Writers are serialised so that each one
reads the true head of the chain and no two events ever claim the same predecessor:

- PostgreSQL: a transaction-scoped advisory lock, held until the caller's transaction
  commits or rolls back. Web processes and every worker take the same lock; readers are
  never blocked.
- SQLite (development): the settings open every transaction with BEGIN IMMEDIATE, which
  takes the database's write lock at once, so writers are serialised already.

The lock is held until the caller's transaction ends, and the next writer waits for it:
record last, just before the commit (as `Export._write` does).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router, transaction
from django.utils import timezone

from ims_portal.accounts.roles import roles_of
from ims_portal.audit import chain, context
from ims_portal.audit.models import Action, AuditEvent, Outcome

log = logging.getLogger(__name__)

# The advisory lock key of the chain (any bigint; this one spells "AUDIT" in ASCII).
CHAIN_LOCK_KEY = 0x4155444954

SYSTEM = None  # the actor of work nobody asked for in person: workers, beat
SYSTEM_NAME = "system"

# Keys that must never carry a value into the trail, however they got into `details`.
SECRET_KEY_PATTERN = re.compile(
    r"passw|secret|token|api_?key|authori[sz]ation|cookie|signature|credential|session_?id",
    re.IGNORECASE,
)
REDACTED = "[redacted]"

Actor = User | AnonymousUser | None


@dataclass(frozen=True)
class Target:
    """What an event is about, named so that it can be found later."""

    type: str
    id: str = ""
    label: str = ""


def target_of(obj: models.Model | Target | None) -> Target | None:
    """A model instance as a target: its model name, primary key and `str()`."""
    if obj is None or isinstance(obj, Target):
        return obj
    return Target(obj._meta.model_name or "", str(obj.pk), str(obj))


def record(
    actor: Actor,
    action: Action | str,
    target: models.Model | Target | None = None,
    *,
    outcome: Outcome | str = Outcome.SUCCESS,
    **details: Any,
) -> AuditEvent:
    """Append one event to the audit trail, in the caller's transaction, and return it.

    `actor` is the signed-in user (`SYSTEM`, i.e. None, for workers; an anonymous user
    for failed sign-ins); `details` are JSON-able facts (bucket URL, format, job id, error
    code...). Keys that look like secrets are redacted. The request id, source IP and
    user agent come from the bound `context.Origin`.
    """
    origin = context.current()
    aimed = target_of(target)
    using = router.db_for_write(AuditEvent)
    event = AuditEvent(
        **_actor_fields(actor),
        ip=origin.ip,
        user_agent=origin.user_agent[: context.USER_AGENT_MAX],
        request_id=origin.request_id[:64],
        action=str(action),
        target_type=_text(aimed.type, 40) if aimed else "",
        target_id=_text(aimed.id, 64) if aimed else "",
        target_label=_text(aimed.label, 255) if aimed else "",
        outcome=str(outcome),
        details=chain.json_safe(_redacted(details)),
    )
    event.details_text = chain.canonical_details(event.details)
    # No savepoint: the event and the change it records commit or roll back together, and
    # a savepoint's RELEASE would be one more round trip while the lock is held.
    with transaction.atomic(using=using, savepoint=False):
        event.prev_hash = _lock_and_read_head(using)
        # Stamped under the lock, so time never runs backwards along the chain (per clock).
        event.at = timezone.now()
        event.hash = chain.digest(chain.values_of(event))
        event.save(using=using, force_insert=True)
    return event


def _text(value: object, limit: int) -> str:
    """A target field as stored. Targets can echo what a user typed (an image id in a
    refused form), and PostgreSQL text cannot hold NUL: U+FFFD stands in, as in details."""
    return str(value).replace("\x00", "\ufffd")[:limit]


def _lock_and_read_head(using: str) -> str:
    """Serialise the writers, then read the head of the chain: the hash the new event
    links to."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(AuditEvent._meta.db_table)
        head_of_chain = f"SELECT hash FROM {table} ORDER BY id DESC LIMIT 1"  # noqa: S608 - the model's table
        with connection.cursor() as cursor:
            # Both in one round trip: every one the lock is held over makes the next writer
            # wait. Each statement of the string takes its own snapshot, so the head is read
            # only once the lock is granted, and is the last writer's committed event.
            cursor.execute(f"SELECT pg_advisory_xact_lock(%s); {head_of_chain}", [CHAIN_LOCK_KEY])
            cursor.nextset()
            head = cursor.fetchone()
        return head[0] if head else chain.GENESIS
    if connection.vendor == "sqlite":
        if connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE":
            raise ImproperlyConfigured(
                "The audit trail on SQLite needs transaction_mode IMMEDIATE (see settings)."
            )
        latest = AuditEvent.objects.using(using).order_by("-id").values_list("hash", flat=True)
        return latest.first() or chain.GENESIS
    raise ImproperlyConfigured(f"The audit trail cannot serialise writers on {connection.vendor}.")


def _actor_fields(actor: Actor) -> dict[str, Any]:
    if actor is None:
        return {"actor_username": SYSTEM_NAME, "actor_roles": SYSTEM_NAME}
    if not actor.is_authenticated:
        return {}
    roles = sorted(roles_of(actor))
    if getattr(actor, "is_superuser", False):
        roles.append("superuser")
    return {
        "actor_id": actor.pk,
        "actor_username": actor.get_username()[:150],
        "actor_email": (getattr(actor, "email", "") or "")[:254],
        "actor_roles": ",".join(roles)[:64],
    }


def _redacted(details: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in details.items():
        if SECRET_KEY_PATTERN.search(key):
            log.warning("audit: a detail named %r was redacted", key)
            clean[key] = REDACTED
        elif isinstance(value, Mapping):
            clean[key] = _redacted(value)
        else:
            clean[key] = value
    return clean
