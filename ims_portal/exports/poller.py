"""Following exports in flight: the batched poller.

Every export's next step is a time on its row: `next_poll_at` for a followed export (when
to ask the cloud about its job next), `verify_due_at` for a succeeded one whose object is
still to be checked in OBS. Nothing else schedules them, no message per export: a submit
that got its job id saves the first `next_poll_at`, and each poll saves the next.

The task `tasks.poll_due_exports` (on the default queue, which the follow workers take)
runs one round of a chain:

1. **Claim.** One short transaction selects the due rows, oldest first, with
   `SELECT … FOR UPDATE SKIP LOCKED LIMIT EXPORT_POLL_BATCH`, and moves each one's due
   time to a lease: now + `lease_seconds()`, the longest one poll or check can take with
   the cloud client's timeouts and retries, plus a margin. Another claimer skips the
   locked rows and, once this commits, no longer sees them as due.
2. **Poll.** `EXPORT_POLL_THREADS` threads poll the claimed rows over the process's one
   cloud client (its pooled `requests` session may be shared by threads) and record each
   answer as a single poll always has (`workflow.apply_job` → `Export.record_poll`,
   `verification.record`): progress, the audit event of a change of status, the push to
   open pages, the lateness metric and the log lines, under the export's own request id.
   Each write is a compare-and-swap on the lease value the claim gave the row, so a poll
   whose row was taken back meanwhile writes nothing.
3. **More.** While its last claim came back full (more rows are due than it took), a round
   claims again as soon as fewer of its rows are left to poll than two per thread, so the
   threads never run dry while it claims, nor wait for the round's slowest poll; it stops
   claiming after `ROUND_SECONDS`, so that the chain still hands over from message to
   message. Every claim of a round shares its lease, which outlasts `ROUND_SECONDS` plus
   the longest poll.
4. **Next.** The round sends the next round of its chain: at once if its last claim was
   full, else `TICK` (1 s) later. A due row waits a second at most, plus the time the rows
   claimed before it take.

**Chains.** `EXPORT_POLL_CHAINS` slots (`PollChain` rows, one set per default queue)
bound how many chains run. A
round's message names its slot and the message that sent it, and runs only if it can
take the slot: a compare-and-swap that succeeds when the slot's hold has lapsed, when the
slot is already its own (the same message delivered again), or when it is held by its
predecessor. Any other message for the slot is a second chain and ends at once, sending
nothing. A round renews its hold every `RENEW_EVERY` seconds while it polls and leaves it
for `HOLD` seconds past its successor's countdown; a round that finds the slot taken
from it finishes its polls (their writes are guarded) and sends no successor.

**Nothing is lost when a worker dies.**
- Killed mid-round (kill -9, the OOM killer, SIGTERM to the process group): the message is
  `acks_late` with `reject_on_worker_lost`, so it comes back, and its redelivery takes its
  slot again. Whoever takes a slot whose last claim was not finished (the slot still names
  its lease) first makes that claim's rows due at once; left alone, they would fall due
  when their lease passes.
- A chain lost entirely (its message lost with the broker, or not back before its hold
  lapsed): every worker sends one starter message per slot when it is ready and another
  once a dead chain's hold has lapsed, and the reconciler (beat) sends them at each run.
  A starter takes only a lapsed slot, so a live chain is never doubled.

Several worker processes, or hosts, run chains side by side: SKIP LOCKED keeps their claims
apart, and the row's compare-and-swap keeps any poll that did overlap from writing twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import close_old_connections, connection, connections, transaction
from django.db.models import CharField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast
from django.utils import timezone

from ims_portal.audit import context
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.cloud import CloudError, ConfigurationError, ObjectInfo
from ims_portal.exports import verification, workflow
from ims_portal.exports.cloud_access import get_client
from ims_portal.exports.models import (
    Export,
    PollChain,
    Status,
    TransitionConflict,
    Verification,
)
from ims_portal.exports.progress import Priors
from ims_portal.monitoring import metrics

log = logging.getLogger(__name__)

TICK = 1.0  # seconds: the longest a chain waits between two rounds
RENEW_EVERY = 1.0  # seconds: how often a round renews the hold on its slot
# Seconds a slot stays held past its holder's last renewal or its successor's due time:
# ample for a message to be delivered; a dead chain's slot is free again after it.
HOLD = 10.0
# The lease covers the longest poll plus the database writes around it, and the time a
# round goes on claiming (ROUND_SECONDS) under the lease of its first claim.
LEASE_MARGIN = 30.0
ROUND_SECONDS = 10.0  # the longest a round goes on claiming while its claims come back full


def lease_seconds() -> float:
    """How long a claimed row stays claimed: the longest the cloud client can take over one
    poll (`Client.longest_job_seconds`) or one object check, whichever is longer, plus a
    margin. A live round is done with its rows well before; a dead one's rows are taken
    back sooner, when its slot is taken over."""
    client = get_client()
    return max(client.longest_job_seconds(), client.longest_object_seconds()) + LEASE_MARGIN


@dataclass
class Claim:
    """The rows one claim took, the lease they were given, when each was due, and whether
    it took as many as it could (`full`: more may be due)."""

    lease: datetime
    full: bool = False
    polls: list[Export] = field(default_factory=list)
    checks: list[Export] = field(default_factory=list)
    due: dict[int, datetime] = field(default_factory=dict)
    request_ids: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.polls) + len(self.checks)


@dataclass
class Round:
    """What the polls of one round share: the figures of the time-left estimate's prior
    that the round looked up (`progress.Priors`)."""

    priors: Priors = field(default_factory=dict)


def _requested_by() -> Subquery:
    """The request id of the request that created the export (see `Export.request_id`), as a
    column of the claim, so each poll runs under it without a query of its own."""
    return Subquery(
        AuditEvent.objects.filter(
            target_type="export",
            target_id=Cast(OuterRef("pk"), CharField()),
            action=Action.EXPORT_REQUESTED,
        ).values("request_id")[:1]
    )


def _due_polls(now: datetime) -> QuerySet[Export]:
    return Export.objects.followed().filter(next_poll_at__lte=now).order_by("next_poll_at")


def _due_checks(now: datetime) -> QuerySet[Export]:
    return Export.objects.filter(
        status=Status.SUCCEEDED,
        verification__in=Verification.CHECKING,
        verify_due_at__lte=now,
    ).order_by("verify_due_at")


def claim_due(
    limit: int,
    *,
    chain: int | None = None,
    owner: str = "",
    now: datetime | None = None,
    lease: datetime | None = None,
) -> Claim:
    """Claim up to `limit` due rows (polls first, then object checks) in one transaction:
    each one's due time becomes the lease (`lease`, a round's own, else a new one). With
    `chain`, the slot held by `owner` notes the lease in the same transaction; if the slot
    is no longer the owner's, nothing is claimed.
    """
    now = now or timezone.now()
    claim = Claim(lease=lease or now + timedelta(seconds=lease_seconds()))
    with transaction.atomic():
        if chain is not None:
            noted = PollChain.objects.filter(name=slot_name(chain), owner=owner).update(
                claim_lease=claim.lease
            )
            if not noted:
                return claim
        polls = _due_polls(now).annotate(requested_by=_requested_by())
        claim.polls = list(polls.select_for_update(skip_locked=True, of=("self",))[:limit])
        if len(claim.polls) < limit:
            checks = _due_checks(now).annotate(requested_by=_requested_by())
            claim.checks = list(
                checks.select_for_update(skip_locked=True, of=("self",))[: limit - len(claim.polls)]
            )
        for export in claim.polls:
            claim.due[export.pk] = export.next_poll_at  # type: ignore[assignment]
            export.next_poll_at = claim.lease
        for export in claim.checks:
            claim.due[export.pk] = export.verify_due_at  # type: ignore[assignment]
            export.verify_due_at = claim.lease
        for export in [*claim.polls, *claim.checks]:
            claim.request_ids[export.pk] = export.requested_by or ""  # type: ignore[attr-defined]
        Export.objects.filter(pk__in=[e.pk for e in claim.polls]).move_polls(claim.lease)
        Export.objects.filter(pk__in=[e.pk for e in claim.checks]).move_checks(claim.lease)
    claim.full = len(claim) >= limit
    return claim


def release(lease: datetime, now: datetime | None = None) -> int:
    """Make the rows still claimed under `lease` (by a round that died) due now; how many."""
    now = now or timezone.now()
    polls = Export.objects.followed().filter(next_poll_at=lease).move_polls(now)
    checks = Export.objects.filter(status=Status.SUCCEEDED, verify_due_at=lease).move_checks(now)
    return polls + checks


_checked = threading.local()  # the round a poll thread's connection was last checked in
_pool_lock = threading.Lock()
_pool: tuple[ThreadPoolExecutor, int] | None = None  # the threads, and how many


def _threads() -> ThreadPoolExecutor:
    """The process's poll threads, kept from round to round (with their database
    connections) rather than started for each."""
    global _pool
    with _pool_lock:
        if _pool is None:
            size = int(settings.EXPORT_POLL_THREADS)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="poll"), size
        return _pool[0]


def stop_threads() -> None:
    """Stop the poll threads, each closing its database connection first (for a test, or
    a process that is done polling)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is None:
        return
    threads, size = pool
    # One close on each thread: the barrier holds every job until all the threads have one.
    together = threading.Barrier(size)

    def close() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait(timeout=10)
        connections.close_all()

    for _ in range(size):
        threads.submit(close)
    threads.shutdown(wait=True)


