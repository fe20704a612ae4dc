"""Every management command the README names runs as written in a development checkout, and
a setting or database that is really missing ends it with one line that names it."""

from __future__ import annotations

import subprocess

import pytest

from tests.startup.helpers import DEAD_REDIS, ROOT, bare_env, run

MANAGE = str(ROOT / "manage.py")


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python manage.py args` from a shell that has only `env` set."""
    return run([MANAGE, *args], bare_env(**env), ROOT)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def development(tmp_path) -> dict[str, str]:
    """A development checkout's environment as the README has it: DEBUG on, nothing else
    (a fresh var folder of its own, so the SQLite database starts empty)."""
    return {"DEBUG": "true", "IMS_VAR_DIR": str(tmp_path / "var"), "REDIS_URL": DEAD_REDIS}


def test_without_any_variable_a_command_names_the_missing_secret_key_in_one_line():
    result = manage("verify_audit")
    assert result.returncode == 2
    line = one_line_error(result)
    assert line.startswith("manage.py: SECRET_KEY is not set")
    assert "DEBUG=true" in line
    assert result.stdout == ""


def test_the_same_holds_for_djangos_own_commands():
    result = manage("check")
    assert result.returncode == 2
    assert "SECRET_KEY" in one_line_error(result)


def test_the_readme_commands_run_in_a_fresh_development_checkout(development, tmp_path):
    before = manage("verify_audit", **development)
    assert before.returncode == 2
    assert "run `manage.py migrate` first" in one_line_error(before)

    steps = [
        ("migrate", "--noinput"),
        ("create_demo_users",),
        ("check",),
        ("verify_audit",),
    ]
    for step in steps:
        result = manage(*step, **development)
        assert result.returncode == 0, (step, result.stderr)
        assert "Traceback" not in result.stderr, (step, result.stderr)
    assert (tmp_path / "var" / "db.sqlite3").is_file()

    superuser = manage(
        "createsuperuser",
        "--noinput",
        **development,
        DJANGO_SUPERUSER_USERNAME="root-admin",
        DJANGO_SUPERUSER_EMAIL="root@example.com",
        DJANGO_SUPERUSER_PASSWORD="a-long-break-glass-password",
    )
    assert superuser.returncode == 0, superuser.stderr
    verified = manage("verify_audit", **development)
    assert verified.returncode == 0, verified.stderr
    assert "the audit chain is unbroken" in verified.stdout


def test_an_export_file_that_is_not_there_is_one_line_not_a_traceback(development, tmp_path):
    assert manage("migrate", "--noinput", **development).returncode == 0
    result = manage("verify_audit", "--file", str(tmp_path / "missing.csv"), **development)
    assert result.returncode == 1
    assert (
        one_line_error(result)
        == f"CommandError: {tmp_path / 'missing.csv'}: No such file or directory"
    )


def test_a_database_that_does_not_answer_is_one_line_naming_it(development):
    result = manage(
        "verify_audit", **development, DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing"
    )
    assert result.returncode == 2
    line = one_line_error(result)
    assert line.startswith("manage.py: the database could not be used:")
    assert "port 1" in line


def test_traceback_still_shows_the_whole_story_when_asked_for():
    result = manage("verify_audit", "--traceback")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_the_audit_key_and_checkpoint_commands_run_in_a_development_checkout(development, tmp_path):
    key = tmp_path / "audit-signing-key.pem"
    assert manage("migrate", "--noinput", **development).returncode == 0
    made = manage("audit_keygen", "--out", str(key), **development)
    assert made.returncode == 0, made.stderr
    assert "BEGIN PUBLIC KEY" in made.stdout
    signed = {**development, "AUDIT_SIGNING_KEY_FILE": str(key)}
    written = manage("audit_checkpoint", **signed)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "var" / "audit-checkpoints.jsonl").is_file()  # the default place
    verified = manage("verify_audit", **signed)
    assert verified.returncode == 0, verified.stderr
    assert "1 checkpoints (signed, chained" in verified.stdout
    kept = manage("audit_archive", "--to", str(tmp_path / "archive"), **signed)
    assert kept.returncode == 0, kept.stderr
    assert "AUDIT_ONLINE_DAYS is not set and no --before given" in kept.stdout
    old = manage(
        "audit_archive", "--to", str(tmp_path / "archive"), "--before", "2000-01-01", **signed
    )
    assert old.returncode == 0, old.stderr
    assert "No online event before 2000-01-01T00:00:00.000000+00:00" in old.stdout
    grants = manage("audit_grants", "--role", "ims_app", **signed)
    assert grants.returncode == 1  # SQLite has no roles: said in one line
    assert "PostgreSQL's" in one_line_error(grants)


# In the development checkout's SQLite database, as `make run` has it: an export's page and
# the fragment it polls, and the paged lists, by real requests through the whole stack.
EXPORT_PAGE_ON_SQLITE = """
from django.contrib.auth import get_user_model
from django.test import Client
from ims_portal.exports.models import Export, Status
alice = get_user_model().objects.get(username="alice")
export = Export.objects.create(
    owner=alice, image_id="0b7c", image_name="web-01", image_size=2**30,
    bucket="ims-exports", object_name="web-01.qcow2", file_format="qcow2",
)
export.transition(Status.SUBMITTING)
client = Client(HTTP_HOST="localhost")
client.force_login(alice)
for path in (f"/exports/{export.pk}/", f"/exports/{export.pk}/status/"):
    first = client.get(path)
    again = client.get(path, HTTP_IF_NONE_MATCH=first.get("ETag", ""))
    print(path, first.status_code, again.status_code)
carol = Client(HTTP_HOST="localhost")
carol.force_login(get_user_model().objects.get(username="carol"))
for path in ("/exports/", "/exports/?q=web-01", "/audit/", "/audit/?q=web-01"):
    print("list", path, carol.get(path).status_code)
"""


def test_an_export_page_its_fragment_and_the_paged_lists_answer_on_sqlite(development):
    for step in (("migrate", "--noinput"), ("create_demo_users",)):
        assert manage(*step, **development).returncode == 0
    result = manage("shell", "-c", EXPORT_PAGE_ON_SQLITE, **development)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("/exports/")]
    assert lines[0].endswith(" 200 200"), result.stdout  # the page has no ETag
    assert lines[1].endswith(" 200 304"), result.stdout  # the fragment: unchanged, 304
    # The paged lists, counted and searched the way SQLite can (no empty select list).
    lists = [line for line in result.stdout.splitlines() if line.startswith("list ")]
    assert len(lists) == 4 and all(line.endswith(" 200") for line in lists), result.stdout
