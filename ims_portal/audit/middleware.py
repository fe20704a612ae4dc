"""Stamp every request with an id and its origin, for the audit trail and the logs."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from ims_portal.audit import context

REQUEST_ID_HEADER = "X-Request-Id"


class RequestOriginMiddleware:
    """Bind the request's id, source IP and user agent for `trail.record` and the logs.

    The id is the incoming `X-Request-Id` when it is well formed (so a proxy's id follows
    the request through), else a new one; it is sent back on the response. The source IP
    is the socket peer, or what `X-Forwarded-For` says only when that peer is one of
    `TRUSTED_PROXIES`. Placed first, so every later middleware's log lines carry the id.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Loaded once, when the web process starts: a malformed entry stops it right there.
        try:
            self.trusted = context.parse_networks(settings.TRUSTED_PROXIES)
        except ValueError as error:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {error}") from error

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = context.origin_of_request(request.META, self.trusted)
        request.request_id = origin.request_id  # type: ignore[attr-defined]
        request.client_ip = origin.ip  # type: ignore[attr-defined]
        with context.bound(origin):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = origin.request_id
        return response
