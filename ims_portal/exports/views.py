"""Pages of the export workflow: new export, its live status, and the history."""

from __future__ import annotations

import contextlib
import uuid

from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.html import strip_tags
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from ims_portal.accounts.access import exporter_required, reader_required
from ims_portal.accounts.roles import is_auditor
from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.audit.trail import Target, record
from ims_portal.cloud import CloudError, ConfigurationError
from ims_portal.exports.cloud_access import image_choices
from ims_portal.exports.forms import ExportForm, HistoryFilterForm
from ims_portal.exports.models import Export, Status, TransitionConflict
from ims_portal.exports.progress import progress_of
from ims_portal.exports.tasks import enqueue_submit
from ims_portal.pages import SignedInRequest, is_fragment_request, query_without_page

HISTORY_PAGE_SIZE = 25
TIMELINE_MAX = 200  # audit events on an export's page; the audit page has them all
CONSISTENT_READ_TRIES = 5  # an export changes a few times a minute; a page renders in milliseconds
REFUSAL_VALUE_MAX = 1100  # characters of a refused form's values kept in the trail
CHECKED_FIELDS = ("image", "bucket", "file_name", "file_format", "quick")


def _picker_context(refresh: bool = False) -> dict[str, object]:
    try:
        return {"image_choices": image_choices(refresh=refresh), "images_error": ""}
    except (CloudError, ConfigurationError) as error:
        return {
            "image_choices": [],
            "images_error": f"The image list could not be loaded from the cloud ({error}).",
        }


@exporter_required
@require_http_methods(["GET", "POST"])
def new_export(request: SignedInRequest) -> HttpResponse:
    """The new-export form; a valid POST saves a queued export and submits it on commit."""
    if request.method == "POST":
        data = request.POST.copy()
        token = data.get("request_token", "")
        existing = _export_for_token(request, token)
        if existing is not None:
            # A double click or a resent POST: the first one already made the export.
            return redirect(existing)
        if not _is_uuid(token):
            # Not from our form (a script, a stripped field): still a request to honour, and
            # the one-export-in-flight-per-image rule still stops a duplicate.
            data["request_token"] = str(uuid.uuid4())
        form = ExportForm(data)
        if form.is_valid():
            export = _create_export(request, form)
            if export is not None:
                return redirect(export)
        status = 503 if form.cloud_unreachable else 422
        _record_refusal(request, form)
    else:
        form = ExportForm(initial={"request_token": uuid.uuid4()})
        status = 200
    context = {"form": form, "checked_fields": CHECKED_FIELDS, **_picker_context()}
    return TemplateResponse(request, "exports/new.html", context, status=status)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _export_for_token(request: SignedInRequest, token: str) -> Export | None:
    if not _is_uuid(token):
        return None
    return Export.objects.filter(owner=request.user, request_token=token).first()


def _record_refusal(request: SignedInRequest, form: ExportForm) -> None:
    """Audit an export the rules refused: what was asked, and every field's errors."""
    image_id = str(form.data.get("image", ""))[:64]
    image_name = form.image_record.name if form.image_record else ""

    def typed(name: str) -> str:
        return str(form.data.get(name, ""))[:REFUSAL_VALUE_MAX]

    record(
        request.user,
        Action.EXPORT_INVALID,
        Target("image", image_id, image_name or image_id),
        outcome=Outcome.FAILURE,
        image_id=image_id,
        image_name=image_name,
        bucket=typed("bucket").strip(),
        object_name=typed("file_name"),
        file_format=typed("file_format"),
        fast_export=bool(form.data.get("quick")),
        cloud_unreachable=form.cloud_unreachable,
        errors={
            field: [strip_tags(str(message)) for message in messages]
            for field, messages in form.errors.items()
        },
    )


def _create_export(request: SignedInRequest, form: ExportForm) -> Export | None:
    image = form.image_record
    assert image is not None  # a valid form has read its image
    data = form.cleaned_data
    try:
        with transaction.atomic():
            export = Export.objects.create(
                owner=request.user,
                request_token=data["request_token"],
                image_id=image.id,
                image_name=image.name,
                image_size=image.size_bytes,
                bucket=data["bucket"],
                object_name=data["file_name"],
                file_format="" if data["quick"] else data["file_format"],
                quick=data["quick"],
            )
            record(request.user, Action.EXPORT_REQUESTED, export, **export.audit_facts())
            enqueue_submit(export)
    except IntegrityError:
        # Lost a race: the same form posted twice at once, or another export of this
        # image started between the check and the insert.
        existing = _export_for_token(request, str(data["request_token"]))
        if existing is not None:
            return existing
        busy = Export.objects.in_flight().filter(image_id=image.id).first()
        if busy is not None:
            form.add_error("image", form.in_flight_message(busy))
        else:
            form.add_error(None, "The export could not be saved; please try again.")
        return None
    return export


