"""Where checkpoints go: an append-only file (rotated, never rewritten), and optionally a
syslog collector over TCP (a SIEM), which the portal's database role cannot reach back into.

The file: each checkpoint is appended as one line with O_APPEND and fsync'd; nothing is ever
written anywhere else in it. When it has reached the rotation size it is renamed, as a
whole, to `<stem>.<seq of its last checkpoint>.jsonl` next to it, and a new one begins; the
checkpoint chain runs on across the files (the new file's first checkpoint names the hash
of the old file's last). Writers (beat's task, `manage.py audit_checkpoint`) take a lock
file, so two never claim the same predecessor.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ims_portal.audit.checkpoints import Checkpoint, parse

TAIL_BYTES = 16_384  # read from the end of a file to find its last line
# RFC 5424 priority: facility 13 (log audit) times 8 + severity 6 (informational).
SYSLOG_PRIORITY = 13 * 8 + 6
SYSLOG_TIMEOUT = 5.0


class FileSink:
    """The checkpoint file at `path` and its rotated predecessors."""

    def __init__(self, path: Path | str, rotate_bytes: int) -> None:
        self.path = Path(path)
        self.rotate_bytes = rotate_bytes

    def rotated(self) -> list[Path]:
        """The rotated files, oldest first (their names sort by sequence number)."""
        return sorted(self.path.parent.glob(f"{self.path.stem}.*{self.path.suffix}"))

    def files(self) -> list[Path]:
        """Every file of the sink, oldest first."""
        current = [self.path] if self.path.exists() else []
        return [*self.rotated(), *current]

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the writers' lock (a separate file: the checkpoint file itself gets renamed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def last(self) -> Checkpoint | None:
        """The newest checkpoint written, None before the first."""
        for path in reversed(self.files()):
            line = _last_line(path)
            if line:
                return parse(line, f"{path}, last line")
        return None

    def append(self, checkpoint: Checkpoint) -> None:
        """Add one checkpoint, rotating first if the file is full. Call under `locked()`."""
        if self.path.exists() and self.path.stat().st_size >= self.rotate_bytes:
            previous = self.last()
            seq = previous.seq if previous else 0
            self.path.rename(self.path.with_name(f"{self.path.stem}.{seq:09d}{self.path.suffix}"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = (checkpoint.line() + "\n").encode()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            written = os.write(descriptor, data)
            if written != len(data):
                raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _last_line(path: Path) -> str:
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - TAIL_BYTES))
        lines = [line for line in handle.read().splitlines() if line.strip()]
    return lines[-1].decode() if lines else ""


def send_syslog(address: str, checkpoint: Checkpoint, timeout: float = SYSLOG_TIMEOUT) -> None:
    """Send one checkpoint to a syslog collector at `host:port` over TCP (RFC 5424 message,
    RFC 6587 octet-counted framing). OSError if it cannot be delivered."""
    host, _, port = address.rpartition(":")
    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
    message = (
        f"<{SYSLOG_PRIORITY}>1 {stamp} {socket.gethostname()} ims-portal - audit-checkpoint - "
        f"{checkpoint.line()}"
    ).encode()
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as connection:
        connection.sendall(f"{len(message)} ".encode() + message)
