from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join

from ims_portal.exports.models import Export

# ModelAdmin is generic to the type checker only; at run time it takes no subscript.
if TYPE_CHECKING:
    ExportModelAdmin = admin.ModelAdmin[Export]
else:
    ExportModelAdmin = admin.ModelAdmin


@admin.register(Export)
class ExportAdmin(ExportModelAdmin):
    """Read-only: status changes go through the state machine, never a form."""

    list_display = ("id", "image_name", "bucket_url", "status", "owner", "created_at")
    list_filter = ("status", "quick")
    search_fields = ("image_name", "bucket", "object_name", "job_id")
    readonly_fields = ("status_history",)

    @admin.display(description="Status history (from the audit trail)")
    def status_history(self, export: Export) -> str:
        return format_html_join(
            "\n",
            "<div>{} · {} → {}{}</div>",
            (
                (
                    step.at.strftime("%Y-%m-%d %H:%M:%S"),
                    step.from_status.label,
                    step.to_status.label,
                    f" · {step.detail}" if step.detail else "",
                )
                for step in export.status_history()
            ),
        )

    def has_change_permission(self, request: HttpRequest, obj: Export | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
