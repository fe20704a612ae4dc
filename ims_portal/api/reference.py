"""The API reference page: the OpenAPI schema, read as a page of the portal.

It is written from the same schema `/api/schema/` serves (drf-spectacular's generator over
the API's views), so it cannot drift from the endpoints; it adds what a schema cannot say
well: how to authenticate, and the problem types errors name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET
from drf_spectacular.generators import SchemaGenerator

from ims_portal.api.problems import PROBLEM_TYPES
from ims_portal.api.tokens import DEFAULT_LIFETIME_DAYS, max_lifetime_days

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    parameters: list[dict[str, Any]]
    body: str  # the request body's schema name, "" without one
    responses: list[tuple[str, str]]  # (status, what it returns)


@functools.cache
def schema() -> dict[str, Any]:
    """The API's OpenAPI document (built once per process: it only changes with the code)."""
    generated: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return generated


def operations() -> list[Operation]:
    """Every operation of the schema, in path order."""
    found = []
    paths: dict[str, dict[str, Any]] = schema()["paths"]
    for path, item in paths.items():
        for method in METHODS:
            op: dict[str, Any] | None = item.get(method)
            if op is None:
                continue
            content: dict[str, Any] = (op.get("requestBody") or {}).get("content", {})
            first: dict[str, Any] = next(iter(content.values()), {})
            body: str = first.get("schema", {}).get("$ref", "")
            responses = []
            for status, answer in op.get("responses", {}).items():
                kinds: dict[str, Any] = answer.get("content", {})
                answered: dict[str, Any] = next(iter(kinds.values()), {})
                returned: dict[str, Any] = answered.get("schema", {})
                name = returned.get("$ref", "") or returned.get("items", {}).get("$ref", "")
                what = name.rsplit("/", 1)[-1] if name else answer.get("description", "")
                if returned.get("type") == "array" and name:
                    what = f"list of {what}"
                responses.append((status, what))
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    summary=op.get("summary", ""),
                    description=op.get("description", ""),
                    parameters=op.get("parameters", []),
                    body=body.rsplit("/", 1)[-1],
                    responses=responses,
                )
            )
    return found


@require_GET
def reference(request: HttpRequest) -> HttpResponse:
    """The reference page (public, like the schema: it holds no secret)."""
    context = {
        "operations": operations(),
        "problems": [(slug, title, text) for slug, (title, text) in PROBLEM_TYPES.items()],
        "components": sorted(schema().get("components", {}).get("schemas", {}).items()),
        "default_days": DEFAULT_LIFETIME_DAYS,
        "max_days": max_lifetime_days(),
    }
    return TemplateResponse(request, "api/reference.html", context)
