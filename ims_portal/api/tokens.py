"""Personal API tokens: made, found by the secret a script presents, and revoked.

A token stands for its user: it holds no roles of its own. Every request made with it is
judged by the roles the user holds now, which are the ones their identity provider's
groups gave them at their last SSO sign-in (`accounts.roles`), and it stops working as soon
as the user is deactivated, the token is revoked or it expires. Making a token, revoking
it, and its first use from each address are audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from ims_portal.accounts.roles import is_exporter
from ims_portal.api.models import ApiToken, Scope, TokenAddress
from ims_portal.audit.models import Action
from ims_portal.audit.trail import Target, record

# Every token starts so: a secret scanner (or a person) can tell one in a log or a commit.
TOKEN_MARK = "imsp_"  # noqa: S105 (the visible start of every token, not a secret)
SECRET_BYTES = 32  # 256 bits from the operating system's CSPRNG
PREFIX_LENGTH = len(TOKEN_MARK) + 6
DEFAULT_LIFETIME_DAYS = 90
LIFETIME_CHOICES_DAYS = (7, 30, DEFAULT_LIFETIME_DAYS, 180, 365)
# How often a token's "last used" is written: not on every request of a busy script.
LAST_USED_EVERY = timedelta(minutes=1)


class TokenRefused(Exception):
    """A presented token that opens nothing; `reason` says why, in words for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Issued:
    """A token just made: the record, and the secret, which is shown once and never again."""

    token: ApiToken
    secret: str


def digest_of(secret: str) -> str:
    """The SHA-256 the portal keeps of a token (hex)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def max_lifetime_days() -> int:
    """The longest a token may live (`API_TOKEN_MAX_DAYS`)."""
    return int(settings.API_TOKEN_MAX_DAYS)


def lifetime_choices() -> list[int]:
    """The lifetimes a person may pick, in days, none above the maximum (which is one)."""
    most = max_lifetime_days()
    return sorted({days for days in LIFETIME_CHOICES_DAYS if days <= most} | {most})


def default_lifetime_days() -> int:
    return min(DEFAULT_LIFETIME_DAYS, max_lifetime_days())


def scopes_for(user: User) -> list[Scope]:
    """The scopes worth giving a token of `user`: export only for someone who may export."""
    return [Scope.READ, Scope.EXPORT] if is_exporter(user) else [Scope.READ]


def issue(user: User, name: str, scope: Scope, days: int) -> Issued:
    """Make a token for `user`, valid for `days` (at most the maximum), audited."""
    days = min(days, max_lifetime_days())
    secret = TOKEN_MARK + secrets.token_urlsafe(SECRET_BYTES)
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:PREFIX_LENGTH],
            digest=digest_of(secret),
            scope=scope,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        record(user, Action.TOKEN_CREATED, _target(token), **_facts(token))
    return Issued(token, secret)


def revoke(token: ApiToken, user: User) -> bool:
    """Revoke `token` now, audited; False if it was revoked already."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            token.refresh_from_db()
            record(user, Action.TOKEN_REVOKED, _target(token), **_facts(token))
    return bool(revoked)


def authenticate(secret: str, ip: str, now: datetime | None = None) -> ApiToken:
    """The usable token whose secret this is, with its user loaded; or `TokenRefused`.

    The first use from an address is recorded (and audited); "last used" is written at
    most every `LAST_USED_EVERY`.
    """
    now = now or timezone.now()
    if not secret.startswith(TOKEN_MARK):
        raise TokenRefused("not a token of this portal")
    token = ApiToken.objects.select_related("user").filter(digest=digest_of(secret)).first()
    if token is None:
        raise TokenRefused("unknown token")
    if token.is_revoked:
        raise TokenRefused("the token was revoked")
    if token.is_expired(now):
        raise TokenRefused("the token has expired")
    if not token.user.is_active:
        raise TokenRefused("the token's user is deactivated")
    _note_use(token, ip, now)
    return token


def _note_use(token: ApiToken, ip: str, now: datetime) -> None:
    if ip:
        with transaction.atomic():
            _, new = TokenAddress.objects.get_or_create(token=token, ip=ip)
            if new:
                record(
                    token.user,
                    Action.TOKEN_NEW_ADDRESS,
                    _target(token),
                    **_facts(token),
                    previous_ip=token.last_used_ip,
                )
    stale = token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY
    if stale or token.last_used_ip != ip:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
        token.last_used_at, token.last_used_ip = now, ip


def _target(token: ApiToken) -> Target:
    return Target("api_token", str(token.pk), f"{token.name} ({token.prefix}…)")


def _facts(token: ApiToken) -> dict[str, Any]:
    """What each audit event of a token repeats (never the secret, nor its digest)."""
    return {
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope,
        "expires_at": token.expires_at.isoformat(),
    }
