"""Retention without deletion: the oldest audit events move to a signed, complete archive
file, and the online trail goes on from where that file ends.

Chain positions count every event the trail ever held, archived or online: the first event
is position 1, whatever is still in the table. The online trail starts at its *base*: the
chain's start (position 0, GENESIS) before anything is archived, afterwards the last event of
the newest archive whose rows are gone, as its `audit.archived` event records it. So a
checkpoint's `size`, a complete file's positions and an evidence pack's positions mean the
same thing before and after an archive.

An `audit.archived` event (written by `manage.py audit_archive` after the file was re-read
and checked) holds in its details the archived run (`archived`: count, first and last event
with their chain positions, the same dict as the file's signed `range`), the file's name,
size and SHA-256, the cut-off, and a `seal`: the Ed25519 signature of all of that as the
document `{"archive": FORMAT, ...}`. (`seal`, not `signature`: the trail redacts detail keys
that look like secrets.) The seal is what lets `verify_audit` accept a trail that no longer
starts at GENESIS: without the portal's key nobody can make an archive record up.

Why the rows are removed the way they are (migration 0009's trigger):

- The application role (DATABASE_URL) never gets DELETE on `audit_event` (`db_roles.py`), so
  a compromised portal cannot remove anything, not even archived rows; the command removes
  them through the owner's connection (DATABASE_MIGRATE_URL, as `migrate` runs).
- Even the owner's DELETE is refused by the trigger unless the transaction names a recorded
  archive (`SET LOCAL ims_portal.audit_archive = <its event id>`) and the row is covered by
  it (its id at most the archived run's last id). A stray `DELETE` in psql or a `flush` is
  refused as before. A custom setting alone would prove nothing (any role may set one); it
  is there so that removing needs intent *and* a covering record *and* the owner's right.
- A trigger cannot check an Ed25519 seal, and an owner or superuser can disable it; so the
  last word is `verify_audit`'s: the oldest online event must link to GENESIS or to the last
  hash of a sealed archive record, which must itself be in the unbroken chain. Rows deleted
  any other way, or more rows than were archived, break that link and are reported.
- One transaction (`SET LOCAL`, then one DELETE of everything the archive covers): all of
  the range goes, or none of it, and the chain's writers are never held up by it. The
  trigger checks each row, not that the whole range goes; an owner removing only part of a
  covered range by hand loses nothing (the file holds it), but `verify_audit` then fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.db import connections, transaction
from django.db.models import Max, Min

from ims_portal.audit import db_roles, signing
from ims_portal.audit.chain import GENESIS
from ims_portal.audit.models import Action, AuditEvent, AuditEventQuerySet

FORMAT = "ims-portal-audit-archive/1"
# The transaction-local setting the trigger reads: the id of the archive event in force.
SESSION_SETTING = "ims_portal.audit_archive"
# What the seal covers, besides the format: the event's details but the seal itself.
SEALED = ("archived", "file", "bytes", "sha256", "format", "before")
READ_CHUNK = 1 << 20
# A concurrent archive may remove the rows a reader just counted: read again, this often.
READ_ATTEMPTS = 3


class ArchiveError(Exception):
    """The online trail does not start where the chain or a recorded archive says it may."""


@dataclass(frozen=True)
class Archive:
    """One `audit.archived` event, read back."""

    event_id: int
    details: Mapping[str, Any]

    @property
    def archived(self) -> Mapping[str, Any]:
        return self.details.get("archived") or {}

    @property
    def count(self) -> int:
        return int(self.archived.get("count", 0))

    @property
    def first(self) -> Mapping[str, Any]:
        return self.archived.get("first") or {}

    @property
    def last(self) -> Mapping[str, Any]:
        return self.archived.get("last") or {}

    @property
    def last_position(self) -> int:
        return int(self.last.get("position", 0))

    @property
    def last_hash(self) -> str:
        return str(self.last.get("hash", ""))

    @property
    def file(self) -> str:
        return str(self.details.get("file", ""))

    @property
    def sha256(self) -> str:
        return str(self.details.get("sha256", ""))

    def describe(self) -> str:
        return (
            f"chain positions {self.first.get('position')} to {self.last_position} "
            f"({self.count} events, #{self.first.get('id')} to #{self.last.get('id')}) in "
            f"{self.file} (SHA-256 {self.sha256}), recorded by event #{self.event_id}"
        )

    def check_seal(self, key: Ed25519PublicKey) -> None:
        """`ArchiveError` unless the portal's key sealed this record as it is."""
        document = sealed_document(self.details)
        document[signing.SIGNATURE] = self.details.get("seal")
        try:
            signing.check(key, document)
        except signing.BadSignature as error:
            raise ArchiveError(
                f"the archive record event #{self.event_id} cannot be trusted: {error}"
            ) from error


