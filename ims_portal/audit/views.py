"""The auditor's pages: search the trail, read one event, take the filtered events away, and
the public key to verify what was taken away.

Auditors only. Every search and every export is itself recorded before it runs.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from ims_portal.accounts.access import role_required
from ims_portal.accounts.roles import AUDITOR
from ims_portal.audit import (
    checkpointing,
    csv_copy,
    exporting,
    file_check,
    keys,
    retention,
    signing,
)
from ims_portal.audit.chain import canonical_time
from ims_portal.audit.checkpoints import CheckpointError, staleness
from ims_portal.audit.forms import AuditFilterForm
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.trail import record
from ims_portal.pages import (
    BoundedPaginator,
    FlatStreamingHttpResponse,
    SearchPaginator,
    is_fragment_request,
    query_without_page,
)

PAGE_SIZE = 50
EXPORT_CHUNK_ROWS = 2000  # rows per database round trip while streaming an export
# Filters that keep a file complete: a time range is one run of the chain.
RANGE_FILTERS = {"since", "before"}

auditor_required = role_required(AUDITOR)


@auditor_required
@require_GET
def events(request: HttpRequest) -> HttpResponse:
    """The trail, newest first, filtered and paged; the table alone for an HTMX request."""
    filters = AuditFilterForm(request.GET)
    if not filters.is_valid():
        return HttpResponseBadRequest("Invalid filter.")
    page_number = filters.cleaned_data["page"] or 1
    record(request.user, Action.AUDIT_SEARCHED, filter=filters.described(), page=page_number)
    found = filters.apply(AuditEvent.objects.all())
    paginator = SearchPaginator if filters.cleaned_data["q"] else BoundedPaginator
    page = paginator(found, PAGE_SIZE).get_page(page_number)
    context = {
        "page": page,
        "filters": filters,
        "query": query_without_page(request),
        "filtered": bool(filters.described()),
    }
    template = (
        "audit/partials/event_rows.html" if is_fragment_request(request) else "audit/events.html"
    )
    return TemplateResponse(request, template, context)


@auditor_required
@require_GET
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One event with every field, its place in the chain, and links to its target."""
    event = get_object_or_404(AuditEvent, pk=pk)
    previous = AuditEvent.objects.filter(hash=event.prev_hash).values_list("pk", flat=True)
    following = AuditEvent.objects.filter(prev_hash=event.hash).values_list("pk", flat=True)
    context = {
        "event": event,
        "details": json.dumps(event.details, indent=2, sort_keys=True, ensure_ascii=False),
        "previous_id": previous.first(),
        "next_id": following.first(),
    }
    return TemplateResponse(request, "audit/event_detail.html", context)


@auditor_required
@require_GET
def signing_key(request: HttpRequest) -> HttpResponse:
    """The public key that checkpoints and exported files verify with, the newest checkpoint
    this process can read, and how to check a file offline."""
    context: dict[str, Any] = {
        "every": settings.AUDIT_CHECKPOINT_EVERY,
        "checkpoint_path": checkpointing.sink().path,
    }
    try:
        public = keys.public_key()
    except keys.NoSigningKey as error:
        context["key_problem"] = str(error)
    else:
        context["public_pem"] = signing.public_pem(public)
        context["fingerprint"] = signing.fingerprint(public)
    try:
        newest = checkpointing.sink().last()
    except (OSError, CheckpointError) as error:
        context["checkpoint_problem"] = str(error)
    else:
        if newest:
            context["newest"] = newest
            context["newest_at"] = newest.at
            context["stale"] = staleness(newest, timezone.now())
    return TemplateResponse(request, "audit/key.html", context)


@auditor_required
@require_GET
def signing_key_pem(request: HttpRequest) -> HttpResponse:
    """The public key as a PEM file, for `verify_offline --public-key`."""
    try:
        pem = signing.public_pem(keys.public_key())
    except keys.NoSigningKey as error:
        raise Http404("No audit signing key is configured.") from error
    response = HttpResponse(pem, content_type="application/x-pem-file")
    response["Content-Disposition"] = 'attachment; filename="audit-public.pem"'
    return response


@auditor_required
@require_GET
def export_events(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The filtered events as a CSV or JSON Lines file, streamed in chain order.

    The export is recorded first; that event is the chain head the file names, and only
    events up to it are written, so the file is one consistent cut of the trail. A file of
    the whole trail or of a time range is complete: one unbroken run of the chain, whose
    first and last positions and count its signed metadata states (and, when it starts at
    the oldest online event, which archive file holds the events before it); any other
    filter makes a filtered file, whose rows are checked one by one.
    """
    if fmt not in exporting.CONTENT_TYPES:
        raise Http404("No such format.")
    filters = AuditFilterForm(request.GET)
    if not filters.is_valid():
        return HttpResponseBadRequest("Invalid filter.")
    return events_file(request, filters, fmt)


def events_file(
    request: HttpRequest, filters: AuditFilterForm, fmt: str
) -> FlatStreamingHttpResponse:
    """The response streaming the events `filters` (valid) select as a `fmt` file: the
    page's download and the REST API's both. The export is recorded first."""
    described = filters.described()
    marker = record(request.user, Action.AUDIT_EXPORTED, format=fmt, filter=described)
    header: dict[str, Any] = {
        "format": exporting.FORMAT,
        "exported_at": canonical_time(marker.at),
        "exported_by": request.user.get_username(),
        "filter": described,
        "order": "chain (oldest first)",
        "chain_head": {"id": marker.pk, "hash": marker.hash},
    }
    cut = AuditEvent.objects.filter(pk__lte=marker.pk)
    if set(described) <= RANGE_FILTERS:
        header["scope"] = file_check.COMPLETE
        header["range"], events = retention.complete_range(filters.apply(cut))
        base = retention.online_base()
        first = header["range"]["first"]
        if base.archive and first and first["position"] == base.position + 1:
            # The range reached back past the oldest online event: say where the rest is.
            header["archived"] = {"through_position": base.position, "file": base.archive.file}
    else:
        header["scope"] = file_check.FILTERED
        events = filters.apply(cut)
    if keys.configured():
        header = signing.signed(keys.private_key(), header)
    if fmt == "csv" and csv_copy.supported():
        pieces = csv_copy.stream(header, events)
    else:
        rows = events.order_by("id").values_list(*exporting.COLUMNS)
        pieces = exporting.stream(fmt, header, rows.iterator(chunk_size=EXPORT_CHUNK_ROWS))
    response = FlatStreamingHttpResponse(pieces, content_type=exporting.CONTENT_TYPES[fmt])
    stamp = marker.at.strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    response["X-Audit-Chain-Head"] = f"{marker.pk}:{marker.hash}"
    return response
