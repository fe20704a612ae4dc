"""The command-line client imports nothing of Django or of the rest of the portal: it only
talks HTTP to the API, and installs and runs on a machine that has no portal settings."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import ims_portal.cli.main
loaded = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {"django", "rest_framework", "celery"}
    or (name.startswith("ims_portal.") and not name.startswith("ims_portal.cli"))
)
print(json.dumps(loaded))
"""


def test_the_cli_loads_no_django_and_no_portal_module():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env={}
    )
    assert json.loads(result.stdout) == []


def test_the_probe_would_see_a_django_import():
    # The same probe, with Django imported on purpose: the guard is not blind.
    probe = "import django.conf\n" + PROBE
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert "django.conf" in json.loads(result.stdout)
