"""The portal's rate limits (django-ratelimit): export requests per user, password sign-ins
per account name and per source address, and the 429 page a refused request gets.

The rates are settings (`EXPORT_RATE_LIMIT`, `SIGN_IN_RATE_LIMIT`), read at each request.
The counters live in the cache; with the cache down requests are let through
(`RATELIMIT_FAIL_OPEN`), so an outage of Redis never locks everyone out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django_ratelimit.decorators import ratelimit

View = Callable[..., Any]

RATE = re.compile(r"(?P<count>[0-9]+)/(?P<times>[0-9]*)(?P<unit>[smhd])")
UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def _export_rate(group: str, request: HttpRequest) -> str:
    return str(settings.EXPORT_RATE_LIMIT)


def _sign_in_rate(group: str, request: HttpRequest) -> str:
    return str(settings.SIGN_IN_RATE_LIMIT)


def limit_exports(view: View) -> View:
    """At most EXPORT_RATE_LIMIT export requests (POSTs) per user."""
    return ratelimit(group="export-request", key="user", rate=_export_rate, method="POST")(view)


def limit_sign_ins(view: View) -> View:
    """At most SIGN_IN_RATE_LIMIT password attempts (POSTs) per account name, and as many
    per source address (someone trying many names)."""
    limited = ratelimit(
        group="sign-in-name", key="post:username", rate=_sign_in_rate, method="POST"
    )
    return ratelimit(group="sign-in-address", key="ip", rate=_sign_in_rate, method="POST")(
        limited(view)
    )


def too_many_requests(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 429 page (`RATELIMIT_VIEW`): what was refused and when to try again."""
    match = request.resolver_match
    sign_in = match is not None and "login" in (match.url_name or "")
    rate = str(settings.SIGN_IN_RATE_LIMIT if sign_in else settings.EXPORT_RATE_LIMIT)
    context = {
        "what": "sign-in attempts per account name and per address"
        if sign_in
        else "export requests per person",
        "rate": in_words(rate),
    }
    response = TemplateResponse(request, "429.html", context, status=429)
    response["Retry-After"] = "60"
    return response


def in_words(rate: str) -> str:
    """A django-ratelimit rate as the 429 page says it: "20/m" is "20 a minute"."""
    match = RATE.fullmatch(rate.strip())
    if match is None:
        return rate
    times, unit = match["times"], UNITS[match["unit"]]
    if times and times != "1":
        return f"{match['count']} per {times} {unit}s"
    return f"{match['count']} {'an' if unit == 'hour' else 'a'} {unit}"
