"""The overview, the signed-in user's home page: exports in flight with live bars, and the
last 30 days in figures (an auditor's over everyone, with the latest audit events)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from ims_portal.accounts.access import reader_required
from ims_portal.accounts.roles import is_auditor
from ims_portal.exports import overview
from ims_portal.pages import SignedInRequest, is_fragment_request


def live_context(
    request: SignedInRequest, shown: list[int], now: datetime | None = None
) -> dict[str, object]:
    """What the live list renders, wherever it comes from: the page, its poll or its live
    stream (`views_push.overview_events`)."""
    live = overview.live_exports(request.user, shown, now or timezone.now())
    return {
        "live": live,
        "any_in_flight": any(row.export.is_in_flight for row in live),
        "shown": ",".join(str(row.export.pk) for row in live),
        "everyone": is_auditor(request.user),
    }


@reader_required
@require_GET
def overview_page(request: SignedInRequest) -> HttpResponse:
    """The overview page. Its live list is pushed by the user's live stream as their
    exports change (new ones too), else it polls (one poll for every bar) while any export in
    it is in flight; the figures are as of the page's load."""
    now = timezone.now()
    context = {
        **live_context(request, [], now),
        "push": settings.EXPORT_PUSH,
        "figures": overview.figures(request.user, now),
        "window_days": overview.WINDOW_DAYS,
        "audit_events": overview.latest_audit_events(request.user),
    }
    return TemplateResponse(request, "exports/overview.html", context)


@reader_required
@require_GET
def overview_live(request: SignedInRequest) -> HttpResponse:
    """The overview's live list alone, which the page polls every 2 s; once nothing in it
    is in flight, htmx is told to stop polling (HTTP 286). `shown` names the exports the
    page lists already, which stay in the list once they have ended."""
    try:
        shown = overview.parse_shown(request.GET.get("shown", ""))
    except ValueError:
        return HttpResponseBadRequest("Invalid list of exports.")
    context = live_context(request, shown)
    response = TemplateResponse(request, "exports/partials/overview_live.html", context)
    if not context["any_in_flight"] and is_fragment_request(request):
        response.render()
        return HttpResponseStopPolling(response.content)
    return response
