"""Sign-in redirects kept out of HTMX fragments."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


class HtmxLoginRedirectMiddleware:
    """An HTMX request whose session has expired would swap the sign-in page into a
    fragment. Tell htmx to send the whole browser to sign-in instead, back to the page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = getattr(request, "htmx", None)
        if htmx and response.status_code == 302:
            login_url = resolve_url(settings.LOGIN_URL)
            if response["Location"].startswith(login_url):
                page = htmx.current_url_abs_path or "/"
                return HttpResponseClientRedirect(f"{login_url}?next={page}")
        return response
