"""Which export writes queue which notifications, to whom, exactly once, and in the
transaction of the change they report."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from ims_portal.exports.models import Export, Status
from ims_portal.notifications.models import (
    Channel,
    Delivery,
    DeliveryState,
    Event,
    Subscription,
    new_secret,
)

pytestmark = pytest.mark.django_db


def to(export: Export, *steps: Status, **changes) -> Export:
    for step in steps:
        export.transition(step, **changes)
    return export


def running(make_export, owner, **fields) -> Export:
    export = make_export(owner, **fields)
    return to(export, Status.SUBMITTING, Status.SUBMITTED, Status.RUNNING)


def webhook(owner, *events: Event, **fields) -> Subscription:
    return Subscription.objects.create(
        owner=owner,
        channel=Channel.WEBHOOK,
        url="https://hooks.example.com/ims",
        secret=new_secret(),
        events=[e.value for e in events],
        **fields,
    )


def test_without_saved_settings_every_end_of_an_export_mails_its_owner(alice, make_export):
    export = running(make_export, alice)
    assert not Delivery.objects.exists()  # nothing while it is under way
    to(export, Status.SUCCEEDED, progress=1.0)
    delivery = Delivery.objects.get()
    assert (delivery.channel, delivery.target, delivery.event) == (
        Channel.EMAIL,
        "alice@example.com",
        Event.SUCCEEDED,
    )
    assert delivery.subscription is None and delivery.state == DeliveryState.PENDING
    body = delivery.payload
    assert body["version"] == 1 and body["type"] == "export.succeeded"
    assert body["id"] == str(delivery.uid) and body["test"] is False
    assert body["export"]["url"] == f"http://portal.test/exports/{export.pk}/"
    assert body["export"]["status"] == Status.SUCCEEDED
    assert body["export"]["destination"] == export.destination


@pytest.mark.parametrize(
    ("steps", "event"),
    [
        ((Status.SUBMITTING, Status.REJECTED), Event.REJECTED),
        ((Status.SUBMITTING, Status.FAILED), Event.FAILED),
        ((Status.SUBMITTING, Status.UNKNOWN), Event.UNKNOWN),
    ],
)
def test_each_unwanted_end_is_its_own_event(alice, make_export, steps, event):
    to(make_export(alice), *steps, error_code="IMG.0070", error_message="The object exists.")
    delivery = Delivery.objects.get()
    assert delivery.event == event
    assert delivery.payload["export"]["error"]["code"] == "IMG.0070"


def test_an_end_the_owner_brought_about_is_not_told(alice, make_export):
    to(make_export(alice), Status.CANCELLED)
    export = running(make_export, alice, image_id="other-image")
    to(export, Status.ABANDONED, reason="The window closed.")
    assert not Delivery.objects.exists()


def test_saved_settings_replace_the_default_and_webhooks_get_what_they_ask(alice, bob, make_export):
    Subscription.objects.create(owner=alice, channel=Channel.EMAIL, events=[Event.FAILED])
    hook = webhook(alice, Event.SUCCEEDED, Event.FAILED)
    webhook(alice, Event.SUCCEEDED, active=False)
    webhook(bob, Event.SUCCEEDED)  # someone else's webhook hears nothing of alice's exports
    to(running(make_export, alice), Status.SUCCEEDED)
    assert list(Delivery.objects.values_list("subscription", "channel", "target")) == [
        (hook.pk, Channel.WEBHOOK, hook.url)
    ]


def test_a_user_without_an_address_gets_no_mail(make_user, make_export):
    dave = make_user("dave", "exporter")
    dave.email = ""
    dave.save()
    to(running(make_export, dave), Status.SUCCEEDED)
    assert not Delivery.objects.exists()


def test_a_rolled_back_change_owes_no_notification(alice, make_export):
    export = running(make_export, alice)
    with pytest.raises(RuntimeError), transaction.atomic():
        export.transition(Status.SUCCEEDED)
        assert Delivery.objects.count() == 1  # written with the change ...
        raise RuntimeError("the change fails after all")
    assert not Delivery.objects.exists()  # ... and gone with it
    assert Export.objects.get(pk=export.pk).status == Status.RUNNING


def poll_without_change(export: Export) -> None:
    export.record_poll(timezone.now() + timedelta(seconds=5))


def test_a_stall_is_told_once_per_quiet_spell(alice, make_export, settings):
    settings.EXPORT_STALLED_AFTER = 60
    webhook(alice, Event.STALLED)
    export = running(make_export, alice)
    poll_without_change(export)
    assert not Delivery.objects.exists()  # quiet, but not for long enough yet

    quiet_since = timezone.now() - timedelta(seconds=61)
    export.record_poll(timezone.now() + timedelta(seconds=5), last_change_at=quiet_since)
    poll_without_change(export)  # the next poll of the same spell adds nothing
    stalled = Delivery.objects.get()
    assert stalled.event == Event.STALLED
    assert stalled.dedup_key == quiet_since.isoformat()

    # The job moves, then goes quiet again: a new spell, a new notice.
    export.record_poll(timezone.now(), progress=0.5, last_change_at=timezone.now())
    export.record_poll(timezone.now(), last_change_at=timezone.now() - timedelta(seconds=90))
    assert Delivery.objects.filter(event=Event.STALLED).count() == 2
    # Stalls are not in the default e-mail: only the webhook that asked heard of them.
    assert set(Delivery.objects.values_list("channel", flat=True)) == {Channel.WEBHOOK}


class Broker:
    """This process's Celery app, pointed at a Redis that does not answer and back."""

    def __init__(self) -> None:
        from ims_portal.celery import app

        self.app, self.url = app, app.conf.broker_url

    def point_at(self, url: str) -> None:
        # The app keeps its connections in two pools, which it finds again (kombu keeps
        # them by URL) as it does after a fork; the original URL's stay open for later.
        self.app.conf.broker_url = url
        self.app._pool = None
        self.app.amqp._producer_pool = None


