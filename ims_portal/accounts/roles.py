"""The portal's two roles and how a user holds them.

A role is a Django group. Sign-in decides which of these groups a user is in: company SSO
maps the identity provider's groups to roles at every sign-in (`roles_for_groups`), the
development sign-in uses the demo users' fixed roles. Everything else only asks the
functions below.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Group, User
from django.db.models import QuerySet

EXPORTER = "exporter"
AUDITOR = "auditor"
ROLES = (EXPORTER, AUDITOR)


def roles_of(user: User | AnonymousUser) -> frozenset[str]:
    """The roles a signed-in user holds; cached on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user.__dict__["_portal_roles"] = cached
    return cached


def hold_no_roles(user: User) -> None:
    """Make this user object (one request's) hold no portal role, whatever its groups say:
    a session opened with a password outside development (break glass) reaches /admin/
    and nothing of the portal, so its roles only ever come from an SSO sign-in."""
    user.__dict__["_portal_roles"] = frozenset()


def holders(role: str) -> QuerySet[User]:
    """The users who hold `role` now."""
    return User.objects.filter(groups__name=role)


def is_exporter(user: User | AnonymousUser) -> bool:
    return EXPORTER in roles_of(user)


def is_auditor(user: User | AnonymousUser) -> bool:
    return AUDITOR in roles_of(user)


def set_roles(user: User, roles: set[str]) -> None:
    """Make the user hold exactly these roles (and no other portal role)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    groups = [Group.objects.get_or_create(name=name)[0] for name in sorted(roles)]
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name__in=roles))
    user.groups.add(*groups)
    user.__dict__.pop("_portal_roles", None)


def sso_groups_granting(role: str) -> tuple[str, ...]:
    """The identity provider's groups that grant `role` (from OIDC_EXPORTER_GROUPS /
    OIDC_AUDITOR_GROUPS)."""
    setting = {EXPORTER: "OIDC_EXPORTER_GROUPS", AUDITOR: "OIDC_AUDITOR_GROUPS"}[role]
    return tuple(getattr(settings, setting))


def roles_for_groups(groups: Iterable[str]) -> frozenset[str]:
    """The portal roles that a user in these identity-provider groups holds.

    Group names are compared exactly: IdPs treat `IMS-Admins` and `ims-admins` as different
    groups, and so do we.
    """
    held = set(groups)
    return frozenset(role for role in ROLES if held & set(sso_groups_granting(role)))
