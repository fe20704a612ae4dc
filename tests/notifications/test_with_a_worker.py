"""Notifications sent by a real Celery worker process: an export that succeeds mails its
owner, a failing receiver is retried with back-off until it answers, and the settings
page's test button reaches the receiver, signed."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from ims_portal.exports.models import Export, Status
from ims_portal.notifications.models import Channel, Delivery, DeliveryState, Subscription
from ims_portal.simulator import seed
from tests.portal_fixtures import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def settled(delivery: Delivery) -> Delivery | None:
    delivery.refresh_from_db()
    return delivery if delivery.state in (DeliveryState.DELIVERED, DeliveryState.FAILED) else None


def test_an_export_that_succeeds_mails_its_owner(client, alice, cloud, on_notify_worker, smtp):
    client.force_login(alice)
    response = client.post(
        reverse("exports:new"),
        {
            "image": seed.SMALL_CENTOS,
            "bucket": "ims-exports",
            "file_name": f"mail-{uuid.uuid4().hex[:8]}.qcow2",
            "file_format": "qcow2",
            "request_token": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 302
    export = Export.objects.get()

    (message,) = smtp.wait_for(1, timeout=40)
    export.refresh_from_db()
    assert export.status == Status.SUCCEEDED
    assert smtp.mailbox.envelopes[0][1] == ["alice@example.com"]
    assert message["Subject"].startswith("[IMS Export Portal] Export succeeded: ")
    assert f"http://portal.test/exports/{export.pk}/" in message.get_body(("plain",)).get_content()
    delivery = Delivery.objects.get()
    assert wait_for(lambda: settled(delivery)).state == DeliveryState.DELIVERED


def add_webhook(client, url: str) -> Subscription:
    response = client.post(
        reverse("notifications:add_webhook"),
        {"new-url": url, "new-events": ["export.succeeded"], "new-active": "on"},
    )
    assert response.status_code == 302, response.content
    return Subscription.objects.get(channel=Channel.WEBHOOK)


def test_a_receiver_answering_500_is_retried_until_it_takes_the_event(
    client, alice, on_notify_worker, receiver
):
    client.force_login(alice)
    subscription = add_webhook(client, receiver.url)
    receiver.secret = subscription.secret
    receiver.answers = [500, 500]  # then 200

    response = client.post(reverse("notifications:webhook_test", args=[subscription.pk]))
    assert response.status_code == 302
    delivery = wait_for(lambda: settled(Delivery.objects.get()), timeout=20)
    assert (delivery.state, delivery.attempts, delivery.response_code) == (
        DeliveryState.DELIVERED,
        3,
        200,
    )
    requests = receiver.received
    assert len(requests) == 3
    assert all(r.signature_ok for r in requests)
    # The same event each time, for the receiver to recognise a repeat.
    assert {r.headers["x-ims-portal-delivery"] for r in requests} == {str(delivery.uid)}
    assert requests[0].payload == requests[2].payload
    assert requests[0].payload["type"] == "test" and requests[0].payload["export"] is None

    page = client.get(reverse("notifications:settings"))
    row = page.content.decode().split(f'data-delivery="{delivery.uid}"', 1)[1].split("</tr>")[0]
    assert "Delivered" in row and "HTTP 200" in row and ">3<" in row
