"""The export workflow's data: one `Export` per request, moved by one state machine."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from ims_portal.accounts.roles import is_auditor
from ims_portal.audit.models import Action, Outcome
from ims_portal.audit.trail import SYSTEM, Actor, record
from ims_portal.exports import rules


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTING = "submitting", "Submitting"
    SUBMITTED = "submitted", "Submitted"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    UNKNOWN = "unknown", "Unknown"
    CANCELLED = "cancelled", "Cancelled"


IN_FLIGHT = frozenset({Status.QUEUED, Status.SUBMITTING, Status.SUBMITTED, Status.RUNNING})
FOLLOWED = frozenset({Status.SUBMITTED, Status.RUNNING})  # a cloud job exists; poll it
TERMINAL = frozenset(
    {Status.SUCCEEDED, Status.FAILED, Status.REJECTED, Status.UNKNOWN, Status.CANCELLED}
)

# Every legal move. `submitting -> queued` is the retry after a refusal that proves the
# cloud did not act (connection refused, 429, 503); `unknown` waits for a person, whether
# the submit's outcome is unknown or the cloud stopped answering about the job.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.QUEUED: frozenset({Status.SUBMITTING, Status.CANCELLED}),
    Status.SUBMITTING: frozenset(
        {Status.SUBMITTED, Status.QUEUED, Status.REJECTED, Status.FAILED, Status.UNKNOWN}
    ),
    Status.SUBMITTED: frozenset({Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.UNKNOWN}),
    Status.RUNNING: frozenset({Status.SUCCEEDED, Status.FAILED, Status.UNKNOWN}),
    Status.UNKNOWN: frozenset({Status.CANCELLED}),
    Status.SUCCEEDED: frozenset(),
    Status.FAILED: frozenset(),
    Status.REJECTED: frozenset(),
    Status.CANCELLED: frozenset(),
}

# The timestamp each phase stamps when it is entered.
PHASE_TIMESTAMPS = {
    Status.SUBMITTING: "submitting_at",
    Status.SUBMITTED: "submitted_at",
    Status.RUNNING: "running_at",
    Status.SUCCEEDED: "finished_at",
    Status.FAILED: "finished_at",
    Status.REJECTED: "finished_at",
    Status.UNKNOWN: "finished_at",
    Status.CANCELLED: "finished_at",
}


# How each status change reads in the audit trail. `queued` is only ever re-entered, after
# a submit attempt the cloud surely did not act on.
STATUS_AUDIT: dict[str, tuple[Action, Outcome]] = {
    Status.QUEUED: (Action.EXPORT_REQUEUED, Outcome.FAILURE),
    Status.SUBMITTING: (Action.EXPORT_SUBMITTING, Outcome.SUCCESS),
    Status.SUBMITTED: (Action.EXPORT_SUBMITTED, Outcome.SUCCESS),
    Status.RUNNING: (Action.EXPORT_RUNNING, Outcome.SUCCESS),
    Status.SUCCEEDED: (Action.EXPORT_SUCCEEDED, Outcome.SUCCESS),
    Status.FAILED: (Action.EXPORT_FAILED, Outcome.FAILURE),
    Status.REJECTED: (Action.EXPORT_REJECTED, Outcome.FAILURE),
    Status.UNKNOWN: (Action.EXPORT_UNKNOWN, Outcome.UNKNOWN),
    Status.CANCELLED: (Action.EXPORT_CANCELLED, Outcome.SUCCESS),
}


class IllegalTransition(Exception):
    """The state machine has no such move."""


class TransitionConflict(Exception):
    """Someone else moved the export first (another worker, the reconciler, a person)."""


class ExportQuerySet(models.QuerySet["Export"]):
    def visible_to(self, user: Any) -> ExportQuerySet:
        """Every lookup of exports goes through here: auditors see all, others their own."""
        if not user.is_authenticated:
            return self.none()
        if is_auditor(user):
            return self
        return self.filter(owner=user)

    def in_flight(self) -> ExportQuerySet:
        return self.filter(status__in=IN_FLIGHT)


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
    bucket = models.CharField(max_length=63)
    object_name = models.CharField(max_length=1024)
    file_format = models.CharField(max_length=8, blank=True)
    quick = models.BooleanField(default=False)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    job_id = models.CharField(max_length=64, blank=True)
    progress = models.FloatField(null=True, blank=True, help_text="0..1 as the cloud reports it")
    current_step = models.CharField(max_length=255, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    submit_attempts = models.PositiveSmallIntegerField(default=0)

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

    objects = ExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="export_owner_recent"),
            models.Index(fields=["status", "-created_at"], name="export_status_recent"),
            models.Index(fields=["status", "next_poll_at"], name="export_status_poll"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["owner", "request_token"], name="export_one_per_form"),
            # The cloud refuses a second export of an image in flight (IMG.0148); so does
            # the database, whatever races the web processes run.
            models.UniqueConstraint(
                fields=["image_id"],
                condition=Q(status__in=sorted(IN_FLIGHT)),
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
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def can_cancel(self) -> bool:
        """Only before the POST, or after a person has checked an unknown outcome."""
        return Status.CANCELLED in TRANSITIONS[self.status]

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

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

    def transition(self, to: str, *, actor: Actor = SYSTEM, **changes: Any) -> None:
        """Move to status `to`, saving `changes` with it, or raise.

        The one way any code changes an export's status. The move is a compare-and-swap on
        the status this object was loaded with: if another worker, the reconciler or a
        person moved it first, nothing is written and `TransitionConflict` is raised. The
        status history row and the audit event are written in the same transaction, so
        neither exists without the other. `actor` is the person who asked for the move
        (cancelling, say); workers leave it as the system.
        """
        if to not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"export {self.pk}: {self.status} → {to}")
        now = timezone.now()
        changes = {"updated_at": now, **changes}
        stamp = PHASE_TIMESTAMPS.get(to)
        if stamp and stamp not in changes:
            changes[stamp] = now
        if to in FOLLOWED and "last_change_at" not in changes:
            changes["last_change_at"] = now
        if to in TERMINAL:
            changes["next_poll_at"] = None
        with transaction.atomic():
            moved = Export.objects.filter(pk=self.pk, status=self.status).update(
                status=to, **changes
            )
            if not moved:
                raise TransitionConflict(f"export {self.pk} is no longer {self.status}")
            StatusChange.objects.create(
                export=self,
                from_status=self.status,
                to_status=to,
                at=now,
                detail=changes.get("error_message", "") or changes.get("job_id", ""),
            )
            action, outcome = STATUS_AUDIT[to]
            record(
                actor,
                action,
                self,
                outcome=outcome,
                from_status=self.status,
                to_status=to,
                **self.audit_facts(),
                **self._outcome_facts(changes),
            )
        self.status = to
        for name, value in changes.items():
            setattr(self, name, value)

    transition.alters_data = True  # type: ignore[attr-defined]

    def _outcome_facts(self, changes: dict[str, Any]) -> dict[str, Any]:
        """The job id and error a status change carries, as they are after the change."""
        facts = {
            name: changes.get(name, getattr(self, name))
            for name in ("job_id", "error_code", "error_message", "submit_attempts")
        }
        return {name: value for name, value in facts.items() if value not in ("", None)}

    def elapsed(self, now: datetime | None = None) -> timedelta:
        end = self.finished_at or now or timezone.now()
        return end - self.created_at


class StatusChange(models.Model):
    """One step of an export's status history, written by `Export.transition`."""

    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=16, choices=Status.choices)
    to_status = models.CharField(max_length=16, choices=Status.choices)
    at = models.DateTimeField(default=timezone.now)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"
