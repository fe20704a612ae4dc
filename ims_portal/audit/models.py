"""The audit trail's one table: `AuditEvent`, append-only and chained by hash.

Shaped like NetBox's `ObjectChange`: a nullable actor plus a copy of who they were at the
time (so the record survives renames), a target named by type, id and label, an action
choice, JSON details, and the request id stamped by the middleware. Unlike `ObjectChange`,
rows are never updated or deleted: the model and its queryset refuse, and on PostgreSQL a
trigger (migrations 0002 and 0009) refuses too, but for the oldest rows an archive covers
(`retention.py`). Every row carries the hash of its canonical content
and the previous row's hash (see `chain.py`); `trail.record` is the one writer.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KeyTransform
from django.urls import NoReverseMatch, reverse

from ims_portal.audit import chain


class AppendOnlyError(Exception):
    """Audit events are written once and never changed or removed."""


class Action(models.TextChoices):
    """What happened. The prefix before the dot names the family (sign-in, export, ...)."""

    SIGN_IN = "auth.sign_in", "Signed in"
    SUPERUSER_SIGN_IN = "auth.superuser_sign_in", "Superuser signed in"
    SIGN_OUT = "auth.sign_out", "Signed out"
    SIGN_IN_FAILED = "auth.sign_in_failed", "Sign-in failed"
    SIGN_IN_REFUSED = "auth.sign_in_refused", "Sign-in refused"
    NO_ACCESS = "auth.no_access", "No access (role missing)"
    ROLES_CHANGED = "auth.roles_changed", "Roles changed at sign-in"
    EXPORT_REQUESTED = "export.requested", "Export requested"
    EXPORT_INVALID = "export.invalid", "Export refused by validation"
    EXPORT_SUBMITTING = "export.submitting", "Export being submitted"
    EXPORT_SUBMITTED = "export.submitted", "Export submitted"
    EXPORT_REQUEUED = "export.requeued", "Export queued again"
    EXPORT_RUNNING = "export.running", "Export running"
    EXPORT_SUCCEEDED = "export.succeeded", "Export succeeded"
    EXPORT_FAILED = "export.failed", "Export failed"
    EXPORT_REJECTED = "export.rejected", "Export rejected by the cloud"
    EXPORT_UNKNOWN = "export.unknown", "Export outcome unknown"
    EXPORT_CANCELLED = "export.cancelled", "Export cancelled"
    EXPORT_ABANDONED = "export.abandoned", "Export abandoned (no longer followed)"
    EXPORT_VERIFIED = "export.verified", "Exported object verified in OBS"
    EXPORT_OBJECT_NOT_FOUND = "export.object_not_found", "Exported object not found in OBS"
    EXPORT_NOT_VERIFIED = "export.not_verified", "Exported object not verified (OBS did not answer)"
    ACCESS_DENIED = "access.denied", "Access denied (someone else's export)"
    AUDIT_SEARCHED = "audit.searched", "Audit trail searched"
    AUDIT_EXPORTED = "audit.exported", "Audit trail exported"
    AUDIT_EVIDENCE = "audit.evidence", "Evidence pack of an export downloaded"
    AUDIT_ARCHIVED = "audit.archived", "Oldest audit events archived to a signed file"
    NOTIFY_SUBSCRIBED = "notify.subscribed", "Notification subscription added"
    NOTIFY_CHANGED = "notify.changed", "Notification subscription changed"
    NOTIFY_UNSUBSCRIBED = "notify.unsubscribed", "Notification subscription removed"
    NOTIFY_SECRET_REVEALED = "notify.secret_revealed", "Webhook signing secret shown"
    NOTIFY_SECRET_ROTATED = "notify.secret_rotated", "Webhook signing secret replaced"
    NOTIFY_TEST_SENT = "notify.test_sent", "Test notification sent"
    TOKEN_CREATED = "token.created", "API token created"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    TOKEN_NEW_ADDRESS = "token.new_address", "API token used from a new address"
    ADMIN_ADDED = "admin.added", "Added in the admin site"
    ADMIN_CHANGED = "admin.changed", "Changed in the admin site"
    ADMIN_DELETED = "admin.deleted", "Deleted in the admin site"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"
    UNKNOWN = "unknown", "Unknown"


# Where an event's target can be seen in the portal, by target type.
TARGET_URLS = {"export": "exports:detail"}


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit events cannot be deleted")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events cannot be updated")

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        # Rows written past `trail.record` would not be chained.
        raise AppendOnlyError("audit events are written one by one through trail.record")

    def for_target(self, target_type: str, target_id: object) -> AuditEventQuerySet:
        """The events about one object (an export's timeline), by the target index."""
        return self.filter(target_type=target_type, target_id=str(target_id))


class AuditEvent(models.Model):
    """One security- or business-relevant action: who, what, when, from where, outcome."""

    at = models.DateTimeField(editable=False, db_index=True)
    # PROTECT, not SET_NULL: nulling the actor would rewrite a chained row. Users with an
    # audit history are deactivated, not deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    actor_username = models.CharField(max_length=150, blank=True, editable=False)
    actor_email = models.CharField(max_length=254, blank=True, editable=False)
    actor_roles = models.CharField(max_length=64, blank=True, editable=False)
    ip = models.CharField("source IP", max_length=45, blank=True, editable=False)
    user_agent = models.CharField(max_length=512, blank=True, editable=False)
    request_id = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    action = models.CharField(max_length=40, choices=Action.choices, editable=False)
    target_type = models.CharField(max_length=40, blank=True, editable=False)
    target_id = models.CharField(max_length=64, blank=True, editable=False)
    target_label = models.CharField(max_length=255, blank=True, editable=False)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, editable=False)
    details = models.JSONField(default=dict, blank=True, editable=False)
    # `details` as they are hashed (`chain.canonical_details`), written beside them: the CSV
    # export copies this text as it is instead of decoding and re-encoding every row's JSON.
    details_text = models.TextField(editable=False)
    # Unique: two events claiming the same predecessor would fork the chain. The writer's
    # lock makes that impossible; the constraint makes it impossible even without it.
    prev_hash = models.CharField(max_length=64, unique=True, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = "audit_event"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["actor_username", "-id"], name="audit_actor_recent"),
            models.Index(fields=["action", "-id"], name="audit_action_recent"),
            models.Index(fields=["outcome", "-id"], name="audit_outcome_recent"),
            models.Index(fields=["target_type", "target_id", "-id"], name="audit_target_recent"),
            # With the trigram indexes of migration 0004 (PostgreSQL), every branch of the
            # free-text search has an index, so the planner can combine them.
            models.Index(fields=["ip"], name="audit_ip"),
            # The auditor's image and bucket filters (`details__bucket=...`) read these keys;
            # the same expression as the lookup, so PostgreSQL uses the index.
            models.Index(KeyTransform("image_id", "details"), name="audit_image_id"),
            models.Index(KeyTransform("image_name", "details"), name="audit_image_name"),
            models.Index(KeyTransform("bucket", "details"), name="audit_bucket"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} by {self.actor_display} ({self.outcome})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be updated")
        if not self.hash or self.hash != chain.digest(chain.values_of(self)):
            raise AppendOnlyError("audit events are written through trail.record")
        if self.details_text != chain.canonical_details(self.details):
            raise AppendOnlyError("audit events are written through trail.record")
        super().save(*args, **kwargs)

    save.alters_data = True  # type: ignore[attr-defined]

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events cannot be deleted")

    @property
    def actor_display(self) -> str:
        return self.actor_username or "anonymous"

    @property
    def target_url(self) -> str:
        """The portal page of the target, where there is one."""
        name = TARGET_URLS.get(self.target_type)
        if not name or not self.target_id:
            return ""
        try:
            return reverse(name, args=[self.target_id])
        except NoReverseMatch:
            return ""

    @property
    def target_filter(self) -> str:
        """The audit page's `target` filter value that lists every event of this target."""
        return f"{self.target_type}:{self.target_id}" if self.target_type else ""
