"""Switchable faults: error bursts, throttling, added latency and dropped connections, posted
to `/_sim/faults`.

A fault belongs to one service: `ims` (the default: the IAM and IMS listener) or `obs` (the
OBS listener), so OBS can be made unreachable or forbidden while IMS still works. Within it,
a fault matches requests by path (a regular expression searched in the path) and method,
both optional. Each time it matches it "fires": it adds its latency and, if it has a status,
answers with that status instead of the real handler; if it drops, the connection is reset
without any answer. A fault with a `count` is removed after
firing that many times; without one it stays until `DELETE /_sim/faults` or a reset.

Per request, every matching latency-only fault fires, but only the first matching fault with
a status does, so two stacked bursts play one after the other rather than both at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

IMS_SERVICE, OBS_SERVICE = "ims", "obs"
SERVICES = (IMS_SERVICE, OBS_SERVICE)


@dataclass(slots=True)
class Fault:
    """One injected misbehaviour; see the module docstring for how it is applied."""

    status: int | None = None
    count: int | None = None  # remaining firings; None = until cleared
    latency: float = 0.0  # seconds added before answering
    retry_after: float | None = None  # Retry-After header (seconds), for 429 and 503
    paths: str | None = None  # regular expression searched in the request path
    methods: frozenset[str] | None = None
    code: str | None = None  # overrides the default error code for the status
    message: str | None = None
    service: str = IMS_SERVICE
    drop: bool = False  # reset the connection instead of answering

    def matches(self, method: str, path: str, service: str = IMS_SERVICE) -> bool:
        """Whether this fault applies to a request."""
        if service != self.service:
            return False
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return self.paths is None or re.search(self.paths, path) is not None

    def as_json(self) -> dict[str, Any]:
        """The fault as `GET /_sim/faults` lists it."""
        return {
            "status": self.status,
            "count": self.count,
            "latency": self.latency,
            "retry_after": self.retry_after,
            "paths": self.paths,
            "methods": sorted(self.methods) if self.methods is not None else None,
            "code": self.code,
            "message": self.message,
            "service": self.service,
            "drop": self.drop,
        }

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """Validate a posted fault; `ValueError` with a readable reason if it is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(data) - {
            "status", "count", "latency", "retry_after", "paths", "path", "method", "methods",
            "code", "message", "service", "drop",
        }  # fmt: skip
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        status = data.get("status")
        if status is not None and (not _is_int(status) or not 400 <= status <= 599):
            raise ValueError("status must be an HTTP error status, 400 to 599")
        count = data.get("count")
        if count is not None and (not _is_int(count) or count < 1):
            raise ValueError("count must be a positive integer")
        latency = data.get("latency", 0.0)
        if not _is_number(latency) or latency < 0:
            raise ValueError("latency must be a number of seconds, 0 or more")
        retry_after = data.get("retry_after")
        if retry_after is not None and (not _is_number(retry_after) or retry_after < 0):
            raise ValueError("retry_after must be a number of seconds, 0 or more")
        drop = data.get("drop", False)
        if not isinstance(drop, bool):
            raise ValueError("drop must be true or false")
        if drop and status is not None:
            raise ValueError("a fault either drops the connection or answers with a status")
        if status is None and not latency and not drop:
            raise ValueError("a fault needs a status, a latency, drop, or a status and latency")
        service = data.get("service", IMS_SERVICE)
        if service not in SERVICES:
            raise ValueError(f"service must be one of {', '.join(SERVICES)}")
        paths = data.get("paths", data.get("path"))
        if paths is not None:
            if not isinstance(paths, str):
                raise ValueError("paths must be a regular expression (a string)")
            try:
                re.compile(paths)
            except re.error as exc:
                raise ValueError(f"paths is not a valid regular expression: {exc}") from exc
        methods = data.get("methods", data.get("method"))
        if isinstance(methods, str):
            methods = [methods]
        if methods is not None and (
            not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)
        ):
            raise ValueError("method(s) must be a string or a list of strings")
        if status == 429 and retry_after is None:
            retry_after = 1  # throttling always tells the client when to come back
        for name in ("code", "message"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValueError(f"{name} must be a string")
        return cls(
            status=status,
            count=count,
            latency=float(latency),
            retry_after=retry_after,
            paths=paths,
            methods=frozenset(m.upper() for m in methods) if methods is not None else None,
            code=data.get("code"),
            message=data.get("message"),
            service=service,
            drop=drop,
        )


def fire(
    faults: list[Fault], method: str, path: str, service: str = IMS_SERVICE
) -> tuple[float, Fault | None]:
    """Fire the faults that match a request; return (added latency, fault that answers or
    drops).

    Mutates `faults`: counts go down and spent faults are removed. Call it under the lock.
    """
    latency = 0.0
    answering: Fault | None = None
    for fault in list(faults):
        if not fault.matches(method, path, service):
            continue
        if fault.status is not None or fault.drop:
            if answering is not None:
                continue  # one status per request; the next burst waits its turn
            answering = fault
        latency += fault.latency
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                faults.remove(fault)
    return latency, answering


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
