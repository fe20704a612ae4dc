"""`ims-portal` against a running portal: the live server, a real Celery worker and the
simulator, the command run as its own process, as a person or a script runs it."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ims_portal.api import tokens
from ims_portal.api.models import Scope
from ims_portal.cli.exit_codes import Exit
from ims_portal.exports.models import Export, Status
from ims_portal.simulator import seed

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

COMMAND = [sys.executable, "-m", "ims_portal.cli"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(live_server, cloud, alice, tmp_path):
    """The environment of a shell whose user made a token for the live portal."""
    secret = tokens.issue(alice, "cli tests", Scope.EXPORT, 7).secret
    return {
        "PATH": os.environ.get("PATH", ""),
        "IMS_PORTAL_URL": live_server.url,
        "IMS_PORTAL_TOKEN": secret,
        "IMS_PORTAL_CONFIG": str(tmp_path / "none.toml"),
        "PYTHONPATH": str(ROOT),
    }


def run(env, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def file_name() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}.qcow2"


def test_export_with_wait_follows_to_succeeded_in_plain_lines(cli_env, celery_worker_process):
    name = file_name()
    done = run(
        cli_env,
        "export", "web-frontend-centos7-2025-01",  # by its name
        "--bucket", "ims-exports", "--file", name, "--format", "qcow2", "--wait", "--interval", "0.3",
    )  # fmt: skip
    assert done.returncode == Exit.OK, done.stderr
    lines = done.stdout.splitlines()
    export = Export.objects.get()
    assert lines[0] == f"export #{export.pk}: ims-exports:{name} requested"
    assert lines[-1].startswith(f"export #{export.pk}: succeeded")
    assert export.status == Status.SUCCEEDED and export.image_id == seed.SMALL_CENTOS
    assert "\x1b[" not in done.stdout  # not a terminal: no escape codes

    status = run(cli_env, "status", str(export.pk))
    assert status.returncode == Exit.OK
    assert f"ims-exports:{name}" in status.stdout
    listed = run(cli_env, "history", "--status", "succeeded", "--json")
    assert listed.returncode == Exit.OK
    assert [row["id"] for row in json.loads(listed.stdout)["results"]] == [export.pk]


def test_export_with_wait_draws_a_progress_bar_on_a_terminal(cli_env, celery_worker_process):
    args = [
        *COMMAND, "export", seed.SMALL_CENTOS,
        "--bucket", "ims-exports", "--file", file_name(), "--fast", "--wait", "--interval", "0.3",
    ]  # fmt: skip
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        args, env={**cli_env, "TERM": "xterm", "COLUMNS": "100"}, cwd=ROOT,
        stdin=follower, stdout=follower, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(10) == Exit.OK, screen.decode(errors="replace")
    text = screen.decode(errors="replace")
    assert "━" in text  # rich's bar
    assert "100%" in text
    assert "succeeded" in text


def test_an_export_whose_job_fails_exits_failed(cli_env, celery_worker_process):
    done = run(
        cli_env, "export", seed.FAILS_DURING_EXPORT, "--bucket", "ims-exports",
        "--file", file_name(), "--format", "qcow2", "--wait", "--interval", "0.3",
    )  # fmt: skip
    assert done.returncode == Exit.FAILED, done.stdout + done.stderr
    assert "failed" in done.stdout.splitlines()[-1]


def test_an_export_the_rules_refuse_exits_rejected_and_says_why(cli_env):
    done = run(
        cli_env,
        "export",
        seed.FULL_ECS,
        "--bucket",
        "ims-exports",
        "--file",
        file_name(),
        "--format",
        "qcow2",
    )
    assert done.returncode == Exit.REJECTED
    assert "image: Full-ECS images cannot be exported." in done.stderr
    assert Export.objects.count() == 0


def test_images_lists_the_exportable_ones(cli_env):
    done = run(cli_env, "images", "--exportable")
    assert done.returncode == Exit.OK
    assert seed.SMALL_CENTOS in done.stdout and seed.FULL_ECS not in done.stdout


def test_usage_and_portal_errors_have_their_own_exit_codes(cli_env, bob, make_export):
    both = run(
        cli_env, "export", "x", "--bucket", "b", "--file", "f", "--format", "qcow2", "--fast"
    )
    assert both.returncode == Exit.USAGE
    no_token = run({**cli_env, "IMS_PORTAL_TOKEN": ""}, "images")
    assert no_token.returncode == Exit.USAGE and "IMS_PORTAL_TOKEN" in no_token.stderr
    bad_token = run({**cli_env, "IMS_PORTAL_TOKEN": "imsp_nope"}, "images")
    assert bad_token.returncode == Exit.PORTAL_ERROR and "401" in bad_token.stderr
    someone_elses = make_export(bob)
    assert run(cli_env, "status", str(someone_elses.pk)).returncode == Exit.PORTAL_ERROR
    unreachable = run({**cli_env, "IMS_PORTAL_URL": "http://127.0.0.1:9"}, "images")
    assert unreachable.returncode == Exit.PORTAL_ERROR


def test_the_token_can_come_from_the_config_file(cli_env, tmp_path, make_export, alice):
    queued = make_export(alice)
    config = tmp_path / "config.toml"
    config.write_text(
        f'url = "{cli_env["IMS_PORTAL_URL"]}"\ntoken = "{cli_env["IMS_PORTAL_TOKEN"]}"\n'
    )
    env = {key: value for key, value in cli_env.items() if not key.startswith("IMS_PORTAL_")}
    done = run({**env, "IMS_PORTAL_CONFIG": str(config)}, "status", str(queued.pk))
    assert done.returncode == Exit.IN_FLIGHT, done.stderr
    assert "queued" in done.stdout
