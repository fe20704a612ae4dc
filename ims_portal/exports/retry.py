"""Exporting an ended export again: what the new-export form is prefilled with, and a file
name that no export is known to have written.

The portal cannot list a bucket for every keystroke, but it knows what its own exports did
to an object: one that succeeded wrote it, one the cloud refused with IMG.0070 found it
there, and one still under way, unknown or abandoned may write or have written it. A retry
to such a name would only be refused again, so another one is suggested, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from django.db.models import Q

from ims_portal.exports import rules
from ims_portal.exports.models import Export, Status

# IMS's answer when the object is already in the bucket (see `cloud/catalogue.py`).
OBJECT_EXISTS = rules.OBJECT_EXISTS

# Exports after which the object is, or may be, in the bucket.
_WROTE = frozenset({Status.SUCCEEDED})
_MAY_WRITE = Status.IN_FLIGHT | {Status.UNKNOWN, Status.ABANDONED}
OCCUPYING = Q(status__in=sorted(_WROTE | _MAY_WRITE)) | Q(
    status=Status.REJECTED, error_code=OBJECT_EXISTS
)

_COUNTED = re.compile(r"(?P<base>.+)-(?P<n>\d+)")


@dataclass(frozen=True, slots=True)
class Prefill:
    """The new-export form's values for exporting `source` again."""

    source: Export
    initial: dict[str, Any]
    note: str = ""  # why the file name differs from the source's; empty when it does not
    occupant: Export | None = field(default=None, repr=False)


def occupants(bucket: str) -> dict[str, Export]:
    """Per object name in `bucket`, the export that best shows it is (or may be) there:
    one that certainly put it there before one that only may have, then the latest."""
    found: dict[str, Export] = {}
    for export in Export.objects.filter(OCCUPYING, bucket=bucket).order_by("-id"):
        held = found.get(export.object_name)
        if held is None or (_is_certain(export) and not _is_certain(held)):
            found[export.object_name] = export
    return found


def free_name(name: str, taken: set[str] | dict[str, Export]) -> str:
    """`name` if it is not taken, else `name-2.ext`, `name-3.ext`…, the first one free.

    A name that is already counted from a taken one (`web-2.qcow2` next to `web.qcow2`)
    goes on counting (`web-3.qcow2`) rather than growing (`web-2-2.qcow2`).
    """
    # Of the first len(taken) + 2 candidates at least one is free.
    found = first_free_name(name, taken, tries=len(taken) + 2)
    assert found is not None
    return found


def first_free_name(name: str, taken: Container[str], *, tries: int) -> str | None:
    """`free_name` over any container that answers "is this name taken?", asked at most
    `tries` times (`None` when all of them were): a set of known names, or a bucket asked
    about each name in turn (`preflight.TakenInBucket`)."""
    path = PurePosixPath(name)
    suffix = path.suffix
    stem = name.removesuffix(suffix) if suffix else name
    counted = _COUNTED.fullmatch(stem)
    asked = 0

    def is_taken(candidate: str) -> bool:
        nonlocal asked
        asked += 1
        return candidate in taken

    if not is_taken(name):
        return name
    if counted and asked < tries and is_taken(f"{counted['base']}{suffix}"):
        stem = counted["base"]
    number = 2
    while asked < tries:
        candidate = f"{stem}-{number}{suffix}"
        if not is_taken(candidate):
            return candidate
        number += 1
    return None


def prefill_for(source: Export) -> Prefill:
    """The same image, bucket, format and fast export as `source`, and its file name or,
    where that object is known to exist, the first free one, with the reason."""
    initial: dict[str, Any] = {
        "image": source.image_id,
        "bucket": source.bucket,
        "file_name": source.object_name,
        "file_format": "" if source.quick else source.file_format,
        "quick": source.quick,
    }
    taken = occupants(source.bucket)
    occupant = taken.get(source.object_name)
    if occupant is None:
        return Prefill(source, initial)
    suggestion = free_name(source.object_name, taken)
    if rules.check_file_name(suggestion):
        # Too long once counted: say so, and leave the name to the person.
        note = f"{_why(occupant, source)} Choose another file name."
    else:
        initial["file_name"] = suggestion
        note = (
            f"{_why(occupant, source)} The file name {suggestion} is suggested instead: "
            "no export is known to have written it."
        )
    return Prefill(source, initial, note, occupant)


def _is_certain(export: Export) -> bool:
    return export.status in _WROTE or export.status == Status.REJECTED


def _why(occupant: Export, source: Export) -> str:
    """Why `occupant`'s object is, or may be, in the bucket, in the words of `source`'s
    owner (another user's export is not named: its number would lead nowhere for them)."""
    where = occupant.destination
    which = (
        f"export #{occupant.pk}"
        if occupant.owner_id == source.owner_id
        else "an export by another user"
    )
    if occupant.is_succeeded:
        return f"{where} exists: {which} wrote it."
    if occupant.status == Status.REJECTED:
        return f"{where} exists: the cloud refused {which} because it was already there ({OBJECT_EXISTS})."
    if occupant.is_in_flight:
        return f"{where} may soon exist: {which} is under way to it."
    if occupant.is_abandoned:
        return f"{where} may exist: {which} was abandoned, and its cloud job may still have written it."
    return (
        f"{where} may exist: the outcome of {which} is unknown, so the cloud may have written it."
    )
