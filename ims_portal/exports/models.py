"""The export workflow's data: one `Export` per request, moved by one state machine."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from ims_portal.accounts.roles import is_auditor
from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.audit.trail import SYSTEM, Actor, record
from ims_portal.cloud.catalogue import Retry
from ims_portal.exports import rules
from ims_portal.exports.signals import export_written


class Status(models.TextChoices):
    """An export's status. What each one allows and records is its row of `STATUS_TABLE`."""

    QUEUED = "queued", "Queued"
    SUBMITTING = "submitting", "Submitting"
    SUBMITTED = "submitted", "Submitted"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    UNKNOWN = "unknown", "Unknown"
    CANCELLED = "cancelled", "Cancelled"
    ABANDONED = "abandoned", "Abandoned"

    # Named groups, as netbox's JobStatusChoices names its subsets. They are read from the
    # table below the class (an enum's body cannot name its own members).
    IN_FLIGHT: ClassVar[frozenset[Status]]  # the image is busy, the pages refresh themselves
    FOLLOWED: ClassVar[frozenset[Status]]  # a cloud job exists; poll it
    TERMINAL: ClassVar[frozenset[Status]]  # nothing left for the portal to do on its own

    @property
    def rule(self) -> StatusRule:
        return STATUS_TABLE[self]


class Tone(models.TextChoices):
    """How a status looks on a page: its colour, icon and the words around it. Every status
    that a person stopped shares one look, whoever the person and whatever the reason."""

    ACTIVE = "active", "In progress"
    OK = "ok", "Done"
    ERROR = "error", "Went wrong"
    WARNING = "warning", "Needs a person"
    STOPPED = "stopped", "Stopped by a person"


@dataclass(frozen=True, slots=True)
class StatusRule:
    """Everything the state machine knows of one status."""

    next: frozenset[Status]  # the legal moves out of it
    stamps: str | None  # the timestamp field set when it is entered
    action: Action  # how entering it reads in the audit trail ...
    outcome: Outcome  # ... and with which outcome
    in_flight: bool  # the export still has work ahead (not terminal)
    tone: Tone  # how the export's page looks in it
    followed: bool = False  # a cloud job exists, which the portal polls
    # What explains a move to it in the status history: the export field (job id, error)
    # or, for a person's decision, the detail of its audit event (the reason given).
    detail: str = ""


# The audit detail in which a person's move records why they made it (`transition(reason=)`).
REASON_DETAIL = "reason"
# What an audited verification state records of the object as evidence.
VERIFICATION_FACTS = (
    "object_size",
    "object_etag",
    "object_last_modified",
    "verified_at",
    "verify_misses",
    "verify_unreachable",
    "verification_note",
    "job_id",
)

