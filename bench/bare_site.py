"""The baseline of the web benchmarks: a bare Django site with one view and no database.

Served by gunicorn exactly as the portal is (`gunicorn --chdir bench bare_site:application`):
Django's default middleware (what `startproject` writes), sessions in signed cookies, no
database configured at all. `GET /bare/<n>/` answers `n` bytes of HTML, so each page of the
portal is compared with a view that sends as much.
"""

from __future__ import annotations

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-not-secret",  # noqa: S106 - signs nothing anyone keeps
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    DATABASES={},
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
    ],
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    USE_TZ=True,
)
django.setup()

LINE = "<p>" + "x" * 75 + "</p>\n"  # 83 bytes, like a line of the portal's markup


def page(request: HttpRequest, size: int) -> HttpResponse:
    """`size` bytes of HTML."""
    whole, rest = divmod(size, len(LINE))
    return HttpResponse(LINE * whole + "x" * rest, content_type="text/html; charset=utf-8")


urlpatterns = [path("bare/<int:size>/", page)]
application = get_wsgi_application()
asgi_application = get_asgi_application()  # beside the portal served as ASGI
