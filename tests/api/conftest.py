"""Fixtures of the REST API's tests: personal tokens, and a client that speaks JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from ims_portal.api import tokens
from ims_portal.api.models import Scope


class Api:
    """Django's test client, sending JSON and a bearer token (or none)."""

    def __init__(self, token: str | None = None, **extra: str) -> None:
        self.client = Client(**extra)
        self.token = token

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        data = json.dumps(body) if body is not None else ""
        return self.client.generic(
            method, path, data, content_type="application/json", headers=headers
        )

    def get(self, path: str, **headers: str) -> Any:
        return self.call("GET", path, **headers)

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.call("POST", path, body, **headers)


@pytest.fixture
def token_for() -> Callable[..., str]:
    """The secret of a new token of `user` (export scope unless said otherwise)."""

    def make(user, scope: Scope = Scope.EXPORT, days: int = 90, name: str = "tests") -> str:
        return tokens.issue(user, name, scope, days).secret

    return make


@pytest.fixture
def api_as(token_for) -> Callable[..., Api]:
    def make(user=None, scope: Scope = Scope.EXPORT, **extra: str) -> Api:
        return Api(token_for(user, scope) if user is not None else None, **extra)

    return make


def problem(response: Any) -> dict[str, Any]:
    """The problem details of an error response (and that it is one)."""
    assert response["Content-Type"] == "application/problem+json", response.content[:300]
    body = json.loads(response.content)
    assert body["status"] == response.status_code
    assert body["request_id"] == response["X-Request-Id"]
    return body
