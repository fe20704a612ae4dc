"""The REST API, version 1: images, buckets, exports and the audit trail.

Every endpoint is a thin door onto the code the pages use: the image and bucket pickers'
choices, `ExportForm` (every export rule and the pre-flight) through `exports.actions`,
`HistoryFilterForm`, `export_or_404` (the 404 and its audit event for someone else's
export), `AuditFilterForm` and the audit trail's file export. What the pages audit, the API
audits the same way, in the same code.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ims_portal.accounts.roles import AUDITOR, EXPORTER, is_auditor
from ims_portal.api import serializers as s
from ims_portal.api.models import ApiToken
from ims_portal.api.problems import Problem, form_errors, problem_response
from ims_portal.audit import exporting
from ims_portal.audit.forms import AuditFilterForm
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.trail import record
from ims_portal.audit.views import PAGE_SIZE as AUDIT_PAGE_SIZE
from ims_portal.audit.views import events_file
from ims_portal.cloud import CloudError, ConfigurationError
from ims_portal.exports import actions
from ims_portal.exports.cloud_access import bucket_choices, image_choices, image_region
from ims_portal.exports.forms import AbandonForm, ExportForm, HistoryFilterForm
from ims_portal.exports.models import Export, Status
from ims_portal.exports.retry import prefill_for
from ims_portal.exports.views import HISTORY_PAGE_SIZE, export_or_404

READERS = (EXPORTER, AUDITOR)
EXPORTERS = (EXPORTER,)
AUDITORS = (AUDITOR,)

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255
# Keys become the form's request token: uuid5 in this namespace, so the database's
# one-export-per-(user, token) constraint is what makes a key idempotent. A version-5 UUID
# never equals a page's version-4 one.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f0c2b8e-3d4a-5e6f-9a1b-2c3d4e5f6a7b")
REPLAYED_HEADER = "Idempotent-Replayed"

# The API's field names for the form's, where they differ.
API_NAMES = {"quick": "fast_export"}
EXPORT_FIELDS = ("image", "bucket", "file_name", "file_format", "fast_export")

TRUE = ("1", "true", "yes", "on")

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Any string of up to 255 characters. The same key from the same user "
    "returns the export it made the first time (200, `Idempotent-Replayed: true`), never a "
    "second one; reused for a different request, 422 `idempotency-key-reused`.",
)
PROBLEM = OpenApiResponse(description="problem details")


class PortalView(APIView):
    """An API view: names the roles it is open to (checked by `PortalAccess`)."""

    roles: tuple[str, ...] = READERS


# --- Images and buckets ----------------------------------------------------------------------


class ImagesView(PortalView):
    roles = EXPORTERS

    @extend_schema(
        operation_id="images_list",
        summary="Images, each with whether it can be exported and why not",
        parameters=[
            OpenApiParameter("exportable", OpenApiTypes.BOOL, description="only exportable ones"),
            OpenApiParameter("refresh", OpenApiTypes.BOOL, description="re-read IMS now"),
        ],
        responses={200: s.ImageSerializer(many=True), 503: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        """The image picker's list: active images, exportable first, with the reason."""
        try:
            choices = image_choices(refresh=_flag(request, "refresh"))
        except (CloudError, ConfigurationError) as error:
            raise _cloud_unavailable("The image list could not be loaded", error) from error
        if _flag(request, "exportable"):
            choices = [choice for choice in choices if choice.exportable]
        return Response([s.ImageSerializer(s.image_data(c)).data for c in choices])


