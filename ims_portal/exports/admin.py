from django.contrib import admin

from ims_portal.exports.models import Export, StatusChange


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "at", "detail")


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    """Read-only: status changes go through the state machine, never a form."""

    list_display = ("id", "image_name", "bucket_url", "status", "owner", "created_at")
    list_filter = ("status", "quick")
    search_fields = ("image_name", "bucket", "object_name", "job_id")
    inlines = [StatusChangeInline]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False
