"""The Celery tasks that send the outbox: one delivery at a time, with retries and back-off.

`deliver` claims a pending delivery (a compare-and-swap on its state and attempt count, so
a message sent twice sends once), makes one attempt, records it, and schedules the next
attempt with exponential back-off until NOTIFY_MAX_ATTEMPTS. `send_due` (Celery beat)
picks up deliveries whose message went missing: the broker was down when they were
queued, or a worker died while sending.
"""

from __future__ import annotations

import logging
import random
import smtplib
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from ims_portal.notifications import mail, targets, webhooks
from ims_portal.notifications.models import Channel, Delivery, DeliveryState, Event

log = logging.getLogger(__name__)

# Answers after which the same request may well succeed later.
RETRYABLE_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))
ERROR_MAX = 500
SWEEP_BATCH = 500  # deliveries one sweep hands out; the next sweep takes the rest


class Permanent(Exception):
    """This delivery can never succeed as it stands: no retry."""


class Retryable(Exception):
    """This attempt failed; a later one may succeed."""


def retry_delay(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from NOTIFY_RETRY_FIRST, capped at
    NOTIFY_RETRY_MAX, with some jitter so that many failures do not retry in step."""
    first: float = settings.NOTIFY_RETRY_FIRST
    delay = min(first * 2 ** max(attempts - 1, 0), float(settings.NOTIFY_RETRY_MAX))
    return delay * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not security


@shared_task(acks_late=True)
def deliver(delivery_id: int) -> str | None:
    """Make one attempt at a pending delivery and record how it went; return its state."""
    delivery = Delivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING).first()
    if delivery is None:
        return None
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery.pk, state=DeliveryState.PENDING, attempts=delivery.attempts
    ).update(state=DeliveryState.SENDING, attempts=delivery.attempts + 1, last_attempt_at=now)
    if not claimed:
        return None  # another message of it got there first
    delivery.attempts += 1
    facts: dict[str, Any] = {"response_code": None, "latency_ms": None, "error": ""}
    try:
        facts.update(_attempt(delivery))
    except Permanent as error:
        return _record(delivery, DeliveryState.FAILED, error=str(error), **_timing(error))
    except Retryable as error:
        facts.update(error=str(error), **_timing(error))
        if delivery.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
            facts["error"] = f"{facts['error']} (gave up after {delivery.attempts} attempts)"
            return _record(delivery, DeliveryState.FAILED, **facts)
        due = timezone.now() + timedelta(seconds=retry_delay(delivery.attempts))
        state = _record(delivery, DeliveryState.PENDING, next_attempt_at=due, **facts)
        try:
            deliver.apply_async((delivery.pk,), eta=due, retry=False)
        except Exception as broker_error:
            log.warning("notification %s: retry left to the sweep (%s)", delivery.pk, broker_error)
        return state
    return _record(delivery, DeliveryState.DELIVERED, delivered_at=timezone.now(), **facts)


def _timing(error: Exception) -> dict[str, Any]:
    return {
        "response_code": getattr(error, "response_code", None),
        "latency_ms": getattr(error, "latency_ms", None),
    }


def _failure(kind: type[Exception], message: str, **facts: Any) -> Exception:
    error = kind(message)
    for name, value in facts.items():
        setattr(error, name, value)
    return error


def _attempt(delivery: Delivery) -> dict[str, Any]:
    """One try at sending; return the facts of a success, raise `Permanent` or `Retryable`."""
    event = Event(delivery.event)
    if delivery.channel == Channel.EMAIL:
        started = timezone.now()
        try:
            mail.send(delivery.target, event, delivery.payload)
        except smtplib.SMTPRecipientsRefused as error:
            raise Permanent(f"the mail server refused the address ({error})") from error
        except (smtplib.SMTPException, OSError) as error:
            raise Retryable(f"the mail server did not take it ({error})") from error
        return {"latency_ms": _ms(timezone.now() - started)}
    subscription = delivery.subscription
    if subscription is None or not subscription.active:
        raise Permanent("the webhook was removed or switched off")
    try:
        answer = webhooks.post(
            subscription.url,
            delivery.payload,
            subscription.secret,
            timeout=settings.NOTIFY_WEBHOOK_TIMEOUT,
        )
    except targets.RefusedTarget as error:
        raise Permanent(f"refused: {error}") from error
    except targets.UnresolvedTarget as error:
        raise Retryable(str(error)) from error
    except webhooks.SendError as error:
        raise _failure(Retryable, f"no answer: {error}", latency_ms=error.latency_ms) from error
    facts = {"response_code": answer.status, "latency_ms": answer.latency_ms}
    if 200 <= answer.status < 300:
        return facts
    kind = Retryable if answer.status in RETRYABLE_STATUSES else Permanent
    raise _failure(kind, f"the receiver answered HTTP {answer.status}", **facts)


def _ms(elapsed: timedelta) -> int:
    return round(elapsed.total_seconds() * 1000)


def _record(delivery: Delivery, state: DeliveryState, **fields: Any) -> str:
    if "error" in fields:
        fields["error"] = str(fields["error"])[:ERROR_MAX]
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
        state=state, **fields
    )
    level = logging.INFO if state != DeliveryState.FAILED else logging.WARNING
    log.log(
        level,
        "notification %s (%s to %s): %s after %s attempt(s)%s",
        delivery.pk,
        delivery.event,
        delivery.channel,
        state,
        delivery.attempts,
        f": {fields['error']}" if fields.get("error") else "",
    )
    return state


@shared_task
def send_due() -> dict[str, int]:
    """Send the deliveries whose message went missing (run by Celery beat).

    A pending delivery past its due time by more than a grace period had its message lost
    (the broker was down when it was queued, or restarted since); one still `sending` long
    after its attempt began lost its worker, and is tried again: a receiver may then see it
    twice, which the delivery id lets it recognise.
    """
    now = timezone.now()
    grace = timedelta(seconds=settings.NOTIFY_SWEEP_GRACE)
    stuck_since = now - timedelta(seconds=settings.NOTIFY_WEBHOOK_TIMEOUT * 2 + 60)
    stuck = list(
        Delivery.objects.filter(
            state=DeliveryState.SENDING, last_attempt_at__lt=stuck_since
        ).values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    revived = Delivery.objects.filter(pk__in=stuck, state=DeliveryState.SENDING).update(
        state=DeliveryState.PENDING, next_attempt_at=now
    )
    overdue = Delivery.objects.filter(
        state=DeliveryState.PENDING, next_attempt_at__lt=now - grace
    ).values_list("pk", flat=True)
    again = sorted(set(overdue[:SWEEP_BATCH]) | set(stuck))
    for delivery_id in again:
        deliver.delay(delivery_id)
    if again:
        log.info("notifications: %s sent again (%s had lost their worker)", len(again), revived)
    return {"sent": len(again), "revived": revived}
