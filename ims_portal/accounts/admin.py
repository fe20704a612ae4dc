from django.contrib import admin

from ims_portal.accounts.models import Identity


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    """Read-only: identities are made and updated by SSO sign-in, from the provider's claims."""

    list_display = ("user", "subject", "issuer", "groups", "signed_in_at")
    search_fields = ("user__username", "subject", "user__email")
    readonly_fields = ("user", "issuer", "subject", "groups", "created_at", "signed_in_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
