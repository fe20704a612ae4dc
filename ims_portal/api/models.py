"""Personal API tokens: what a script presents instead of a browser session.

A token is shown to its user once, when it is made; the portal keeps only its SHA-256
(`digest`), which is enough for a secret of 256 random bits: nobody can search that space,
so no slow, salted hash is needed, and a lookup by digest is one index read. The first
characters (`prefix`) stay readable so that a person can tell their tokens apart.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class Scope(models.TextChoices):
    """What a token may do. Either way it may never do more than its user's roles allow."""

    READ = "read", "Read only"
    EXPORT = "export", "Read and export"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self, now: datetime | None = None) -> ApiTokenQuerySet:
        """Tokens neither revoked nor expired (their user's state is checked on use)."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())


class ApiToken(models.Model):
    """One personal token of one user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80, help_text="what the user calls it: where it is used")
    prefix = models.CharField(max_length=16, help_text="the token's first characters, shown")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token, hex")
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.CharField(max_length=45, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired()

    @property
    def may_export(self) -> bool:
        return self.scope == Scope.EXPORT


class TokenAddress(models.Model):
    """An address a token has been used from: the first use from each one is audited."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="addresses")
    ip = models.CharField(max_length=45)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "ip"], name="token_address_once"),
        ]

    def __str__(self) -> str:
        return f"{self.token} from {self.ip}"
