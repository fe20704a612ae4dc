"""`manage.py verify_audit`: walk the audit chain, hold it to the signed checkpoints, and
report the first thing that does not hold.

- No options: every event's content matches its hash and links to the one before it, and
  the trail agrees with every checkpoint in the checkpoint file (AUDIT_CHECKPOINT_PATH and
  its rotated predecessors): it is no shorter than any checkpoint says, the event at each
  checkpoint's position carries the hash it recorded, the checkpoints themselves are signed
  and chained without a gap, and the newest is no older than twice its interval.
  Once old events are archived (`manage.py audit_archive`), the walk starts at the last
  hash of the newest sealed archive record instead of the chain's start; every record's
  seal is checked, and each must run on from the one before. An oldest online event that
  follows neither the chain's start nor such a record means rows were removed without an
  archive, and fails.
- `--checkpoints C [C ...]`: hold the trail to these checkpoint files instead.
- `--file F`: also check an exported CSV or JSON Lines file: its signed metadata, each row
  against its hash and against the trail, no row missing, duplicated or reordered in a
  complete file, and its chain head still in the chain.
  An archive file the trail recorded (same SHA-256) is checked on its own and held to its
  record, its rows being no longer online.
- `--file F --checkpoints C`: the offline check. Nothing is read from the database: the
  file is held to the checkpoints alone (as `python -m ims_portal.audit.verify_offline`).

The public key is `--public-key` (a PEM file), else the configured signing key's own.
Exits 0 when everything holds; otherwise names the first problem and exits 1.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import closing
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from ims_portal.audit import chain, checkpointing, checkpoints, exporting, keys, retention
from ims_portal.audit.file_check import FileCheck, FileProblem
from ims_portal.audit.models import AuditEvent
from ims_portal.audit.verify_offline import load_key
from ims_portal.audit.verify_offline import verify as verify_offline

CHUNK_ROWS = 5000
CHAIN_COLUMNS = ("id", *chain.FIELDS, "hash", "details_text")


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain against its signed checkpoints (and, with "
        "--file, an exported file; with --file and --checkpoints, offline)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, help="an audit export (.csv or .jsonl)")
        parser.add_argument(
            "--checkpoints",
            type=Path,
            nargs="+",
            help="checkpoint files or folders (with --file: check offline, without the database)",
        )
        parser.add_argument(
            "--public-key", type=Path, help="the audit public key (PEM); default: the portal's"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.public_key_path: Path | None = options["public_key"]
        if options["file"] and options["checkpoints"]:
            self.verify_offline(options["file"], options["checkpoints"])
            return
        found = self.read_checkpoints(options["checkpoints"])
        walk = self.verify_chain(found)
        if options["file"]:
            self.verify_file(options["file"])
        if walk.head_id is None:
            self.stdout.write("The audit trail is empty.")

    def public_key(self) -> Ed25519PublicKey:
        if self.public_key_path:
            try:
                return load_key(self.public_key_path)
            except FileProblem as error:
                raise CommandError(str(error)) from error
        try:
            return keys.public_key()
        except keys.NoSigningKey as error:
            raise CommandError(f"No public key to check signatures with: {error}") from error

    def verify_offline(self, path: Path, checkpoint_paths: list[Path]) -> None:
        try:
            report = verify_offline(path, checkpoint_paths, self.public_key())
        except FileProblem as error:
            raise CommandError(str(error)) from error
        for line in report:
            self.stdout.write(self.style.SUCCESS(line))

    def read_checkpoints(self, paths: list[Path] | None) -> list[checkpoints.Checkpoint] | None:
        """The checkpoints to hold the trail to; None when there are none to be had."""
        if paths is None:
            files = checkpointing.sink().files()
            if not files:
                self.stdout.write(
                    f"No checkpoints at {checkpointing.sink().path}: the newest events are "
                    "protected only once checkpoints are written (manage.py audit_checkpoint)."
                )
                return None
            paths = files
        try:
            found = checkpoints.read(paths)
            if not found:
                raise checkpoints.CheckpointError("the checkpoint files hold no checkpoint")
            checkpoints.check_chain(found, self.public_key())
        except OSError as error:
            raise CommandError(f"Checkpoints: {error}") from error
        except checkpoints.CheckpointError as error:
            raise CommandError(f"Checkpoints: {error}") from error
        return found

    def verify_chain(self, found: list[checkpoints.Checkpoint] | None) -> chain.Walk:
        problem: checkpoints.CheckpointError | retention.ArchiveError | None = None
        # One transaction: the cursor streams in chunks from one snapshot, in constant memory.
        with transaction.atomic():
            archives = retention.recorded_archives()
            base = self.online_base(archives)
            walk = chain.Walk(start=base.hash)
            anchors = checkpoints.Anchors(found or [], start=base.position + 1)
            # A recorded archive whose rows are still online names the hash its last has.
            ends = {a.last_position: a for a in archives if a.last_position > base.position}
            rows = cast(
                "Generator[tuple[Any, ...]]",
                AuditEvent.objects.order_by("id")
                .values_list(*CHAIN_COLUMNS)
                .iterator(chunk_size=CHUNK_ROWS),
            )
            # Closed inside the transaction, however the walk ends: the cursor lives there.
            with closing(rows):
                for row in chain.rows_as_dicts(rows, CHAIN_COLUMNS):
                    if not walk.check(row):
                        break
                    position = base.position + walk.count
                    try:
                        anchors.see(position, row["hash"])
                        self.matches_archive(ends.get(position), position, row["hash"])
                    except (checkpoints.CheckpointError, retention.ArchiveError) as error:
                        problem = error
                        break
        if problem:
            raise CommandError(f"Audit trail does not match its checkpoints: {problem}")
        if walk.broken:
            raise CommandError(
                f"Audit chain BROKEN at {walk.broken} "
                f"({walk.count} events before it are intact, up to #{walk.head_id})."
            )
        self.stdout.write(
            self.style.SUCCESS(f"{walk.count} events checked: the audit chain is unbroken.")
        )
        if walk.head_id is not None:
            self.stdout.write(f"Head: event #{walk.head_id}, hash {walk.head}")
        self.report_archives(archives, base, found)
        if found:
            try:
                anchors.end(base.position + walk.count)
            except checkpoints.CheckpointError as error:
                raise CommandError(
                    f"Audit trail does not match its checkpoints: {error}"
                ) from error
            stale = checkpoints.staleness(found[-1], timezone.now())
            if stale:
                raise CommandError(f"Checkpoints: {stale}.")
            self.stdout.write(
                self.style.SUCCESS(
                    f"{len(found)} checkpoints (signed, chained, newest {found[-1].document['at']}) "
                    f"agree with the trail."
                )
            )
        return walk

    def online_base(self, archives: list[retention.Archive]) -> retention.Base:
        """Where the online trail must start: the chain's start, or the end of a sealed
        archive record that runs on from the one before it."""
        if archives:
            key = self.public_key()
            previous: retention.Archive | None = None
            for archive in archives:
                try:
                    archive.check_seal(key)
                except retention.ArchiveError as error:
                    raise CommandError(f"Audit archive: {error}.") from error
                if previous is not None and archive.first.get("prev_hash") != previous.last_hash:
                    raise CommandError(
                        f"Audit archive: the archive of event #{archive.event_id} does not run "
                        f"on from the one of event #{previous.event_id}."
                    )
                previous = archive
        oldest = AuditEvent.objects.order_by("id").values_list("id", "prev_hash").first()
        try:
            return retention.base_of(oldest, archives)
        except retention.ArchiveError as error:
            raise CommandError(f"Audit chain BROKEN: {error}.") from error

    @staticmethod
    def matches_archive(archive: retention.Archive | None, position: int, event_hash: str) -> None:
        if archive is not None and archive.last_hash != event_hash:
            raise retention.ArchiveError(
                f"the event at chain position {position} has hash {event_hash[:16]}…, but the "
                f"archive record event #{archive.event_id} says its file ends there with "
                f"{archive.last_hash[:16]}…"
            )

    def report_archives(
        self,
        archives: list[retention.Archive],
        base: retention.Base,
        found: list[checkpoints.Checkpoint] | None,
    ) -> None:
        for archive in archives:
            state = "removed from" if archive.last_position <= base.position else "still in"
            self.stdout.write(f"Archived ({state} the online trail): {archive.describe()}.")
        if base.archive is not None:
            older = [c for c in found or [] if 0 < c.size <= base.position]
            self.stdout.write(
                f"The online trail starts at chain position {base.position + 1}, after the "
                f"events the signed archive record event #{base.archive.event_id} names; "
                f"{len(older)} checkpoints name archived events: check the archive files "
                "against them (verify_audit --file ARCHIVE --checkpoints ...)."
            )

    def verify_file(self, path: Path) -> None:
        try:
            self._verify_file(path)
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror or error}") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{path}: not an audit export (not UTF-8 text)") from error
        except FileProblem as error:
            raise CommandError(str(error)) from error

    def _verify_file(self, path: Path) -> None:
        _, sha256 = retention.file_digest(path)
        recorded = [a for a in retention.recorded_archives() if a.sha256 == sha256]
        if recorded:
            self._verify_archive_file(path, recorded[-1])
            return
        with path.open(encoding="utf-8", newline="") as lines:
            try:
                header, rows = exporting.read(lines)
            except ValueError as error:
                raise CommandError(f"{path}: {error}") from error
            check = FileCheck(str(path), header, self.public_key())
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= CHUNK_ROWS:
                    self._check_batch(path, check, batch)
                    batch = []
            self._check_batch(path, check, batch)
            report = check.finish()
        head = header.get("chain_head") or {}
        head_id = head.get("id")
        stored = (
            AuditEvent.objects.filter(pk=head_id).values_list("hash", flat=True).first()
            if isinstance(head_id, int)
            else None
        )
        if stored is None or stored != head.get("hash"):
            raise CommandError(f"{path}: its chain head {head} is not in the audit trail.")
        for line in report:
            self.stdout.write(self.style.SUCCESS(line))
        self.stdout.write(
            self.style.SUCCESS(
                f"{path}: {check.count} events match the audit trail; the head it names "
                f"(#{head['id']}) is in the unbroken chain."
            )
        )

    def _verify_archive_file(self, path: Path, archive: retention.Archive) -> None:
        """An archive file the trail recorded (same SHA-256): checked on its own, as its rows
        are no longer online, and held to its record, which is in the verified chain."""
        with path.open(encoding="utf-8", newline="") as lines:
            header, rows = exporting.read(lines)
            check = FileCheck(str(path), header, self.public_key())
            for number, row in enumerate(rows, start=1):
                check.row(number, row)
            report = check.finish()
        if header.get("range") != archive.archived:
            raise CommandError(
                f"{path}: its range is not the one archive record event #{archive.event_id} names."
            )
        for line in report:
            self.stdout.write(self.style.SUCCESS(line))
        self.stdout.write(
            self.style.SUCCESS(
                f"{path}: the archive file recorded by event #{archive.event_id} (same SHA-256, "
                "same range); hold it to the checkpoints with --checkpoints for the rest."
            )
        )

    def _check_batch(self, path: Path, check: FileCheck, rows: list[dict[str, Any]]) -> None:
        """Each row's content, then the rows against the trail, then their order: a row
        rewritten with a recomputed hash is named as such, not as the break after it."""
        first = check.count + 1
        for number, row in enumerate(rows, start=first):
            check.content(number, row)
        stored = dict(
            AuditEvent.objects.filter(pk__in=[row["id"] for row in rows]).values_list("pk", "hash")
        )
        oldest = AuditEvent.objects.aggregate(first=Min("id"))["first"]
        for row in rows:
            if row["id"] not in stored and (oldest is None or row["id"] < oldest):
                raise CommandError(
                    f"{path}: event #{row['id']} was archived (it is older than the oldest "
                    "online event): check this file offline against the checkpoints "
                    "(verify_audit --file F --checkpoints C...)."
                )
            if stored.get(row["id"]) != row["hash"]:
                raise CommandError(
                    f"{path}: event #{row['id']} is not in the audit trail as the file has it."
                )
        for number, row in enumerate(rows, start=first):
            check.place(number, row)