# One row per status. `submitting -> queued` is the retry after a refusal that proves the
# cloud did not act (connection refused, 429, 503); `unknown` waits for a person, whether
# the submit's outcome is unknown or the cloud stopped answering about the job. `queued` is
# only ever re-entered that way, hence its audit action: its first entry is the request.
# IMS has no call that stops an export job, so once the POST may have left the portal can
# only stop following the job (`abandoned`), never claim to have cancelled it; `cancelled`
# is reachable only from `queued`, when nothing has reached the cloud.
STATUS_TABLE: Mapping[Status, StatusRule] = MappingProxyType(
    {
        Status.QUEUED: StatusRule(
            next=frozenset({Status.SUBMITTING, Status.CANCELLED}),
            stamps=None,
            action=Action.EXPORT_REQUEUED,
            outcome=Outcome.FAILURE,
            in_flight=True,
            tone=Tone.ACTIVE,
            detail="error_message",
        ),
        Status.SUBMITTING: StatusRule(
            next=frozenset(
                {
                    Status.SUBMITTED,
                    Status.QUEUED,
                    Status.REJECTED,
                    Status.FAILED,
                    Status.UNKNOWN,
                    Status.ABANDONED,
                }
            ),
            stamps="submitting_at",
            action=Action.EXPORT_SUBMITTING,
            outcome=Outcome.SUCCESS,
            in_flight=True,
            tone=Tone.ACTIVE,
        ),
        Status.SUBMITTED: StatusRule(
            next=frozenset(
                {Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.UNKNOWN, Status.ABANDONED}
            ),
            stamps="submitted_at",
            action=Action.EXPORT_SUBMITTED,
            outcome=Outcome.SUCCESS,
            in_flight=True,
            tone=Tone.ACTIVE,
            followed=True,
            detail="job_id",
        ),
        Status.RUNNING: StatusRule(
            next=frozenset({Status.SUCCEEDED, Status.FAILED, Status.UNKNOWN, Status.ABANDONED}),
            stamps="running_at",
            action=Action.EXPORT_RUNNING,
            outcome=Outcome.SUCCESS,
            in_flight=True,
            tone=Tone.ACTIVE,
            followed=True,
        ),
        Status.SUCCEEDED: StatusRule(
            next=frozenset(),
            stamps="finished_at",
            action=Action.EXPORT_SUCCEEDED,
            outcome=Outcome.SUCCESS,
            in_flight=False,
            tone=Tone.OK,
        ),
        Status.FAILED: StatusRule(
            next=frozenset(),
            stamps="finished_at",
            action=Action.EXPORT_FAILED,
            outcome=Outcome.FAILURE,
            in_flight=False,
            tone=Tone.ERROR,
            detail="error_message",
        ),
        Status.REJECTED: StatusRule(
            next=frozenset(),
            stamps="finished_at",
            action=Action.EXPORT_REJECTED,
            outcome=Outcome.FAILURE,
            in_flight=False,
            tone=Tone.ERROR,
            detail="error_message",
        ),
        Status.UNKNOWN: StatusRule(
            next=frozenset({Status.ABANDONED}),
            stamps="finished_at",
            action=Action.EXPORT_UNKNOWN,
            outcome=Outcome.UNKNOWN,
            in_flight=False,
            tone=Tone.WARNING,
            detail="error_message",
        ),
        Status.CANCELLED: StatusRule(
            next=frozenset(),
            stamps="finished_at",
            action=Action.EXPORT_CANCELLED,
            outcome=Outcome.SUCCESS,
            in_flight=False,
            tone=Tone.STOPPED,
        ),
        # The portal stopped following; the cloud job may still finish and write the
        # object, so the export's outcome is unknown, not a success.
        Status.ABANDONED: StatusRule(
            next=frozenset(),
            stamps="finished_at",
            action=Action.EXPORT_ABANDONED,
            outcome=Outcome.UNKNOWN,
            in_flight=False,
            tone=Tone.STOPPED,
            detail=REASON_DETAIL,
        ),
    }
)

Status.IN_FLIGHT = frozenset(s for s, rule in STATUS_TABLE.items() if rule.in_flight)
Status.FOLLOWED = frozenset(s for s, rule in STATUS_TABLE.items() if rule.followed)
Status.TERMINAL = frozenset(s for s, rule in STATUS_TABLE.items() if not rule.in_flight)

# "In flight" as a database condition: the one-export-per-image constraint and every
# queryset ask it this way (sorted, so the migration's condition is stable).
IN_FLIGHT_CONDITION = Q(status__in=sorted(Status.IN_FLIGHT))


class Verification(models.TextChoices):
    """Whether the object a succeeded export wrote is in OBS: a small state set of its own
    beside the status, which stays `succeeded` whatever OBS shows (IMS said the job
    succeeded; this is the portal's evidence of it). Each state's row in
    `VERIFICATION_TABLE` says where it may go and how entering it reads in the audit trail.
    """

    NONE = "", "Nothing to verify"  # the export has not succeeded
    PENDING = "pending", "Checking the object in OBS"
    VERIFIED = "verified", "Verified in OBS"
    NOT_FOUND = "not_found", "Succeeded — object not found"
    NOT_VERIFIED = "not_verified", "Not verified (could not reach OBS)"
    LEGACY = "legacy", "Not verified"  # succeeded before the portal checked objects

    CHECKING: ClassVar[frozenset[Verification]]  # a check may still be due

    @property
    def rule(self) -> VerificationRule:
        return VERIFICATION_TABLE[self]


@dataclass(frozen=True, slots=True)
class VerificationRule:
    """Everything the proof of an export knows of one verification state."""

    next: frozenset[Verification]
    action: Action | None  # how entering it reads in the audit trail (None: not audited)
    outcome: Outcome | None
    look: str  # the page's look: "active", "ok", "warning" (amber) or "muted"
    checking: bool = False  # the portal may still check the object