@exporter_required
@require_POST
def check_field(request: SignedInRequest, field: str) -> HttpResponse:
    """As-you-type check of one field against the server rules; answers its partial."""
    if field not in CHECKED_FIELDS:
        return HttpResponseBadRequest("unknown field")
    form = ExportForm(request.POST, fresh_image=False)
    form.is_valid()
    return TemplateResponse(request, "exports/partials/field_errors.html", {"field": form[field]})


@exporter_required
@require_GET
def image_picker(request: SignedInRequest) -> HttpResponse:
    """The image picker alone, re-read from IMS (the refresh button)."""
    context = {"form": ExportForm(), **_picker_context(refresh=True)}
    return TemplateResponse(request, "exports/partials/image_picker.html", context)


def export_or_404(request: SignedInRequest, pk: int, *, own: bool = False) -> Export:
    """Every export view finds its export here: one the user may see (with `own`, one
    they requested), else 404. A 404 for an export that exists is someone reaching for
    another user's export: that is audited as access denied."""
    exports = Export.objects.visible_to(request.user).select_related("owner")
    if own:
        exports = exports.filter(owner=request.user)
    export = exports.filter(pk=pk).first()
    if export is not None:
        return export
    other = Export.objects.filter(pk=pk).first()
    if other is not None:
        record(
            request.user,
            Action.ACCESS_DENIED,
            other,
            outcome=Outcome.DENIED,
            method=request.method,
            path=request.path,
            **other.audit_facts(),
        )
    raise Http404("No such export.")


@reader_required
@require_GET
def export_detail(request: SignedInRequest, pk: int) -> HttpResponse:
    """One export's page; its status part and audit timeline refresh themselves while the
    export is in flight."""
    export = export_or_404(request, pk)
    return TemplateResponse(request, "exports/detail.html", _status_context(request, export))


@reader_required
@require_GET
def export_status(request: SignedInRequest, pk: int) -> HttpResponse:
    """The live status fragment, with the audit timeline swapped out of band beside it;
    once the export has ended, htmx is told to stop polling."""
    export = export_or_404(request, pk)
    context = _status_context(request, export)
    response = TemplateResponse(request, "exports/partials/status_update.html", context)
    if export.is_terminal and is_fragment_request(request):
        response.render()
        return HttpResponseStopPolling(response.content)
    return response


def _status_context(request: SignedInRequest, export: Export) -> dict[str, object]:
    """What the export page and its live fragment both render, from one consistent read.

    A worker may move the export between reading its row and reading its timeline; the page
    would then say "queued" over a timeline that ends "rejected". A status change and its
    audit event commit together and every write stamps `updated_at`, so a row unchanged after
    the timeline was read agrees with it; otherwise the export is read again.
    """
    for _ in range(CONSISTENT_READ_TRIES):
        events = _timeline(request, export)
        latest = Export.objects.filter(pk=export.pk).values_list("updated_at", flat=True)
        if list(latest) == [export.updated_at]:
            break
        export.refresh_from_db()
    requested = next((e for e in events if e.action == Action.EXPORT_REQUESTED), None)
    return {
        "export": export,
        "progress": progress_of(export),
        "audit_events": events,
        "portal_request_id": requested.request_id if requested else "",
    }


def _timeline(request: SignedInRequest, export: Export) -> list[AuditEvent]:
    """Every event of the export for auditors; its lifecycle for the exporter who owns it
    (not, say, who else tried to open it)."""
    events = AuditEvent.objects.for_target("export", export.pk).order_by("id")
    if not is_auditor(request.user):
        events = events.filter(action__startswith="export.")
    return list(events[:TIMELINE_MAX])


@exporter_required
@require_POST
def cancel_export(request: SignedInRequest, pk: int) -> HttpResponse:
    """Cancel a queued export, or dismiss one whose outcome is unknown after checking."""
    export = export_or_404(request, pk, own=True)
    if export.can_cancel:
        # The worker may claim it first; the page then shows where it went.
        with contextlib.suppress(TransitionConflict):
            export.transition(Status.CANCELLED, actor=request.user)
    return redirect(export)


@reader_required
@require_GET
def history(request: SignedInRequest) -> HttpResponse:
    """The user's exports (an auditor's: everyone's), newest first, filtered and paged."""
    auditor = is_auditor(request.user)
    filters = HistoryFilterForm(request.GET, by_user=auditor)
    if not filters.is_valid():
        return HttpResponseBadRequest("Invalid filter.")
    exports = filters.apply(Export.objects.visible_to(request.user).select_related("owner"))
    page = Paginator(exports, HISTORY_PAGE_SIZE).get_page(filters.cleaned_data["page"] or 1)
    context = {
        "page": page,
        "filters": filters,
        "any_in_flight": any(e.is_in_flight for e in page.object_list),
        "show_owner": auditor,
        "query": query_without_page(request),
    }
    template = (
        "exports/partials/history_rows.html"
        if is_fragment_request(request)
        else "exports/history.html"
    )
    return TemplateResponse(request, template, context)
