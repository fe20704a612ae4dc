"""The batched poller's claim and its chains (`exports/poller.py`), on PostgreSQL: two
claimers never take the same row, a lease that passes makes a row due again, a slot holds
one chain at a time, and a round that died leaves nothing claimed for long."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from ims_portal.exports import poller
from ims_portal.exports.models import Export, PollChain, Status, TransitionConflict

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("cloud", "poll_chains_held"),
]

# Slots of no worker's chains (theirs are held by `poll_chains_held` meanwhile).
SLOT, OTHER_SLOT = 100, 101


def due_exports(make_export, owner, count: int, **fields) -> list[Export]:
    now = timezone.now()
    return [
        make_export(
            owner,
            status=Status.SUBMITTED,
            job_id=f"no-such-job-{n}",
            next_poll_at=now - timedelta(seconds=count - n),
            object_name=f"claim-{n}.qcow2",
            **fields,
        )
        for n in range(count)
    ]


def in_thread(work):
    """Run `work` in a thread of its own (so on a database connection of its own)."""
    result: dict[str, object] = {}

    def run():
        try:
            result["value"] = work()
        except BaseException as error:  # handed to the test's thread
            result["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_claimer_skips_the_rows_another_one_holds_locked(alice, make_export):
    assert connection.vendor == "postgresql"
    exports = due_exports(make_export, alice, 6)
    claimed_first = threading.Event()
    may_commit = threading.Event()

    def first():
        with transaction.atomic():  # its locks are held until this commits
            claim = poller.claim_due(4)
            claimed_first.set()
            assert may_commit.wait(10)
        return claim

    thread, result = in_thread(first)
    assert claimed_first.wait(10)
    second = poller.claim_due(4)  # while the first one's transaction is still open
    may_commit.set()
    thread.join(10)
    assert "error" not in result, result
    first_pks = {e.pk for e in result["value"].polls}
    second_pks = {e.pk for e in second.polls}
    assert len(first_pks) == 4 and first_pks.isdisjoint(second_pks)
    assert first_pks | second_pks == {e.pk for e in exports}
    # Oldest due first.
    assert first_pks == {e.pk for e in exports[:4]}


def test_claimers_at_the_same_instant_never_take_a_row_twice(alice, make_export):
    exports = due_exports(make_export, alice, 60)
    start = threading.Barrier(3)

    def claimer():
        start.wait(10)
        return [e.pk for e in poller.claim_due(25).polls]

    runs = [in_thread(claimer) for _ in range(3)]
    for thread, _ in runs:
        thread.join(20)
    taken = [pk for _, result in runs for pk in result["value"]]
    assert len(taken) == len(set(taken)) == len(exports)


def test_a_claimed_row_is_due_again_once_its_lease_has_passed(alice, make_export):
    (export,) = due_exports(make_export, alice, 1)
    claim = poller.claim_due(10)
    assert [e.pk for e in claim.polls] == [export.pk]
    stored = Export.objects.get(pk=export.pk)
    assert stored.next_poll_at == claim.lease
    # The lease covers the longest poll the cloud client can make.
    assert claim.lease - timezone.now() > timedelta(
        seconds=poller.get_client().longest_job_seconds()
    )
    assert not poller.claim_due(10, now=claim.lease - timedelta(seconds=1))
    again = poller.claim_due(10, now=claim.lease + timedelta(seconds=1))
    assert [e.pk for e in again.polls] == [export.pk]


def test_a_poll_of_a_row_claimed_again_since_writes_nothing(alice, make_export):
    (export,) = due_exports(make_export, alice, 1)
    claim = poller.claim_due(10)
    poller.claim_due(10, now=claim.lease + timedelta(seconds=1))  # its lease passed
    with pytest.raises(TransitionConflict):
        poller.follow(claim.polls[0])  # the first round's poll, late
    assert Export.objects.get(pk=export.pk).poll_refusals == 0


def test_one_round_polls_each_due_row_once_and_names_its_next_poll(alice, make_export, sim):
    exports = due_exports(make_export, alice, 12)
    later = make_export(
        alice,
        status=Status.RUNNING,
        job_id="later",
        next_poll_at=timezone.now() + timedelta(minutes=1),
    )
    started = timezone.now()
    assert poller.poll_due(limit=50) == 12
    assert len(sim.control.requests(path_contains="/jobs/")) == 12  # one status call each
    for stored in Export.objects.filter(pk__in=[e.pk for e in exports]):
        # The next poll comes after this round (a 4.5 s back-off: a slow run may outlast it).
        assert stored.poll_refusals == 1 and stored.next_poll_at > started
    assert Export.objects.get(pk=later.pk).poll_count == 0
    assert poller.poll_due(limit=50) == 0


def test_a_round_never_polls_more_rows_at_once_than_it_has_threads(
    alice, make_export, sim, settings, monkeypatch
):
    settings.EXPORT_POLL_THREADS = 3  # the threads start with the first round
    due_exports(make_export, alice, 12)
    sim.control.fault(latency=0.2, methods="GET", paths="/jobs/")
    busy, most = 0, 0
    lock = threading.Lock()
    follow = poller.follow

    def counted(export, *args):
        nonlocal busy, most
        with lock:
            busy += 1
            most = max(most, busy)
        try:
            follow(export, *args)
        finally:
            with lock:
                busy -= 1

    monkeypatch.setattr(poller, "follow", counted)
    try:
        assert poller.poll_due(limit=12) == 12
    finally:
        sim.control.clear_faults()
    assert most == 3


# --- chains ----------------------------------------------------------------------------------


def test_a_slot_holds_one_chain_a_starter_takes_only_a_lapsed_one():
    assert poller.take_slot(SLOT, "round-1", "")
    assert not poller.take_slot(SLOT, "starter", "")  # a live chain holds it
    assert poller.take_slot(SLOT, "round-1", "")  # the same message, delivered again
    assert poller.take_slot(SLOT, "round-2", "round-1")  # its successor
    assert not poller.take_slot(SLOT, "stale", "round-1")  # a second successor of round-1
    assert poller.take_slot(OTHER_SLOT, "starter", "")  # another slot is another chain
    lapsed = timezone.now() + timedelta(seconds=poller.HOLD + 1)
    assert poller.take_slot(SLOT, "starter", "", now=lapsed)
    assert not poller.renew_slot(SLOT, "round-2")  # it lost the slot: it sends no successor


def test_a_round_whose_slot_row_vanished_takes_it_back_and_goes_on():
    assert poller.take_slot(SLOT, "round-1", "")
    PollChain.objects.all().delete()  # the table emptied under a running round
    assert poller.finish_round(SLOT, "round-1", poller.TICK)  # it sends its successor
    assert PollChain.objects.get(name=poller.slot_name(SLOT)).owner == "round-1"
    assert not poller.take_slot(SLOT, "starter", "")  # and a live chain is not doubled
    assert poller.take_slot(SLOT, "round-2", "round-1")


def test_a_round_claims_ahead_while_its_claims_come_back_full(alice, make_export, settings, sim):
    settings.EXPORT_POLL_BATCH = 5
    exports = due_exports(make_export, alice, 12)
    started = timezone.now()
    # Claims of 5, 5 and 2: the last one was not full, so the successor comes a tick later.
    assert poller.run_round(SLOT, "round-1", "") == poller.TICK
    assert len(sim.control.requests(path_contains="/jobs/")) == 12  # each polled once
    stored = Export.objects.filter(pk__in=[e.pk for e in exports])
    assert {e.poll_count for e in stored} == {1}
    assert all(e.next_poll_at > started for e in stored)  # each names its next poll
    assert PollChain.objects.get(name=poller.slot_name(SLOT)).claim_lease is None  # all done


def test_a_round_sends_its_successor_at_once_after_a_full_claim_else_a_tick_later(
    alice, make_export, settings, monkeypatch
):
    settings.EXPORT_POLL_BATCH = 5
    monkeypatch.setattr(poller, "ROUND_SECONDS", 0.0)  # one claim a round
    due_exports(make_export, alice, 7)
    assert poller.run_round(SLOT, "round-1", "") == 0.0  # five of seven: more are due
    assert poller.run_round(SLOT, "round-2", "round-1") == poller.TICK
    assert poller.run_round(SLOT, "someone-else", "") is None  # the slot is held


def test_whoever_takes_the_slot_of_a_round_that_died_makes_its_claim_due_at_once(
    alice, make_export
):
    exports = due_exports(make_export, alice, 3)
    assert poller.take_slot(SLOT, "dead-round", "")
    claim = poller.claim_due(10, chain=SLOT, owner="dead-round")  # ... and died
    assert len(claim) == 3
    assert PollChain.objects.get(name=poller.slot_name(SLOT)).claim_lease == claim.lease
    assert not poller.claim_due(10)  # leased
    assert poller.take_slot(SLOT, "dead-round", "")  # its redelivery
    assert {e.pk for e in poller.claim_due(10).polls} == {e.pk for e in exports}


def test_a_round_whose_slot_was_taken_claims_nothing(alice, make_export):
    due_exports(make_export, alice, 2)
    assert poller.take_slot(SLOT, "old", "")
    lapsed = timezone.now() + timedelta(seconds=poller.HOLD + 1)
    assert poller.take_slot(SLOT, "new", "", now=lapsed)
    assert not poller.claim_due(10, chain=SLOT, owner="old")
