"""Following an export until it ends: a live progress bar on a terminal (rich), plain lines
(one per change) otherwise, so a log or a CI job reads well too."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

Fetch = Callable[[], dict[str, Any]]


def describe(export: dict[str, Any]) -> str:
    """One line of where an export stands, in the page's words."""
    progress = export.get("progress") or {}
    parts = [f"export #{export['id']}: {export['status_label'].lower()}"]
    if progress.get("percent") is not None and export.get("in_flight"):
        parts.append(f"{progress['percent']}%")
    if export.get("in_flight") and progress.get("remaining_text"):
        parts.append(progress["remaining_text"])
    if progress.get("stalled"):
        parts.append("no change for a while")
    line = ", ".join(parts)
    error = export.get("error") or {}
    if not export.get("in_flight") and error.get("message"):
        line += f" — {error['message']}"
    return line


def follow(fetch: Fetch, interval: float, out: TextIO | None = None) -> dict[str, Any]:
    """Ask `fetch` for the export every `interval` seconds until it has ended; show it."""
    out = out or sys.stdout
    if out.isatty():
        return _with_bar(fetch, interval, out)
    return _with_lines(fetch, interval, out)


def _with_lines(fetch: Fetch, interval: float, out: TextIO) -> dict[str, Any]:
    said = ""
    while True:
        export = fetch()
        line = describe(export)
        if line != said:
            print(line, file=out, flush=True)
            said = line
        if not export["in_flight"]:
            return export
        time.sleep(interval)


def _with_bar(fetch: Fetch, interval: float, out: TextIO) -> dict[str, Any]:
    console = Console(file=out)
    columns = (
        TextColumn("[bold]#{task.fields[number]}[/] {task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[left]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        export = fetch()
        task = bar.add_task(export["status_label"], total=None, number=export["id"], left="")
        while True:
            progress = export.get("progress") or {}
            percent = progress.get("percent")
            bar.update(
                task,
                description=export["status_label"],
                total=100 if percent is not None else None,
                completed=percent or 0,
                left=progress.get("remaining_text", ""),
            )
            if not export["in_flight"]:
                bar.update(task, left="")
                break
            time.sleep(interval)
            export = fetch()
    console.print(describe(export))
    return export
