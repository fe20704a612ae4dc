"""Pages of the export workflow: new export, its live status, and the history."""

from __future__ import annotations

import contextlib
import re
import uuid
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseNotModified
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import strip_tags
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from ims_portal.accounts.access import exporter_required, reader_required
from ims_portal.accounts.roles import is_auditor
from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.audit.trail import Target, record
from ims_portal.cloud import CloudError, ConfigurationError
from ims_portal.exports import freshness
from ims_portal.exports.cloud_access import image_choices
from ims_portal.exports.forms import AbandonForm, ExportForm, HistoryFilterForm
from ims_portal.exports.models import Export, Status, TransitionConflict
from ims_portal.exports.progress import progress_of
from ims_portal.exports.retry import prefill_for
from ims_portal.exports.tasks import enqueue_submit
from ims_portal.pages import (
    BoundedPaginator,
    SignedInRequest,
    is_fragment_request,
    query_without_page,
)

HISTORY_PAGE_SIZE = 25
TIMELINE_MAX = 200  # audit events on an export's page; the audit page has them all
CONSISTENT_READ_TRIES = 5  # an export changes a few times a minute; a page renders in milliseconds
REFUSAL_VALUE_MAX = 1100  # characters of a refused form's values kept in the trail
CHECKED_FIELDS = ("image", "bucket", "file_name", "file_format", "quick")
# The session's record of which rendered new-export form repeats which export, by the form's
# request token: the form's markup stays the same for a retry, and a retry cannot be forged
# onto someone else's export by editing a field.
RETRIES_SESSION_KEY = "exports:retries"
RETRIES_KEPT = 20
EXPORT_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits that fit the primary key


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
    """The new-export form; a valid POST saves a queued export and submits it on commit.

    `?retry=<id>` ("Export again…" on an ended export of the user's) prefills the form with
    what that export asked for, suggesting a free file name where the old object is known
    to exist; the export it makes records the one it retries.
    """
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
        retried = _retried_by_form(request, token)
        if form.is_valid():
            export = _create_export(request, form, retry_of=retried)
            if export is not None:
                _forget_retry(request, token)
                return redirect(export)
        status = 503 if form.cloud_unreachable else 422
        _record_refusal(request, form)
        if retried is not None:
            _say_what_is_retried(request, retried)
    else:
        new_token = uuid.uuid4()
        source = _retry_source(request)
        if source is None:
            form = ExportForm(initial={"request_token": new_token})
        else:
            prefill = prefill_for(source)
            form = ExportForm(initial={"request_token": new_token, **prefill.initial})
            if prefill.note:
                field = form.fields["file_name"]
                field.help_text = f"{field.help_text} {prefill.note}"
            _remember_retry(request, new_token, source)
            _say_what_is_retried(request, source)
        status = 200
    context = {"form": form, "checked_fields": CHECKED_FIELDS, **_picker_context()}
    return TemplateResponse(request, "exports/new.html", context, status=status)


def _retry_source(request: SignedInRequest) -> Export | None:
    """The export `?retry=` names: one of the user's that may be exported again."""
    wanted = request.GET.get("retry")
    if wanted is None:
        return None
    if not EXPORT_NUMBER.fullmatch(wanted):
        raise BadRequest("retry must be an export number")
    source = export_or_404(request, int(wanted), own=True)
    if not source.can_retry:
        raise Http404("This export has not ended without its file; there is nothing to retry.")
    return source


def _say_what_is_retried(request: SignedInRequest, source: Export) -> None:
    messages.info(
        request,
        f"Exporting again what export #{source.pk} ({source.get_status_display().lower()}) "
        f"asked for: the same image ({source.image_name}), bucket, format and fast export.",
    )


def _remember_retry(request: SignedInRequest, token: uuid.UUID, source: Export) -> None:
    retries = dict(request.session.get(RETRIES_SESSION_KEY, {}))
    retries[str(token)] = source.pk
    # Oldest first (dicts keep their order): forms opened and never sent fall off the end.
    request.session[RETRIES_SESSION_KEY] = dict(list(retries.items())[-RETRIES_KEPT:])