def poll_claimed(
    claim: Claim,
    *,
    renew: Callable[[], bool] | None = None,
    more: Callable[[], Claim] | None = None,
) -> tuple[bool, bool]:
    """Poll and check every row of `claim` on the poll threads and record each answer; call
    `renew` every `RENEW_EVERY` seconds meanwhile. With `more`, which claims again under
    the same lease, take more rows whenever fewer than two per thread are left and the last
    claim was full, for `ROUND_SECONDS`. Return whether the slot stayed this round's
    (`renew` never said otherwise) and whether the last claim was full."""
    get_client()  # built once, here, rather than raced for by the threads
    origin = context.current()
    threads = int(settings.EXPORT_POLL_THREADS)
    jobs: list[Future[None]] = []
    shared = Round()

    def start(taken: Claim) -> set[Future[None]]:
        started = [
            _threads().submit(_in_thread, _poll_one, export, taken, origin, shared)
            for export in taken.polls
        ] + [
            _threads().submit(_in_thread, _check_one, export, taken, origin, shared)
            for export in taken.checks
        ]
        jobs.extend(started)
        return set(started)

    held, full = True, claim.full
    pending = start(claim)
    began = renewed = time.monotonic()
    while pending:
        _, pending = wait(pending, timeout=RENEW_EVERY, return_when=FIRST_COMPLETED)
        now = time.monotonic()
        room = len(pending) < 2 * threads and now - began < ROUND_SECONDS
        if more is not None and full and held and room:
            taken = more()
            full = taken.full
            pending |= start(taken)
        if pending and renew is not None and held and now - renewed >= RENEW_EVERY:
            held, renewed = renew(), now
    for job in jobs:
        job.result()  # a bug in one poll is raised here, after the others are done
    return held, full


