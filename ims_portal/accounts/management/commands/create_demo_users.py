"""Create the development sign-in users, so a newcomer can sign in at once."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from ims_portal.accounts.roles import AUDITOR, EXPORTER, set_roles

DEMO_USERS = {
    "alice": {EXPORTER},
    "bob": {EXPORTER},
    "carol": {AUDITOR},
}
DEMO_PASSWORD = "demo-password"  # noqa: S105 - development sign-in only, printed in the README


class Command(BaseCommand):
    help = "Create demo users alice, bob (exporters) and carol (auditor), password 'demo-password'."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        for username, roles in DEMO_USERS.items():
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            set_roles(user, roles)
        self.stdout.write(f"Demo users {', '.join(DEMO_USERS)} (password {DEMO_PASSWORD!r}).")
