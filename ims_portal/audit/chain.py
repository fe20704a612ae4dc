"""The hash chain: what exactly is hashed, and how.

An event's hash is SHA-256 over the canonical JSON of its content (every stored field but
its id and its own hash, the previous event's hash included). Canonical means: keys sorted,
no whitespace, UTF-8, timestamps as UTC ISO 8601 with microseconds, empty values as "".
The same function hashes a row read from the database, a row written by `trail.record`, and
a row read back from a CSV or JSON Lines export, so all three can be checked against each
other. Pure functions, no database access.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

# The first event's predecessor.
GENESIS = "0" * 64

# Hashed fields, in the order exports list them.
FIELDS = (
    "at",
    "actor_id",
    "actor_username",
    "actor_email",
    "actor_roles",
    "ip",
    "user_agent",
    "request_id",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "outcome",
    "details",
    "prev_hash",
)


def canonical_time(moment: datetime) -> str:
    """UTC, ISO 8601, always with microseconds: one spelling per instant."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# Made once: `json.dumps` with these options would build an encoder on every call, and
# exports and verification call this once per event.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, non-ASCII kept as is."""
    return _CANONICAL.encode(value)


def canonical_details(value: Any) -> str:
    """The spelling of an event's details inside its hashed content: what `trail.record`
    stores beside them (`AuditEvent.details_text`) and what exports copy."""
    return canonical_json(_details(value))


def _details(value: Any) -> Any:
    # JSON text (an exported cell) is read; no details at all, JSON null included, is {}.
    return json.loads(value) if isinstance(value, str) else (value or {})


def json_safe(details: Mapping[str, Any]) -> dict[str, Any]:
    """Details as they will read back from the database: plain JSON types only.

    Dates, UUIDs and decimals become strings, tuples lists. NUL characters, which
    PostgreSQL's jsonb refuses, become U+FFFD. NaN and infinities are refused.
    """
    text = json.dumps(dict(details), cls=DjangoJSONEncoder, allow_nan=False)
    return json.loads(text.replace("\\u0000", "\\ufffd"))


def content(values: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical content of an event, from a row, a model or an exported line."""
    result: dict[str, Any] = {}
    for field in FIELDS:
        value = values.get(field)
        if field == "at" and isinstance(value, datetime):
            value = canonical_time(value)
        elif field == "details":
            value = _details(value)
        elif value is None:
            value = ""
        else:
            value = str(value)
        result[field] = value
    return result


def digest(values: Mapping[str, Any]) -> str:
    """The hash an event with these values must carry."""
    return hashlib.sha256(canonical_json(content(values)).encode()).hexdigest()


def values_of(event: Any) -> dict[str, Any]:
    """The hashed fields of an `AuditEvent` instance."""
    return {field: getattr(event, field) for field in FIELDS}


class Break:
    """The first place a sequence of events stops being one unbroken chain."""

    def __init__(self, event_id: int, reason: str) -> None:
        self.event_id = event_id
        self.reason = reason

    def __str__(self) -> str:
        return f"event #{self.event_id}: {self.reason}"


class Walk:
    """Follows events in chain order, checking each one's hash and link.

    Feed it rows (mappings with `id`, `hash` and the hashed fields) with `check()`; it keeps
    only the last hash, so a table of any size is checked in constant memory. A row read from
    the database also carries `details_text`, the spelling its exports copy: it must be its
    details' canonical spelling, or a file exported from it would not verify.
    """

    def __init__(self, start: str = GENESIS) -> None:
        self.head = start
        self.head_id: int | None = None
        self.count = 0
        self.broken: Break | None = None

    def check(self, row: Mapping[str, Any]) -> bool:
        """Check one more row; False (and `broken` set) at the first bad one."""
        if row["prev_hash"] != self.head:
            self.broken = Break(
                row["id"],
                f"links to {row['prev_hash'][:16]}… but the event before it "
                f"(#{self.head_id if self.head_id is not None else 'none'}) has hash "
                f"{self.head[:16]}…: an event was removed, inserted or reordered",
            )
            return False
        computed = digest(row)
        if computed != row["hash"]:
            self.broken = Break(
                row["id"],
                f"content does not match its hash (stored {row['hash'][:16]}…, "
                f"computed {computed[:16]}…): the event was edited",
            )
            return False
        spelled = row.get("details_text")
        if spelled is not None and spelled != canonical_details(row["details"]):
            self.broken = Break(
                row["id"],
                "its stored spelling of details (what exports copy) is not the canonical "
                "spelling of its details: the event was edited",
            )
            return False
        self.head = row["hash"]
        self.head_id = row["id"]
        self.count += 1
        return True

    def run(self, rows: Iterable[Mapping[str, Any]]) -> Break | None:
        for row in rows:
            if not self.check(row):
                break
        return self.broken


def rows_as_dicts(rows: Iterable[tuple[Any, ...]], names: tuple[str, ...]) -> Iterator[dict]:
    """Turn `values_list` tuples into mappings without building model instances."""
    for row in rows:
        yield dict(zip(names, row, strict=True))
