from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "ims_portal.notifications"
    label = "notifications"

    def ready(self) -> None:
        # The outbox listens to the export writer; the checks register themselves.
        from ims_portal.exports.signals import export_written
        from ims_portal.notifications import checks, outbox  # noqa: F401

        export_written.connect(outbox.on_export_written, dispatch_uid="notifications.outbox")
