"""The CSV export on PostgreSQL: the same bytes as `exporting.stream("csv", ...)`, written
by PostgreSQL's own `COPY ... TO STDOUT (FORMAT csv)`.

Building a file row by row in Python (a tuple per row, a `str()`, an escape check and a
`csv.writer` call per cell, the JSON of `details` decoded and encoded again) costs several
times what the database's COPY does. Here the database writes every line:

- the cells are spelled as the plain export spells them: the time stamp as
  `chain.canonical_time` does (`to_char`), `details` as stored beside them in their hashed
  spelling (`AuditEvent.details_text`), the rest as text;
- a cell that `exporting.escape_cell` would prefix gets its `'` in SQL, from the same
  `FORMULA_START` characters;
- an empty cell is sent as NULL, which COPY writes as nothing at all (an empty string it
  would quote), as `csv.writer` does;
- COPY quotes a cell holding a comma, a quote, a CR or an LF, doubling its quotes, which is
  what `exporting.csv_line` does, and ends each line with an LF.

Python only passes the lines on, in pieces of about `CHUNK_BYTES`, so the database reads and
writes on one core while the response is sent from the other. The output is the plain
path's whatever the cells hold (tests/audit/test_csv_copy.py compares the two on awkward
values), so `verify_audit --file` accepts it as ever.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from ims_portal.audit import chain, exporting

CHUNK_BYTES = 64 * 1024  # per yielded piece: few, large writes to the socket
# The model field each file column is read from.
SOURCES = {name: "details_text" if name == "details" else name for name in exporting.COLUMNS}


def supported() -> bool:
    """Whether this database can serve the fast path (PostgreSQL's COPY)."""
    return connection.vendor == "postgresql"


def _text_sql(column: str, name: str) -> str:
    """The cell of file column `name` as the plain export spells it, from `column`."""
    if name == "at":
        # `chain.canonical_time`: UTC, ISO 8601, always six digits of microseconds.
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
    return f"{column}::text"


def _escaped_sql(cell: str) -> str:
    """`exporting.escape_cell` in SQL (`formula`: its characters), the empty cell NULL."""
    return (
        f"CASE WHEN {cell} = '' THEN NULL "
        f"WHEN strpos(formula, left({cell}, 1)) > 0 THEN '''' || {cell} ELSE {cell} END"
    )


def _query(events: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    """The SELECT behind the COPY: the file's cells of `events`, in chain order."""
    model = events.model
    quote = connection.ops.quote_name
    columns = [model._meta.get_field(SOURCES[name]).column for name in exporting.COLUMNS]
    # The model's own columns, filtered and ordered by the queryset (its values stay
    # parameters); each level above reads the one below by the columns' names.
    fields = [SOURCES[name] for name in exporting.COLUMNS]
    inner, params = events.order_by("id").values_list(*fields).query.sql_with_params()
    cells = [f"c{n}" for n in range(len(columns))]
    spelled = ", ".join(
        f"{_text_sql(quote(column), name)} AS {cell}"
        for column, name, cell in zip(columns, exporting.COLUMNS, cells, strict=True)
    )
    # OFFSET 0 keeps each level a level of its own, so that every cell is spelled once a
    # row (not once per mention in its escape); levels that only add columns keep the
    # innermost level's chain order.
    sql = f"""
        SELECT {", ".join(_escaped_sql(cell) for cell in cells)}
        FROM (
            SELECT {spelled}, %s::text AS formula FROM ({inner} OFFSET 0) AS events OFFSET 0
        ) AS spelled
    """  # noqa: S608 - the model's column names only; the filter's values stay parameters
    return sql, ("".join(exporting.FORMULA_START), *params)


def stream(header: dict[str, Any], events: QuerySet[Any]) -> Iterator[str]:
    """The CSV file of `events` (a queryset of audit events, any filter) under `header`,
    piece by piece: memory stays flat whatever the number of rows."""
    line = exporting.csv_line()
    yield exporting.CSV_MARK + chain.canonical_json(header) + "\n"
    yield line(exporting.COLUMNS)
    sql, params = _query(events)
    # COPY sends a line a message, but nothing promises it: a piece may end inside a character.
    decode = codecs.getincrementaldecoder("utf-8")().decode
    with transaction.atomic(), connection.cursor() as cursor:
        # The file streams at the reader's pace, in one statement: the per-statement limit
        # that guards the pages would cut a large download short. The query is a plain
        # scan of one table, not a runaway.
        cursor.execute("SET LOCAL statement_timeout = 0")
        # Compiling the expressions costs more than it saves on a query that streams.
        cursor.execute("SET LOCAL jit = off")
        pending: list[Any] = []
        size = 0
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
            for block in copy:
                pending.append(block)
                size += len(block)
                if size >= CHUNK_BYTES:
                    yield decode(b"".join(pending))
                    pending.clear()
                    size = 0
        rest = decode(b"".join(pending), final=True)
        if rest:
            yield rest
