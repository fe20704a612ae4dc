"""`ims_portal/settings.py` reads the environment and does nothing else."""

from __future__ import annotations

import ast
import json
import os

import pytest

from tests.startup.helpers import DEAD_REDIS, ROOT, bare_env, run_python

SETTINGS = ROOT / "ims_portal" / "settings.py"

# Runs in the subprocess: audits every event that would change the machine or reach the
# network while the settings module is imported.
IMPORT_AUDITED = """
import json, os, sys

WATCHED = {
    "socket.connect", "socket.getaddrinfo", "os.mkdir", "os.putenv", "os.unsetenv",
    "os.rename", "os.remove", "os.rmdir", "os.chmod", "os.symlink", "os.link",
    "os.truncate", "shutil.rmtree", "subprocess.Popen", "os.system",
}
WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
events = []

def audit(event, args):
    if event in WATCHED:
        events.append(f"{event} {args!r}")
    elif event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITES:
            events.append(f"open {path!r} {mode!r}")

environ_before = dict(os.environ)
sys.addaudithook(audit)
import ims_portal.settings as settings
changed = sorted(
    key for key in set(environ_before) | set(os.environ)
    if environ_before.get(key) != os.environ.get(key)
)
print(json.dumps({
    "events": events,
    "environ_changed": changed,
    "portal_modules": sorted(name for name in sys.modules if name.startswith("ims_portal")),
    "broker": settings.CELERY_BROKER_URL,
}))
"""


@pytest.fixture
def read_only_dirs(tmp_path):
    """A working directory and a var folder nobody may write to (root still can: the test
    looks at what is in them afterwards, too)."""
    cwd, var = tmp_path / "cwd", tmp_path / "var"
    for folder in (cwd, var):
        folder.mkdir()
        folder.chmod(0o555)
    yield cwd, var
    for folder in (cwd, var):
        folder.chmod(0o755)


@pytest.mark.parametrize("debug", ["true", "false"])
def test_importing_the_settings_touches_nothing(read_only_dirs, debug):
    cwd, var = read_only_dirs
    env = bare_env(DEBUG=debug, SECRET_KEY="x", REDIS_URL=DEAD_REDIS, IMS_VAR_DIR=str(var))

    result = run_python(IMPORT_AUDITED, env, cwd=cwd)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["events"] == []
    assert report["environ_changed"] == []
    assert report["portal_modules"] == ["ims_portal", "ims_portal.settings"]
    # No probe, so no fallback either: the broker is what the environment says.
    assert report["broker"] == DEAD_REDIS
    assert os.listdir(cwd) == [] and os.listdir(var) == []


def test_the_settings_import_none_of_the_portals_modules():
    tree = ast.parse(SETTINGS.read_text())
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert imported, "the walk found no import at all"
    assert [name for name in imported if name.split(".")[0] == "ims_portal"] == []
