from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "ims_portal.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # In every process (web and workers): audit events written and cloud calls made
        # are counted from here on. Importing the checks registers them.
        from ims_portal.monitoring import checks, counting  # noqa: F401

        counting.start()
