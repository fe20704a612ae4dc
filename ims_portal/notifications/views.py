"""The notifications settings page: e-mail events, webhooks, their secrets, test events and
the delivery log. Every change is audited; a user sees and changes only their own."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.contrib import messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from ims_portal.accounts.access import exporter_required
from ims_portal.audit.models import Action
from ims_portal.audit.trail import Target, record
from ims_portal.notifications import outbox, targets
from ims_portal.notifications.forms import EmailSettingsForm, WebhookForm
from ims_portal.notifications.models import (
    Channel,
    Delivery,
    DeliveryState,
    Event,
    Subscription,
    new_secret,
)
from ims_portal.pages import SignedInRequest, is_fragment_request

LOG_SIZE = 20  # deliveries listed per channel; older ones stay in the table
SETTINGS = "notifications:settings"


def _target(subscription: Subscription) -> Target:
    return Target("subscription", str(subscription.pk), str(subscription)[:255])


def _delivery_target(delivery: Delivery) -> Target:
    return Target(
        "delivery", str(delivery.uid), f"test event to {_bare_url(delivery.target)}"[:255]
    )


def _bare_url(url: str) -> str:
    """A URL as the audit trail keeps it: no query or fragment, which may carry a token."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _webhook_or_404(request: SignedInRequest, pk: int) -> Subscription:
    subscription = (
        Subscription.objects.of(request.user).filter(pk=pk, channel=Channel.WEBHOOK).first()
    )
    if subscription is None:
        raise Http404("No such webhook.")
    return subscription


def _email_subscription(request: SignedInRequest) -> Subscription | None:
    return Subscription.objects.of(request.user).filter(channel=Channel.EMAIL).first()


def _log(request: SignedInRequest, subscription: Subscription | None) -> QuerySet[Delivery]:
    """The latest deliveries of one channel: a webhook's, or the user's e-mails (with the
    default ones sent before they saved settings)."""
    deliveries = Delivery.objects.filter(owner=request.user)
    if subscription is None or not subscription.is_webhook:
        deliveries = deliveries.filter(channel=Channel.EMAIL)
    else:
        deliveries = deliveries.filter(subscription=subscription)
    return deliveries.select_related("export")[:LOG_SIZE]


def _log_context(request: SignedInRequest, subscription: Subscription | None) -> dict[str, Any]:
    deliveries = list(_log(request, subscription))
    return {
        "deliveries": deliveries,
        "log_busy": any(
            d.state in (DeliveryState.PENDING, DeliveryState.SENDING) for d in deliveries
        ),
        "log_subscription": subscription,
    }


def _page(
    request: SignedInRequest,
    *,
    email_form: EmailSettingsForm | None = None,
    add_form: WebhookForm | None = None,
    forms_by_pk: dict[int, WebhookForm] | None = None,
    status: int = 200,
) -> TemplateResponse:
    email = _email_subscription(request)
    if email_form is None:
        chosen = email.events if email is not None else sorted(Event.DEFAULT)
        email_form = EmailSettingsForm(initial={"events": chosen})
    webhooks = []
    for subscription in Subscription.objects.of(request.user).filter(channel=Channel.WEBHOOK):
        form = (forms_by_pk or {}).get(subscription.pk) or WebhookForm(
            initial={
                "url": subscription.url,
                "events": subscription.events,
                "active": subscription.active,
            },
            prefix=f"w{subscription.pk}",
        )
        webhooks.append(
            {"subscription": subscription, "form": form, **_log_context(request, subscription)}
        )
    context = {
        "email_subscription": email,
        "email_is_default": email is None,
        "email_form": email_form,
        "email_log": _log_context(request, email),
        "webhooks": webhooks,
        # A new webhook starts with the events a user gets by e-mail before choosing.
        "add_form": add_form
        or WebhookForm(prefix="new", initial={"events": sorted(Event.DEFAULT)}),
        "receivers_may_be": targets.where_receivers_may_be(),
    }
    return TemplateResponse(request, "notifications/settings.html", context, status=status)


