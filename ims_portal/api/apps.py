from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "ims_portal.api"
    label = "api"
    verbose_name = "REST API and personal tokens"
