from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "ims_portal.exports"
    label = "exports"

    def ready(self) -> None:
        # Configure the Celery app in every Django process, so that tasks sent from the web
        # go to the configured broker (the worker loads it itself with `-A ims_portal`).
        import ims_portal.celery  # noqa: F401
        from ims_portal.exports import push
        from ims_portal.exports.signals import export_written

        export_written.connect(push.on_export_written, dispatch_uid="exports.push")
