"""The REST API over HTTP: one session with the token, and the API's problem details as
`ApiError`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

USER_AGENT = "ims-portal-cli/1"
TIMEOUT = 30.0
# A kept-alive connection that the server closed while the command slept between two polls
# fails the next request before it reaches the portal (gunicorn closes idle ones after a
# few seconds); such a request, or one refused while the portal restarts, is sent again.
# POST too: the only one the command sends, a new export, always carries an
# Idempotency-Key, so a second copy lands on the same export.
RETRIES = Retry(
    total=4,
    connect=4,
    read=2,
    status=0,
    backoff_factor=0.5,
    allowed_methods=frozenset({"GET", "HEAD", "POST"}),
    raise_on_status=False,
)


@dataclass
class ApiError(Exception):
    """An error answer (problem details where the portal sent them), or no answer at all."""

    status: int  # 0: the portal could not be reached
    title: str
    detail: str = ""
    problem: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        head = f"{self.title} ({self.status})" if self.status else self.title
        return f"{head}: {self.detail}" if self.detail else head

    @property
    def slug(self) -> str:
        """The portal's problem type (`validation-failed`, ...), "" for a plain HTTP one."""
        kind = str(self.problem.get("type", ""))
        return kind.rsplit("#problem-", 1)[1] if "#problem-" in kind else ""


class Portal:
    """The portal's API at `url`, as the holder of `token`."""

    def __init__(self, url: str, token: str) -> None:
        self.base = f"{url}/api/v1"
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=RETRIES))
        self.session.mount("https://", HTTPAdapter(max_retries=RETRIES))
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            }
        )

    def get(self, path: str, **params: Any) -> Any:
        return self._call(
            "GET", path, params={k: v for k, v in params.items() if v not in (None, "")}
        )

    def post(self, path: str, body: dict[str, Any], idempotency_key: str) -> Any:
        """POST `body`; the key makes a copy sent again (`RETRIES`) land on the same thing."""
        return self._call("POST", path, json=body, headers={"Idempotency-Key": idempotency_key})

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.session.request(method, self.base + path, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as error:
            raise ApiError(
                0, f"the portal could not be reached at {self.base}", str(error)
            ) from error
        if response.ok:
            return response.json()
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        raise ApiError(
            response.status_code,
            str(problem.get("title") or response.reason),
            str(problem.get("detail") or ""),
            problem,
        )