def _in_thread(
    step: Callable[[Export, datetime, Round], None],
    export: Export,
    claim: Claim,
    origin: context.Origin,
    shared: Round,
) -> None:
    """Run one poll or check in a poll thread, as its own piece of work: the round's origin
    under the export's request id, and a database connection fit for use."""
    # A thread's connection is checked (its age, its health, with a query) at its first poll
    # of a round, as a request's is at its start, rather than at every one of its polls; a
    # connection that failed is looked at after the poll it failed in.
    if getattr(_checked, "round", None) is not shared:
        close_old_connections()
        _checked.round = shared
    request_id = claim.request_ids.get(export.pk) or origin.request_id
    try:
        with context.bound(replace(origin, request_id=request_id)):
            step(export, claim.due[export.pk], shared)
    finally:
        if connection.errors_occurred:
            close_old_connections()


def _poll_one(export: Export, due: datetime, shared: Round) -> None:
    """Ask the cloud about one claimed export's job and record the answer, or its absence."""
    metrics.POLL_LATENESS.observe(max(0.0, (timezone.now() - due).total_seconds()))
    try:
        follow(export, shared)
    except TransitionConflict:
        return  # a person, the reconciler or a poll that reclaimed the row wrote first
    if export.is_terminal:
        log.info("export %s: %s", export.pk, export.status)


def follow(export: Export, shared: Round | None = None) -> None:
    """Ask the cloud about the export's job once and record the answer, or its absence (in
    a round, `shared`, with the priors it looked up already).

    Raises `TransitionConflict` if the row moved on since it was loaded."""
    try:
        job = get_client().get_job(export.job_id)
    except CloudError as error:
        if error.retryable:
            log.warning("export %s: polling failed, will retry: %s", export.pk, error)
            workflow.poll_again(export)
        else:
            log.error("export %s: job %s cannot be read: %s", export.pk, export.job_id, error)
            workflow.record_poll_refusal(export, error)
        return
    workflow.apply_job(export, job, priors=shared.priors if shared else None)


def _check_one(export: Export, due: datetime, shared: Round) -> None:
    check(export)


