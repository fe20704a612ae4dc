"""Sending one notification e-mail through Django's mail framework: plain text and HTML,
both written from the event as queued, with an absolute link to the export."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from ims_portal.notifications.events import absolute
from ims_portal.notifications.models import Event

SUBJECT_PREFIX = "[IMS Export Portal] "


def context_of(event: Event, payload: dict[str, Any]) -> dict[str, Any]:
    export = payload.get("export")
    return {
        "event": event,
        "payload": payload,
        "export": export,
        "settings_url": absolute(reverse("notifications:settings")),
    }


def subject_of(event: Event, payload: dict[str, Any]) -> str:
    export = payload.get("export")
    if export is None:
        return SUBJECT_PREFIX + "Test notification"
    return SUBJECT_PREFIX + f"{event.label}: {export['image']['name']} → {export['destination']}"


def send(to: str, event: Event, payload: dict[str, Any]) -> None:
    """Send the notification to `to` (raises what the mail backend raises)."""
    context = context_of(event, payload)
    message = EmailMultiAlternatives(
        subject=subject_of(event, payload),
        body=render_to_string("notifications/email/event.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"X-IMS-Portal-Event": event.value, "X-IMS-Portal-Delivery": payload["id"]},
    )
    message.attach_alternative(
        render_to_string("notifications/email/event.html", context), "text/html"
    )
    message.send()
