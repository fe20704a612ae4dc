"""Test settings: the real settings, pointed at the PostgreSQL and Redis on this machine.

Every value can still be overridden from the environment.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("ALLOWED_HOSTS", "*")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ims_portal")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# The links in notifications are absolute (notifications.W001 warns otherwise).
os.environ.setdefault("PORTAL_URL", "http://portal.test")

from ims_portal.settings import *  # noqa: F403

# Tests serve static files from the source folders; no collectstatic, no manifest.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True

# The harness's own `flush`, which empties the append-only audit table between
# transactional tests (see tests/harness/management/commands/flush.py).
INSTALLED_APPS = ["tests.harness", *INSTALLED_APPS]  # noqa: F405

# Every persona is created with a password; the production hasher's deliberate slowness
# (about 0.3 s per user) would dominate the run and proves nothing here.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests run with DEBUG off, as production does, yet sign the personas in through the
# development password form (the SSO tests switch it off and use the real provider).
DEVELOPMENT_SIGN_IN = not OIDC_ISSUER  # noqa: F405
