"""Signed checkpoints of the audit trail: what one says, how they chain, how a trail is held
to them.

A checkpoint is one JSON line, signed (see `signing.py`):

    {"checkpoint": "ims-portal-audit-checkpoint/1", "seq": 7, "at": "...", "size": 1234,
     "head_id": 1290, "head_hash": "...", "prev": "<hash of checkpoint 6>", "every": 600,
     "signature": {...}}

`size` is the number of events in the trail, `head_hash` the hash of the newest of them
(the event at chain position `size`), `prev` the hash of the previous checkpoint (GENESIS
for the first), `every` the interval the portal writes them at. A checkpoint's hash is the
SHA-256 of its canonical JSON, signature included, so the checkpoints form a chain of their
own: one removed, reordered or rewritten breaks the next `prev`.

Held to the checkpoints, a trail can no longer lose its newest events or have them replaced:
the event at position `size` must still carry `head_hash`, and the trail must be at least
`size` long. Pure functions, no settings, no database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ims_portal.audit import signing
from ims_portal.audit.chain import GENESIS, canonical_json, canonical_time

FORMAT = "ims-portal-audit-checkpoint/1"
FIELDS = ("seq", "at", "size", "head_id", "head_hash", "prev", "every")
# A checkpoint older than this many intervals means checkpoints stopped being written.
STALE_AFTER_INTERVALS = 2


class CheckpointError(Exception):
    """The checkpoints themselves, or the trail held to them, fail a check."""


@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint, as written and as read back."""

    document: dict[str, Any]

    @property
    def seq(self) -> int:
        return int(self.document["seq"])

    @property
    def size(self) -> int:
        return int(self.document["size"])

    @property
    def head_hash(self) -> str:
        return str(self.document["head_hash"])

    @property
    def prev(self) -> str:
        return str(self.document["prev"])

    @property
    def every(self) -> float:
        return float(self.document["every"])

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.document["at"])

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.line().encode()).hexdigest()

    def line(self) -> str:
        """The checkpoint as its file holds it (without the newline)."""
        return canonical_json(self.document)

    def __str__(self) -> str:
        return f"checkpoint {self.seq} of {self.document['at']} (trail size {self.size})"


def make(
    key: Ed25519PrivateKey,
    previous: Checkpoint | None,
    *,
    size: int,
    head_id: int | None,
    head_hash: str,
    at: datetime,
    every: float,
) -> Checkpoint:
    """The next checkpoint after `previous` (None: the first one), signed."""
    body = {
        "checkpoint": FORMAT,
        "seq": previous.seq + 1 if previous else 1,
        "at": canonical_time(at),
        "size": size,
        "head_id": head_id,
        "head_hash": head_hash,
        "prev": previous.hash if previous else GENESIS,
        "every": every,
    }
    return Checkpoint(signing.signed(key, body))


def parse(line: str, where: str) -> Checkpoint:
    """One line of a checkpoint file; `CheckpointError` naming `where` if it is not one."""
    try:
        document = json.loads(line)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{where}: not a checkpoint (not JSON: {error.msg})") from error
    if not isinstance(document, dict) or document.get("checkpoint") != FORMAT:
        raise CheckpointError(f"{where}: not a checkpoint of format {FORMAT}")
    missing = [field for field in FIELDS if field not in document]
    if missing:
        raise CheckpointError(f"{where}: a checkpoint without {', '.join(missing)}")
    return Checkpoint(document)


def read(paths: Iterable[Path]) -> list[Checkpoint]:
    """Every checkpoint in these files (or folders of `*.jsonl` files), in sequence order.

    The same checkpoint met twice (a file given twice, a copy) counts once; two different
    checkpoints with one sequence number are a fork and refused.
    """
    found: dict[int, Checkpoint] = {}
    for path in _files(paths):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                checkpoint = parse(line, f"{path}, line {number}")
                known = found.setdefault(checkpoint.seq, checkpoint)
                if known.document != checkpoint.document:
                    raise CheckpointError(
                        f"{path}, line {number}: two different checkpoints numbered "
                        f"{checkpoint.seq}: the checkpoint chain was forked or rewritten"
                    )
    return [found[seq] for seq in sorted(found)]


def _files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.jsonl")))
        else:
            files.append(path)
    return files


def check_chain(checkpoints: list[Checkpoint], key: Ed25519PublicKey) -> None:
    """Raise `CheckpointError` at the first checkpoint that is not signed by `key`, or that
    does not follow the one before it (a gap, a reordering, a rewrite)."""
    previous: Checkpoint | None = None
    for checkpoint in checkpoints:
        try:
            signing.check(key, checkpoint.document)
        except signing.BadSignature as error:
            raise CheckpointError(f"{checkpoint}: bad signature: {error}") from error
        if previous is None:
            if checkpoint.seq == 1 and checkpoint.prev != GENESIS:
                raise CheckpointError(f"{checkpoint}: the first checkpoint names a predecessor")
        elif checkpoint.seq != previous.seq + 1:
            raise CheckpointError(
                f"gap in the checkpoint chain: {previous} is followed by {checkpoint}; "
                f"checkpoints {previous.seq + 1} to {checkpoint.seq - 1} are missing"
            )
        elif checkpoint.prev != previous.hash:
            raise CheckpointError(
                f"{checkpoint} does not follow {previous}: it names a different "
                "predecessor, so one of them was rewritten"
            )
        elif checkpoint.size < previous.size:
            raise CheckpointError(
                f"{checkpoint} records a smaller trail than {previous}: the trail lost events "
                "between them"
            )
        previous = checkpoint


def staleness(newest: Checkpoint, now: datetime) -> str | None:
    """Why the newest checkpoint is too old at `now`, or None."""
    age = (now - newest.at).total_seconds()
    if age > STALE_AFTER_INTERVALS * newest.every:
        return (
            f"the newest checkpoint ({newest}) is {age:.0f} s old, more than "
            f"{STALE_AFTER_INTERVALS} times its interval of {newest.every:.0f} s: checkpoints "
            "stopped being written, or the newest ones were removed"
        )
    return None


class Anchors:
    """Holds a walk along the chain to the checkpoints: feed it each event's position and
    hash in chain order with `see()`, then call `end()`. Constant work per event."""

    def __init__(self, checkpoints: Iterable[Checkpoint], start: int = 1) -> None:
        # Only those that name an event from `start` on can be held to this walk.
        self.pending = sorted(
            (c for c in checkpoints if c.size >= start and c.size > 0), key=lambda c: c.size
        )
        self.matched = 0

    def see(self, position: int, event_hash: str) -> None:
        """The event at chain `position` has `event_hash`; `CheckpointError` if a checkpoint
        says otherwise."""
        while self.pending and self.pending[0].size == position:
            checkpoint = self.pending.pop(0)
            if checkpoint.head_hash != event_hash:
                raise CheckpointError(
                    f"the event at chain position {position} has hash {event_hash[:16]}…, but "
                    f"{checkpoint} recorded {checkpoint.head_hash[:16]}… there: the newest "
                    "events were replaced after that checkpoint"
                )
            self.matched += 1

    def end(self, length: int, what: str = "the trail") -> None:
        """The walk ended after `length` events; `CheckpointError` if a checkpoint saw more."""
        if self.pending:
            longest = self.pending[-1]
            raise CheckpointError(
                f"{what} has {length} events, but {longest} recorded {longest.size}: "
                f"{longest.size - length} event(s) removed from its end"
            )
