"""Settings for the IMS Export Portal, all read from the environment (12-factor).

This module only reads: it writes no environment variable, creates no folder, opens no
connection and imports none of the portal's modules, so importing it is safe anywhere
(tests/startup/ hold it to that). What a process must decide or
prepare at start-up lives where the process starts: the broker of a development run in
`ims_portal/startup.py` (run by `bin/run`), the embedded broker's folders in
`ims_portal/celery.py`, the cloud the portal talks to in `exports/cloud_access.py`, and the
check of TRUSTED_PROXIES in the audit app.

Every value has a development default that runs the whole product on one machine with
nothing else installed (SQLite, the cloud simulator, and with `make run` a broker embedded
in the file system when no Redis answers). Production sets DEBUG off, which turns every such
default into a loud error instead of a silent fallback.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("IMS_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()


def secret(name: str, default: str | None = None) -> str | None:
    """Read a secret from NAME, or from the file named by NAME_FILE (Docker/K8s secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = secret("SECRET_KEY", default="dev-only-not-secret" if DEBUG else None)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set: set SECRET_KEY (or SECRET_KEY_FILE), "
        "or DEBUG=true in a development checkout."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "ims_portal.accounts",
    "ims_portal.exports",
    "ims_portal.audit",
]

MIDDLEWARE = [
    # First, so that every later middleware's log lines carry the request id.
    "ims_portal.audit.middleware.RequestOriginMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ims_portal.accounts.session_lifetime.SessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "ims_portal.accounts.htmx_redirect.HtmxLoginRedirectMiddleware",
]

ROOT_URLCONF = "ims_portal.urls"
WSGI_APPLICATION = "ims_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ims_portal.accounts.context_processors.roles",
            ],
        },
    },
]

# The pages run under a strict CSP: no inline script or style; htmx's own script tag
# carries the nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file in development: wait for locks, and take
    # the write lock at BEGIN so concurrent writers queue instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
# Persistent connections: a new PostgreSQL connection costs more than a whole cheap page.
# Each web thread and worker process keeps its own for this many seconds (0: one per
# request), checked before reuse so a connection the server dropped is replaced, not failed.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True)
# The longest one SQL statement may run on PostgreSQL (0: no limit), so a runaway query
# cannot hold a web worker; set on each connection, so workers and commands get it too.
DATABASE_STATEMENT_TIMEOUT_MS = env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=10_000)
_POSTGRESQL = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
if _POSTGRESQL and DATABASE_STATEMENT_TIMEOUT_MS:
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _given = _options.get("options", "")
    _options["options"] = f"{_given} -c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:signed_out"
# The most a session lives after its sign-in, however active (accounts.session_lifetime): roles
# are recomputed at sign-in, so this is also how long a removal from an SSO group can take.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG


# --- Sign-in: company SSO (OpenID Connect) ------------------------------------------------

# The provider's endpoints and keys come from discovery at OIDC_ISSUER (accounts/provider.py).
OIDC_ISSUER = env.str("OIDC_ISSUER", default="")
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET = secret("OIDC_CLIENT_SECRET", default="") or ""
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    _missing = "OIDC_CLIENT_SECRET" if OIDC_CLIENT_ID else "OIDC_CLIENT_ID"
    raise ImproperlyConfigured(f"OIDC_ISSUER is set, so {_missing} must be set too.")
if OIDC_ISSUER:
    # Sign-out is a form POST that the portal redirects on to the provider's end-session
    # endpoint, and a page's form-action policy covers where its forms redirect to.
    _idp = urlparse(OIDC_ISSUER)
    SECURE_CSP["form-action"] = [CSP.SELF, f"{_idp.scheme}://{_idp.netloc}"]
# Okta's custom authorization servers put groups in the token only for a `groups` scope.
OIDC_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_EXPORTER_GROUPS = env.list("OIDC_EXPORTER_GROUPS", default=["ims-admins"])
OIDC_AUDITOR_GROUPS = env.list("OIDC_AUDITOR_GROUPS", default=["ims-auditors"])
# Seconds for each call to the provider (discovery, keys, token, userinfo).
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=10.0)

# mozilla-django-oidc reads its own names; ours above are the ones operators set.
OIDC_RP_CLIENT_ID = OIDC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = OIDC_CLIENT_SECRET
OIDC_RP_SCOPES = OIDC_SCOPES
OIDC_RP_SIGN_ALGO = env.str("OIDC_SIGN_ALGO", default="RS256")
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
# Kept in the session as the `id_token_hint` of RP-initiated logout.
OIDC_STORE_ID_TOKEN = True
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:sso_callback"
OIDC_OP_LOGOUT_URL_METHOD = "ims_portal.accounts.views.provider_sign_out_url"

