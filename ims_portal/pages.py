"""Helpers every page view shares: fragment or full page, and paging a long list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import cached_property
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import F, QuerySet, Value
from django.http import HttpRequest, StreamingHttpResponse


def _next_part(parts: Iterator[bytes]) -> bytes | None:
    return next(parts, None)


class FlatStreamingHttpResponse(StreamingHttpResponse):
    """A response streamed from a synchronous iterator (rows read from the database as they
    are sent) that stays streamed under ASGI too: Django's own reads such an iterator to
    its end into a list before sending the first byte there, so memory would grow with the
    file. Here each part is read in the request's own thread (that of its database
    connection) when the client is ready for it."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parts: Iterator[bytes] = iter(self.streaming_content)  # type: ignore[arg-type]
        read = sync_to_async(_next_part, thread_sensitive=True)
        while (part := await read(parts)) is not None:
            yield part


# The most rows a paged list counts past the page it shows: beyond it the page says "more
# than", so no page counts millions of rows to print one figure.
COUNT_BOUND = 10_000


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


FARTHEST_START = 2**62


class BoundedPaginator(Paginator):
    """A paginator that counts at most `COUNT_BOUND` rows past the page asked for.

    The count starts at the requested page, so paging on stays possible however long the
    list; while more rows lie beyond the bound, `count_is_bounded` is true and `count` is a
    lower bound (the pager and the result line say "more than").
    """

    def __init__(self, object_list: Any, per_page: int) -> None:
        super().__init__(object_list, per_page)
        self._start = 0

    def get_page(self, number: Any) -> Page:
        """The page `number` (the last one for anything past the end), counting from it."""
        try:
            start = max(int(number) - 1, 0) * int(self.per_page)
        except (TypeError, ValueError):
            start = 0
        # Past any table a database holds, so past the end; beyond it PostgreSQL refuses
        # the OFFSET of the count (a bigint) instead of finding nothing there.
        self._start = min(start, FARTHEST_START)
        return super().get_page(number)

    @cached_property
    def count(self) -> int:
        """The rows up to the requested page, plus at most `COUNT_BOUND` + 1 after it."""
        ahead = self._count_from(self._start)
        if ahead == 0 and self._start:  # past the end: the last page is counted from the top
            self._start = 0
            ahead = self._count_from(0)
        self.count_is_bounded = ahead > COUNT_BOUND
        return self._start + ahead

    def _count_from(self, start: int) -> int:
        rows = cast("QuerySet[Any]", self.object_list)  # every paged list is a queryset
        # How many rows lie past `start` does not depend on their order: count them unsorted,
        # selecting no column, so that an index on the filter alone can answer (index-only).
        # SQLite has no empty select list, which is what Django makes of the constant here:
        # there the key is selected (its tables are the development checkout's, small).
        unsorted = rows.order_by()
        if connections[rows.db].vendor == "sqlite":
            counted = unsorted.values("pk")
        else:
            counted = unsorted.values(one=Value(1))
        return counted[start : start + COUNT_BOUND + 1].count()

    @property
    def count_floor(self) -> int:
        """With `count_is_bounded`: the figure the list has more than."""
        return self._start + COUNT_BOUND

    @property
    def pages_floor(self) -> int:
        """With `count_is_bounded`: the number of pages the list has more than."""
        return self.count_floor // int(self.per_page)

    count_is_bounded = False


class SearchPaginator(BoundedPaginator):
    """A `BoundedPaginator` for a list found by a text search, read once when it can be.

    On PostgreSQL a search goes through trigram indexes, and that scan costs the same whether
    it counts the matches or sorts them for the page: the plain paginator pays it twice. Here
    one query gathers the matches (at most as many as the count reads), counts them and picks
    the page's primary keys in the list's order; the page is then read by primary key. Only
    when more matches lie ahead than the count's bound is the page read as the plain
    paginator reads it, since the gathered rows are then not all of them. The list must be
    ordered by the model's own fields (any other ordering is paged the plain way).
    """

    def __init__(self, object_list: Any, per_page: int) -> None:
        super().__init__(object_list, per_page)
        self._page_keys: tuple[int, list[Any]] | None = None  # (first row, primary keys)

    def _count_from(self, start: int) -> int:
        rows = cast("QuerySet[Any]", self.object_list)
        ordering = _own_ordering(rows)
        if ordering is None or rows.query.is_empty():
            return super()._count_from(start)
        connection = connections[rows.db]
        # The matches, unordered and bounded as the plain count reads them, under names of
        # our own (the key, then the ordering's fields); ordered and counted above.
        names = {"gathered_key": F("pk")}
        names.update({f"gathered_{n}": F(name) for n, (name, _) in enumerate(ordering)})
        matches = rows.order_by().annotate(**names).values_list(*names)
        inner, params = matches[: start + COUNT_BOUND + 1].query.sql_with_params()
        order = ", ".join(
            f"gathered_{n}{' DESC' if descending else ''}"
            for n, (_, descending) in enumerate(ordering)
        )
        sql = (
            f"SELECT gathered_key, COUNT(*) OVER () FROM ({inner}) AS matches "  # noqa: S608 - names of our own
            f"ORDER BY {order} LIMIT %s OFFSET %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, (*params, self.per_page, start))
            found = cursor.fetchall()
        ahead = found[0][1] - start if found else 0
        if found and ahead <= COUNT_BOUND:  # every match was gathered: the page is exact
            self._page_keys = (start, [key for key, _ in found])
        return ahead

    def page(self, number: Any) -> Page:
        """The page `number`; read by primary key when its rows were gathered with the count."""
        number = self.validate_number(number)
        bottom = (number - 1) * int(self.per_page)
        if self._page_keys is None or self._page_keys[0] != bottom:
            return super().page(number)
        rows = cast("QuerySet[Any]", self.object_list)
        return Page(rows.filter(pk__in=self._page_keys[1]), number, self)


def _own_ordering(rows: QuerySet[Any]) -> list[tuple[str, bool]] | None:
    """The list's ordering as (field name, descending) pairs, if every term names one of
    the model's own concrete fields."""
    query = rows.query
    terms = query.order_by or ((query.get_meta().ordering or ()) if query.default_ordering else ())
    ordering = []
    for term in terms:
        if not isinstance(term, str) or term.lstrip("-") == "?":
            return None
        name = term.lstrip("-")
        name = rows.model._meta.pk.name if name == "pk" else name
        try:
            field = rows.model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if not getattr(field, "concrete", False) or field.is_relation:
            return None
        ordering.append((name, term.startswith("-")))
    return ordering or None
