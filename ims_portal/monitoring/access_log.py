"""One log line per request: method, path, status and duration, under the request id.

It replaces the web server's own access log, which knows no request id, so the line of the
click that queued an export carries the same id as the worker lines and the cloud calls
that follow it. The query string is left out (searches hold what people typed). Probes and
scrapes are logged at DEBUG: an orchestrator asks every few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ims_portal.monitoring.middleware import OPERATIONS_PATHS

log = logging.getLogger("ims_portal.access")


class AccessLogMiddleware:
    """Log each request once its answer is ready (placed inside the request-origin one)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = self.get_response(request)
        probe = request.path_info.rstrip("/") in OPERATIONS_PATHS
        log.log(
            logging.DEBUG if probe else logging.INFO,
            "%s %s %d %.0f ms",
            request.method,
            request.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response
