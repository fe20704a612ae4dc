"""Pages of the export workflow: new export, its live status, and the history."""

from __future__ import annotations

import contextlib
import uuid

from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from ims_portal.accounts.access import exporter_required, reader_required
from ims_portal.accounts.roles import is_auditor
from ims_portal.cloud import CloudError
from ims_portal.exports.cloud_access import image_choices
from ims_portal.exports.forms import ExportForm, HistoryFilterForm
from ims_portal.exports.models import IN_FLIGHT, Export, Status, TransitionConflict
from ims_portal.exports.progress import progress_of
from ims_portal.exports.tasks import enqueue_submit

HISTORY_PAGE_SIZE = 25
CHECKED_FIELDS = ("image", "bucket", "file_name", "file_format", "quick")


def is_fragment_request(request: HttpRequest) -> bool:
    """An HTMX request for a fragment (not a boosted navigation, which wants a page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def _picker_context(refresh: bool = False) -> dict[str, object]:
    try:
        return {"image_choices": image_choices(refresh=refresh), "images_error": ""}
    except CloudError as error:
        return {
            "image_choices": [],
            "images_error": f"The image list could not be loaded from the cloud ({error}).",
        }


@exporter_required
@require_http_methods(["GET", "POST"])
def new_export(request: HttpRequest) -> HttpResponse:
    """The new-export form; a valid POST saves a queued export and submits it on commit."""
    if request.method == "POST":
        form = ExportForm(request.POST)
        token = request.POST.get("request_token", "")
        existing = _export_for_token(request, token)
        if existing is not None:
            # A double click or a resent POST: the first one already made the export.
            return redirect(existing)
        if form.is_valid():
            export = _create_export(request, form)
            if export is not None:
                return redirect(export)
        status = 503 if form.cloud_unreachable else 422
    else:
        form = ExportForm(initial={"request_token": uuid.uuid4()})
        status = 200
    context = {"form": form, "checked_fields": CHECKED_FIELDS, **_picker_context()}
    return TemplateResponse(request, "exports/new.html", context, status=status)


def _export_for_token(request: HttpRequest, token: str) -> Export | None:
    try:
        token_uuid = uuid.UUID(token)
    except ValueError:
        return None
    return Export.objects.filter(owner=request.user, request_token=token_uuid).first()


def _create_export(request: HttpRequest, form: ExportForm) -> Export | None:
    image = form.image_record
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
def check_field(request: HttpRequest, field: str) -> HttpResponse:
    """As-you-type check of one field against the server rules; answers its partial."""
    if field not in CHECKED_FIELDS:
        return HttpResponseBadRequest("unknown field")
    form = ExportForm(request.POST, fresh_image=False)
    form.is_valid()
    return TemplateResponse(request, "exports/partials/field_errors.html", {"field": form[field]})


@exporter_required
@require_GET
def image_picker(request: HttpRequest) -> HttpResponse:
    """The image picker alone, re-read from IMS (the refresh button)."""
    context = {"form": ExportForm(), **_picker_context(refresh=True)}
    return TemplateResponse(request, "exports/partials/image_picker.html", context)


@reader_required
@require_GET
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One export's page; its status part refreshes itself while the export is in flight."""
    export = get_object_or_404(
        Export.objects.visible_to(request.user).select_related("owner"), pk=pk
    )
    context = {"export": export, "progress": progress_of(export)}
    return TemplateResponse(request, "exports/detail.html", context)


@reader_required
@require_GET
def export_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live status fragment; once the export has ended, htmx is told to stop polling."""
    export = get_object_or_404(Export.objects.visible_to(request.user), pk=pk)
    context = {"export": export, "progress": progress_of(export)}
    response = TemplateResponse(request, "exports/partials/status.html", context)
    if export.is_terminal and is_fragment_request(request):
        response.render()
        return HttpResponseStopPolling(response.content)
    return response


@exporter_required
@require_POST
def cancel_export(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel a queued export, or dismiss one whose outcome is unknown after checking."""
    export = get_object_or_404(Export.objects.visible_to(request.user), pk=pk, owner=request.user)
    if export.can_cancel:
        # The worker may claim it first; the page then shows where it went.
        with contextlib.suppress(TransitionConflict):
            export.transition(Status.CANCELLED)
    return redirect(export)


@reader_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """The user's exports (an auditor's: everyone's), newest first, filtered and paged."""
    filters = HistoryFilterForm(request.GET)
    if not filters.is_valid():
        return HttpResponseBadRequest("Invalid filter.")
    exports = Export.objects.visible_to(request.user).select_related("owner")
    status = filters.cleaned_data["status"]
    if status == "in_flight":
        exports = exports.filter(status__in=IN_FLIGHT)
    elif status:
        exports = exports.filter(status=status)
    text = filters.cleaned_data["q"]
    if text:
        exports = exports.filter(
            Q(image_name__icontains=text)
            | Q(bucket__icontains=text)
            | Q(object_name__icontains=text)
        )
    page = Paginator(exports, HISTORY_PAGE_SIZE).get_page(filters.cleaned_data["page"] or 1)
    context = {
        "page": page,
        "filters": filters,
        "any_in_flight": any(e.in_flight for e in page.object_list),
        "show_owner": is_auditor(request.user),
        "query": _query_without_page(request),
    }
    template = (
        "exports/partials/history_rows.html"
        if is_fragment_request(request)
        else "exports/history.html"
    )
    return TemplateResponse(request, template, context)


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
