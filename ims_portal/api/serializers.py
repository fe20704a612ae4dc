"""What the API answers, as REST framework serializers: the schema is written from them.

Each answer is built from the same objects the pages render (the image picker's choices,
the bucket picker's, `progress_of`, `Export.status_history`, the audit event), so the API
and the pages say the same things. The serializers read plain mappings made by the
`*_data` functions below; they do the typing for the schema, not the thinking.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from ims_portal.audit.models import AuditEvent
from ims_portal.exports import rules
from ims_portal.exports.cloud_access import BucketChoice, ImageChoice
from ims_portal.exports.models import Export, Status
from ims_portal.exports.preflight import Preflight
from ims_portal.exports.progress import progress_of

# --- Images and buckets ----------------------------------------------------------------------


class ImageSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    name = serializers.CharField()
    size_bytes = serializers.IntegerField()
    platform = serializers.CharField()
    os_version = serializers.CharField()
    image_type = serializers.CharField()
    encrypted = serializers.BooleanField()
    exportable = serializers.BooleanField()
    reason = serializers.CharField(help_text="why it cannot be exported; empty when it can")
    requires_fast_export = serializers.BooleanField()
    suggested_file_name = serializers.CharField()


def image_data(choice: ImageChoice) -> dict[str, Any]:
    image = choice.image
    return {
        "id": image.id,
        "name": image.name,
        "size_bytes": image.size_bytes,
        "platform": image.platform,
        "os_version": image.os_version,
        "image_type": image.image_type,
        "encrypted": image.encrypted,
        "exportable": choice.exportable,
        "reason": choice.refusal,
        "requires_fast_export": choice.requires_quick,
        "suggested_file_name": rules.suggested_file_name(image.name, None, choice.requires_quick),
    }


class BucketSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField()
    region = serializers.CharField()
    storage_class = serializers.CharField(allow_null=True)
    usable = serializers.BooleanField()
    reason = serializers.CharField(help_text="why it cannot take the export; empty when it can")


def bucket_data(choice: BucketChoice) -> dict[str, Any]:
    return {
        "name": choice.bucket.name,
        "region": choice.bucket.region,
        "storage_class": choice.storage_class,
        "usable": choice.usable,
        "reason": choice.reason,
    }


class BucketListSerializer(serializers.Serializer[dict[str, Any]]):
    region = serializers.CharField(help_text="the image's region, which the buckets are judged for")
    usable_storage = serializers.CharField()
    results = BucketSerializer(many=True)


# --- Exports ---------------------------------------------------------------------------------


class ExportRequestSerializer(serializers.Serializer[dict[str, Any]]):
    """The body of a new export: the new-export form's fields (validated by that form)."""

    image = serializers.CharField(help_text="the image id")
    bucket = serializers.CharField()
    file_name = serializers.CharField(help_text="the object to create; it must not exist yet")
    file_format = serializers.ChoiceField(
        choices=["", *rules.FILE_FORMATS], required=False, allow_blank=True
    )
    fast_export = serializers.BooleanField(required=False, default=False)


class RetryRequestSerializer(serializers.Serializer[dict[str, Any]]):
    file_name = serializers.CharField(
        required=False, help_text="another file name than the suggested one"
    )


class AbandonRequestSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(help_text="why; the audit trail records it")


class PhaseSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=["done", "current", "todo", "unseen", "halted"])


class ProgressSerializer(serializers.Serializer[dict[str, Any]]):
    percent = serializers.IntegerField(allow_null=True, help_text="the cloud's figure, 0..100")
    basis = serializers.ChoiceField(choices=["cloud", "finished", "none"])
    phase = serializers.CharField()
    phases = PhaseSerializer(many=True)
    stalled = serializers.BooleanField()
    elapsed_seconds = serializers.IntegerField()
    remaining_seconds = serializers.IntegerField(
        allow_null=True, help_text="the time-left estimate; null while there is none"
    )
    remaining_text = serializers.CharField(
        help_text='the time left in the page\'s words ("about 3 min left", "finishing…"); '
        "empty once the export has ended"
    )
    estimate_from_past_exports_only = serializers.BooleanField()


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField()
    message = serializers.CharField()
    remedy = serializers.CharField()
    retry_advice = serializers.CharField(help_text="whether sending it again can help")
    cloud_request_id = serializers.CharField()


class VerificationSerializer(serializers.Serializer[dict[str, Any]]):
    state = serializers.CharField()
    description = serializers.CharField()
    object_size = serializers.IntegerField(allow_null=True)
    object_etag = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()


class StepSerializer(serializers.Serializer[dict[str, Any]]):
    at = serializers.DateTimeField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    detail = serializers.CharField()


class ExportSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="this export in the API")
    page = serializers.CharField(help_text="this export's page in the portal")
    owner = serializers.CharField()
    image_id = serializers.CharField()
    image_name = serializers.CharField()
    image_size = serializers.IntegerField()
    bucket = serializers.CharField()
    file_name = serializers.CharField()
    destination = serializers.CharField(help_text="bucket:object, as IMS takes it")
    file_format = serializers.CharField()
    fast_export = serializers.BooleanField()
    written_format = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    status_label = serializers.CharField()
    in_flight = serializers.BooleanField()
    job_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    retry_of = serializers.IntegerField(allow_null=True)
    can_cancel = serializers.BooleanField()
    can_abandon = serializers.BooleanField()
    can_retry = serializers.BooleanField()
    progress = ProgressSerializer()
    error = ErrorSerializer(allow_null=True)
    verification = VerificationSerializer(allow_null=True)


class ExportDetailSerializer(ExportSerializer):
    status_history = StepSerializer(many=True)


def export_data(export: Export, *, history: bool = False) -> dict[str, Any]:
    """An export as the API shows it; with `history`, its status history too."""
    progress = progress_of(export)
    failed = bool(export.error_code or export.error_message)
    data: dict[str, Any] = {
        "id": export.pk,
        "url": reverse("api:export", args=[export.pk]),
        "page": export.get_absolute_url(),
        "owner": export.owner.get_username(),
        "image_id": export.image_id,
        "image_name": export.image_name,
        "image_size": export.image_size,
        "bucket": export.bucket,
        "file_name": export.object_name,
        "destination": export.destination,
        "file_format": export.file_format,
        "fast_export": export.quick,
        "written_format": export.written_format,
        "status": export.status,
        "status_label": export.get_status_display(),
        "in_flight": export.is_in_flight,
        "job_id": export.job_id,
        "created_at": export.created_at,
        "updated_at": export.updated_at,
        "finished_at": export.finished_at,
        "retry_of": export.retry_of_id,
        "can_cancel": export.can_cancel,
        "can_abandon": export.can_abandon,
        "can_retry": export.can_retry,
        "progress": {
            "percent": progress.percent,
            "basis": progress.basis.value,
            "phase": progress.phases[progress.phase].name,
            "phases": [{"name": p.name, "state": p.state.value} for p in progress.phases],
            "stalled": progress.stalled,
            "elapsed_seconds": int(progress.elapsed.total_seconds()),
            "remaining_seconds": int(progress.remaining.total_seconds())
            if progress.remaining is not None
            else None,
            "remaining_text": progress.time_left,
            "estimate_from_past_exports_only": export.eta_prior_only,
        },
        "error": {
            "code": export.error_code,
            "message": export.error_message,
            "remedy": export.error_remedy,
            "retry_advice": export.retry.value if failed else "",
            "cloud_request_id": export.cloud_request_id,
        }
        if failed
        else None,
        "verification": {
            "state": export.proof.value,
            "description": export.proof.label,
            "object_size": export.object_size,
            "object_etag": export.object_etag,
            "checked_at": export.verified_at,
            "note": export.verification_note,
        }
        if export.is_succeeded
        else None,
    }
    if history:
        data["status_history"] = [
            {"at": s.at, "from_status": s.from_status, "to_status": s.to_status, "detail": s.detail}
            for s in export.status_history()
        ]
    return data


class ExportPageSerializer(serializers.Serializer[dict[str, Any]]):
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ExportSerializer(many=True)


class FindingSerializer(serializers.Serializer[dict[str, Any]]):
    check = serializers.CharField()
    field = serializers.CharField()
    verdict = serializers.CharField()
    message = serializers.CharField()
    remedy = serializers.CharField()
    free_name = serializers.CharField()


def preflight_data(found: Preflight | None) -> list[dict[str, Any]]:
    """The pre-flight's findings, as the new-export page lists them under the form."""
    if found is None:
        return []
    return [
        {
            "check": f.check.name,
            "field": f.field,
            "verdict": f.verdict.value,
            "message": f.message,
            "remedy": f.remedy,
            "free_name": f.free_name,
        }
        for f in found
    ]


# --- Audit events ----------------------------------------------------------------------------


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.CharField(source="actor_display")

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor",
            "actor_email",
            "actor_roles",
            "ip",
            "user_agent",
            "request_id",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "outcome",
            "details",
            "prev_hash",
            "hash",
        ]


class AuditPageSerializer(serializers.Serializer[dict[str, Any]]):
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = AuditEventSerializer(many=True)
