from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "ims_portal.exports"
    label = "exports"
