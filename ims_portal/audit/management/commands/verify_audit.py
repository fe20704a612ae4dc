"""`manage.py verify_audit`: walk the audit chain and report the first broken link.

Exits 0 when every event's content matches its hash and every event links to the one
before it; otherwise names the first bad event and exits 1. With `--file`, also checks an
exported CSV or JSON Lines file: that no row was edited, that every row is in the trail
as it is in the file, and that the chain head the file names is still in the chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from ims_portal.audit import chain, exporting
from ims_portal.audit.models import AuditEvent

CHUNK_ROWS = 5000
CHAIN_COLUMNS = ("id", *chain.FIELDS, "hash")


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain (and, with --file, an exported file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, help="an audit export (.csv or .jsonl)")

    def handle(self, *args: Any, **options: Any) -> None:
        walk = self.verify_chain()
        if options["file"]:
            self.verify_file(options["file"])
        if walk.head_id is None:
            self.stdout.write("The audit trail is empty.")

    def verify_chain(self) -> chain.Walk:
        walk = chain.Walk()
        # One transaction: the cursor streams in chunks from one snapshot, in constant memory.
        with transaction.atomic():
            rows = (
                AuditEvent.objects.order_by("id")
                .values_list(*CHAIN_COLUMNS)
                .iterator(chunk_size=CHUNK_ROWS)
            )
            broken = walk.run(chain.rows_as_dicts(rows, CHAIN_COLUMNS))
        if broken:
            raise CommandError(
                f"Audit chain BROKEN at {broken} "
                f"({walk.count} events before it are intact, up to #{walk.head_id})."
            )
        self.stdout.write(
            self.style.SUCCESS(f"{walk.count} events checked: the audit chain is unbroken.")
        )
        if walk.head_id is not None:
            self.stdout.write(f"Head: event #{walk.head_id}, hash {walk.head}")
        return walk

    def verify_file(self, path: Path) -> None:
        try:
            self._verify_file(path)
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror or error}") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{path}: not an audit export (not UTF-8 text)") from error

    def _verify_file(self, path: Path) -> None:
        with path.open(encoding="utf-8", newline="") as lines:
            try:
                header, rows = exporting.read(lines)
            except ValueError as error:
                raise CommandError(f"{path}: {error}") from error
            count = 0
            batch: list[dict[str, Any]] = []
            for number, row in enumerate(rows, start=1):
                if chain.digest(row) != row["hash"]:
                    raise CommandError(
                        f"{path}: row {number} (event #{row['id']}) was edited: its "
                        "content does not match its hash."
                    )
                batch.append(row)
                if len(batch) >= CHUNK_ROWS:
                    count += self._compare_with_trail(path, batch)
                    batch = []
            count += self._compare_with_trail(path, batch)
        head = header.get("chain_head") or {}
        head_id = head.get("id")
        stored = (
            AuditEvent.objects.filter(pk=head_id).values_list("hash", flat=True).first()
            if isinstance(head_id, int)
            else None
        )
        if stored is None or stored != head.get("hash"):
            raise CommandError(f"{path}: its chain head {head} is not in the audit trail.")
        self.stdout.write(
            self.style.SUCCESS(
                f"{path}: {count} events match the audit trail; the head it names "
                f"(#{head['id']}) is in the unbroken chain."
            )
        )

    def _compare_with_trail(self, path: Path, rows: list[dict[str, Any]]) -> int:
        stored = dict(
            AuditEvent.objects.filter(pk__in=[row["id"] for row in rows]).values_list("pk", "hash")
        )
        for row in rows:
            if stored.get(row["id"]) != row["hash"]:
                raise CommandError(
                    f"{path}: event #{row['id']} is not in the audit trail as the file has it."
                )
        return len(rows)
