"""Test settings: the real settings, pointed at the PostgreSQL and Redis on this machine.

Every value can still be overridden from the environment.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("ALLOWED_HOSTS", "*")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ims_portal")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from ims_portal.settings import *  # noqa: F403

# Tests serve static files from the source folders; no collectstatic, no manifest.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
