"""Test settings: the real settings, pointed at the PostgreSQL and Redis on this machine.

Every value can still be overridden from the environment.
"""

import atexit
import os
import shutil
import tempfile

from ims_portal.audit.signing import generate_private_pem

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("ALLOWED_HOSTS", "*")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ims_portal")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# The test client and the live server of the browser tests speak plain HTTP; the tests of
# the HTTPS settings (tests/test_deployment.py) turn the redirect on themselves.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
# Tests sign in and export far faster than people do; the rate-limit tests set their own.
os.environ.setdefault("EXPORT_RATE_LIMIT", "10000/m")
os.environ.setdefault("SIGN_IN_RATE_LIMIT", "10000/m")

# One audit signing key per test session, made here and handed to every process the tests
# start (a worker, `manage.py` in a subprocess) through the environment they inherit.
os.environ.setdefault(
    "AUDIT_SIGNING_KEY",
    "" if os.environ.get("AUDIT_SIGNING_KEY_FILE") else generate_private_pem().decode(),
)
# Never the checkpoint file of a development run in var/: tests that write checkpoints
# point this at their own folder.
os.environ.setdefault(
    "AUDIT_CHECKPOINT_PATH",
    os.path.join(tempfile.gettempdir(), f"ims-portal-tests-{os.getpid()}", "checkpoints.jsonl"),
)

# Metrics in multiprocess mode, as `bin/run` has them: a folder of this run's own, which
# the worker processes the tests start inherit, so one scrape sees theirs too. Set before
# prometheus_client is first imported (by the apps), which is when it reads it.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ims-portal-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
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
