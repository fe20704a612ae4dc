"""A session ends SESSION_COOKIE_AGE seconds after its sign-in, however busy it was.

Roles come from the identity provider's groups at sign-in only, so this bound is how long a
removal from a group can take to reach a signed-in user. Django's own expiry moves forward
whenever the session is saved; this one does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse

SIGNED_IN_AT = "signed_in_at"


def stamp_sign_in(
    sender: Any, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any
) -> None:
    """`user_logged_in` receiver: remember when this session's sign-in happened."""
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT] = time.time()


class SessionLifetimeMiddleware:
    """Sign out a session whose sign-in is older than SESSION_COOKIE_AGE.

    The request then goes on as anonymous: pages redirect to sign-in, HTMX requests send the
    whole browser there. The sign-out sends `user_logged_out` with
    `request.session_expired = True`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            signed_in_at = request.session.get(SIGNED_IN_AT)
            # A session without the stamp predates it: treat it as expired too.
            if signed_in_at is None or time.time() - signed_in_at > settings.SESSION_COOKIE_AGE:
                # Read by the sign-out's receivers, which tell an expiry from a click.
                request.session_expired = True  # type: ignore[attr-defined]
                auth.logout(request)
        return self.get_response(request)