def sealed_document(details: Mapping[str, Any]) -> dict[str, Any]:
    """What an archive record's seal signs."""
    return {"archive": FORMAT, **{name: details.get(name) for name in SEALED}}


def sealed_details(key: Ed25519PrivateKey, details: Mapping[str, Any]) -> dict[str, Any]:
    """The details of an `audit.archived` event (the `SEALED` names), with their seal."""
    seal = signing.signed(key, sealed_document(details))[signing.SIGNATURE]
    return {**{name: details[name] for name in SEALED}, "seal": seal}


def recorded_archives() -> list[Archive]:
    """The archive records still online, oldest first (one per archiving: a handful)."""
    rows = (
        AuditEvent.objects.filter(action=Action.AUDIT_ARCHIVED)
        .order_by("id")
        .values_list("id", "details")
    )
    return [Archive(event_id, details or {}) for event_id, details in rows]


@dataclass(frozen=True)
class Base:
    """Where the online trail starts: the chain position and hash of the event just before
    its oldest row (0 and GENESIS when nothing was archived), and the record that says so."""

    position: int
    hash: str
    archive: Archive | None = None


def base_of(first: tuple[int, str] | None, archives: list[Archive]) -> Base:
    """The base of an online trail whose oldest row is `first` (id, prev_hash; None: no
    rows), given the archive records; `ArchiveError` when neither GENESIS nor any record's
    last event is what that row follows."""
    if first is None or first[1] == GENESIS:
        return Base(0, GENESIS)
    for archive in reversed(archives):
        if archive.last_hash == first[1]:
            return Base(archive.last_position, archive.last_hash, archive)
    raise ArchiveError(
        f"the oldest online event #{first[0]} follows {first[1][:16]}…, which is neither the "
        "start of the chain nor the last event of a recorded archive: events were removed "
        "from the oldest end without being archived"
    )


def _oldest() -> tuple[int, str] | None:
    return AuditEvent.objects.order_by("id").values_list("id", "prev_hash").first()


def online_base() -> Base:
    """The online trail's base, read from the table (an archive may be removing rows while
    it is read: read again then)."""
    for attempt in range(READ_ATTEMPTS):
        oldest = _oldest()
        archives = recorded_archives()
        try:
            return base_of(oldest, archives)
        except ArchiveError:
            if attempt == READ_ATTEMPTS - 1 or _oldest() == oldest:
                raise
    raise AssertionError("unreachable")


def chain_position(event_id: int, base: Base | None = None) -> int:
    """The chain position of an online event."""
    start = base if base is not None else online_base()
    return start.position + AuditEvent.objects.filter(pk__lte=event_id).count()


def complete_range(in_range: AuditEventQuerySet) -> tuple[dict[str, Any], AuditEventQuerySet]:
    """The run of the chain from the first to the last event in the range, and what a
    complete file's signed metadata says about it (count, first and last event with their
    chain positions). Every event between the two is in the run, whatever its time stamp,
    so it is one unbroken run even where clocks disagreed."""
    ends = in_range.aggregate(first=Min("id"), last=Max("id"))
    if ends["first"] is None:
        return {"count": 0, "first": None, "last": None}, in_range.none()
    run = AuditEvent.objects.filter(pk__gte=ends["first"], pk__lte=ends["last"])
    first = AuditEvent.objects.values("prev_hash").get(pk=ends["first"])
    last = AuditEvent.objects.values("hash").get(pk=ends["last"])
    position = chain_position(ends["first"])
    count = run.count()
    described = {
        "count": count,
        "first": {"position": position, "id": ends["first"], "prev_hash": first["prev_hash"]},
        "last": {"position": position + count - 1, "id": ends["last"], "hash": last["hash"]},
    }
    return described, run


def file_digest(path: Path) -> tuple[int, str]:
    """A file's size and SHA-256, read from the disk."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def pending_removal(archives: list[Archive]) -> Archive | None:
    """The newest archive record whose rows are still (partly) online: its removal failed or
    never ran."""
    oldest = _oldest()
    if not archives or oldest is None:
        return None
    newest = archives[-1]
    return newest if oldest[0] <= int(newest.last.get("id", 0)) else None


def remove_archived(archive: Archive) -> int:
    """Remove the online rows `archive` covers, as the tables' owner, in one transaction:
    all of them or none. Returns how many went. The database refuses unless the connection
    may delete (the owner; never the application role) and the trigger finds the record."""
    alias = db_roles.owner_alias()
    connection = connections[alias]
    through = int(archive.last["id"])
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A large range takes longer than the portal's requests may.
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute(
                "SELECT set_config(%s, %s, true)", [SESSION_SETTING, str(archive.event_id)]
            )
        cursor.execute("DELETE FROM audit_event WHERE id <= %s", [through])
        return int(cursor.rowcount)
