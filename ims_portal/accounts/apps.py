from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ims_portal.accounts"
    label = "accounts"
