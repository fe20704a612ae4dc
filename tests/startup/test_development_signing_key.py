"""`make run` makes the audit signing key of a development run, once, under var/; the
settings never do (tests/startup/test_settings_only_read.py)."""

from __future__ import annotations

import stat

from ims_portal.audit import signing
from tests.startup.helpers import DEAD_REDIS, bare_env, run_module
from tests.startup.test_broker_choice import exported


def run_startup(var, **env: str):
    return run_module(
        "ims_portal.startup", bare_env(REDIS_URL=DEAD_REDIS, IMS_VAR_DIR=str(var), **env)
    )


def test_a_development_run_without_a_key_gets_one_under_var_and_keeps_it(tmp_path):
    first = run_startup(tmp_path, DEBUG="true")
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "audit-signing-key.pem"
    assert exported(first.stdout)["AUDIT_SIGNING_KEY_FILE"] == str(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    pem = key_file.read_bytes()
    signing.load_private_pem(pem)  # a real Ed25519 key
    assert "made the audit signing key" in first.stderr

    second = run_startup(tmp_path, DEBUG="true")
    assert exported(second.stdout)["AUDIT_SIGNING_KEY_FILE"] == str(key_file)
    assert key_file.read_bytes() == pem  # the same key: earlier checkpoints still verify
    assert "made the audit signing key" not in second.stderr


def test_a_key_that_is_set_is_used_as_it_is(tmp_path):
    result = run_startup(tmp_path, DEBUG="true", AUDIT_SIGNING_KEY_FILE="/etc/portal/key.pem")
    assert "AUDIT_SIGNING_KEY_FILE" not in exported(result.stdout)
    assert list(tmp_path.iterdir()) == []


def test_production_never_gets_a_key_made_for_it(tmp_path):
    result = run_startup(tmp_path, DEBUG="false", SECRET_KEY="x", CELERY_BROKER_URL="memory://")
    assert result.returncode == 0, result.stderr
    assert "AUDIT_SIGNING_KEY_FILE" not in exported(result.stdout)
    assert list(tmp_path.iterdir()) == []
