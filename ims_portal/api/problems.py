"""Every error of the API as RFC 9457 problem details (`application/problem+json`).

A problem has the RFC's members (`type`, `title`, `status`, `detail`, `instance`) and two of
the portal's: `request_id` (the `X-Request-Id` the audit trail and the logs carry) and, for
a refused request, `errors`: one entry per broken rule, with a JSON Pointer into the body
(`{"pointer": "#/bucket", "detail": ...}`, `#` for the request as a whole) or the query
parameter it is about (`{"parameter": "status", "detail": ...}`), as RFC 9457 shows.

Problems of the portal's own have a `type` naming their entry on the API reference page
(`PROBLEM_TYPES`); plain HTTP ones (401, 403, 404, 405) are `about:blank` with the
status's own title, as the RFC recommends.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils.html import strip_tags
from rest_framework import exceptions
from rest_framework.response import Response

CONTENT_TYPE = "application/problem+json"

# The portal's own problem types: slug -> (title, when it happens). The reference page lists
# them, each under the anchor its `type` URI names.
PROBLEM_TYPES: Mapping[str, tuple[str, str]] = {
    "validation-failed": (
        "The request breaks the export rules",
        "The fields break a rule of the new-export form (the same rules, checked by the same "
        "code, including the pre-flight in OBS); `errors` names each field and what to do.",
    ),
    "invalid-request": (
        "The request is malformed",
        "The body is not a JSON object, names a field the endpoint does not take, or a query "
        "parameter is not valid; `errors` says which.",
    ),
    "idempotency-key-reused": (
        "The Idempotency-Key was used for another request",
        "The same key already made an export asking for something else. A key stands for one "
        "request: send a new key for a new export.",
    ),
    "export-state-conflict": (
        "The export is not in a state that allows this",
        "Retry is for an export that ended without its file, abandon for one whose job the "
        "cloud may be running, cancel for a queued one; `export_status` says where it is.",
    ),
    "cloud-unavailable": (
        "The cloud could not be reached",
        "IMS or OBS did not answer, so nothing was decided and nothing was submitted; try "
        "again in a moment.",
    ),
    "invalid-token": (
        "The API token is not valid",
        "The bearer token is unknown, revoked or expired, or its user is deactivated. Make a "
        "new token on the API tokens page.",
    ),
    "insufficient-scope": (
        "The API token may not do this",
        "A read-only token cannot change anything. Make a token with the export scope.",
    ),
    "no-access": (
        "Your roles do not allow this",
        "The roles your identity provider's groups gave you at your last sign-in do not "
        "include one this endpoint needs; `needed_roles` names them.",
    ),
}


class Problem(exceptions.APIException):
    """An API error of one of the portal's `PROBLEM_TYPES`, with optional extra members."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **members: Any,
    ) -> None:
        assert slug in PROBLEM_TYPES, slug
        super().__init__(detail)
        self.status_code = status
        self.slug = slug
        self.errors = errors or []
        self.headers = headers or {}
        self.members = members


def type_uri(request: HttpRequest, slug: str) -> str:
    """The `type` of a portal problem: its entry on the API reference page."""
    return request.build_absolute_uri(reverse("api:reference")) + f"#problem-{slug}"


def form_errors(
    errors: Mapping[str, Any], *, names: Mapping[str, str] | None = None, query: bool = False
) -> list[dict[str, str]]:
    """A Django form's errors as problem entries: a pointer into the body (or, with
    `query`, the parameter), under the API's name of each field (`names`)."""
    names = names or {}
    entries = []
    for field, messages in errors.items():
        name = "" if field == "__all__" else names.get(field, field)
        for message in messages:
            text = strip_tags(str(message))
            if query:
                entries.append({"parameter": name, "detail": text})
            else:
                entries.append({"pointer": f"#/{name}" if name else "#", "detail": text})
    return entries


def problem_response(
    request: HttpRequest,
    status: int,
    *,
    detail: str,
    slug: str = "",
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    **members: Any,
) -> Response:
    """The problem-details response itself."""
    body: dict[str, Any] = {
        "type": type_uri(request, slug) if slug else "about:blank",
        "title": PROBLEM_TYPES[slug][0] if slug else HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": getattr(request, "request_id", ""),
    }
    if errors:
        body["errors"] = errors
    body.update(members)
    return Response(body, status=status, headers=dict(headers or {}), content_type=CONTENT_TYPE)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST framework's exception handler: each API error as problem details."""
    request = context["request"]
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500 handling and logging take it
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = str(exc.auth_header)  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    if isinstance(exc, Problem):
        return problem_response(
            request,
            exc.status_code,
            detail=str(exc.detail),
            slug=exc.slug,
            errors=exc.errors,
            headers={**headers, **exc.headers},
            **exc.members,
        )
    if isinstance(exc, exceptions.ValidationError):
        return problem_response(
            request,
            400,
            slug="invalid-request",
            detail="The request is not valid.",
            errors=_drf_errors(exc.detail),
        )
    if isinstance(exc, exceptions.ParseError):
        return problem_response(
            request, 400, slug="invalid-request", detail=str(exc.detail), headers=headers
        )
    return problem_response(request, exc.status_code, detail=str(exc.detail), headers=headers)


def _drf_errors(detail: Any, path: str = "#") -> list[dict[str, str]]:
    if isinstance(detail, Mapping):
        entries = []
        for key, value in detail.items():
            inner = path if key == "non_field_errors" else f"{path}/{key}"
            entries += _drf_errors(value, inner)
        return entries
    if isinstance(detail, list):
        return [entry for item in detail for entry in _drf_errors(item, path)]
    return [{"pointer": path, "detail": str(detail)}]