# The password form of the demo users exists only in development without an IdP; otherwise
# a password opens only /admin/, and only to a superuser (break glass).
DEVELOPMENT_SIGN_IN = DEBUG and not OIDC_ISSUER
AUTHENTICATION_BACKENDS = [
    "ims_portal.accounts.backends.SSOBackend",
    "ims_portal.accounts.backends.DevelopmentBackend",
    "ims_portal.accounts.backends.BreakGlassBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}


# --- Broker and cache ----------------------------------------------------------------------

# Settings never probe Redis. `make run` decides once, for every process it starts, whether
# the development run uses Redis or the embedded file-system broker, and passes its choice
# on as CELERY_BROKER_URL (ims_portal/startup.py); anything else uses what it is given.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        # Created by the Celery app when it is configured (ims_portal/celery.py).
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem://")
    else {}
)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "reconcile-exports": {
        "task": "ims_portal.exports.tasks.reconcile_exports",
        "schedule": env.float("EXPORT_RECONCILE_EVERY", default=30.0),
    },
}

# The cache follows the broker's choice: Redis when the tasks go through Redis at REDIS_URL,
# else each process's own memory (a cached image list is all it holds).
CACHES = {
    "default": env.cache(
        "CACHE_URL", default=REDIS_URL if CELERY_BROKER_URL == REDIS_URL else "locmemcache://"
    ),
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # The same backend, keeping its Redis client instead of building one per call.
    CACHES["default"]["BACKEND"] = "ims_portal.redis_cache.RedisCache"
# Whether every web process sees the same cache: only then may it stand in for the database
# (a sign-out in one process must end the session in all of them).
_SHARED_CACHE = not CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache"))
# Sessions are read from the cache, written through to the database.
SESSION_ENGINE = env.str(
    "SESSION_ENGINE",
    default="django.contrib.sessions.backends." + ("cached_db" if _SHARED_CACHE else "db"),
)
# How long a signed-in user (with their roles) is reused from the cache instead of read at
# every request (0: never). Saving the user or changing their groups drops it at once
# (accounts/user_cache.py); the time bounds only changes made past Django, in SQL.
USER_CACHE_SECONDS = env.int("USER_CACHE_SECONDS", default=300 if _SHARED_CACHE else 0)


# --- The cloud ----------------------------------------------------------------------------

# The client reads its own variables (IMS_ENDPOINT, IMS_PROJECT_ID, credentials: see
# README); in development without IMS_ENDPOINT it is pointed at the simulator
# (exports/cloud_access.py). The region only names the cloud to users (the bucket hint).
IMS_REGION = env.str("IMS_REGION", default="eu-de")

# Where the clouds differ (see exports/rules.py). Unset, each takes the default of
# rules.ExportPolicy, which is Open Telekom Cloud's; the defaults live there only.
IMS_EXPORT_FAST_ONLY_FROM_GB = env.int("IMS_EXPORT_FAST_ONLY_FROM_GB", default=None)
IMS_EXPORT_MAX_GB = env.int("IMS_EXPORT_MAX_GB", default=None)
IMS_EXPORT_REFUSED_PLATFORMS = env.list("IMS_EXPORT_REFUSED_PLATFORMS", default=None)
IMS_EXPORT_NORMAL_ABOVE_FAST_LIMIT = env.bool("IMS_EXPORT_NORMAL_ABOVE_FAST_LIMIT", default=None)

# How the portal follows a job: first poll after EXPORT_POLL_FIRST seconds, growing by
# EXPORT_POLL_FACTOR up to EXPORT_POLL_MAX. A job with no visible change for
# EXPORT_STALLED_AFTER seconds is shown as stalled (and still followed).
EXPORT_POLL_FIRST = env.float("EXPORT_POLL_FIRST", default=3.0)
EXPORT_POLL_FACTOR = env.float("EXPORT_POLL_FACTOR", default=1.5)
EXPORT_POLL_MAX = env.float("EXPORT_POLL_MAX", default=60.0)
EXPORT_STALLED_AFTER = env.float("EXPORT_STALLED_AFTER", default=15 * 60.0)
EXPORT_SUBMIT_RETRIES = env.int("EXPORT_SUBMIT_RETRIES", default=5)
EXPORT_POLL_GIVE_UP_AFTER = env.int("EXPORT_POLL_GIVE_UP_AFTER", default=5)
EXPORT_SUBMITTING_TIMEOUT = env.float("EXPORT_SUBMITTING_TIMEOUT", default=10 * 60.0)
IMAGE_LIST_CACHE_SECONDS = env.int("IMAGE_LIST_CACHE_SECONDS", default=60)

# --- Audit trail --------------------------------------------------------------------------

# The addresses (or CIDR networks) of the reverse proxies in front of the portal. Only a
# request arriving from one of them has its X-Forwarded-For believed for the audit trail's
# source IP; anyone else could write that header themselves. Empty: the socket peer is the
# client. A malformed entry stops the start-up: the request middleware refuses to load and
# `manage.py check` reports audit.E001.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line names its request (or worker task) id, the one the audit events carry.
    "filters": {"request_id": {"()": "ims_portal.audit.log_filters.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"urllib3": {"level": "WARNING"}},
}