@exporter_required
@require_GET
def settings_page(request: SignedInRequest) -> HttpResponse:
    """The user's notification settings: which events go by e-mail, their webhooks with
    each one's delivery log, and a test event for each channel."""
    return _page(request)


@exporter_required
@require_POST
def save_email(request: SignedInRequest) -> HttpResponse:
    """Save which events reach the user by e-mail (this replaces the default)."""
    form = EmailSettingsForm(request.POST)
    if not form.is_valid():
        return _page(request, email_form=form, status=422)
    events = sorted(form.cleaned_data["events"])
    with transaction.atomic():
        subscription = _email_subscription(request)
        if subscription is None:
            subscription = Subscription.objects.create(
                owner=request.user, channel=Channel.EMAIL, events=events
            )
            record(
                request.user,
                Action.NOTIFY_SUBSCRIBED,
                _target(subscription),
                channel=Channel.EMAIL,
                events=events,
                replaces_default=sorted(Event.DEFAULT),
            )
        elif subscription.events != events:
            before = subscription.events
            subscription.events, subscription.updated_at = events, timezone.now()
            subscription.save(update_fields=["events", "updated_at"])
            record(
                request.user,
                Action.NOTIFY_CHANGED,
                _target(subscription),
                channel=Channel.EMAIL,
                changes={"events": [before, events]},
            )
    messages.success(request, "E-mail settings saved.")
    return redirect(SETTINGS)


@exporter_required
@require_POST
def add_webhook(request: SignedInRequest) -> HttpResponse:
    """Add a webhook, with a new signing secret of its own."""
    form = WebhookForm(request.POST, prefix="new")
    if not form.is_valid():
        return _page(request, add_form=form, status=422)
    with transaction.atomic():
        subscription = Subscription.objects.create(
            owner=request.user,
            channel=Channel.WEBHOOK,
            url=form.cleaned_data["url"],
            events=sorted(form.cleaned_data["events"]),
            active=form.cleaned_data["active"],
            secret=new_secret(),
        )
        record(
            request.user,
            Action.NOTIFY_SUBSCRIBED,
            _target(subscription),
            channel=Channel.WEBHOOK,
            url=_bare_url(subscription.url),
            events=subscription.events,
            active=subscription.active,
        )
    messages.success(
        request,
        "Webhook added. Show its signing secret below and give it to the receiver, "
        "which checks every request's signature with it.",
    )
    return redirect(SETTINGS)


@exporter_required
@require_POST
def change_webhook(request: SignedInRequest, pk: int) -> HttpResponse:
    """Change a webhook's URL, events or whether it is active."""
    subscription = _webhook_or_404(request, pk)
    form = WebhookForm(request.POST, prefix=f"w{pk}")
    if not form.is_valid():
        return _page(request, forms_by_pk={pk: form}, status=422)
    form.cleaned_data["events"] = sorted(form.cleaned_data["events"])
    changes = form.changes_from(
        {"url": subscription.url, "events": subscription.events, "active": subscription.active}
    )
    if changes:
        with transaction.atomic():
            for name, (_, value) in changes.items():
                setattr(subscription, name, value)
            subscription.updated_at = timezone.now()
            subscription.save()
            if "url" in changes:
                changes["url"] = [_bare_url(url) for url in changes["url"]]
            record(
                request.user,
                Action.NOTIFY_CHANGED,
                _target(subscription),
                channel=Channel.WEBHOOK,
                changes=changes,
            )
    messages.success(request, "Webhook saved." if changes else "Nothing changed.")
    return redirect(SETTINGS)


