"""Every view's access check lives here, so that SSO and roles plug into one place.

Views declare what they need with `@role_required(...)`; anonymous users go to sign-in,
signed-in users without the role get the "no access" page with HTTP 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from ims_portal.accounts.roles import AUDITOR, EXPORTER, roles_of

View = Callable[..., HttpResponse]

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def no_access(request: HttpRequest, needed: tuple[str, ...]) -> HttpResponse:
    """The polite refusal: says which role would grant access, with HTTP 403."""
    return TemplateResponse(
        request, "accounts/no_access.html", {"needed_roles": needed}, status=403
    )


def role_required(*roles: str, write: bool = False) -> Callable[[View], View]:
    """Allow signed-in users holding any of `roles`.

    With `write=True` the view changes data: auditors, who read everything but change
    nothing, are refused unsafe methods even where they may read.
    """

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            held = roles_of(request.user)
            if not held & set(roles):
                return no_access(request, roles)
            if write and request.method not in SAFE_METHODS and EXPORTER not in held:
                return no_access(request, (EXPORTER,))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


exporter_required = role_required(EXPORTER, write=True)
reader_required = role_required(EXPORTER, AUDITOR)
