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
    # Django's form templates, for the project's template engine (FORM_RENDERER below).
    "django.forms",
    "django_htmx",
    "django_ratelimit",
    "rest_framework",
    "drf_spectacular",
    "ims_portal.accounts",
    "ims_portal.exports",
    "ims_portal.audit",
    "ims_portal.api",
    "ims_portal.monitoring",
    "ims_portal.notifications",
]

MIDDLEWARE = [
    # First, so that every later middleware's log lines carry the request id.
    "ims_portal.audit.middleware.RequestOriginMiddleware",
    # Then the access log (under the request id), and the probes and metrics, answered
    # before sessions, sign-in and the host check (monitoring/middleware.py).
    "ims_portal.monitoring.access_log.AccessLogMiddleware",
    "ims_portal.monitoring.middleware.OperationsMiddleware",
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
    # Turns a refused rate limit into the 429 page (RATELIMIT_VIEW).
    "django_ratelimit.middleware.RatelimitMiddleware",
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

# Forms render with the project's templates, so that templates/django/forms/ can stand in
# for one of Django's own (the menus: templates/django/forms/widgets/select.html).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

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

# Under ASGI (the web server: asgi.py) each request's code runs in a thread made for that
# request, so a persistent connection outlives its thread, is never used again and piles up
# until the garbage collector closes it. There connections come from a pool in each process
# instead (psycopg_pool, at most DATABASE_POOL_SIZE, checked before each use), which asgi.py
# turns on; WSGI, the worker and commands keep the persistent connections above.
DATABASE_POOL = env.bool("DATABASE_POOL", default=False)
if _POSTGRESQL and DATABASE_POOL:
    from psycopg_pool import ConnectionPool

    DATABASES["default"]["CONN_MAX_AGE"] = 0  # what the pool requires: it keeps them
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_SIZE", default=10),
        "timeout": 10.0,
        "check": ConnectionPool.check_connection,
    }

# In production the portal connects as a role that may only use the tables (DATABASE_URL),
# and migrations run as the role that owns them (DATABASE_MIGRATE_URL): `manage.py migrate`
# connects through this alias when it is there, then grants the portal's role its rights
# (audit/management/commands/migrate.py; README, production set-up).
MIGRATE_DATABASE = "migrate"
if env.str("DATABASE_MIGRATE_URL", default=""):
    DATABASES[MIGRATE_DATABASE] = env.db("DATABASE_MIGRATE_URL")
    DATABASES[MIGRATE_DATABASE]["TEST"] = {"MIRROR": "default"}

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


# --- HTTPS behind a reverse proxy -----------------------------------------------------------

# Production defaults are the strict ones `manage.py check --deploy` asks for; development
# (DEBUG on, plain http://127.0.0.1) turns them off. HSTS is sent on HTTPS answers only.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# `preload` in the header only consents to the browsers' preload list; getting on it is a
# separate submission by the owner of the registrable domain.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# The header (as a META key) and value by which the TLS-terminating proxy says the browser
# used HTTPS. Believed only from TRUSTED_PROXIES: the request middleware drops it from
# anyone else (audit/middleware.py), who could otherwise pass plain HTTP off as HTTPS.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=["HTTP_X_FORWARDED_PROTO", "https"])
if len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be a header and its value, e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header[0], _proxy_ssl_header[1])
# Origins (scheme://host) that may POST to the portal besides its own, e.g. when the proxy
# rewrites the Host header.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])


# --- Rate limits (django-ratelimit) ---------------------------------------------------------