class BucketsView(PortalView):
    roles = EXPORTERS

    @extend_schema(
        operation_id="buckets_list",
        summary="Buckets, each with whether it can take an export of the image and why not",
        parameters=[
            OpenApiParameter("image", OpenApiTypes.STR, description="the image to export"),
            OpenApiParameter("refresh", OpenApiTypes.BOOL, description="re-read OBS now"),
        ],
        responses={200: s.BucketListSerializer, 503: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        """The bucket picker's list, judged for the region of the image."""
        image_id = str(request.query_params.get("image", ""))[:64]
        found = bucket_choices(image_region(image_id or None), refresh=_flag(request, "refresh"))
        if found.error:
            raise Problem(
                503,
                "cloud-unavailable",
                f"The bucket list could not be read: {found.error}. "
                "A bucket can still be named in a new export.",
                forbidden=found.forbidden,
            )
        body = {
            "region": found.region,
            "usable_storage": found.usable_storage,
            "results": [s.bucket_data(c) for c in found.choices],
        }
        return Response(s.BucketListSerializer(body).data)


# --- Exports ---------------------------------------------------------------------------------


class ExportsView(PortalView):
    roles = READERS

    @extend_schema(
        operation_id="exports_list",
        summary="Exports, newest first, with the history page's filters",
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                description=f"a status, or `{HistoryFilterForm.IN_FLIGHT}` for any in flight",
            ),
            OpenApiParameter("q", OpenApiTypes.STR, description="image, bucket or file name"),
            OpenApiParameter("user", OpenApiTypes.STR, description="auditors: who requested"),
            OpenApiParameter("page", OpenApiTypes.INT),
        ],
        responses={200: s.ExportPageSerializer, 400: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        """The user's exports (an auditor's: everyone's), as the history page lists them."""
        filters = HistoryFilterForm(request.query_params, by_user=is_auditor(request.user))
        if not filters.is_valid():
            raise _invalid_query(filters)
        exports = filters.apply(Export.objects.visible_to(request.user).select_related("owner"))
        page = Paginator(exports, HISTORY_PAGE_SIZE).get_page(filters.cleaned_data["page"] or 1)
        body = _page_body(request, page, [s.export_data(e) for e in page.object_list])
        return Response(s.ExportPageSerializer(body).data)

    @extend_schema(
        operation_id="exports_create",
        summary="Request a new export",
        description="Validated by the new-export form's own code: every export rule and the "
        "pre-flight in OBS. A refusal is audited as the page's is.",
        parameters=[IDEMPOTENCY_PARAMETER],
        request=s.ExportRequestSerializer,
        responses={
            201: s.ExportDetailSerializer,
            200: OpenApiResponse(s.ExportDetailSerializer, "the same key's export, replayed"),
            400: PROBLEM,
            422: PROBLEM,
            503: PROBLEM,
        },
    )
    def post(self, request: Request) -> Response:
        """Request an export, as the new-export form's submit does."""
        body = _body(request, EXPORT_FIELDS)
        data = {
            "image": _text(body, "image"),
            "bucket": _text(body, "bucket"),
            "file_name": _text(body, "file_name"),
            "file_format": _text(body, "file_format"),
            "quick": _bool(body, "fast_export"),
        }
        return _request(request, data)


class ExportView(PortalView):
    roles = READERS

    @extend_schema(
        operation_id="exports_read",
        summary="One export: its status, progress, time left and status history",
        responses={200: s.ExportDetailSerializer, 404: PROBLEM},
    )
    def get(self, request: Request, pk: int) -> Response:
        """One export the user may see (404 for anyone else's, audited as the page's is)."""
        export = export_or_404(_signed_in(request), pk)
        return _export_response(export)


class RetryView(PortalView):
    roles = EXPORTERS

    @extend_schema(
        operation_id="exports_retry",
        summary="Export again what an ended export asked for",
        description="The same image, bucket, format and fast export, and its file name or, "
        "where that object is known to exist, the first free one (the page's suggestion).",
        parameters=[IDEMPOTENCY_PARAMETER],
        request=s.RetryRequestSerializer,
        responses={201: s.ExportDetailSerializer, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    )
    def post(self, request: Request, pk: int) -> Response:
        """A new export repeating one of the user's that ended without its file."""
        source = export_or_404(_signed_in(request), pk, own=True)
        body = _body(request, ("file_name",))
        if not source.can_retry:
            raise _state_conflict(source, "only an export that ended without its file")
        initial = prefill_for(source).initial
        data = {**initial, "file_name": _text(body, "file_name") or initial["file_name"]}
        return _request(request, data, retry_of=source)


class AbandonView(PortalView):
    roles = EXPORTERS

    @extend_schema(
        operation_id="exports_abandon",
        summary="Stop following an export (IMS cannot stop its job)",
        request=s.AbandonRequestSerializer,
        responses={200: s.ExportDetailSerializer, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    )
    def post(self, request: Request, pk: int) -> Response:
        """Abandon an export of the user's whose POST may have reached the cloud."""
        export = export_or_404(_signed_in(request), pk, own=True)
        body = _body(request, ("reason",))
        if not export.can_abandon:
            raise _state_conflict(export, "only an export whose job the cloud may be running")
        form = AbandonForm({"reason": _text(body, "reason")})
        if not form.is_valid():
            raise Problem(
                422, "validation-failed", "A reason is needed.", errors=form_errors(form.errors)
            )
        actions.stop_following(export, _signed_in(request).user, form.cleaned_data["reason"])
        if export.status != Status.ABANDONED:
            raise _state_conflict(export, "only an export whose job the cloud may be running")
        return _export_response(export)


class CancelView(PortalView):
    roles = EXPORTERS

    @extend_schema(
        operation_id="exports_cancel",
        summary="Cancel a queued export (nothing of it has reached the cloud)",
        request=None,
        responses={200: s.ExportDetailSerializer, 404: PROBLEM, 409: PROBLEM},
    )
    def post(self, request: Request, pk: int) -> Response:
        """Cancel an export of the user's that is still queued."""
        export = export_or_404(_signed_in(request), pk, own=True)
        actions.cancel(export, _signed_in(request).user)
        if export.status != Status.CANCELLED:
            raise _state_conflict(export, "only a queued export")
        return _export_response(export)


# --- Audit trail -----------------------------------------------------------------------------

AUDIT_PARAMETERS = [
    OpenApiParameter(name, OpenApiTypes.STR, description=str(field.help_text or field.label))
    for name, field in AuditFilterForm.base_fields.items()
    if name != "page"
]


class AuditEventsView(PortalView):
    roles = AUDITORS

    @extend_schema(
        operation_id="audit_events_list",
        summary="Audit events, newest first, with the audit page's filters",
        parameters=[*AUDIT_PARAMETERS, OpenApiParameter("page", OpenApiTypes.INT)],
        responses={200: s.AuditPageSerializer, 400: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        """The trail, filtered and paged; the search is itself audited, as on the page."""
        filters = AuditFilterForm(request.query_params)
        if not filters.is_valid():
            raise _invalid_query(filters)
        number = filters.cleaned_data["page"] or 1
        record(request.user, Action.AUDIT_SEARCHED, filter=filters.described(), page=number)
        page = Paginator(filters.apply(AuditEvent.objects.all()), AUDIT_PAGE_SIZE).get_page(number)
        results = s.AuditEventSerializer(list(page.object_list), many=True).data
        return Response(_page_body(request, page, list(results)))


class AuditEventView(PortalView):
    roles = AUDITORS

    @extend_schema(
        operation_id="audit_events_read",
        summary="One audit event",
        responses={200: s.AuditEventSerializer},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.AuditEventSerializer(get_object_or_404(AuditEvent, pk=pk)).data)


class AuditExportView(PortalView):
    roles = AUDITORS

    @extend_schema(
        operation_id="audit_events_file",
        summary="The filtered events as a CSV or JSON Lines file (`fmt`: csv or jsonl)",
        description="The audit page's download: streamed in chain order, its first line the "
        "file's metadata with the chain head; `manage.py verify_audit --file` checks it.",
        parameters=AUDIT_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/jsonl"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, fmt: str) -> HttpResponseBase:
        if fmt not in exporting.CONTENT_TYPES:
            raise NotFound(
                f"No such format; use one of {', '.join(sorted(exporting.CONTENT_TYPES))}."
            )
        filters = AuditFilterForm(request.query_params)
        if not filters.is_valid():
            raise _invalid_query(filters)
        return events_file(_signed_in(request), filters, fmt)


class NotFoundView(APIView):
    """Anything under /api/ that is not an endpoint: a problem, not an HTML page."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    schema = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.args, self.kwargs = args, kwargs
        drf_request = self.initialize_request(request, *args, **kwargs)
        self.request = drf_request
        self.headers = self.default_response_headers
        response = problem_response(drf_request, 404, detail="No such endpoint.")
        return self.finalize_response(drf_request, response, *args, **kwargs)


# --- Shared steps ----------------------------------------------------------------------------


def _signed_in(request: Request) -> Any:
    # REST framework's request stands for Django's and holds the authenticated user, which
    # is all `export_or_404` and the audit trail read of it.
    return request


def _flag(request: Request, name: str) -> bool:
    return str(request.query_params.get(name, "")).lower() in TRUE


def _body(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object sent, holding only `allowed` fields (an empty body is `{}`)."""
    data = request.data if request.data is not None else {}
    if not isinstance(data, dict):
        raise Problem(400, "invalid-request", "The body must be a JSON object.")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise Problem(
            400,
            "invalid-request",
            f"Unknown fields: {', '.join(unknown)}; this endpoint takes {', '.join(allowed)}.",
            errors=[{"pointer": f"#/{name}", "detail": "Unknown field."} for name in unknown],
        )
    return data


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Problem(
            400,
            "invalid-request",
            f"{name} must be a string.",
            errors=[{"pointer": f"#/{name}", "detail": "Must be a string."}],
        )
    return value


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise Problem(
            400,
            "invalid-request",
            f"{name} must be true or false.",
            errors=[{"pointer": f"#/{name}", "detail": "Must be true or false."}],
        )
    return value


def _idempotency_token(request: Request) -> str | None:
    """The request token an `Idempotency-Key` stands for (None without one)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]  # the draft standard sends it as a structured-field string
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable() or not key.isascii():
        raise Problem(
            400,
            "invalid-request",
            f"The {IDEMPOTENCY_HEADER} header must be 1 to {IDEMPOTENCY_KEY_MAX} printable "
            "ASCII characters.",
        )
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, key))


def _same_request(export: Export, data: dict[str, Any]) -> bool:
    """Whether `export` is what `data` (form fields) asks for: a replay of its request."""
    quick = bool(data["quick"])
    return (
        export.image_id == data["image"]
        and export.bucket == str(data["bucket"]).strip()
        and export.object_name == data["file_name"]
        and export.quick == quick
        and (quick or export.file_format == data["file_format"])
    )


def _replayed(export: Export, data: dict[str, Any]) -> Response:
    if not _same_request(export, data):
        raise Problem(
            422,
            "idempotency-key-reused",
            f"This Idempotency-Key made export #{export.pk}, which asked for something else.",
            export=export.pk,
        )
    response = _export_response(export)
    response[REPLAYED_HEADER] = "true"
    return response


def _request(request: Request, data: dict[str, Any], *, retry_of: Export | None = None) -> Response:
    """Request the export `data` (the form's fields) asks for, through the page's code."""
    user = _signed_in(request).user
    keyed = _idempotency_token(request)
    token = keyed or str(uuid.uuid4())
    if keyed is not None:
        earlier = actions.export_for_token(user, keyed)
        if earlier is not None:
            return _replayed(earlier, data)
    form = ExportForm({**data, "request_token": token}, owner_id=user.pk)
    requested = actions.request_export(user, form, retry_of=retry_of, via=_via(request))
    export = requested.export
    if export is not None:
        if not requested.created:
            return _replayed(export, data)  # a request with the same key ran at the same time
        response = _export_response(export, status=201)
        response["Location"] = request.build_absolute_uri(s.export_data(export)["url"])
        return response
    if form.cloud_unreachable:
        raise Problem(
            503,
            "cloud-unavailable",
            "The cloud could not be reached to check the image; nothing was submitted.",
            errors=form_errors(form.errors, names=API_NAMES),
        )
    raise Problem(
        422,
        "validation-failed",
        "The export breaks the export rules; nothing was submitted.",
        errors=form_errors(form.errors, names=API_NAMES),
        preflight=s.preflight_data(form.preflight),
    )


def _via(request: Request) -> str:
    """How a request came, for its audit event: which personal token, or the session."""
    token = request.auth
    if isinstance(token, ApiToken):
        return f"api, personal token #{token.pk} ({token.name})"
    return "api, signed-in session"


def _export_response(export: Export, status: int = 200) -> Response:
    return Response(s.ExportDetailSerializer(s.export_data(export, history=True)).data, status)


def _page_body(request: Request, page: Page[Any], results: list[Any]) -> dict[str, Any]:
    def link(number: int) -> str:
        query = request.query_params.copy()
        query["page"] = str(number)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    return {
        "count": page.paginator.count,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "next": link(page.next_page_number()) if page.has_next() else None,
        "previous": link(page.previous_page_number()) if page.has_previous() else None,
        "results": results,
    }


def _invalid_query(filters: Any) -> Problem:
    return Problem(
        400,
        "invalid-request",
        "A filter is not valid.",
        errors=form_errors(filters.errors, query=True),
    )


def _state_conflict(export: Export, allowed: str) -> Problem:
    return Problem(
        409,
        "export-state-conflict",
        f"Export #{export.pk} is {export.get_status_display().lower()}: this is for {allowed}.",
        export_status=export.status,
    )


def _cloud_unavailable(what: str, error: Exception) -> Problem:
    return Problem(503, "cloud-unavailable", f"{what} from the cloud ({error}).")
