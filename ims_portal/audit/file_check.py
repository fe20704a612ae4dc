"""Checking an exported audit file on its own: its signed metadata line, every row's hash,
and, for a complete file, that no row is missing, duplicated or out of order, and that it
agrees with the signed checkpoints.

A complete file (the whole trail, or a time range: `scope: complete`) is one unbroken run of
the chain: its metadata names the first event (chain position, id, predecessor's hash), the
last (position, id, hash) and the count, so the rows must link one to the next from the
first's predecessor to the last's hash, exactly `count` of them. A filtered file (by actor,
action...: `scope: filtered`) holds scattered events: each row is checked on its own.

Pure: no settings, no database. `manage.py verify_audit --file` adds the comparison with
the trail; `verify_offline` runs this alone, with only the public key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ims_portal.audit import chain, signing
from ims_portal.audit.checkpoints import Anchors, Checkpoint, CheckpointError, check_chain

COMPLETE = "complete"
FILTERED = "filtered"


class FileProblem(Exception):
    """The file fails a check; the message says which row and why."""


class FileCheck:
    """Feed it the rows of one file in order (`row()`), then `finish()` for the verdict."""

    def __init__(
        self,
        name: str,
        header: Mapping[str, Any],
        key: Ed25519PublicKey,
        checkpoints: list[Checkpoint] | None = None,
    ) -> None:
        self.name = name
        self.header = header
        try:
            signing.check(key, header)
        except signing.BadSignature as error:
            raise FileProblem(f"{name}: its metadata line cannot be trusted: {error}") from error
        self.scope = header.get("scope")
        if self.scope not in (COMPLETE, FILTERED):
            raise FileProblem(f"{name}: its metadata line says neither complete nor filtered")
        self.range: Mapping[str, Any] = header.get("range") or {}
        self.checkpoints = checkpoints
        if checkpoints:
            try:
                check_chain(checkpoints, key)
            except CheckpointError as error:
                raise FileProblem(f"checkpoints: {error}") from error
        self.count = 0
        self.previous: Mapping[str, Any] | None = None
        first = self.range.get("first") or {}
        self.head = first.get("prev_hash", chain.GENESIS)
        self.position = int(first.get("position", 1))
        self.anchors = Anchors(checkpoints or [], start=self.position)

    def row(self, number: int, row: Mapping[str, Any]) -> None:
        """Check one row: its content, and for a complete file its place in the run."""
        self.content(number, row)
        self.place(number, row)

    def content(self, number: int, row: Mapping[str, Any]) -> None:
        """The row's content matches its hash."""
        if chain.digest(row) != row["hash"]:
            raise FileProblem(
                f"{self.name}: row {number} (event #{row['id']}) was edited: its content does "
                "not match its hash."
            )

    def place(self, number: int, row: Mapping[str, Any]) -> None:
        """For a complete file, the row follows the one before it in the chain."""
        self.count += 1
        if self.scope != COMPLETE:
            return
        if row["prev_hash"] != self.head:
            raise FileProblem(f"{self.name}: row {number} (event #{row['id']}) {self._why(row)}.")
        try:
            self.anchors.see(self.position, row["hash"])
        except CheckpointError as error:
            raise FileProblem(f"{self.name}: row {number} (event #{row['id']}): {error}") from error
        self.head = row["hash"]
        self.previous = row
        self.position += 1

    def _why(self, row: Mapping[str, Any]) -> str:
        previous = self.previous
        if previous is None:
            return "is not the first event the metadata names: rows are missing from the start"
        if row["hash"] == previous["hash"]:
            return f"repeats the row before it (event #{previous['id']}): a row is duplicated"
        if row["id"] < previous["id"]:
            return (
                f"is older than the row before it (event #{previous['id']}): rows are "
                "duplicated or out of order"
            )
        return (
            f"does not follow the row before it (event #{previous['id']}): rows are missing "
            "or out of order between them"
        )

    def finish(self) -> list[str]:
        """The verdict: `FileProblem` if the file is short, long or not covered; else the
        lines of the report."""
        if self.scope != COMPLETE:
            return [
                f"{self.name}: a filtered export ({self.header.get('filter')}): its signed "
                f"metadata verifies and each of its {self.count} rows matches its hash; a "
                "filtered file cannot show that no row was left out."
            ]
        expected = int(self.range.get("count", 0))
        last = self.range.get("last") or {}
        if self.count != expected:
            where = "from its end" if self.count < expected else "to it"
            raise FileProblem(
                f"{self.name}: holds {self.count} rows but its signed metadata says {expected}: "
                f"rows were {'removed' if self.count < expected else 'added'} {where}."
            )
        if expected and self.head != last.get("hash"):
            raise FileProblem(
                f"{self.name}: its last row is not the last event its metadata names "
                f"(#{last.get('id')}): rows were removed from its end."
            )
        report = [
            f"{self.name}: complete: {self.count} rows, chain positions "
            f"{self.range.get('first', {}).get('position', '-')} to {last.get('position', '-')}, "
            "none missing, duplicated or out of order; its signed metadata verifies."
        ]
        if self.checkpoints is not None:
            report.append(self._held_to_checkpoints(int(last.get("position", 0))))
        return report

    def _held_to_checkpoints(self, last_position: int) -> str:
        checkpoints = self.checkpoints or []
        # The file's end in time: a checkpoint from before it saw no event the file lacks.
        exported = datetime.fromisoformat(str(self.header["exported_at"]))
        before = (self.header.get("filter") or {}).get("before")
        until = min(exported, datetime.fromisoformat(before)) if before else exported
        for checkpoint in self.anchors.pending:
            if checkpoint.at < until:
                raise FileProblem(
                    f"{self.name}: {checkpoint} recorded {checkpoint.size} events before this "
                    f"file's end, but the file, made later, ends at chain position "
                    f"{last_position}: events were removed from the trail before it was exported."
                )
        if not checkpoints:
            raise FileProblem(f"{self.name}: no checkpoints were given to hold it to.")
        newest = checkpoints[-1]
        gap = (until - newest.at).total_seconds()
        if gap > 2 * newest.every:
            raise FileProblem(
                f"{self.name}: the newest checkpoint given ({newest}) is {gap:.0f} s older than "
                f"the file's end, more than twice its interval: the file's newest events are "
                "not covered (take the newer checkpoint files)."
            )
        return (
            f"{len(checkpoints)} checkpoints (signatures and chain intact) agree with it; "
            f"{self.anchors.matched} of them name a row of this file."
        )