# Per user: export requests; per account name and per source address: password sign-ins
# (the development form and the break-glass /admin/ one). "N/s", "N/m", "N/h" or "N/d".
EXPORT_RATE_LIMIT = env.str("EXPORT_RATE_LIMIT", default="20/m")
SIGN_IN_RATE_LIMIT = env.str("SIGN_IN_RATE_LIMIT", default="10/m")
RATELIMIT_VIEW = "ims_portal.rate_limits.too_many_requests"
# The counters live in the cache. Should it be down, requests are let through rather than
# every sign-in and export refused: an outage of the cache never costs an answer.
RATELIMIT_FAIL_OPEN = True
# The client's address as the audit trail has it (TRUSTED_PROXIES decides), not the proxy's.
RATELIMIT_IP_META_KEY = "ims_portal.audit.middleware.client_ip_of"


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
# How long the broker and the cache may take to answer a connect or a command: a Redis that
# is down costs a page or a task this much, never a hang.
REDIS_TIMEOUT = env.float("REDIS_TIMEOUT", default=2.0)
# A message a worker took but never acknowledged (the worker died) goes back to the queue
# after this long. Longer than any countdown a message waits out in a worker (a poll at most
# EXPORT_POLL_MAX, a submit's back-off about a minute) plus the task's hard time limit, or a
# live worker's message would be handed out twice (harmless, each task being a
# compare-and-swap, but wasted). The reconciler is faster still for a dead worker's exports.
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
BROKER_VISIBILITY_TIMEOUT = env.float(
    "BROKER_VISIBILITY_TIMEOUT", default=2 * CELERY_TASK_TIME_LIMIT
)
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
    else {
        "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
        "socket_connect_timeout": REDIS_TIMEOUT,
        # Not for the worker's blocking read (kombu times that one itself): for a publish to
        # a Redis that vanished without closing the connection.
        "socket_timeout": max(REDIS_TIMEOUT, 10.0),
        "socket_keepalive": True,
        "retry_on_timeout": True,
        "health_check_interval": 10,
    }
)
# A worker outlives a broker restart: it reconnects by itself, however long Redis is away
# (kombu waits 2 s, then 4, 6... at most 30 s between attempts), rather than exiting after
# 100 tries.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT
# On a lost connection a running task is left to finish, not cancelled: cancelling kills the
# process, and a submit killed while its POST is on the wire leaves its outcome unknown.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A web request that finds the broker down tries briefly and moves on: the export is saved
# as waiting for the work queue and sent by `send_waiting_exports` once it is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# The default queue's name; the submit queue is named after it (ims_portal/celery.py), and
# `celery worker --work all|submit|follow` picks which of the two a worker takes.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ROUTES = ("ims_portal.celery.route_task",)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# One message taken ahead per process: a worker that dies holds few that others could run.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "reconcile-exports": {
        "task": "ims_portal.exports.tasks.reconcile_exports",
        "schedule": env.float("EXPORT_RECONCILE_EVERY", default=30.0),
    },
    # Exports saved while the broker was down: sent within seconds of its return.
    "send-waiting-exports": {
        "task": "ims_portal.exports.tasks.send_waiting_exports",
        "schedule": env.float("EXPORT_QUEUE_RETRY_EVERY", default=5.0),
    },
    "send-due-notifications": {
        "task": "ims_portal.notifications.tasks.send_due",
        "schedule": env.float("NOTIFY_SWEEP_EVERY", default=30.0),
    },
}

# Export pages are told of each change as it commits (Server-Sent Events over ASGI, fed by
# Redis pub/sub at REDIS_URL: exports/push.py) when the tasks go through that Redis; polling
# stays the fallback either way. A heartbeat every EXPORT_PUSH_HEARTBEAT seconds keeps idle
# streams open through proxies; a stream ends after EXPORT_PUSH_MAX_AGE seconds and the
# browser reconnects, which re-checks access and renders the current state.
EXPORT_PUSH = env.bool("EXPORT_PUSH", default=CELERY_BROKER_URL == REDIS_URL)
EXPORT_PUSH_HEARTBEAT = env.float("EXPORT_PUSH_HEARTBEAT", default=15.0)
EXPORT_PUSH_MAX_AGE = env.float("EXPORT_PUSH_MAX_AGE", default=10 * 60.0)

