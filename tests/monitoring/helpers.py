"""Reading a Prometheus scrape, and the processes the monitoring tests start."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]

type Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(exposition: str) -> Samples:
    """Every sample of a scrape, keyed by (sample name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(scraped: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the scrape has none (a counter not yet incremented)."""
    return scraped.get((name, frozenset(labels.items())), 0.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def redis_server(log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Redis of the test's own on a free port (nothing saved), stopped afterwards."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    process.port = port  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"redis-server did not start: {log.read_text()[-1000:]}")
        yield process
    finally:
        stop(process)


@contextmanager
def web_process(env: Mapping[str, str], log: Path) -> Iterator[str]:
    """The web app under gunicorn, as `make run` starts it; yields its base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "ims_portal.wsgi",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=dict(env), stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"web exited: {log.read_text()[-2000:]}")
            try:
                # The first request also loads Django in the worker: give it time.
                requests.get(f"{url}/healthz", timeout=10)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"web did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield url
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
