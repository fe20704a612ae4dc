"""PostgreSQL's plan of a query, as the tests that hold queries to their indexes read it."""

from __future__ import annotations

from typing import Any

from django.db import connection


def explain(queryset: Any) -> str:
    """The plan of `queryset` with sequential scans priced out: a `Seq Scan` left in it is a
    table that no index can serve for this query."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # can an index serve it at all?
    return queryset.explain()


def explain_sql(sql: str, params: Any) -> str:
    """As `explain`, for a query given as SQL."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(line for (line,) in cursor.fetchall())
