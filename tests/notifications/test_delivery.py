"""One delivery attempt, run in this process, against a real SMTP server and a real HTTP
receiver on loopback: what is sent, how it is signed, and what the delivery log records."""

from __future__ import annotations

import pytest

from ims_portal.exports.models import Export, Status
from ims_portal.notifications import outbox, webhooks
from ims_portal.notifications.models import (
    Channel,
    Delivery,
    DeliveryState,
    Event,
    Subscription,
    new_secret,
)
from ims_portal.notifications.tasks import deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail_to(smtp, settings):
    """Django's mail, in this process, to the test SMTP server."""
    settings.MAILERS = smtp.mailers
    return smtp


def failed_export(make_export, owner) -> Export:
    export = make_export(owner, image_name="db-07", object_name="db-07.qcow2")
    export.transition(Status.SUBMITTING)
    export.transition(Status.SUBMITTED, job_id="ff80808290000001")
    export.transition(
        Status.FAILED,
        error_code="IMG.0141",
        error_message="The image's snapshot is damaged.",
        error_remedy="Create the image again from its server.",
    )
    return export


def test_the_mail_has_text_and_html_with_an_absolute_link(alice, make_export, mail_to):
    export = failed_export(make_export, alice)
    delivery = Delivery.objects.get()
    assert deliver(delivery.pk) == DeliveryState.DELIVERED

    (message,) = mail_to.wait_for(1)
    assert mail_to.mailbox.envelopes[0][1] == ["alice@example.com"]
    assert (
        message["Subject"] == "[IMS Export Portal] Export failed: db-07 → ims-exports:db-07.qcow2"
    )
    assert message["X-IMS-Portal-Event"] == "export.failed"
    link = f"http://portal.test/exports/{export.pk}/"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert link in text and f'href="{link}"' in html
    assert "The image's snapshot is damaged." in text
    assert "Create the image again from its server." in text
    assert "IMG.0141" in html
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.delivered_at is not None) == (1, True)


def test_a_mail_server_that_does_not_answer_is_retried_later(alice, make_export, settings):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},  # nothing listens
        }
    }
    failed_export(make_export, alice)
    delivery = Delivery.objects.get()
    assert deliver(delivery.pk) == DeliveryState.PENDING
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and "mail server did not take it" in delivery.error
    assert delivery.next_attempt_at > delivery.last_attempt_at


def hook(owner, url: str, *events: Event) -> Subscription:
    return Subscription.objects.create(
        owner=owner,
        channel=Channel.WEBHOOK,
        url=url,
        secret=new_secret(),
        events=[e.value for e in events],
    )


def test_a_webhook_is_signed_over_timestamp_and_body(alice, make_export, receiver, settings):
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = True
    subscription = hook(alice, receiver.url, Event.FAILED)
    receiver.secret = subscription.secret
    export = failed_export(make_export, alice)
    delivery = Delivery.objects.get(channel=Channel.WEBHOOK)
    assert deliver(delivery.pk) == DeliveryState.DELIVERED

    (request,) = receiver.wait_for(1)
    assert request.signature_ok
    assert request.headers[":path"] == "/hooks/ims?source=portal"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-ims-portal-event"] == "export.failed"
    assert request.headers["x-ims-portal-delivery"] == str(delivery.uid)
    body = request.payload
    assert (body["version"], body["type"], body["id"]) == (1, "export.failed", str(delivery.uid))
    assert body["export"]["id"] == export.pk
    assert body["export"]["error"]["code"] == "IMG.0141"
    # The receiver's check is the documented one: a wrong secret does not pass it.
    receiver.secret = new_secret()
    assert not receiver.verify(request.headers, request.body)

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.response_code) == (
        DeliveryState.DELIVERED,
        1,
        200,
    )
    assert delivery.latency_ms is not None and delivery.latency_ms >= 0


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    # A fixed vector, worked out independently with `openssl dgst -sha256 -hmac`.
    body = b'{"id":"1","type":"test"}'
    assert webhooks.signature("whsec_test", 1700000000, body) == (
        "sha256=0dfe466365d8c1b1e08aada9d4a245f614f142a1a56a3f9b14fc95ec5a016473"
    )


def test_a_refusing_receiver_is_not_retried_and_a_failing_one_is(alice, receiver, settings):
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = True
    subscription = hook(alice, receiver.url)
    receiver.answers = [410, 503]
    gone = outbox.queue_test(subscription, alice)
    assert deliver(gone.pk) == DeliveryState.FAILED
    busy = outbox.queue_test(subscription, alice)
    assert deliver(busy.pk) == DeliveryState.PENDING
    gone.refresh_from_db()
    busy.refresh_from_db()
    assert (gone.response_code, gone.attempts) == (410, 1)
    assert (busy.response_code, busy.attempts) == (503, 1)
    assert "HTTP 503" in busy.error


def test_at_delivery_time_a_private_target_is_refused_again(alice, receiver, settings):
    # Saved while an operator allowed private targets (or a name that resolved to a public
    # address then, and to loopback now): the delivery checks again and sends nothing.
    subscription = hook(alice, receiver.url)
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = False
    delivery = outbox.queue_test(subscription, alice)
    assert deliver(delivery.pk) == DeliveryState.FAILED
    delivery.refresh_from_db()
    assert "refused" in delivery.error and "127.0.0.1" in delivery.error
    assert receiver.received == []


def test_a_delivery_is_sent_once_however_often_its_message_comes(alice, receiver, settings):
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = True
    delivery = outbox.queue_test(hook(alice, receiver.url), alice)
    assert deliver(delivery.pk) == DeliveryState.DELIVERED
    assert deliver(delivery.pk) is None
    assert len(receiver.received) == 1
