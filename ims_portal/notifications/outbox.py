"""The outbox: a notification is a `Delivery` row written with the change it reports.

`on_export_written` runs inside the export writer's transaction (`exports.signals`), so a
status change and the notifications it owes commit or roll back together. Only once the
transaction has committed is the sending task enqueued; should the broker be down then,
the row stays pending and `tasks.send_due` sends it later. Nothing is ever sent from inside
the transaction, and nothing a broker does can undo a status change.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from ims_portal.exports.models import Export, Status
from ims_portal.notifications import events
from ims_portal.notifications.models import Channel, Delivery, Event, Subscription

log = logging.getLogger(__name__)


def on_export_written(
    sender: object, *, export: Export, from_status: Status, at: datetime, **kwargs: Any
) -> None:
    """Queue the notifications one write of an export raises (see `events.events_of`)."""
    for event, key in events.events_of(export, from_status, at):
        queue(export, event, key, at)


def recipients(owner: Any, event: Event) -> list[tuple[Subscription | None, Channel, str]]:
    """Where `event` about one of `owner`'s exports goes: their subscriptions that want it,
    and, until they save e-mail settings, the default e-mail (`Event.DEFAULT`)."""
    subscriptions = list(Subscription.objects.of(owner))
    found: list[tuple[Subscription | None, Channel, str]] = []
    for subscription in subscriptions:
        if not subscription.wants(event):
            continue
        if subscription.is_webhook:
            found.append((subscription, Channel.WEBHOOK, subscription.url))
        elif owner.email:
            found.append((subscription, Channel.EMAIL, owner.email))
    has_email = any(not s.is_webhook for s in subscriptions)
    if not has_email and event in Event.DEFAULT and owner.email:
        found.append((None, Channel.EMAIL, owner.email))
    return found


def queue(export: Export, event: Event, key: str, at: datetime) -> list[Delivery]:
    """Write a pending delivery of `event` to each recipient, in the caller's transaction,
    and send them once it commits. A notice already queued (same event, key, channel) is
    not queued twice."""
    queued = []
    for subscription, channel, target in recipients(export.owner, event):
        existing = Delivery.objects.filter(export=export, event=event, dedup_key=key)
        if subscription is None:
            existing = existing.filter(owner=export.owner, subscription__isnull=True)
        else:
            existing = existing.filter(subscription=subscription)
        if existing.exists():
            continue
        uid = uuid.uuid4()
        delivery = Delivery(
            uid=uid,
            owner=export.owner,
            subscription=subscription,
            channel=channel,
            target=target,
            event=event,
            export=export,
            dedup_key=key,
            payload=events.payload(event, export, uid=uid, at=at),
            next_attempt_at=at,
            created_at=at,
        )
        try:
            with transaction.atomic():  # a savepoint: a lost race must not undo the change
                delivery.save(force_insert=True)
        except IntegrityError:
            continue
        queued.append(delivery)
    send_on_commit(d.pk for d in queued)
    return queued


def queue_test(subscription: Subscription | None, owner: Any) -> Delivery:
    """A test event to one channel of `owner`'s (None: their e-mail), sent on commit."""
    uid = uuid.uuid4()
    channel = subscription.channel if subscription is not None else Channel.EMAIL
    target = (
        subscription.url if subscription is not None and subscription.is_webhook else owner.email
    )
    delivery = Delivery.objects.create(
        uid=uid,
        owner=owner,
        subscription=subscription,
        channel=channel,
        target=target,
        event=Event.TEST,
        payload=events.payload(Event.TEST, None, uid=uid),
    )
    send_on_commit([delivery.pk])
    return delivery


def send_on_commit(delivery_ids: Iterable[int]) -> None:
    ids = list(delivery_ids)
    if ids:
        transaction.on_commit(lambda: enqueue(ids))


def enqueue(delivery_ids: Iterable[int]) -> None:
    """Hand each delivery to a worker; a broker that does not answer is logged, not raised:
    the pending rows are swept up by `tasks.send_due`."""
    from ims_portal.notifications.tasks import deliver

    for delivery_id in delivery_ids:
        try:
            # No publish retries: the outbox row is the retry, and a status change must not
            # wait on a broker that is down.
            deliver.apply_async((delivery_id,), retry=False)
        except Exception as error:
            log.warning(
                "notification %s stays queued: the broker did not take it (%s)",
                delivery_id,
                error,
            )