@exporter_required
@require_POST
def delete_webhook(request: SignedInRequest, pk: int) -> HttpResponse:
    """Remove a webhook, and its delivery log with it."""
    subscription = _webhook_or_404(request, pk)
    with transaction.atomic():
        record(
            request.user,
            Action.NOTIFY_UNSUBSCRIBED,
            _target(subscription),
            channel=Channel.WEBHOOK,
            url=_bare_url(subscription.url),
        )
        subscription.delete()
    messages.success(request, "Webhook removed.")
    return redirect(SETTINGS)


def _secret_response(
    request: SignedInRequest, subscription: Subscription, *, rotated: bool
) -> HttpResponse:
    context = {"subscription": subscription, "revealed": True, "rotated": rotated}
    if is_fragment_request(request):
        return TemplateResponse(request, "notifications/partials/secret.html", context)
    page = _page(request)
    page.context_data = {**(page.context_data or {}), "revealed_pk": subscription.pk, **context}
    return page


@exporter_required
@require_POST
def reveal_secret(request: SignedInRequest, pk: int) -> HttpResponse:
    """Show a webhook's signing secret to its owner (audited: it lets anyone forge events)."""
    subscription = _webhook_or_404(request, pk)
    record(
        request.user,
        Action.NOTIFY_SECRET_REVEALED,
        _target(subscription),
        channel=Channel.WEBHOOK,
    )
    return _secret_response(request, subscription, rotated=False)


@exporter_required
@require_POST
def rotate_secret(request: SignedInRequest, pk: int) -> HttpResponse:
    """Replace a webhook's signing secret; the old one stops being used at once."""
    subscription = _webhook_or_404(request, pk)
    with transaction.atomic():
        subscription.secret, subscription.updated_at = new_secret(), timezone.now()
        subscription.save(update_fields=["secret", "updated_at"])
        record(
            request.user,
            Action.NOTIFY_SECRET_ROTATED,
            _target(subscription),
            channel=Channel.WEBHOOK,
        )
    return _secret_response(request, subscription, rotated=True)


@exporter_required
@require_POST
def test_email(request: SignedInRequest) -> HttpResponse:
    """Send a test e-mail to the user's address."""
    if not request.user.email:
        messages.error(request, "Your account has no e-mail address to send to.")
        return redirect(SETTINGS)
    with transaction.atomic():
        delivery = outbox.queue_test(_email_subscription(request), request.user)
        record(
            request.user,
            Action.NOTIFY_TEST_SENT,
            _delivery_target(delivery),
            channel=Channel.EMAIL,
        )
    messages.success(request, f"Test e-mail on its way to {request.user.email}.")
    return redirect(SETTINGS)


@exporter_required
@require_POST
def test_webhook(request: SignedInRequest, pk: int) -> HttpResponse:
    """Send a test event to a webhook; its delivery log shows how it went."""
    subscription = _webhook_or_404(request, pk)
    with transaction.atomic():
        delivery = outbox.queue_test(subscription, request.user)
        record(
            request.user,
            Action.NOTIFY_TEST_SENT,
            _delivery_target(delivery),
            channel=Channel.WEBHOOK,
            subscription=subscription.pk,
        )
    messages.success(request, "Test event on its way; its delivery shows below.")
    return redirect(SETTINGS)


def _log_response(request: SignedInRequest, subscription: Subscription | None) -> HttpResponse:
    context = _log_context(request, subscription)
    response = TemplateResponse(request, "notifications/partials/deliveries.html", context)
    if not context["log_busy"] and is_fragment_request(request):
        response.render()
        return HttpResponseStopPolling(response.content)
    return response


@exporter_required
@require_GET
def email_log(request: SignedInRequest) -> HttpResponse:
    """The e-mail delivery log, live while a delivery is under way."""
    return _log_response(request, _email_subscription(request))


@exporter_required
@require_GET
def webhook_log(request: SignedInRequest, pk: int) -> HttpResponse:
    """A webhook's delivery log, live while a delivery is under way."""
    return _log_response(request, _webhook_or_404(request, pk))
