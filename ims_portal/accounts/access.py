"""Every view's access check lives here, so that SSO and roles plug into one place.

Views declare what they need with `@role_required(...)` (or the two shorthands below);
anonymous users go to sign-in, signed-in users without the role get the "no access" page
with HTTP 403. Only exporters change anything: an unsafe method (POST, PUT, PATCH, DELETE)
from anyone else answers 403 on every view, whatever roles the view admits for reading;
the one exception is what belongs to the user alone (`own_settings_required`: their own
API tokens). The REST API asks the same question (`refused_for`) for its own answers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse

from ims_portal.accounts.models import Identity
from ims_portal.accounts.roles import AUDITOR, EXPORTER, roles_of, sso_groups_granting
from ims_portal.accounts.signals import access_refused

View = Callable[..., HttpResponseBase]

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def no_access(request: HttpRequest, needed: tuple[str, ...]) -> HttpResponse:
    """The polite refusal, with HTTP 403: names the roles that would grant access and the
    company SSO groups that carry them, and sends `access_refused`."""
    access_refused.send(sender=no_access, request=request, needed_roles=needed)
    user = request.user
    identity = Identity.objects.filter(user_id=user.pk).first() if user.is_authenticated else None
    context = {
        "needed_roles": needed,
        "granting_groups": [(role, sso_groups_granting(role)) for role in needed],
        "seen_groups": identity.groups if identity else None,
    }
    return TemplateResponse(request, "accounts/no_access.html", context, status=403)


def refused_for(
    user: User | AnonymousUser, roles: tuple[str, ...], method: str, *, own_settings: bool = False
) -> tuple[str, ...]:
    """The roles a signed-in `user` lacks to use a view open to `roles` with `method`, any
    one of which would do; empty when they may. The pages and the REST API both ask here.

    Unsafe methods are for exporters only: auditors read everything and change nothing.
    `own_settings` views (a user's own API tokens) let every role change what they hold.
    """
    held = roles_of(user)
    if not held & set(roles):
        return roles
    if method not in SAFE_METHODS and EXPORTER not in held and not own_settings:
        return (EXPORTER,)
    return ()


def role_required(*roles: str, own_settings: bool = False) -> Callable[[View], View]:
    """Allow signed-in users holding any of `roles`; unsafe methods only to exporters,
    except on `own_settings` views (see `refused_for`)."""

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            needed = refused_for(
                request.user, roles, request.method or "GET", own_settings=own_settings
            )
            if needed:
                return no_access(request, needed)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


exporter_required = role_required(EXPORTER)
reader_required = role_required(EXPORTER, AUDITOR)
# What belongs to the user alone (their API tokens): any portal role may change it.
own_settings_required = role_required(EXPORTER, AUDITOR, own_settings=True)
