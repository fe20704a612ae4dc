from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "ims_portal.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        # The receivers turn sign-in, access, admin and worker signals into audit events.
        from ims_portal.audit import checks, receivers  # noqa: F401
