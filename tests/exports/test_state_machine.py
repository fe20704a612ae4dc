"""Every status change goes through Export.transition, which refuses illegal and raced moves."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from ims_portal.exports.models import (
    REASON_DETAIL,
    STATUS_TABLE,
    Export,
    IllegalTransition,
    Status,
    TransitionConflict,
)

pytestmark = pytest.mark.django_db


def test_a_legal_move_saves_the_status_its_timestamp_and_a_step_of_its_history(alice, make_export):
    export = make_export(alice)
    export.transition(Status.SUBMITTING, submit_attempts=1)
    export.transition(Status.SUBMITTED, job_id="job-1")

    stored = Export.objects.get(pk=export.pk)
    assert stored.status == Status.SUBMITTED
    assert stored.job_id == "job-1"
    assert stored.submitting_at is not None and stored.submitted_at is not None
    assert [(step.from_status, step.to_status) for step in stored.status_history()] == [
        ("queued", "submitting"),
        ("submitting", "submitted"),
    ]


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (Status.QUEUED, Status.SUBMITTED),  # never skip the "submitting" marker before the POST
        (Status.SUBMITTING, Status.SUBMITTING),
        (Status.UNKNOWN, Status.QUEUED),  # unknown is for a person, never an automatic retry
        (Status.SUCCEEDED, Status.RUNNING),
        (Status.REJECTED, Status.QUEUED),
    ],
)
def test_an_illegal_move_is_refused_and_nothing_is_written(alice, make_export, start, to):
    export = make_export(alice, status=start)
    with pytest.raises(IllegalTransition):
        export.transition(to)
    assert Export.objects.get(pk=export.pk).status == start
    assert export.status_history() == []


def test_a_move_raced_by_another_worker_is_a_conflict_and_writes_nothing(alice, make_export):
    export = make_export(alice)
    other_copy = Export.objects.get(pk=export.pk)
    other_copy.transition(Status.SUBMITTING)

    with pytest.raises(TransitionConflict):
        export.transition(Status.SUBMITTING)
    assert len(export.status_history()) == 1


def test_the_database_allows_one_export_in_flight_per_image(alice, bob, make_export):
    first = make_export(alice, image_id="img-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_export(bob, image_id="img-1")
    first.transition(Status.CANCELLED)
    make_export(bob, image_id="img-1")  # once it has ended, the image is free again


def test_visible_to_gives_exporters_their_own_and_auditors_everything(
    alice, bob, carol, make_export
):
    mine = make_export(alice)
    theirs = make_export(bob)
    assert list(Export.objects.visible_to(alice)) == [mine]
    assert set(Export.objects.visible_to(carol)) == {mine, theirs}


def test_every_status_has_exactly_one_row_in_the_table():
    assert list(STATUS_TABLE) == list(Status)
    for rule in STATUS_TABLE.values():
        assert rule.next <= set(Status)


def test_the_groups_are_read_from_the_table_and_split_the_statuses():
    assert {s for s in Status if s.rule.in_flight} == Status.IN_FLIGHT
    assert Status.IN_FLIGHT.isdisjoint(Status.TERMINAL)
    assert set(Status) == Status.IN_FLIGHT | Status.TERMINAL
    assert Status.FOLLOWED < Status.IN_FLIGHT


def test_each_status_reads_as_its_own_audit_action_and_names_real_fields():
    # The status history is read back from the audit trail by action: one action, one status.
    actions = [rule.action for rule in STATUS_TABLE.values()]
    assert len(set(actions)) == len(actions)
    fields = {field.name for field in Export._meta.get_fields()}
    for rule in STATUS_TABLE.values():
        assert rule.stamps is None or rule.stamps in fields
        # A field of the row, or the reason a person's move writes into its audit event.
        assert rule.detail == "" or rule.detail in fields | {REASON_DETAIL}


def test_every_status_is_reachable_from_queued():
    reached, frontier = {Status.QUEUED}, [Status.QUEUED]
    while frontier:
        for to in frontier.pop().rule.next - reached:
            reached.add(to)
            frontier.append(to)
    assert reached == set(Status)


def test_the_status_history_comes_from_the_audit_trail_with_what_explains_each_step(
    alice, make_export
):
    export = make_export(alice)
    export.transition(Status.SUBMITTING, submit_attempts=1)
    export.transition(Status.QUEUED, error_message="The cloud is busy.")
    export.transition(Status.SUBMITTING, submit_attempts=2)
    export.transition(Status.SUBMITTED, job_id="job-9", error_message="")
    export.transition(Status.FAILED, error_message="The bucket is gone.")

    steps = Export.objects.get(pk=export.pk).status_history()
    assert [(step.to_status, step.detail) for step in steps] == [
        (Status.SUBMITTING, ""),
        (Status.QUEUED, "The cloud is busy."),
        (Status.SUBMITTING, ""),
        (Status.SUBMITTED, "job-9"),
        (Status.FAILED, "The bucket is gone."),
    ]
    assert all(step.at for step in steps)


@pytest.mark.django_db(transaction=True)  # the write's own transaction, not a savepoint
def test_a_change_of_status_records_its_audit_event_last_so_the_chain_is_locked_for_the_insert_only(
    alice, make_export
):
    # A failure is told by mail (the outbox writes a delivery): those writes come before the
    # chain's lock, which is held from there to the commit.
    export = make_export(alice, status=Status.RUNNING, job_id="job-1")
    with CaptureQueriesContext(connection) as queries:
        export.transition(Status.FAILED, error_code="IMG.0001")

    statements = [query["sql"] for query in queries.captured_queries]
    assert any("notifications_delivery" in sql for sql in statements), statements
    locked = next(i for i, sql in enumerate(statements) if "pg_advisory_xact_lock" in sql)
    after_the_lock = statements[locked + 1 :]
    assert len(after_the_lock) == 2, after_the_lock
    assert after_the_lock[0].startswith('INSERT INTO "audit_event"')
    assert after_the_lock[1] == "COMMIT"
