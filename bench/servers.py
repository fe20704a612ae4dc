"""The servers a benchmark starts: free loopback ports, the Procfile's commands (a benchmark
runs what production runs), and gunicorn started and waited for."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from scratch import ROOT  # bench/ is the script's folder

READY_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile() -> dict[str, str]:
    """The Procfile's commands by name."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def procfile_web() -> tuple[str, list[str]]:
    """The application and gunicorn options of the Procfile's web line (not its --bind)."""
    words = procfile()["web"].split()[1:]  # after the gunicorn command
    app, options = words[0], words[1:]
    if "--bind" in options:
        at = options.index("--bind")
        del options[at : at + 2]
    return app, options


def wait_for_port(port: int, process: subprocess.Popen, what: str, log: Path | None = None) -> None:
    """Return once `port` accepts connections; fail if `process` exits or it takes too long."""
    said = (lambda: log.read_text()[-2000:]) if log else (lambda: "")
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {said()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{what} did not listen on {port}: {said()}")


def start_gunicorn(app: str, options: list[str], port: int, chdir: Path) -> subprocess.Popen:
    """gunicorn serving `app` from `chdir` on `port`, in a process group of its own, once it
    listens."""
    command = [
        str(ROOT / ".venv/bin/gunicorn"), app, "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning", *options, "--chdir", str(chdir),
    ]  # fmt: skip
    process = subprocess.Popen(command, env=os.environ.copy(), start_new_session=True)
    wait_for_port(port, process, f"gunicorn {app}")
    return process
