"""Log lines: the access line of each request under its request id, and LOG_FORMAT=json,
one JSON object per line carrying the request id (the worker's are checked end to end in
test_export_observed.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.test import Client

from ims_portal.audit.log_filters import RequestIdFilter
from ims_portal.monitoring.log_format import JsonFormatter
from tests.startup.helpers import DEAD_REDIS, bare_env, run_python


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger also writes here, as the `json` format of the settings does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.django_db
def test_each_request_logs_one_access_line_under_its_request_id(json_lines):
    response = Client().get("/accounts/login/?next=/secret-search-text")
    request_id = response["X-Request-Id"]
    access = [line for line in parsed(json_lines) if line["logger"] == "ims_portal.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == request_id
    assert line["level"] == "INFO"
    assert line["message"].startswith(f"GET /accounts/login/ {response.status_code} ")
    assert "secret-search-text" not in line["message"]  # no query string in the log
    assert line["time"].endswith("Z")


def test_probes_are_logged_below_info(json_lines):
    Client().get("/healthz")
    assert not [line for line in parsed(json_lines) if line["logger"] == "ims_portal.access"]


def test_an_exception_is_kept_in_its_line(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("ims_portal.test").exception("it failed")
    (line,) = [line for line in parsed(json_lines) if line["logger"] == "ims_portal.test"]
    assert line["request_id"] == "-"  # outside any request or task
    assert "ValueError: boom" in line["exception"]


LOG_UNDER_A_REQUEST = """
import django, logging
django.setup()
from ims_portal.audit import context
with context.bound(context.Origin(request_id="req-json-0001")):
    logging.getLogger("ims_portal.demo").warning("hello %s", "there")
"""


def test_log_format_json_makes_every_line_of_a_process_an_object():
    env = bare_env(
        DJANGO_SETTINGS_MODULE="ims_portal.settings",
        DEBUG="true",
        REDIS_URL=DEAD_REDIS,
        LOG_FORMAT="json",
    )
    result = run_python(LOG_UNDER_A_REQUEST, env)
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(text) for text in result.stderr.splitlines()]
    assert line["request_id"] == "req-json-0001"
    assert line["message"] == "hello there"
    assert line["logger"] == "ims_portal.demo"


def test_an_unknown_log_format_is_refused_naming_the_setting():
    env = bare_env(DEBUG="true", REDIS_URL=DEAD_REDIS, LOG_FORMAT="xml")
    result = run_python("import ims_portal.settings", env)
    assert result.returncode != 0
    assert "LOG_FORMAT must be one of plain, json" in result.stderr
