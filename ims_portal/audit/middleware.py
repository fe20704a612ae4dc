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
    `TRUSTED_PROXIES`; so is the proxy's word that the browser used HTTPS
    (`SECURE_PROXY_SSL_HEADER`), which is removed from any other request before Django's
    security middleware reads it. Placed first, so every later middleware's log lines carry
    the id.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Loaded once, when the web process starts: a malformed entry stops it right there.
        try:
            self.trusted = context.parse_networks(settings.TRUSTED_PROXIES)
        except ValueError as error:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {error}") from error

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not context.from_trusted_proxy(request.META, self.trusted):
            request.META.pop(settings.SECURE_PROXY_SSL_HEADER[0], None)
        origin = context.origin_of_request(request.META, self.trusted)
        request.request_id = origin.request_id  # type: ignore[attr-defined]
        request.client_ip = origin.ip  # type: ignore[attr-defined]
        with context.bound(origin):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = origin.request_id
        return response


def client_ip_of(request: HttpRequest) -> str:
    """The request's client address as the audit trail records it (django-ratelimit's
    `RATELIMIT_IP_META_KEY`), so a limit per address counts clients, not the proxy."""
    return getattr(request, "client_ip", "") or request.META.get("REMOTE_ADDR", "")
