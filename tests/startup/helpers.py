"""Run a snippet in a fresh interpreter with an environment of our choosing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def bare_env(**env: str) -> dict[str, str]:
    """Only what an interpreter needs, plus `env`: nothing of the test session leaks in."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",  # the import system's own writes are not the settings'
        **env,
    }


def run_python(
    code: str, env: dict[str, str], cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """`python -c code` in a fresh interpreter."""
    return run(["-c", code], env, cwd)


def run_module(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m module`, as the run scripts call it."""
    return run(["-m", module], env, ROOT)


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
