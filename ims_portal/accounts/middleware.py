"""Sessions and sign-in redirects: a bounded session lifetime, and sign-in redirects kept
out of HTMX fragments."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AbstractBaseUser
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


SIGNED_IN_AT = "signed_in_at"


def stamp_sign_in(
    sender: Any, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any
) -> None:
    """`user_logged_in` receiver: remember when this session's sign-in happened."""
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT] = time.time()


class SessionLifetimeMiddleware:
    """End a session SESSION_COOKIE_AGE seconds after its sign-in, however busy it was.

    Roles come from the identity provider's groups at sign-in only, so this bound is how
    long a removal from a group can take to reach a signed-in user. Django's own expiry
    moves forward whenever the session is saved; this one does not. The request then goes
    on as anonymous: pages redirect to sign-in, HTMX requests send the whole browser there.
    The sign-out sends `user_logged_out` with `request.session_expired = True`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            signed_in_at = request.session.get(SIGNED_IN_AT)
            # A session without the stamp predates it: treat it as expired too.
            if signed_in_at is None or time.time() - signed_in_at > settings.SESSION_COOKIE_AGE:
                request.session_expired = True
                auth.logout(request)
        return self.get_response(request)
