from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ims_portal.accounts"
    label = "accounts"
    verbose_name = "Accounts and sign-in"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from ims_portal.accounts import checks  # noqa: F401 - registers the system checks
        from ims_portal.accounts.session_lifetime import stamp_sign_in
        from ims_portal.accounts.user_cache import connect as connect_user_cache

        user_logged_in.connect(stamp_sign_in, dispatch_uid="accounts.stamp_sign_in")
        connect_user_cache()