@pytest.fixture
def broker():
    from tests.startup.helpers import DEAD_REDIS

    broker = Broker()
    broker.point_at(DEAD_REDIS)
    yield broker
    broker.point_at(broker.url)


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_neither_stops_the_change_nor_loses_the_notice(
    alice, make_export, broker, caplog, settings
):
    export = running(make_export, alice)
    export.transition(Status.SUCCEEDED)  # commits; the broker then refuses the task
    assert Export.objects.get(pk=export.pk).status == Status.SUCCEEDED
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 0
    assert "stays queued: the broker did not take it" in caplog.text

    # Once the broker is back, the sweep finds the overdue delivery and hands it out.
    from ims_portal.notifications.tasks import send_due

    broker.point_at(broker.url)
    settings.NOTIFY_SWEEP_GRACE = 0
    saved_queue = broker.app.conf.task_default_queue
    broker.app.conf.task_default_queue = queue = f"notify-sweep-test-{uuid.uuid4().hex}"
    try:
        assert send_due() == {"sent": 1, "revived": 0}
        with broker.app.connection_for_write() as connection:
            message = connection.SimpleQueue(queue).get(timeout=5)
            assert message.headers["task"] == "ims_portal.notifications.tasks.deliver"
            assert message.headers["argsrepr"] == f"({delivery.pk},)"
            message.ack()
            connection.SimpleQueue(queue).queue.delete()
    finally:
        broker.app.conf.task_default_queue = saved_queue


def test_a_success_whose_file_is_not_in_obs_is_told_once(alice, make_export, settings):
    from ims_portal.exports import verification

    settings.EXPORT_VERIFY_TRIES = 2
    export = running(make_export, alice)
    export.transition(Status.SUCCEEDED, **verification.start())
    verification.record(export, None)  # no object yet: checked again later
    assert list(Delivery.objects.values_list("event", flat=True)) == [Event.SUCCEEDED]
    verification.record(export, None)  # still none: the check gives up
    missing = Delivery.objects.get(event=Event.VERIFICATION_FAILED)
    assert missing.channel == Channel.EMAIL  # in the default e-mail
    assert missing.payload["export"]["verification"]["state"] == "not_found"
    assert "No object in OBS" in missing.payload["export"]["verification"]["note"]
    export.refresh_from_db()
    export.rearm_check(timezone.now())  # a later write of the export tells nothing new
    assert Delivery.objects.filter(event=Event.VERIFICATION_FAILED).count() == 1
