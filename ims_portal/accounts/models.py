"""Who a portal user is at the company's identity provider."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Identity(models.Model):
    """The link between a portal user and their account at an OpenID Provider.

    The stable key is the issuer plus the subject (`iss` + `sub`), never the email: an email
    address can be renamed or handed to someone else, a subject cannot.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    # The groups claim as last seen at sign-in: support can tell why someone has no access.
    groups = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    signed_in_at = models.DateTimeField()

    class Meta:
        verbose_name = "SSO identity"
        verbose_name_plural = "SSO identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="unique_sso_identity"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
