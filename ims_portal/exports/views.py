"""Pages of the export workflow: new export, its live status, and the history."""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import BadRequest
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseNotModified
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from ims_portal.accounts.access import exporter_required, reader_required
from ims_portal.accounts.roles import is_auditor
from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.audit.trail import record
from ims_portal.cloud import CloudError, ConfigurationError
from ims_portal.exports import actions, freshness, preflight
from ims_portal.exports.cloud_access import bucket_choices, image_choices, image_region
from ims_portal.exports.forms import PREFLIGHT_FIELDS, AbandonForm, ExportForm, HistoryFilterForm
from ims_portal.exports.models import Export
from ims_portal.exports.progress import progress_of
from ims_portal.exports.retry import prefill_for
from ims_portal.pages import (
    BoundedPaginator,
    SearchPaginator,
    SignedInRequest,
    is_fragment_request,
    query_without_page,
)
from ims_portal.rate_limits import limit_exports

HISTORY_PAGE_SIZE = 25
TIMELINE_MAX = 200  # audit events on an export's page; the audit page has them all
CONSISTENT_READ_TRIES = 5  # an export changes a few times a minute; a page renders in milliseconds
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


def _bucket_context(image_id: str = "", refresh: bool = False) -> dict[str, object]:
    """The bucket picker's buckets, judged for the region of the chosen image."""
    return {"buckets": bucket_choices(image_region(image_id or None), refresh=refresh)}


@exporter_required
@require_http_methods(["GET", "POST"])
@limit_exports
def new_export(request: SignedInRequest) -> HttpResponse:
    """The new-export form; a valid POST saves a queued export and submits it on commit.

    `?retry=<id>` ("Export again…" on an ended export of the user's) prefills the form with
    what that export asked for, suggesting a free file name where the old object is known
    to exist; the export it makes records the one it retries.
    """
    if request.method == "POST":
        data = request.POST.copy()
        token = data.get("request_token", "")
        if not actions.is_uuid(token):
            # Not from our form (a script, a stripped field): still a request to honour, and
            # the one-export-in-flight-per-image rule still stops a duplicate.
            data["request_token"] = str(uuid.uuid4())
        form = ExportForm(data, owner_id=request.user.pk)
        retried = _retried_by_form(request, token)
        # A double click or a resent POST lands on the export the first one made.
        requested = actions.request_export(request.user, form, retry_of=retried)
        if requested.export is not None:
            _forget_retry(request, token)
            return redirect(requested.export)
        status = 503 if form.cloud_unreachable else 422
        if retried is not None:
            _say_what_is_retried(request, retried)
        found = form.preflight
    else:
        new_token = uuid.uuid4()
        source = _retry_source(request)
        found = None
        if source is None:
            form = ExportForm(initial={"request_token": new_token})
        else:
            prefill = prefill_for(source)
            form = ExportForm(initial={"request_token": new_token, **prefill.initial})
            if prefill.note:
                field = form.fields["file_name"]
                field.help_text = f"{field.help_text} {prefill.note}"
            # The prefilled destination is checked at once, as if it had been typed.
            found = preflight.run(
                prefill.initial["bucket"],
                prefill.initial["file_name"],
                form.region,
                owner_id=request.user.pk,
            )
            _remember_retry(request, new_token, source)
            _say_what_is_retried(request, source)
        status = 200
    context = {
        "form": form,
        "checked_fields": CHECKED_FIELDS,
        "preflight": found,
        **_picker_context(),
        **_bucket_context(str(form["image"].value() or "")),
    }
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


@exporter_required
@require_POST
def check_field(request: SignedInRequest, field: str) -> HttpResponse:
    """As-you-type check of one field against the server rules; answers its partial.

    The bucket and the file name are checked in OBS too (the pre-flight): the answer then
    also carries the pre-flight's lines and, out of band, the other of the two fields'
    messages where it holds a value, since a new bucket changes what the object's check
    finds and the other way round.
    """
    if field not in CHECKED_FIELDS:
        return HttpResponseBadRequest("unknown field")
    in_obs = field in PREFLIGHT_FIELDS
    form = ExportForm(
        request.POST, fresh_image=False, check_in_obs=in_obs, owner_id=request.user.pk
    )
    form.is_valid()
    context: dict[str, object] = {"field": form[field], "form": form}
    if in_obs:
        context["in_obs"] = True
        context["preflight"] = form.preflight
        context["related"] = [
            form[name] for name in PREFLIGHT_FIELDS if name != field and form[name].value()
        ]
    return TemplateResponse(request, "exports/partials/field_check.html", context)


