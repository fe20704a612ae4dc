"""The exit codes a script can rely on (README: "The command line")."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0  # the command did what it was asked; for an export: it succeeded
    FAILED = 1  # the export failed (the cloud job ended without the file)
    USAGE = 2  # wrong arguments, or no portal URL or token configured
    REJECTED = 3  # refused: by the portal's export rules (nothing submitted) or by the cloud
    UNKNOWN = 4  # the outcome is unknown (the cloud may have acted), or no longer followed
    CANCELLED = 5  # cancelled before anything reached the cloud
    IN_FLIGHT = 6  # `status` of an export that has not ended yet
    PORTAL_ERROR = 7  # the portal could not be reached, refused the token, or answered an error


# An export's status (the API's `status`) -> the exit code that reports it.
BY_STATUS = {
    "succeeded": Exit.OK,
    "failed": Exit.FAILED,
    "rejected": Exit.REJECTED,
    "unknown": Exit.UNKNOWN,
    "abandoned": Exit.UNKNOWN,
    "cancelled": Exit.CANCELLED,
}


def for_status(status: str, in_flight: bool) -> Exit:
    """The exit code for an export in `status` (IN_FLIGHT while it has not ended)."""
    if in_flight:
        return Exit.IN_FLIGHT
    return BY_STATUS.get(status, Exit.UNKNOWN)
