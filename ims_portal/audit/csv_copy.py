"""The CSV export on PostgreSQL: the same bytes as `exporting.stream("csv", ...)`, several
times faster.

Building a file row by row in Python (a tuple per row, a `str()`, an escape check and a
`csv.writer` call per cell) costs several times what PostgreSQL's own `COPY ... CSV` does.
Here the database joins each row's cells into two strings (the cells before `details`
and those after it, separated by U+001F) and streams them with `COPY ... TO STDOUT`
(binary), so the database reads the next rows while Python writes the previous ones. For
a row whose cells need neither quoting nor the formula escape, which is nearly every row,
the CSV line is those strings with the separator turned into a comma, and `details` in its
canonical form. Any other row (a comma in a user agent, a cell starting with `=`) goes
through the same `csv.writer` code as the plain export, cell by cell, so the output is
identical whichever way a row took (tests/audit/test_csv_copy.py compares the two).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from ims_portal.audit import chain, exporting

SEPARATOR = "\x1f"
CHUNK_CHARS = 64 * 1024  # characters per yielded piece: few, large writes to the socket
DETAILS = exporting.COLUMNS.index("details")
BEFORE = exporting.COLUMNS[:DETAILS]
AFTER = exporting.COLUMNS[DETAILS + 1 :]
# What makes `csv.writer` quote a cell (with "\n" as the line end; "\r" too, to be safe)
# and what makes `exporting.escape_cell` change it: joined cells holding none of these
# are written as they are, the separators turned into commas. `_plain` spells them out;
# tests/audit/test_csv_copy.py checks it covers every one.
QUOTED = (",", '"', "\n", "\r")


def _plain(joined: str) -> bool:
    """Whether these joined cells go into the file unchanged: nothing to quote or escape."""
    # Spelled out, not a loop: this runs for every row, and each `in` is one fast scan.
    return not (
        "," in joined
        or '"' in joined
        or "\n" in joined
        or "\r" in joined
        or joined.startswith(exporting.FORMULA_START)
        or "\x1f=" in joined
        or "\x1f+" in joined
        or "\x1f-" in joined
        or "\x1f@" in joined
        or "\x1f\t" in joined
        or "\x1f\r" in joined
        or "\x1f'" in joined
    )


def _cells(before: str, details: str, after: str) -> list[str]:
    return [*before.split(SEPARATOR), details, *after.split(SEPARATOR)]


def _row_cells(separated: list[str] | None, before: str, details: str, after: str) -> list[str]:
    # The database sends the cells one by one when one of them holds the separator.
    if separated is None:
        return _cells(before, details, after)
    return [*separated[:DETAILS], details, *separated[DETAILS:]]


def supported() -> bool:
    """Whether this database can serve the fast path (PostgreSQL's COPY)."""
    return connection.vendor == "postgresql"


def _cell_sql(name: str, table: str) -> str:
    column = f"{table}.{connection.ops.quote_name(name)}"
    if name == "at":
        # `chain.canonical_time`: UTC, ISO 8601, always six digits of microseconds.
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
    return f"{column}::text"


def _query(events: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    """The SELECT behind the COPY: for each event in chain order, the joined cells before
    `details`, `details` as JSON text, the joined cells after it, and the cells one by one
    only when a cell holds the separator itself (so joining them would be ambiguous)."""
    model = events.model
    table = connection.ops.quote_name(model._meta.db_table)
    columns = {name: model._meta.get_field(name).column for name in exporting.COLUMNS}

    def cells(names: tuple[str, ...]) -> list[str]:
        return [_cell_sql(columns[name], table) for name in names]

    def joined(names: tuple[str, ...]) -> str:
        # concat(), unlike ||, reads NULL as '': the empty cell `str(None)` never gives.
        return "concat(" + ", chr(31), ".join(cells(names)) + ")"

    every = cells(BEFORE + AFTER)
    separated = (
        f"CASE WHEN strpos(concat({', '.join(every)}), chr(31)) > 0 "
        f"THEN ARRAY[{', '.join(every)}] END"
    )
    details = f"{table}.{connection.ops.quote_name(columns['details'])}::text"
    parts = {
        "csv_before": joined(BEFORE),
        "csv_details": details,
        "csv_after": joined(AFTER),
        "csv_cells": separated,
    }
    # Only the model's own table and column names are formatted in; the filter's values
    # stay parameters of the queryset.
    query = events.annotate(**{name: RawSQL(sql, ()) for name, sql in parts.items()})  # noqa: S611
    return query.order_by("id").values_list(*parts).query.sql_with_params()


def stream(header: dict[str, Any], events: QuerySet[Any]) -> Iterator[str]:
    """The CSV file of `events` (a queryset of audit events, any filter) under `header`,
    piece by piece: memory stays flat whatever the number of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(cells: list[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([exporting.escape_cell(cell) for cell in cells])
        return buffer.getvalue()

    yield exporting.CSV_MARK + chain.canonical_json(header) + "\n"
    yield line(list(exporting.COLUMNS))
    sql, params = _query(events)
    loads = json.loads
    canonical = chain.canonical_json
    with transaction.atomic(), connection.cursor() as cursor:
        # The file streams at the reader's pace, in one statement: the per-statement limit
        # that guards the pages would cut a large download short. The query is a plain
        # scan of one table, not a runaway.
        cursor.execute("SET LOCAL statement_timeout = 0")
        pending: list[str] = []
        size = 0
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
            copy.set_types(["text", "text", "text", "text[]"])
            for before, details_text, after, separated in copy.rows():
                # As `chain.content` reads it: SQL NULL, JSON null or an empty value is {}.
                details = canonical((loads(details_text) if details_text else None) or {})
                if separated is None and _plain(before + SEPARATOR + after):
                    if '"' in details and not details.startswith(exporting.FORMULA_START):
                        cell = '"' + details.replace('"', '""') + '"'  # as csv.writer quotes
                        text = f"{before.replace(SEPARATOR, ',')},{cell},"
                        text += f"{after.replace(SEPARATOR, ',')}\n"
                    elif _plain(details):
                        text = f"{before.replace(SEPARATOR, ',')},{details},"
                        text += f"{after.replace(SEPARATOR, ',')}\n"
                    else:
                        text = line(_cells(before, details, after))
                else:
                    text = line(_row_cells(separated, before, details, after))
                pending.append(text)
                size += len(text)
                if size >= CHUNK_CHARS:
                    yield "".join(pending)
                    pending.clear()
                    size = 0
        if pending:
            yield "".join(pending)
