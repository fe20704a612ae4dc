"""Serve `/healthz`, `/readyz` and `/metrics` before the rest of the stack.

Placed right after the request-origin middleware (so the answer still carries its
`X-Request-Id` and log lines name it), this answers the three paths itself: no session is
read, no user is loaded, no sign-in is asked for, no CSRF or CSP applies, and no audit
event is written. It also skips the host check: an orchestrator probes a pod by its
address, and Prometheus scrapes a target by it, neither of which is in ALLOWED_HOSTS;
none of these answers builds a URL from the Host header.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from ims_portal.audit import context
from ims_portal.monitoring import views

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
OPERATIONS_PATHS = frozenset({HEALTH_PATH, READY_PATH, METRICS_PATH})


class OperationsMiddleware:
    """Answer the operations endpoints; pass every other request on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Read once, when the web process starts: a malformed entry stops it right there.
        try:
            self.metrics_networks = context.parse_networks(settings.METRICS_ALLOWED_NETWORKS)
        except ValueError as error:
            raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {error}") from error

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/") or "/"
        if path not in OPERATIONS_PATHS:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if path == HEALTH_PATH:
            response = views.healthz(request)
        elif path == READY_PATH:
            response = views.readyz(request)
        else:
            response = views.metrics(request, self.metrics_networks)
        # Every answer is of this moment: never from a cache between here and the prober.
        response["Cache-Control"] = "no-store"
        return response