# The cache follows the broker's choice: Redis when the tasks go through Redis at REDIS_URL,
# else each process's own memory (it holds the image list and the rate-limit counters).
CACHES = {
    "default": env.cache(
        "CACHE_URL", default=REDIS_URL if CELERY_BROKER_URL == REDIS_URL else "locmemcache://"
    ),
}
if CACHES["default"]["LOCATION"] and str(CACHES["default"]["BACKEND"]).endswith(".RedisCache"):
    # django-redis, whatever django-environ picked: a Redis that is down or slow is a cache
    # miss (each page reads from the source), logged once a minute, never an error page.
    CACHES["default"]["BACKEND"] = "django_redis.cache.RedisCache"
    CACHES["default"]["OPTIONS"] = {
        **CACHES["default"].get("OPTIONS", {}),
        "IGNORE_EXCEPTIONS": True,
        "SOCKET_CONNECT_TIMEOUT": REDIS_TIMEOUT,
        "SOCKET_TIMEOUT": REDIS_TIMEOUT,
    }
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "ims_portal.cache"
if DEBUG and CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    # The development run without Redis: each process counts its own rate limits. Outside
    # development django-ratelimit's check stays on and refuses such a cache.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]
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
# (exports/cloud_access.py). The region is the images' (where the client does not name its
# own): the bucket hint, and the region a bucket must be in to take an export.
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
# The batched poller (exports/poller.py): how many chains poll at once, how many rows one
# round claims, and how many threads of a worker process poll them.
EXPORT_POLL_CHAINS = env.int("EXPORT_POLL_CHAINS", default=4)
EXPORT_POLL_BATCH = env.int("EXPORT_POLL_BATCH", default=50)
EXPORT_POLL_THREADS = env.int("EXPORT_POLL_THREADS", default=8)
# Unset: as long as the cloud client can take to send one export POST and hear back
# (its timeouts, see `tasks.submitting_timeout`), plus a margin.
EXPORT_SUBMITTING_TIMEOUT = env.float("EXPORT_SUBMITTING_TIMEOUT", default=None)
IMAGE_LIST_CACHE_SECONDS = env.int("IMAGE_LIST_CACHE_SECONDS", default=60)
BUCKET_LIST_CACHE_SECONDS = env.int("BUCKET_LIST_CACHE_SECONDS", default=30)
# The proof of a succeeded export (exports/verification.py): a missing or empty object is
# checked EXPORT_VERIFY_TRIES times, EXPORT_VERIFY_DELAY seconds apart at first and doubling,
# before the export is marked "object not found"; while OBS cannot be reached the check is
# tried again every EXPORT_VERIFY_RETRY_AFTER seconds, EXPORT_VERIFY_UNREACHABLE_TRIES times.
EXPORT_VERIFY_TRIES = env.int("EXPORT_VERIFY_TRIES", default=4)
EXPORT_VERIFY_DELAY = env.float("EXPORT_VERIFY_DELAY", default=5.0)
EXPORT_VERIFY_RETRY_AFTER = env.float("EXPORT_VERIFY_RETRY_AFTER", default=300.0)
EXPORT_VERIFY_UNREACHABLE_TRIES = env.int("EXPORT_VERIFY_UNREACHABLE_TRIES", default=12)

# --- Notifications ------------------------------------------------------------------------

# The portal's address as users reach it: the links in e-mails and webhook payloads. Empty
# (production without it): the links are paths only, and `manage.py check` warns.
PORTAL_URL = env.str(
    "PORTAL_URL",
    default=f"http://127.0.0.1:{env.str('WEB_PORT', default='8000')}" if DEBUG else "",
)
# Django's mail framework (its MAILERS setting), from the variables operators know: the
# console in development (each mail is printed in the log), SMTP otherwise, at
# EMAIL_HOST:EMAIL_PORT. Only the SMTP backend takes the connection options.
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
_mail_backend = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend" if DEBUG else SMTP_BACKEND,
)
MAILERS = {
    "default": {
        "BACKEND": _mail_backend,
        "OPTIONS": {
            "host": env.str("EMAIL_HOST", default="localhost"),
            "port": env.int("EMAIL_PORT", default=25),
            "username": env.str("EMAIL_HOST_USER", default=""),
            "password": secret("EMAIL_HOST_PASSWORD", default="") or "",
            "use_tls": env.bool("EMAIL_USE_TLS", default=False),  # STARTTLS, usually port 587
            "use_ssl": env.bool("EMAIL_USE_SSL", default=False),  # TLS from the start, 465
            "timeout": env.float("EMAIL_TIMEOUT", default=10.0),
        }
        if _mail_backend == SMTP_BACKEND
        else {},
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="IMS Export Portal <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Webhooks go to public addresses only (notifications/targets.py); true lets them reach
# private, loopback and link-local ones too, for receivers inside the company network.
NOTIFY_WEBHOOK_ALLOW_PRIVATE = env.bool("NOTIFY_WEBHOOK_ALLOW_PRIVATE", default=False)
NOTIFY_WEBHOOK_TIMEOUT = env.float("NOTIFY_WEBHOOK_TIMEOUT", default=10.0)
# A failed attempt is retried after NOTIFY_RETRY_FIRST seconds, doubling up to
# NOTIFY_RETRY_MAX, until NOTIFY_MAX_ATTEMPTS attempts in all.
NOTIFY_RETRY_FIRST = env.float("NOTIFY_RETRY_FIRST", default=30.0)
NOTIFY_RETRY_MAX = env.float("NOTIFY_RETRY_MAX", default=3600.0)
NOTIFY_MAX_ATTEMPTS = env.int("NOTIFY_MAX_ATTEMPTS", default=8)
# A pending delivery this many seconds past due had its message lost: the sweep resends it.
NOTIFY_SWEEP_GRACE = env.float("NOTIFY_SWEEP_GRACE", default=60.0)

# --- REST API -------------------------------------------------------------------------------

# The API (ims_portal/api/) answers JSON only, and every error as RFC 9457 problem details.
# A script signs in with a personal token (`Authorization: Bearer ...`); the portal's own
# pages may use the signed-in session, with its CSRF token on unsafe methods.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "ims_portal.api.authentication.BearerTokenAuthentication",
        "ims_portal.api.authentication.PortalSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["ims_portal.api.permissions.PortalAccess"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ims_portal.api.problems.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IMS Export Portal API",
    "DESCRIPTION": "Export private cloud images to OBS buckets, follow them, and read the "
    "audit trail: the same rules, access checks and audit trail as the portal's pages.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
}
# The longest a personal API token may live, in days (a person picks up to this; 90 by default).
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)

