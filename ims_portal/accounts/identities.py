"""Portal users made from OpenID Connect claims, at every sign-in.

The user is found by issuer + subject (`Identity`), never by email, then brought up to date
from the claims: email, names, username, and the portal roles derived from the groups
claim. A user whom the provider has removed from every mapped group holds no role after
their next sign-in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from ims_portal.accounts.models import Identity
from ims_portal.accounts.roles import roles_for_groups, roles_of, set_roles


class UnusableClaims(ValueError):
    """The claims lack a subject, or carry a groups claim of the wrong shape."""


@dataclass(frozen=True)
class SignIn:
    """The outcome of matching claims to a user: who, and their roles before and after."""

    user: AbstractUser
    roles_before: frozenset[str]
    roles_after: frozenset[str]

    @property
    def roles_changed(self) -> bool:
        return self.roles_before != self.roles_after


def groups_from_claims(claims: Mapping[str, Any]) -> list[str]:
    """The user's groups, from the claim named by OIDC_GROUPS_CLAIM.

    A dotted name reaches into nested claims (Keycloak's `realm_access.roles`) unless a
    claim of that literal name exists (namespaced claims such as
    `https://example.com/groups` contain dots too). A single string counts as one group.
    """
    name = settings.OIDC_GROUPS_CLAIM
    value: Any = claims.get(name)
    if value is None and "." in name:
        value = claims
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(group, str) for group in value):
        return sorted(set(value))
    raise UnusableClaims(f"claim {name!r} is not a list of group names")


def sign_in_from_claims(issuer: str, claims: Mapping[str, Any]) -> SignIn:
    """Find or create the user of `claims` at `issuer`, update them, and set their roles."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise UnusableClaims("no subject (sub) claim")
    groups = groups_from_claims(claims)
    try:
        return _sign_in(issuer, subject, claims, groups)
    except IntegrityError:
        # Two first sign-ins of the same person at once (a double click at the provider):
        # the other one created the identity; this one now finds it.
        return _sign_in(issuer, subject, claims, groups)


@transaction.atomic
def _sign_in(issuer: str, subject: str, claims: Mapping[str, Any], groups: list[str]) -> SignIn:
    identity = (
        Identity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    if identity is None:
        user = get_user_model()(username=_free_username(claims, issuer, subject, None))
        user.set_unusable_password()
        identity = Identity(user=user, issuer=issuer, subject=subject)
        before: frozenset[str] = frozenset()
    else:
        user = identity.user
        before = roles_of(user)
        user.username = _free_username(claims, issuer, subject, user.pk)
    user.email = str(claims.get("email") or "")[:254]
    user.first_name = str(claims.get("given_name") or claims.get("name") or "")[:150]
    user.last_name = str(claims.get("family_name") or "")[:150] if claims.get("given_name") else ""
    user.save()
    identity.user = user
    identity.groups = groups
    identity.signed_in_at = timezone.now()
    identity.save()
    after = roles_for_groups(groups)
    set_roles(user, set(after))
    return SignIn(user=user, roles_before=before, roles_after=after)


def _free_username(
    claims: Mapping[str, Any], issuer: str, subject: str, user_pk: int | None
) -> str:
    """The preferred username if nobody else has it, else the same with a suffix derived
    from issuer + subject (stable from one sign-in to the next)."""
    wanted = str(claims.get("preferred_username") or claims.get("email") or subject)[:150]
    User = get_user_model()
    others = User.objects.filter(username=wanted)
    if user_pk is not None:
        others = others.exclude(pk=user_pk)
    if not others.exists():
        return wanted
    suffix = "-" + hashlib.sha256(f"{issuer} {subject}".encode()).hexdigest()[:8]
    return wanted[: 150 - len(suffix)] + suffix