# `pending` is entered with `succeeded` itself and re-entered by each check that finds no
# object yet (or an empty one), until EXPORT_VERIFY_TRIES checks said so; `not_verified` by
# each check OBS did not answer, retried every EXPORT_VERIFY_RETRY_AFTER seconds. Only a
# change of state is audited: the checks in between leave the trail alone.
VERIFICATION_TABLE: Mapping[Verification, VerificationRule] = MappingProxyType(
    {
        Verification.NONE: VerificationRule(
            next=frozenset({Verification.PENDING}), action=None, outcome=None, look="muted"
        ),
        Verification.PENDING: VerificationRule(
            next=frozenset(
                {
                    Verification.PENDING,
                    Verification.VERIFIED,
                    Verification.NOT_FOUND,
                    Verification.NOT_VERIFIED,
                }
            ),
            action=None,
            outcome=None,
            look="active",
            checking=True,
        ),
        Verification.VERIFIED: VerificationRule(
            next=frozenset(), action=Action.EXPORT_VERIFIED, outcome=Outcome.SUCCESS, look="ok"
        ),
        Verification.NOT_FOUND: VerificationRule(
            next=frozenset(),
            action=Action.EXPORT_OBJECT_NOT_FOUND,
            outcome=Outcome.FAILURE,
            look="warning",
        ),
        Verification.NOT_VERIFIED: VerificationRule(
            next=frozenset(
                {
                    Verification.PENDING,
                    Verification.VERIFIED,
                    Verification.NOT_FOUND,
                    Verification.NOT_VERIFIED,
                }
            ),
            action=Action.EXPORT_NOT_VERIFIED,
            outcome=Outcome.UNKNOWN,
            look="muted",
            checking=True,
        ),
        Verification.LEGACY: VerificationRule(
            next=frozenset(), action=None, outcome=None, look="muted"
        ),
    }
)

Verification.CHECKING = frozenset(v for v, rule in VERIFICATION_TABLE.items() if rule.checking)


@dataclass(frozen=True, slots=True)
class StatusStep:
    """One status change of an export, as its audit trail records it."""

    at: datetime
    from_status: Status
    to_status: Status
    detail: str  # what explains the move: the job id it got, the error it ended with

    @classmethod
    def from_event(cls, event: AuditEvent) -> StatusStep | None:
        """The status change an export's audit event records, or None for other events."""
        details = event.details or {}
        try:
            from_status = Status(str(details.get("from_status")))
            to_status = Status(str(details.get("to_status")))
        except ValueError:
            return None
        if event.target_type != "export" or event.action != to_status.rule.action:
            return None
        field = to_status.rule.detail
        return cls(event.at, from_status, to_status, str(details.get(field, "")) if field else "")


class IllegalTransition(Exception):
    """The state machine has no such move."""


class TransitionConflict(Exception):
    """Someone else wrote the export first (another worker, the reconciler, a person)."""


class ExportQuerySet(models.QuerySet["Export"]):
    def visible_to(self, user: Any) -> ExportQuerySet:
        """Every lookup of exports goes through here: auditors see all, others their own."""
        if not user.is_authenticated:
            return self.none()
        if is_auditor(user):
            return self
        return self.filter(owner=user)

    def in_flight(self) -> ExportQuerySet:
        return self.filter(IN_FLIGHT_CONDITION)

    def followed(self) -> ExportQuerySet:
        """Exports with a cloud job to poll."""
        return self.filter(status__in=Status.FOLLOWED)

    def move_polls(self, due: datetime) -> int:
        """Name `due` as these rows' next poll, and change nothing else: the batched
        poller's claim (a lease) and its release of a dead round's claim. No status, no
        audit event, nothing a page shows: the poll that follows is the write."""
        return self.update(next_poll_at=due)

    def move_checks(self, due: datetime) -> int:
        """Name `due` as these rows' next object check, as `move_polls` does for polls."""
        return self.update(verify_due_at=due)

    def matching(self, text: str) -> ExportQuerySet:
        """Exports whose image, bucket or object name contains `text` (any case)."""
        return self.filter(
            Q(image_name__icontains=text)
            | Q(bucket__icontains=text)
            | Q(object_name__icontains=text)
        )