# --- Audit trail --------------------------------------------------------------------------

# The addresses (or CIDR networks) of the reverse proxies in front of the portal. Only a
# request arriving from one of them has its X-Forwarded-For believed for the audit trail's
# source IP; anyone else could write that header themselves. Empty: the socket peer is the
# client. A malformed entry stops the start-up: the request middleware refuses to load and
# `manage.py check` reports audit.E001.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# Signed checkpoints of the trail (audit/checkpoints.py): the Ed25519 key that signs them and
# the exports, from a PEM file or the PEM text itself (`manage.py audit_keygen` makes one;
# `make run` makes one under var/). Read when first used, never here.
AUDIT_SIGNING_KEY_FILE = env.str("AUDIT_SIGNING_KEY_FILE", default="")
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY", default="", multiline=True)
# Every AUDIT_CHECKPOINT_EVERY seconds (also when nothing happened) a checkpoint is appended
# to the file at AUDIT_CHECKPOINT_PATH, which is renamed aside (rotated) once it holds
# AUDIT_CHECKPOINT_ROTATE_BYTES; with AUDIT_CHECKPOINT_SYSLOG=host:port each one is also
# sent to that syslog collector over TCP.
AUDIT_CHECKPOINT_EVERY = env.int("AUDIT_CHECKPOINT_EVERY", default=600)
AUDIT_CHECKPOINT_PATH = env.str(
    "AUDIT_CHECKPOINT_PATH", default=str(VAR_DIR / "audit-checkpoints.jsonl")
)
AUDIT_CHECKPOINT_ROTATE_BYTES = env.int("AUDIT_CHECKPOINT_ROTATE_BYTES", default=10_000_000)
AUDIT_CHECKPOINT_SYSLOG = env.str("AUDIT_CHECKPOINT_SYSLOG", default="")
# How many days audit events stay in the database before `manage.py audit_archive` (run from
# cron, as the tables' owner) moves them to a signed archive file. Unset: they stay online
# forever and the command archives only what `--before` names.
AUDIT_ONLINE_DAYS = env.int("AUDIT_ONLINE_DAYS", default=None)
# Beat's entry for the checkpoints, kept here with the audit settings rather than in the
# broker section above.
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {
    "task": "ims_portal.audit.tasks.write_checkpoint",
    "schedule": float(AUDIT_CHECKPOINT_EVERY),
}

# --- Operations: probes, metrics, logs (README, "Monitoring") -----------------------------

# /metrics answers a scraper that sends `Authorization: Bearer <METRICS_TOKEN>`, or one
# whose address is in METRICS_ALLOWED_NETWORKS (the client address as the audit trail sees
# it, so TRUSTED_PROXIES applies); with neither set it answers nobody. In development the
# machine itself may scrape. Where the processes' metrics meet (PROMETHEUS_MULTIPROC_DIR)
# is read by prometheus_client itself, from the environment `bin/run` gives each process.
METRICS_TOKEN = secret("METRICS_TOKEN", default="") or ""
METRICS_ALLOWED_NETWORKS = env.list(
    "METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"] if DEBUG else []
)
# Seconds each /readyz check may take; whether an unreachable cloud makes it say 503.
READINESS_TIMEOUT = env.float("READINESS_TIMEOUT", default=2.0)
READINESS_REQUIRES_CLOUD = env.bool("READINESS_REQUIRES_CLOUD", default=False)

# `plain` (a line for people) or `json` (an object per line for a log pipeline).
LOG_FORMATS = ("plain", "json")
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line names its request (or worker task) id, the one the audit events carry.
    "filters": {
        "request_id": {"()": "ims_portal.audit.log_filters.RequestIdFilter"},
        "once_a_minute": {"()": "ims_portal.audit.log_filters.OnceAMinuteFilter"},
        "routine_tasks": {"()": "ims_portal.audit.log_filters.RoutineTaskFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "ims_portal.monitoring.log_format.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "routine_tasks"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "urllib3": {"level": "WARNING"},
        # A cache outage: one line a minute, not one traceback per request.
        "ims_portal.cache": {
            "handlers": ["console"],
            "filters": ["once_a_minute"],
            "propagate": False,
        },
    },
}
