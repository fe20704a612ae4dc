"""Helpers every page view shares: fragment or full page, and the query of a paged list."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest


class SignedInRequest(HttpRequest):
    """A request that the access checks (`accounts.access`) let through: its user is signed
    in. Views behind `exporter_required` / `reader_required` take this type."""

    user: User


def is_fragment_request(request: HttpRequest) -> bool:
    """An HTMX request for a fragment (not a boosted navigation, which wants a page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx and not htmx.boosted)


def query_without_page(request: HttpRequest) -> str:
    """The list's filters as a query string, for the pager's links to add `page=` to."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