def check(export: Export) -> None:
    """Read the metadata of a succeeded export's object in OBS and record it as evidence
    (`verification.record`), with the next check where one is due."""
    found: ObjectInfo | CloudError | ConfigurationError | None
    try:
        found = get_client().object_info(export.bucket, export.object_name)
    except (CloudError, ConfigurationError) as error:
        log.warning("export %s: the object could not be checked: %s", export.pk, error)
        found = error
    try:
        verification.record(export, found)
    except TransitionConflict:
        return  # another check, or a person, wrote first
    log.info("export %s: object %s: %s", export.pk, export.bucket_url, export.verification)


def poll_due(limit: int | None = None) -> int:
    """One round outside any chain: claim what is due, poll it, return how many rows."""
    claim = claim_due(limit or settings.EXPORT_POLL_BATCH)
    poll_claimed(claim)
    return len(claim)


# --- chains -------------------------------------------------------------------------------


def take_slot(number: int, owner: str, predecessor: str, now: datetime | None = None) -> bool:
    """Take slot `number` for message `owner` if it is free, already its own, or held by
    `predecessor`; release whatever claim a dead round left on it. False: another chain
    holds the slot."""
    now = now or timezone.now()
    name = slot_name(number)
    PollChain.objects.get_or_create(name=name)
    with transaction.atomic():
        slot = PollChain.objects.select_for_update().get(name=name)
        lapsed = slot.held_until is None or slot.held_until < now
        if not (lapsed or slot.owner in {owner, predecessor} - {""}):
            return False
        left = slot.claim_lease
        slot.owner, slot.held_until, slot.claim_lease = owner, _hold(now), None
        slot.save()
    if left is not None:
        released = release(left, now)
        log.info("poll chain %s: %d row(s) claimed by a round that died are due", number, released)
    return True


def _hold(since: datetime, seconds: float = 0.0) -> datetime:
    return since + timedelta(seconds=seconds + HOLD)


def renew_slot(number: int, owner: str, *, wait: float = 0.0) -> bool:
    """Hold slot `number` for `owner` a while longer (past a successor's `wait`); False if
    the slot is no longer the owner's."""
    return _still_held(number, owner, held_until=_hold(timezone.now(), wait))


def finish_round(number: int, owner: str, wait: float) -> bool:
    """Mark the round's claim done and hold the slot until its successor, due in `wait`
    seconds, has come; False if the slot is no longer the owner's (send no successor)."""
    return _still_held(number, owner, held_until=_hold(timezone.now(), wait), claim_lease=None)


def _still_held(number: int, owner: str, **changes: Any) -> bool:
    """Write `changes` on slot `number` if `owner` holds it. A slot whose row is gone (the
    table emptied by a restore, or a test database flushed between tests) is nobody's, and
    the round that held it takes it back: otherwise its chain would end with no other to
    start it until a worker starts or the reconciler runs."""
    name = slot_name(number)
    if PollChain.objects.filter(name=name, owner=owner).update(**changes):
        return True
    _, created = PollChain.objects.get_or_create(name=name, defaults={"owner": owner, **changes})
    return created


def next_wait(full: bool) -> float:
    """Seconds until the next round: none after a full claim (more rows are due), else
    `TICK`. Not sooner: a round costs some queries and a message whatever it claims, and
    rounds chasing each row as it falls due would cost more than the polls themselves."""
    return 0.0 if full else TICK


def run_round(number: int, owner: str, predecessor: str) -> float | None:
    """One round of chain `number` as message `owner`: take the slot, claim, poll, and
    return in how many seconds the next round is due, or None when this message is not the
    chain's (another holds the slot) or lost the slot meanwhile."""
    if not take_slot(number, owner, predecessor):
        return None
    limit = int(settings.EXPORT_POLL_BATCH)
    claim = claim_due(limit, chain=number, owner=owner)
    if claim:
        log.debug("poll chain %s: %d row(s) claimed", number, len(claim))

    def more() -> Claim:
        return claim_due(limit, chain=number, owner=owner, lease=claim.lease)

    held, full = poll_claimed(claim, renew=lambda: renew_slot(number, owner), more=more)
    wait_for = next_wait(full)
    if not (held and finish_round(number, owner, wait_for)):
        log.info("poll chain %s: taken over by another message; this one ends", number)
        return None
    return wait_for


def slot_name(number: int, queue: str | None = None) -> str:
    """The slot of chain `number` among those of the workers of `queue` (default: the
    default queue in force, which the chain's messages go to)."""
    return f"{queue or current_app.conf.task_default_queue}:{number}"


def chain_numbers() -> range:
    """The slot numbers of the chains (`EXPORT_POLL_CHAINS`)."""
    return range(int(settings.EXPORT_POLL_CHAINS))