@exporter_required
@require_GET
def image_picker(request: SignedInRequest) -> HttpResponse:
    """The image picker alone, re-read from IMS (the refresh button)."""
    context = {"form": ExportForm(), **_picker_context(refresh=True)}
    return TemplateResponse(request, "exports/partials/image_picker.html", context)


@exporter_required
@require_GET
def bucket_picker(request: SignedInRequest) -> HttpResponse:
    """The bucket picker alone, judged for the chosen image (`?image=`), re-read from OBS
    with `?refresh=1` (its refresh link)."""
    image_id = request.GET.get("image", "")[:64]
    context = _bucket_context(image_id, refresh=request.GET.get("refresh") == "1")
    return TemplateResponse(request, "exports/partials/bucket_picker.html", context)


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
    export is in flight: pushed by its live stream (`views_push`), else polled."""
    export = export_or_404(request, pk)
    context = {**_status_context(request, export), "push": settings.EXPORT_PUSH}
    return TemplateResponse(request, "exports/detail.html", context)


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


@reader_required
@require_GET
def export_verification(request: SignedInRequest, pk: int) -> HttpResponse:
    """What OBS showed of a succeeded export's object (its proof); polled while a check is
    still due, then htmx is told to stop."""
    export = export_or_404(request, pk)
    context = _status_context(request, export)
    response = TemplateResponse(request, "exports/partials/verification_update.html", context)
    if not export.is_being_verified and is_fragment_request(request):
        response.render()
        return HttpResponseStopPolling(response.content)
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
    actions.cancel(export, request.user)
    return redirect(export)


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
        actions.stop_following(export, request.user, form.cleaned_data["reason"])
        return redirect(export)
    status = 422 if form.is_bound else 200
    context = {"export": export, "form": form}
    return TemplateResponse(request, "exports/abandon.html", context, status=status)


def history_filters(request: SignedInRequest) -> HistoryFilterForm | None:
    """The history page's filters, read from the query string; None if they are junk. A
    search too short to be quick is kept, refused on its own field: the other filters
    still apply."""
    filters = HistoryFilterForm(request.GET, by_user=is_auditor(request.user))
    return filters if filters.is_valid() or filters.refuses_only_the_search() else None


def history_context(request: SignedInRequest, filters: HistoryFilterForm) -> dict[str, object]:
    """What the history page, its table's poll and its live stream all render: one page of
    the exports the user may see, newest first, narrowed by the valid `filters`."""
    exports = filters.apply(Export.objects.visible_to(request.user).select_related("owner"))
    paginator = SearchPaginator if filters.cleaned_data.get("q") else BoundedPaginator
    page = paginator(exports, HISTORY_PAGE_SIZE).get_page(filters.cleaned_data.get("page") or 1)
    return {
        "page": page,
        "filters": filters,
        "any_in_flight": any(e.is_in_flight for e in page.object_list),
        "show_owner": is_auditor(request.user),
        "query": query_without_page(request),
        "push": settings.EXPORT_PUSH,
    }


def history_rows(request: SignedInRequest, pks: Collection[int]) -> list[Export]:
    """Those of exports `pks` the user may see, each as the history's row partial renders
    it (one query); the caller has checked the user's access to the history."""
    return list(Export.objects.visible_to(request.user).select_related("owner").filter(pk__in=pks))


@reader_required
@require_GET
def history(request: SignedInRequest) -> HttpResponse:
    """The user's exports (an auditor's: everyone's), newest first, filtered and paged.
    While its rows can change they refresh themselves: pushed by the user's live stream
    (`views_push.history_events`), else the table is polled."""
    filters = history_filters(request)
    if filters is None:
        return HttpResponseBadRequest("Invalid filter.")
    fragment = is_fragment_request(request)
    context = {**history_context(request, filters), "fragment": fragment}
    template = "exports/partials/history_rows.html" if fragment else "exports/history.html"
    return TemplateResponse(request, template, context)
