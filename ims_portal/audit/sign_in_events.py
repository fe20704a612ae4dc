"""Sign-in, role and access signals, turned into audit events.

The accounts app knows nothing of the audit trail: it sends `roles_changed`,
`sign_in_refused` and `access_refused`, and Django sends the sign-in, sign-out and failed
sign-in signals; this module listens. Connected when the app is ready (`apps.py`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from ims_portal.accounts.signals import access_refused, roles_changed, sign_in_refused
from ims_portal.audit.models import Action, Outcome
from ims_portal.audit.trail import Target, record


@receiver(user_logged_in, dispatch_uid="audit-sign-in")
def signed_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Record a sign-in, naming the backend that let the user in."""
    # A superuser's sign-in is its own action, so auditors can list privileged access alone.
    action = Action.SUPERUSER_SIGN_IN if user.is_superuser else Action.SIGN_IN
    record(user, action, user, backend=_backend_name(request, user))


@receiver(user_logged_out, dispatch_uid="audit-sign-out")
def signed_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Record a sign-out (including the one that ends an expired session)."""
    if user is not None and user.is_authenticated:  # signing out while signed out: nothing
        record(user, Action.SIGN_OUT, user)


@receiver(user_login_failed, dispatch_uid="audit-sign-in-failed")
def sign_in_failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
    """Record a failed password sign-in, naming the account only if it exists."""
    if "password" not in credentials:
        return  # not a password sign-in: a refused SSO callback says so with its reason
    # Only a username that names an account is kept: people type passwords into the
    # username field, and the trail must never hold one.
    typed = str(credentials.get(get_user_model().USERNAME_FIELD, "") or "")
    account = _account(typed)
    record(
        AnonymousUser(),
        Action.SIGN_IN_FAILED,
        account,
        outcome=Outcome.FAILURE,
        known_account=account is not None,
    )


@receiver(sign_in_refused, dispatch_uid="audit-sign-in-refused")
def sign_in_was_refused(sender: Any, reason: str, username: str = "", **kwargs: Any) -> None:
    """Record an SSO sign-in the portal refused, with its reason."""
    # The username here comes from the identity provider's claims, not from a keyboard.
    account = _account(username) or (Target("user", "", username) if username else None)
    record(
        AnonymousUser(),
        Action.SIGN_IN_REFUSED,
        account,
        outcome=Outcome.DENIED,
        reason=reason,
        username=username,
    )


@receiver(roles_changed, dispatch_uid="audit-roles-changed")
def roles_were_changed(
    sender: Any, user: Any, before: frozenset[str], after: frozenset[str], **kwargs: Any
) -> None:
    """Record the roles a sign-in gave or took away."""
    record(
        user,
        Action.ROLES_CHANGED,
        user,
        before=sorted(before),
        after=sorted(after),
        added=sorted(after - before),
        removed=sorted(before - after),
    )


@receiver(access_refused, dispatch_uid="audit-no-access")
def access_was_refused(
    sender: Any, request: HttpRequest, needed_roles: tuple[str, ...], **kwargs: Any
) -> None:
    """Record a "no access" page, with the roles that would have opened it."""
    match = getattr(request, "resolver_match", None)
    page = match.view_name if match else ""
    record(
        request.user,
        Action.NO_ACCESS,
        Target("page", page, request.path[:255]),
        outcome=Outcome.DENIED,
        needed_roles=sorted(needed_roles),
        method=request.method,
        path=request.path,
    )


def _account(username: str) -> Target | None:
    if not username:
        return None
    User = get_user_model()
    pk = User._default_manager.filter(**{User.USERNAME_FIELD: username}).values_list(
        "pk", flat=True
    )
    found = pk.first()
    return Target("user", str(found), username) if found is not None else None


def _backend_name(request: HttpRequest, user: Any) -> str:
    path = getattr(user, "backend", None) or request.session.get(BACKEND_SESSION_KEY, "")
    return str(path).rsplit(".", 1)[-1]
