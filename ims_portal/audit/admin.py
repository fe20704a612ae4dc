from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ims_portal.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only, as the trail is: the auditor pages are the place to search it."""

    list_display = ("id", "at", "actor_username", "action", "target_label", "outcome", "ip")
    list_filter = ("action", "outcome")
    search_fields = ("actor_username", "target_label", "request_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
