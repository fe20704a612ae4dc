from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "ims_portal.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        # Importing these modules connects them: sign-in and access signals become audit
        # events, Celery tasks get their origin, and the system checks register.
        from ims_portal.audit import checks, sign_in_events, task_origin  # noqa: F401
        from ims_portal.audit.admin_log import audit_admin_log

        audit_admin_log()
