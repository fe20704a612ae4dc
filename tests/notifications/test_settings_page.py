"""The settings page: the defaults it shows, each change it makes, and the audit event of
each change."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from ims_portal.audit.models import Action, AuditEvent
from ims_portal.notifications.models import Channel, Delivery, Event, Subscription
from tests.audit.helpers import only

pytestmark = pytest.mark.django_db

HOOK = "https://8.8.8.8/hooks/ims?token=not-for-the-trail"


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


def test_before_anything_is_saved_the_page_shows_the_default(as_alice):
    page = as_alice.get(reverse("notifications:settings")).content.decode()
    assert 'id="email-default"' in page
    ticked = set(re.findall(r'name="events" value="([^"]+)"[^>]*checked', page))
    assert ticked == set(Event.DEFAULT)  # every end, not stalls
    assert 'id="no-webhooks"' in page
    # A new webhook starts with the same events ticked.
    ticked = set(re.findall(r'name="new-events" value="([^"]+)"[^>]*checked', page))
    assert ticked == set(Event.DEFAULT)


@pytest.mark.parametrize(
    ("allow_private", "words"),
    [(False, "on the internet."), (True, "on the internet or on the company network.")],
)
def test_the_page_says_where_receivers_may_be_as_the_operator_set_it(
    as_alice, settings, allow_private, words
):
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = allow_private
    page = as_alice.get(reverse("notifications:settings")).content.decode()
    assert f"Receivers must be {words}" in page
    assert f"An https address {words[:-1]};" in page


def test_saving_the_email_settings_replaces_the_default_and_is_audited(as_alice, alice):
    response = as_alice.post(reverse("notifications:email"), {"events": ["export.failed"]})
    assert response.status_code == 302
    subscription = Subscription.objects.get(channel=Channel.EMAIL)
    assert subscription.events == ["export.failed"]
    event = only(Action.NOTIFY_SUBSCRIBED)
    assert event.actor_id == alice.pk
    assert event.details["events"] == ["export.failed"]
    assert event.target_type == "subscription" and event.target_id == str(subscription.pk)

    as_alice.post(reverse("notifications:email"), {"events": []})
    changed = only(Action.NOTIFY_CHANGED)
    assert changed.details["changes"] == {"events": [["export.failed"], []]}
    page = as_alice.get(reverse("notifications:settings")).content.decode()
    assert 'id="email-default"' not in page


def test_a_webhook_is_added_changed_and_removed_with_an_audit_event_each(as_alice, settings):
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = False
    response = as_alice.post(
        reverse("notifications:add_webhook"),
        {"new-url": HOOK, "new-events": ["export.succeeded", "export.stalled"], "new-active": "on"},
    )
    assert response.status_code == 302
    hook = Subscription.objects.get(channel=Channel.WEBHOOK)
    assert hook.secret.startswith("whsec_") and len(hook.secret) > 40
    added = only(Action.NOTIFY_SUBSCRIBED)
    assert added.details["url"] == "https://8.8.8.8/hooks/ims"  # no query in the trail
    assert hook.secret not in str(added.details)

    response = as_alice.post(
        reverse("notifications:webhook", args=[hook.pk]),
        {f"w{hook.pk}-url": HOOK, f"w{hook.pk}-events": ["export.failed"]},
    )
    assert response.status_code == 302
    changed = only(Action.NOTIFY_CHANGED)
    assert changed.details["changes"] == {
        "events": [["export.stalled", "export.succeeded"], ["export.failed"]],
        "active": [True, False],
    }
    as_alice.post(reverse("notifications:delete_webhook", args=[hook.pk]))
    assert not Subscription.objects.exists()
    assert only(Action.NOTIFY_UNSUBSCRIBED).details["url"] == "https://8.8.8.8/hooks/ims"


def test_a_loopback_webhook_is_refused_unless_the_operator_allows_it(as_alice, settings):
    data = {"new-url": "http://127.0.0.1:8080/hook", "new-events": ["export.failed"]}
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = False
    refused = as_alice.post(reverse("notifications:add_webhook"), data)
    assert refused.status_code == 422
    assert "private, loopback or link-local" in refused.content.decode()
    assert not Subscription.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.NOTIFY_SUBSCRIBED).exists()

    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = True
    assert as_alice.post(reverse("notifications:add_webhook"), data).status_code == 302


def test_the_secret_is_shown_to_its_owner_on_request_and_that_is_audited(as_alice, alice):
    hook = Subscription.objects.create(
        owner=alice, channel=Channel.WEBHOOK, url=HOOK, secret="whsec_" + "s" * 43
    )
    page = as_alice.get(reverse("notifications:settings")).content.decode()
    assert hook.secret not in page  # hidden until asked for

    shown = as_alice.post(reverse("notifications:secret", args=[hook.pk]), HTTP_HX_REQUEST="true")
    assert hook.secret in shown.content.decode()
    assert only(Action.NOTIFY_SECRET_REVEALED).target_id == str(hook.pk)

    rotated = as_alice.post(reverse("notifications:rotate_secret", args=[hook.pk]))
    hook.refresh_from_db()
    assert not hook.secret.endswith("s" * 43)
    assert hook.secret in rotated.content.decode()
    assert only(Action.NOTIFY_SECRET_ROTATED).target_id == str(hook.pk)


def test_a_test_event_is_queued_for_the_channel_and_audited(as_alice, alice):
    assert as_alice.post(reverse("notifications:email_test")).status_code == 302
    delivery = Delivery.objects.get()
    assert (delivery.event, delivery.channel, delivery.target) == (
        Event.TEST,
        Channel.EMAIL,
        "alice@example.com",
    )
    assert only(Action.NOTIFY_TEST_SENT).target_id == str(delivery.uid)


def test_the_nav_links_to_the_page_for_exporters_only(as_alice, client, carol):
    assert reverse("notifications:settings") in as_alice.get(reverse("home")).content.decode()
    client.force_login(carol)
    assert reverse("notifications:settings") not in client.get(reverse("home")).content.decode()