def _forget_retry(request: SignedInRequest, token: str) -> None:
    retries = dict(request.session.get(RETRIES_SESSION_KEY, {}))
    if retries.pop(token, None) is not None:
        request.session[RETRIES_SESSION_KEY] = retries


def _retried_by_form(request: SignedInRequest, token: str) -> Export | None:
    """The export the posted form was opened to retry, if it still may be."""
    pk = request.session.get(RETRIES_SESSION_KEY, {}).get(token)
    if pk is None:
        return None
    source = Export.objects.filter(pk=pk, owner=request.user).first()
    return source if source is not None and source.can_retry else None


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


def _create_export(
    request: SignedInRequest, form: ExportForm, *, retry_of: Export | None = None
) -> Export | None:
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
                retry_of=retry_of,
            )
            retry: dict[str, Any] = {"retry_of": retry_of.pk} if retry_of else {}
            record(request.user, Action.EXPORT_REQUESTED, export, **export.audit_facts(), **retry)
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
    once the export has ended, htmx is told to stop polling.

    While the export is in flight the fragment carries its version (`freshness`): a poll
    that already holds it is answered 304, after the same access check as ever and before
    any rendering.
    """
    now = timezone.now()
    seen = freshness.load(pk)
    etag = None
    if seen is not None and freshness.may_see(request, seen[0]) and not seen[0].is_terminal:
        etag = freshness.version(request, *seen, now)
        if freshness.is_current(request, etag):
            not_modified = HttpResponseNotModified()
            freshness.stamp(not_modified, etag)
            return not_modified
    export = export_or_404(request, pk)  # the same 404, audited, as for every view
    context = _status_context(request, export, now)
    response = TemplateResponse(request, "exports/partials/status_update.html", context)
    if export.is_terminal and is_fragment_request(request):
        response.render()
        return HttpResponseStopPolling(response.content)
    if etag is not None:
        freshness.stamp(response, etag)
    return response


def _status_context(
    request: SignedInRequest, export: Export, now: datetime | None = None
) -> dict[str, object]:
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
        "progress": progress_of(export, now),
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
    """Cancel a queued export: nothing of it has reached the cloud yet."""
    export = export_or_404(request, pk, own=True)
    if export.can_cancel:
        # The worker may claim it first; the page then shows where it went.
        with contextlib.suppress(TransitionConflict):
            export.transition(Status.CANCELLED, actor=request.user)
    return redirect(export)


ABANDON_ATTEMPTS = 3  # the export may move on (running → unknown) while the person decides


@exporter_required
@require_http_methods(["GET", "POST"])
def abandon_export(request: SignedInRequest, pk: int) -> HttpResponse:
    """Stop following an export whose POST may have reached the cloud ("Stop following").

    IMS has no call that stops an export job, so this only ends the portal's part: the
    export becomes `abandoned`, is no longer polled and frees its image, and the page says
    the job may still write the object. The person's reason goes into the audit event.
    """
    export = export_or_404(request, pk, own=True)
    if not export.can_abandon:
        return redirect(export)
    form = AbandonForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        for _ in range(ABANDON_ATTEMPTS):
            try:
                export.transition(
                    Status.ABANDONED, actor=request.user, reason=form.cleaned_data["reason"]
                )
                break
            except TransitionConflict:
                # A worker wrote first; abandon what it is now, if that still makes sense.
                export.refresh_from_db()
                if not export.can_abandon:
                    break
        return redirect(export)
    status = 422 if form.is_bound else 200
    context = {"export": export, "form": form}
    return TemplateResponse(request, "exports/abandon.html", context, status=status)


@reader_required
@require_GET
def history(request: SignedInRequest) -> HttpResponse:
    """The user's exports (an auditor's: everyone's), newest first, filtered and paged."""
    auditor = is_auditor(request.user)
    filters = HistoryFilterForm(request.GET, by_user=auditor)
    if not filters.is_valid():
        return HttpResponseBadRequest("Invalid filter.")
    exports = filters.apply(Export.objects.visible_to(request.user).select_related("owner"))
    page = BoundedPaginator(exports, HISTORY_PAGE_SIZE).get_page(filters.cleaned_data["page"] or 1)
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
