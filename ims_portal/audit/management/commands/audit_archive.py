"""`manage.py audit_archive --to FOLDER [--before DATE]`: move the oldest audit events out of
the database into a signed, complete archive file, without losing the chain.

The events before `--before` (default: older than AUDIT_ONLINE_DAYS days; with neither,
nothing happens) are archived in this order, each step only when the one before it held:

1. The file: a complete range export of the run from the oldest online event to the last
   one before the cut-off (the same format, signed metadata and range as the auditor's
   download, so `verify_audit --file F --checkpoints C` checks it), written to a temporary
   name and fsync'd.
2. The check: the file is read back and checked as an auditor would (signature, every row's
   hash, completeness from the first event's predecessor to the last event's hash), then
   renamed to `audit-archive-<first>-<last>.<fmt>` (chain positions), never over a file.
3. The record: an `audit.archived` event naming the run, the file and its SHA-256, sealed
   with the portal's key (`retention.py`), and a checkpoint that covers it.
4. The removal: the run's rows leave the table, in one transaction, through the owner's
   connection (DATABASE_MIGRATE_URL) and the narrow path migration 0009's trigger allows.

If the removal fails (run as the application role, say), the file and the record stand and
the next run finishes the removal before anything else. Run it where `migrate` runs, e.g.
daily from cron; it is not a beat task because the worker must never hold the owner's role.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection
from django.db.models import Max
from django.utils import timezone

from ims_portal.audit import checkpointing, exporting, file_check, keys, retention, signing
from ims_portal.audit.chain import canonical_time
from ims_portal.audit.file_check import FileCheck, FileProblem
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.trail import SYSTEM, SYSTEM_NAME, Target, record

# A session advisory lock: two archive runs at once would archive the same run twice.
ARCHIVE_LOCK_KEY = 0x41524348495645  # "ARCHIVE"
ROWS_PER_READ = 2000


class Command(BaseCommand):
    help = (
        "Archive the oldest audit events to a signed, complete file (checked before anything "
        "else), record the archive in the trail, then remove the archived rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--to", type=Path, required=True, help="the folder the archive file goes to"
        )
        parser.add_argument(
            "--before",
            help="archive the events before this UTC date or time (default: older than "
            "AUDIT_ONLINE_DAYS days)",
        )
        parser.add_argument("--format", choices=sorted(exporting.CONTENT_TYPES), default="jsonl")

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = self.cutoff(options["before"])
        if cutoff is None:
            self.stdout.write(
                "AUDIT_ONLINE_DAYS is not set and no --before given: events stay online, "
                "nothing archived."
            )
            return
        try:
            key = keys.private_key()
        except keys.NoSigningKey as error:
            raise CommandError(f"An archive must be signed: {error}") from error
        with self.only_run():
            pending = retention.pending_removal(retention.recorded_archives())
            if pending is not None:
                self.stdout.write(f"Finishing the removal of {pending.describe()}.")
                self.remove(pending)
            self.archive(cutoff, options["to"], options["format"], key)

    def cutoff(self, given: str | None) -> datetime | None:
        now = timezone.now()
        if given is None:
            days = settings.AUDIT_ONLINE_DAYS
            if days is not None and days < 0:
                raise CommandError(f"AUDIT_ONLINE_DAYS={days}: a number of days, 0 or more.")
            return None if days is None else now - timedelta(days=days)
        try:
            moment = datetime.fromisoformat(given)
        except ValueError as error:
            raise CommandError(f"--before {given}: not an ISO date or time") from error
        if len(given) == 10:  # a date: its midnight
            moment = datetime.combine(moment.date(), time())
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if moment > now:
            raise CommandError(f"--before {given} is in the future: only past events archive.")
        return moment

    @contextmanager
    def only_run(self) -> Iterator[None]:
        if connection.vendor != "postgresql":
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ARCHIVE_LOCK_KEY])
            if not cursor.fetchone()[0]:
                raise CommandError("Another audit_archive is running: nothing done.")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ARCHIVE_LOCK_KEY])

    def archive(self, cutoff: datetime, folder: Path, fmt: str, key: Ed25519PrivateKey) -> None:
        last_id = AuditEvent.objects.filter(at__lt=cutoff).aggregate(last=Max("id"))["last"]
        if last_id is None:
            self.stdout.write(f"No online event before {canonical_time(cutoff)}: nothing archived.")
            return
        # From the oldest online event, whatever its time stamp: only the oldest end goes.
        described, run = retention.complete_range(AuditEvent.objects.filter(pk__lte=last_id))
        first, last = described["first"], described["last"]
        header = archive_header(cutoff, described, key)
        name = f"audit-archive-{first['position']:012d}-{last['position']:012d}.{fmt}"
        path = folder / name
        rows = run.order_by("id").values_list(*exporting.COLUMNS).iterator(chunk_size=ROWS_PER_READ)
        try:
            write_checked(path, exporting.stream(fmt, header, rows), header, key.public_key())
        except (OSError, FileProblem) as error:
            raise CommandError(f"{path}: {error}. Nothing was recorded or removed.") from error
        size, sha256 = retention.file_digest(path)
        details = retention.sealed_details(
            key,
            {
                "archived": described,
                "file": name,
                "bytes": size,
                "sha256": sha256,
                "format": fmt,
                "before": canonical_time(cutoff),
            },
        )
        event = record(
            SYSTEM,
            Action.AUDIT_ARCHIVED,
            Target("audit_archive", str(last["position"]), name),
            **details,
        )
        archive = retention.Archive(event.pk, event.details)
        self.stdout.write(self.style.SUCCESS(f"Archived {archive.describe()}."))
        try:
            checkpoint = checkpointing.write_checkpoint()
        except (OSError, keys.NoSigningKey) as error:
            raise CommandError(
                f"The archive is written and recorded, but no checkpoint could be written "
                f"({error}): its rows stay online; run audit_archive again to remove them."
            ) from error
        self.stdout.write(f"Wrote {checkpoint}, which covers the archive record.")
        self.remove(archive)

    def remove(self, archive: retention.Archive) -> None:
        try:
            removed = retention.remove_archived(archive)
        except DatabaseError as error:
            raise CommandError(
                f"The archive's rows could not be removed ({error}); the file and its record "
                "stand. Run audit_archive again as the tables' owner (DATABASE_MIGRATE_URL): "
                "it finishes the removal first."
            ) from error
        self.stdout.write(
            f"Removed {removed} archived events from the online trail, up to "
            f"#{archive.last.get('id')}; the online trail now starts at chain position "
            f"{archive.last_position + 1}."
        )


def archive_header(
    cutoff: datetime, described: dict[str, Any], key: Ed25519PrivateKey
) -> dict[str, Any]:
    """The archive file's signed metadata line: a complete export of a time range."""
    last = described["last"]
    header = {
        "format": exporting.FORMAT,
        "exported_at": canonical_time(timezone.now()),
        "exported_by": SYSTEM_NAME,
        "purpose": "archive",
        "filter": {"before": canonical_time(cutoff)},
        "order": "chain (oldest first)",
        "chain_head": {"id": last["id"], "hash": last["hash"]},
        "scope": file_check.COMPLETE,
        "range": described,
    }
    return signing.signed(key, header)


def write_checked(
    path: Path, pieces: Iterator[str], header: dict[str, Any], public: Ed25519PublicKey
) -> None:
    """Write the file under a temporary name, read it back and check it completely, and only
    then give it its name (never over an existing file). Raises, leaving nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(f"{path} exists: an archive file is never overwritten")
    partial = path.with_name(path.name + ".partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            for piece in pieces:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        check_file(partial, header, public)
        os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def check_file(path: Path, written: dict[str, Any], public: Ed25519PublicKey) -> None:
    """`FileProblem` unless the file on disk holds exactly the run its metadata names."""
    with path.open(encoding="utf-8", newline="") as lines:
        try:
            header, rows = exporting.read(lines)
        except ValueError as error:
            raise FileProblem(str(error)) from error
        if header != written:
            raise FileProblem("its metadata line is not the one written")
        check = FileCheck(str(path), header, public)
        for number, row in enumerate(rows, start=1):
            check.row(number, row)
        check.finish()
