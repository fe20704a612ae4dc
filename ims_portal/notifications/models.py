"""What a user asked to be told, and every notification owed or sent: the outbox.

A `Subscription` is one channel (e-mail to the user's address, or a webhook URL) and the
events it wants. A `Delivery` is one notification to one channel: written in the
transaction of the export change it reports (`outbox.py`), then sent by a Celery task
(`tasks.py`) that records each attempt on it, so nothing is lost when the broker is down
and the settings page can show what happened to each one.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ims_portal.exports.models import Status

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    """A webhook's signing secret: 32 random bytes, URL-safe, with a recognisable prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class Event(models.TextChoices):
    """What a notification reports. The values are the webhook payload's `type`."""

    SUCCEEDED = "export.succeeded", "Export succeeded"
    FAILED = "export.failed", "Export failed"
    REJECTED = "export.rejected", "Export refused by the cloud"
    UNKNOWN = "export.unknown", "Export outcome unknown (a person must check)"
    STALLED = "export.stalled", "Export stalled (no change from the cloud for a while)"
    # A succeeded export whose object OBS does not show, check after check (the proof of
    # the object, `Export.verification`).
    VERIFICATION_FAILED = (
        "export.verification_failed",
        "Export succeeded, but its file is not in OBS",
    )
    TEST = "test", "Test event"

    SUBSCRIBABLE: ClassVar[tuple[Event, ...]]  # what a subscription can ask for
    DEFAULT: ClassVar[frozenset[Event]]  # what a user gets by e-mail before saving anything


Event.SUBSCRIBABLE = (
    Event.SUCCEEDED,
    Event.FAILED,
    Event.REJECTED,
    Event.UNKNOWN,
    Event.STALLED,
    Event.VERIFICATION_FAILED,
)
# Every end of the user's own exports that they did not bring about themselves (cancelling
# and abandoning are their own doing), and a success whose file then proves missing: an
# e-mail says how it ended.
Event.DEFAULT = frozenset(
    {Event.SUCCEEDED, Event.FAILED, Event.REJECTED, Event.UNKNOWN, Event.VERIFICATION_FAILED}
)

# The export status each end-of-export event reports.
EVENT_OF_STATUS: Mapping[Status, Event] = MappingProxyType(
    {
        Status.SUCCEEDED: Event.SUCCEEDED,
        Status.FAILED: Event.FAILED,
        Status.REJECTED: Event.REJECTED,
        Status.UNKNOWN: Event.UNKNOWN,
    }
)


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class SubscriptionQuerySet(models.QuerySet["Subscription"]):
    def of(self, user: object) -> SubscriptionQuerySet:
        """Every lookup of subscriptions: only their owner sees or changes them."""
        return self.filter(owner=user)


class Subscription(models.Model):
    """One channel of one user and the events it is sent. A user without an e-mail one gets
    `Event.DEFAULT` by e-mail; saving the e-mail settings replaces that default."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    url = models.URLField(max_length=2000, blank=True)  # webhooks only
    # The HMAC-SHA256 key of the webhook's signatures. Kept as it is (signing needs it);
    # shown to its owner only, on request, and that is audited.
    secret = models.CharField(max_length=80, blank=True)
    events = models.JSONField(default=list, blank=True)  # Event values
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["channel", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner"],
                condition=Q(channel=Channel.EMAIL),
                name="notify_one_email_per_user",
            ),
        ]

    def __str__(self) -> str:
        return self.url if self.channel == Channel.WEBHOOK else f"e-mail to {self.owner}"

    @property
    def is_webhook(self) -> bool:
        return self.channel == Channel.WEBHOOK

    def wants(self, event: Event) -> bool:
        return self.active and event.value in self.events

    def event_labels(self) -> list[str]:
        return [Event(value).label for value in self.events if value in Event.values]


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Being sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Gave up"


class Delivery(models.Model):
    """One notification to one channel, and how its sending went (the outbox row)."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # payload `id`
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deliveries"
    )
    # None: the default e-mail of a user who never saved e-mail settings.
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    target = models.CharField(max_length=2000)  # the address or URL, as it was when queued
    event = models.CharField(max_length=40, choices=Event.choices)
    export = models.ForeignKey(
        "exports.Export",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    # Tells one notice of an event apart from the next of the same kind: a stall is told
    # once per quiet spell (the spell's start), an end once (empty).
    dedup_key = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()  # the event as sent: the webhook body, the mail's facts
    state = models.CharField(
        max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)  # webhooks
    latency_ms = models.PositiveIntegerField(null=True, blank=True)  # of the last attempt
    error = models.CharField(max_length=500, blank=True)  # why the last attempt failed
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["owner", "channel", "-created_at"], name="delivery_owner_log"),
        ]
        constraints = [
            # One notice per event and channel: a second poll of a stalled job, or a write
            # seen twice, adds nothing.
            models.UniqueConstraint(
                fields=["subscription", "export", "event", "dedup_key"],
                condition=Q(subscription__isnull=False, export__isnull=False),
                name="delivery_once_per_subscription",
            ),
            models.UniqueConstraint(
                fields=["owner", "export", "event", "dedup_key"],
                condition=Q(subscription__isnull=True, export__isnull=False),
                name="delivery_once_by_default_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.target}"

    @property
    def event_label(self) -> str:
        return Event(self.event).label if self.event in Event.values else self.event

    @property
    def is_delivered(self) -> bool:
        return self.state == DeliveryState.DELIVERED

    @property
    def is_failed(self) -> bool:
        return self.state == DeliveryState.FAILED
