"""A malformed TRUSTED_PROXIES entry stops the start-up loudly, where the setting is used."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse

from ims_portal.audit.middleware import RequestOriginMiddleware
from tests.startup.helpers import bare_env, run_python

MALFORMED = ["10.0.0.0/8", "not-an-address"]


def test_the_system_checks_report_a_malformed_entry(settings):
    settings.TRUSTED_PROXIES = MALFORMED
    errors = [message for message in run_checks() if message.id == "audit.E001"]
    assert len(errors) == 1 and "not-an-address" in errors[0].msg
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1"]
    assert "audit.E001" not in {message.id for message in run_checks()}


def test_the_request_middleware_refuses_to_load_with_a_malformed_entry(settings):
    settings.TRUSTED_PROXIES = MALFORMED
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        RequestOriginMiddleware(lambda request: HttpResponse())


@pytest.mark.parametrize(
    "start",
    [
        "import ims_portal.wsgi",  # what gunicorn and runserver load
        "from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check'])",
    ],
)
def test_a_malformed_entry_stops_the_web_process_and_the_checks(start):
    env = bare_env(
        DJANGO_SETTINGS_MODULE="ims_portal.settings",
        SECRET_KEY="x",
        DATABASE_URL="sqlite:///:memory:",
        TRUSTED_PROXIES="10.0.0.0/8,not-an-address",
    )
    result = run_python(start, env)
    assert result.returncode != 0
    assert "TRUSTED_PROXIES" in result.stderr and "not-an-address" in result.stderr