class Export(models.Model):
    """One request to export one image to one OBS object."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exports"
    )
    # One per rendered form: a double click or a resent POST finds the first export.
    request_token = models.UUIDField(default=uuid.uuid4, editable=False)

    image_id = models.CharField(max_length=64)
    image_name = models.CharField(max_length=255)
    image_size = models.BigIntegerField(help_text="bytes")
    bucket = models.CharField(max_length=rules.BUCKET_MAX)
    object_name = models.CharField(max_length=rules.OBJECT_MAX_BYTES)
    file_format = models.CharField(max_length=8, blank=True)
    quick = models.BooleanField(default=False)
    # The export this one repeats ("Export again…"); its page lists the retries.
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="retries"
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    job_id = models.CharField(max_length=64, blank=True)
    # The highest figure the cloud has reported for the job (`_write` never lowers it), so
    # the bar drawn from it never moves backwards when a later answer says less.
    progress = models.FloatField(
        null=True, blank=True, help_text="0..1, the highest the cloud has reported"
    )
    current_step = models.CharField(max_length=255, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)  # what happened, in plain words
    error_remedy = models.TextField(blank=True)  # what a person can do about it
    retry_advice = models.CharField(
        max_length=8,
        choices=[(advice.value, advice.verdict) for advice in Retry],
        blank=True,
        help_text="whether sending the same export again can help",
    )
    # The cloud's X-Request-Id of the answer that ended or failed the export: what the
    # provider's support asks for.
    cloud_request_id = models.CharField(max_length=128, blank=True)
    submit_attempts = models.PositiveSmallIntegerField(default=0)
    # Since when the export has waited for the work queue: it was saved, but its submit task
    # could not be handed to the broker (Redis down). `tasks.send_waiting_exports` sends it
    # once the broker is back; until then its page says so.
    waiting_for_queue_since = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    submitting_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    running_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    job_begin_time = models.DateTimeField(null=True, blank=True)
    job_end_time = models.DateTimeField(null=True, blank=True)
    # When the job last showed a change (status, percentage or step): stall detection.
    last_change_at = models.DateTimeField(null=True, blank=True)
    # When the next poll is due; the reconciler finds polls that went missing by it.
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    # Final refusals to read the job in a row; the portal gives up at EXPORT_POLL_GIVE_UP_AFTER.
    poll_refusals = models.PositiveSmallIntegerField(default=0)
    # The time-left estimate (exports/eta.py): recent [epoch seconds, fraction] readings of
    # the cloud's percentage, and the estimate the page shows, as a poll worked it out:
    # seconds left at `eta_at`, counted down from there by every page view.
    progress_samples = models.JSONField(default=list, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    eta_at = models.DateTimeField(null=True, blank=True)
    eta_prior_only = models.BooleanField(
        default=False, help_text="the estimate rests on past exports alone (less certain)"
    )
    # The proof of a succeeded export (exports/verification.py): what OBS said of the object
    # at the last check, and when the next check is due (None once there is no more).
    verification = models.CharField(
        max_length=16, choices=Verification.choices, default=Verification.NONE, blank=True
    )
    verify_due_at = models.DateTimeField(null=True, blank=True)
    verify_misses = models.PositiveSmallIntegerField(
        default=0, help_text="checks that found no object, or an empty one"
    )
    verify_unreachable = models.PositiveSmallIntegerField(
        default=0, help_text="checks OBS did not answer"
    )
    verified_at = models.DateTimeField(null=True, blank=True, help_text="the last check")
    object_size = models.BigIntegerField(null=True, blank=True, help_text="bytes, per OBS")
    object_etag = models.CharField(max_length=128, blank=True)
    object_last_modified = models.DateTimeField(null=True, blank=True)
    verification_note = models.CharField(
        max_length=255, blank=True, help_text="what the last check found, in words"
    )

    objects = ExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="export_owner_recent"),
            models.Index(fields=["status", "-created_at"], name="export_status_recent"),
            models.Index(fields=["status", "next_poll_at"], name="export_status_poll"),
            models.Index(fields=["verification", "verify_due_at"], name="export_verify_due"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["owner", "request_token"], name="export_one_per_form"),
            # The cloud refuses a second export of an image in flight (IMG.0148); so does
            # the database, whatever races the web processes run.
            models.UniqueConstraint(
                fields=["image_id"],
                condition=IN_FLIGHT_CONDITION,
                name="export_one_in_flight_per_image",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.image_name} → {self.bucket_url}"

    def get_absolute_url(self) -> str:
        return reverse("exports:detail", args=[self.pk])

    @property
    def bucket_url(self) -> str:
        return rules.compose_bucket_url(self.bucket, self.object_name)

    @property
    def destination(self) -> str:
        """Where the file goes, as every page shows it: `bucket:object`, the notation IMS
        takes, reports in its job and the audit trail records, so they read alike. Only
        obsutil wants `obs://bucket/object`, which no page needs."""
        return self.bucket_url

    @property
    def written_format(self) -> str:
        """The format of the file IMS writes: the chosen one, or ZVHD2 for a fast export."""
        return rules.QUICK_EXPORT_FORMAT if self.quick else self.file_format

    @property
    def rule(self) -> StatusRule:
        return Status(self.status).rule

    @property
    def is_in_flight(self) -> bool:
        return self.rule.in_flight

    @property
    def is_terminal(self) -> bool:
        return not self.rule.in_flight

    @property
    def is_succeeded(self) -> bool:
        return self.status == Status.SUCCEEDED

    @property
    def tone(self) -> Tone:
        return self.rule.tone

    @property
    def proof(self) -> Verification:
        """The verification state the page shows: a succeeded export the portal never set
        out to check (it succeeded before objects were checked) is `legacy`."""
        state = Verification(self.verification)
        if self.is_succeeded and state == Verification.NONE:
            return Verification.LEGACY
        return state

    @property
    def is_verified(self) -> bool:
        """OBS showed the object, with bytes in it: its size and ETag are recorded."""
        return self.proof == Verification.VERIFIED

    @property
    def is_object_missing(self) -> bool:
        """Succeeded, yet OBS showed no object (or an empty one) check after check."""
        return self.proof == Verification.NOT_FOUND

    @property
    def is_pending_verification(self) -> bool:
        """The object has not been seen yet, and the next check is due soon."""
        return self.proof == Verification.PENDING

    @property
    def is_unverified(self) -> bool:
        """OBS did not answer the check: the object was not seen either way."""
        return self.proof == Verification.NOT_VERIFIED

    @property
    def is_being_verified(self) -> bool:
        """A check of the object is still due: the page keeps asking how it went."""
        return self.proof.rule.checking and self.verify_due_at is not None

    @property
    def is_stopped(self) -> bool:
        """Ended because a person said so: cancelled before the POST, or no longer followed."""
        return self.rule.tone == Tone.STOPPED

    @property
    def is_rejected(self) -> bool:
        """The cloud refused the export POST: nothing was ever started."""
        return self.status == Status.REJECTED

    @property
    def retry(self) -> Retry:
        """Whether the same export sent again can help, as the failure recorded it."""
        return Retry(self.retry_advice) if self.retry_advice else Retry.MAYBE

    @property
    def is_failed(self) -> bool:
        """Ended without an image file: the job failed, or the cloud refused the export."""
        return self.status in (Status.FAILED, Status.REJECTED)

    @property
    def is_unknown(self) -> bool:
        """The cloud may or may not be exporting: a person checks, then stops following it."""
        return self.status == Status.UNKNOWN

    @property
    def is_abandoned(self) -> bool:
        """A person stopped following it; its cloud job may still finish."""
        return self.status == Status.ABANDONED

    @property
    def is_waiting_for_queue(self) -> bool:
        """Saved, but not yet handed to the work queue (the broker was down)."""
        return self.status == Status.QUEUED and self.waiting_for_queue_since is not None

    @property
    def is_retrying(self) -> bool:
        """Queued again after a submit the cloud surely did not act on."""
        return self.status == Status.QUEUED and bool(self.error_message)

    @property
    def can_cancel(self) -> bool:
        """Only before the POST: nothing has reached the cloud yet."""
        return Status.CANCELLED in self.rule.next

    @property
    def can_abandon(self) -> bool:
        """The POST may have left, and IMS cannot stop a job: the portal can only stop
        following it."""
        return Status.ABANDONED in self.rule.next

    @property
    def can_retry(self) -> bool:
        """Ended without the file it was asked for, so exporting it again makes sense:
        failed, rejected, unknown, abandoned or cancelled."""
        return self.is_terminal and not self.is_succeeded

    def audit_facts(self) -> dict[str, Any]:
        """What every audit event about this export repeats: auditors filter on these."""
        return {
            "image_id": self.image_id,
            "image_name": self.image_name,
            "bucket": self.bucket,
            "object_name": self.object_name,
            "bucket_url": self.bucket_url,
            "file_format": self.file_format,
            "fast_export": self.quick,
        }

    def transition(
        self, to: Status, *, actor: Actor = SYSTEM, reason: str = "", **changes: Any
    ) -> None:
        """Move to status `to`, saving `changes` with it, or raise.

        The one way any code changes an export's status. The move is a compare-and-swap on
        the status this object was loaded with: if another worker, the reconciler or a
        person moved it first, nothing is written and `TransitionConflict` is raised. The
        audit event, which is the export's status history, is written in the same
        transaction, so neither exists without the other. `actor` is the person who asked
        for the move (cancelling, say); workers leave it as the system. `reason` is why a
        person made the move (abandoning, say): it is recorded in the audit event only,
        which is where the status history reads it from.
        """
        self._write(changes, to=to, actor=actor, noted={REASON_DETAIL: reason} if reason else {})

    transition.alters_data = True  # type: ignore[attr-defined]

    def record_poll(self, next_due: datetime, *, to: Status | None = None, **changes: Any) -> None:
        """Save what one poll learnt of a job that goes on (`changes`, a move `to` running)
        and the poll due next, in one write, or raise `TransitionConflict`.

        Two compare-and-swaps guard it: the status this object was loaded with, and the poll
        it was loaded for (`next_poll_at`). Only the poll that is the row's next may write
        and keep the chain going, so a poll re-sent by the reconciler and a late original
        never both do.
        """
        changes = {"next_poll_at": next_due, "poll_count": self.poll_count + 1, **changes}
        self._write(changes, to=to, guard={"next_poll_at": self.next_poll_at})

    record_poll.alters_data = True  # type: ignore[attr-defined]

    def rearm_poll(self, due: datetime) -> None:
        """Name `due` as the next poll of a followed export whose poll went missing, or
        raise `TransitionConflict` if its poll moved on meanwhile (it was not missing)."""
        self._write({"next_poll_at": due}, guard={"next_poll_at": self.next_poll_at})

    rearm_poll.alters_data = True  # type: ignore[attr-defined]

    def rearm_check(self, due: datetime) -> None:
        """Name `due` as the next check of the exported object, whose message went missing,
        or raise `TransitionConflict` if the check moved on meanwhile."""
        self._write(
            {"verify_due_at": due},
            guard={"verification": self.verification, "verify_due_at": self.verify_due_at},
        )

    rearm_check.alters_data = True  # type: ignore[attr-defined]

    def record_check(self, to: Verification, **changes: Any) -> None:
        """Save what one check of the exported object found (`changes`) and its verification
        state `to`, or raise `TransitionConflict`.

        Guarded like a poll: by the status, the verification state and the check it was
        loaded for (`verify_due_at`), so a check re-sent by the reconciler and a late
        original never both write. Entering a state with an audit action records it, with
        the evidence, in the same transaction; staying in one does not.
        """
        to = Verification(to)
        if to not in self.proof.rule.next:
            raise IllegalTransition(f"export {self.pk}: verification {self.proof} → {to}")
        changes = {"verification": to, **changes}
        event = None
        if to != self.proof and to.rule.action is not None:
            facts = {name: changes.get(name, getattr(self, name)) for name in VERIFICATION_FACTS}
            event = (to.rule.action, to.rule.outcome, {k: v for k, v in facts.items() if v != ""})
        self._write(
            changes,
            guard={"verification": self.verification, "verify_due_at": self.verify_due_at},
            event=event,
        )

    record_check.alters_data = True  # type: ignore[attr-defined]

    def note_queue(self, *, reached: bool) -> None:
        """Record whether the submit task of this queued export reached the broker, or raise
        `TransitionConflict` if the export moved on meanwhile."""
        self._write({"waiting_for_queue_since": None if reached else timezone.now()})

    note_queue.alters_data = True  # type: ignore[attr-defined]

    def _write(
        self,
        changes: dict[str, Any],
        *,
        to: Status | None = None,
        actor: Actor = SYSTEM,
        guard: dict[str, Any] | None = None,
        noted: dict[str, Any] | None = None,
        event: tuple[Action, Outcome | None, dict[str, Any]] | None = None,
    ) -> None:
        """The one writer of an export row: `changes` (and a move `to`, audited with the
        `noted` facts, or another `event` of the export), if the row still has the status
        this object was loaded with and every `guard` value."""
        now = timezone.now()
        changes = {"updated_at": now, **changes}
        if "progress" in changes and self.progress is not None:
            # A high-water mark: a later answer that reports less (or nothing) keeps the
            # figure already shown. Only polls write `progress`, and the `next_poll_at` guard
            # lets one poll write at a time, so `self.progress` is the row's as loaded.
            changes["progress"] = max(self.progress, changes["progress"] or 0.0)
        if to is not None:
            to = Status(to)
            if to not in self.rule.next:
                raise IllegalTransition(f"export {self.pk}: {self.status} → {to}")
            rule = to.rule
            if rule.stamps and rule.stamps not in changes:
                changes[rule.stamps] = now
            if rule.followed and "last_change_at" not in changes:
                changes["last_change_at"] = now
            if not rule.in_flight:
                changes["next_poll_at"] = None
        from_status = Status(self.status)
        # The audit events are worked out from the row as loaded, and recorded last: the
        # chain's lock is held from the first of them to the commit (`audit.trail`).
        events: list[tuple[Action, Outcome | None, dict[str, Any]]] = []
        if to is not None:
            events.append(
                (
                    to.rule.action,
                    to.rule.outcome,
                    {
                        "from_status": self.status,
                        "to_status": to,
                        **self.audit_facts(),
                        **self._outcome_facts(changes),
                        **(noted or {}),
                    },
                )
            )
        if event is not None:
            action, outcome, details = event
            events.append((action, outcome, {**self.audit_facts(), **details}))
        with transaction.atomic():
            written = Export.objects.filter(pk=self.pk, status=self.status, **(guard or {})).update(
                **changes, **({"status": to} if to is not None else {})
            )
            if not written:
                raise TransitionConflict(f"export {self.pk} is no longer as it was loaded")
            if to is not None:
                self.status = to
            for name, value in changes.items():
                setattr(self, name, value)
            # Listeners (the notifications' outbox) write in this same transaction.
            export_written.send(sender=Export, export=self, from_status=from_status, at=now)
            for action, outcome, details in events:
                record(actor, action, self, outcome=outcome or Outcome.SUCCESS, **details)

    def status_history(self) -> list[StatusStep]:
        """The export's status changes, oldest first, read from its audit trail: that is
        the one record of them."""
        events = AuditEvent.objects.for_target("export", self.pk).filter(
            action__in={rule.action for rule in STATUS_TABLE.values()}
        )
        steps = (StatusStep.from_event(event) for event in events.order_by("id"))
        return [step for step in steps if step is not None]

    def request_id(self) -> str:
        """The request id of the request that created the export, from its audit event
        (blank if none was recorded). Every task of the export, its calls to the cloud and
        their log lines carry this one id (see `audit/task_origin.py`)."""
        requested = AuditEvent.objects.for_target("export", self.pk).filter(
            action=Action.EXPORT_REQUESTED
        )
        return requested.values_list("request_id", flat=True).first() or ""

    def _outcome_facts(self, changes: dict[str, Any]) -> dict[str, Any]:
        """The job id and error a status change carries, as they are after the change."""
        facts = {
            name: changes.get(name, getattr(self, name))
            for name in (
                "job_id",
                "error_code",
                "error_message",
                "cloud_request_id",
                "submit_attempts",
            )
        }
        return {name: value for name, value in facts.items() if value not in ("", None)}

    def elapsed(self, now: datetime | None = None) -> timedelta:
        end = self.finished_at or now or timezone.now()
        return end - self.created_at


class PollChain(models.Model):
    """One slot of the batched poller (`exports/poller.py`): which message owns it, until
    when, and the lease of the claim its current run has not finished polling."""

    # `<default queue>:<number>`: the workers of each queue run chains of their own.
    name = models.CharField(max_length=200, primary_key=True)
    # The Celery message id of the run that holds the slot, or of the last one to.
    owner = models.CharField(max_length=64, blank=True)
    held_until = models.DateTimeField(null=True, blank=True)
    # The value the current run moved its claimed rows' due times to; cleared once they are
    # all polled. Set on a slot taken over, it names rows a dead run left leased.
    claim_lease = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"poll chain {self.name}"
