"""The CSV export on PostgreSQL: the same bytes as `exporting.stream("csv", ...)`, a few
times faster.

Building a file row by row in Python (a tuple per row, a `str()`, an escape check and a
`csv.writer` call per cell) costs several times what PostgreSQL's own `COPY ... CSV` does.
Here the database joins each row's cells (those before `details` and those after it),
checks with one regular expression (`NEEDS_WRITER`) whether any of them needs quoting or
the formula escape, and streams the rows with `COPY ... TO STDOUT` (binary), so it reads
the next rows while Python writes the previous ones. For a row that needs nothing, which
is nearly every row, the database sends the two pieces already joined by commas and Python
adds `details` in its canonical form; any other row (a comma in a user agent, a cell
starting with `=`) comes as its cells and goes through the same `csv.writer` code as the
plain export, so the output is identical whichever way a row took
(tests/audit/test_csv_copy.py compares the two).
"""

from __future__ import annotations

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
# What makes `exporting.csv_line` quote a cell.
QUOTED = (",", '"', "\n", "\r")


def _bracket(chars: tuple[str, ...]) -> str:
    """A regular-expression class of single characters, for PostgreSQL."""
    assert not {"]", "^", "\\"} & set(chars), chars
    return "[" + "".join(sorted(chars, key=lambda char: char != "-")) + "]"


# Joined cells that match neither go into the file as they are, the separators turned into
# commas: nothing to quote, no cell that `exporting.escape_cell` would change.
NEEDS_WRITER = f"{_bracket(QUOTED)}|(^|{SEPARATOR}){_bracket(tuple(exporting.FORMULA_START))}"


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
    """The SELECT behind the COPY. For each event in chain order: the CSV of the cells
    before `details` and of those after it when they need nothing done (else NULL),
    `details` as JSON text, and the cells one by one when they do (else NULL)."""
    model = events.model
    table = connection.ops.quote_name(model._meta.db_table)
    columns = {name: model._meta.get_field(name).column for name in exporting.COLUMNS}

    def joined(names: tuple[str, ...]) -> str:
        # concat(), unlike ||, reads NULL as '': the empty cell `str(None)` gives too.
        return "concat(" + ", chr(31), ".join(_cell_sql(columns[n], table) for n in names) + ")"

    parts = {
        "csv_id": f"{table}.{connection.ops.quote_name(columns['id'])}",
        "csv_before": joined(BEFORE),
        "csv_details": f"{table}.{connection.ops.quote_name(columns['details'])}::text",
        "csv_after": joined(AFTER),
    }
    # Only the model's own table and column names are formatted in; the filter's values
    # stay parameters of the queryset.
    query = events.annotate(**{name: RawSQL(sql, ()) for name, sql in parts.items()})  # noqa: S611
    inner, params = query.order_by("id").values_list(*parts).query.sql_with_params()
    separators = len(BEFORE) + len(AFTER) - 1
    # OFFSET 0 keeps each level a level of its own, so every expression runs once a row;
    # levels that only add columns keep the innermost level's chain order.
    sql = f"""
        SELECT
            CASE WHEN plain THEN replace(csv_before, chr(31), ',') END,
            csv_details,
            CASE WHEN plain THEN replace(csv_after, chr(31), ',') END,
            CASE
                WHEN plain THEN NULL
                WHEN unambiguous THEN string_to_array(cells, chr(31))
                ELSE (SELECT ARRAY[{", ".join(_cell_sql(columns[n], table) for n in BEFORE + AFTER)}]
                      FROM {table} WHERE {table}.{connection.ops.quote_name(columns["id"])} = csv_id)
            END
        FROM (
            SELECT *, unambiguous AND cells !~ %s AS plain
            FROM (
                SELECT *, length(cells) - length(replace(cells, chr(31), '')) = {separators}
                    AS unambiguous
                FROM (
                    SELECT *, csv_before || chr(31) || csv_after AS cells
                    FROM ({inner} OFFSET 0) AS events OFFSET 0
                ) AS joined OFFSET 0
            ) AS counted OFFSET 0
        ) AS checked
    """  # noqa: S608 - the model's table and column names only, as above
    return sql, (NEEDS_WRITER, *params)


def stream(header: dict[str, Any], events: QuerySet[Any]) -> Iterator[str]:
    """The CSV file of `events` (a queryset of audit events, any filter) under `header`,
    piece by piece: memory stays flat whatever the number of rows."""
    write = exporting.csv_line()

    def line(cells: list[str]) -> str:
        return write([exporting.escape_cell(cell) for cell in cells])

    yield exporting.CSV_MARK + chain.canonical_json(header) + "\n"
    yield line(list(exporting.COLUMNS))
    sql, params = _query(events)
    # The database's JSON text has no surrounding space: `raw_decode` skips `loads`' checks.
    decode = json.JSONDecoder().raw_decode
    canonical = chain.canonical_json
    with transaction.atomic(), connection.cursor() as cursor:
        # The file streams at the reader's pace, in one statement: the per-statement limit
        # that guards the pages would cut a large download short. The query is a plain
        # scan of one table, not a runaway.
        cursor.execute("SET LOCAL statement_timeout = 0")
        # Compiling the expressions costs more than it saves on a query that streams.
        cursor.execute("SET LOCAL jit = off")
        pending: list[str] = []
        size = 0
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
            copy.set_types(["text", "text", "text", "text[]"])
            for before, details_text, after, cells in copy.rows():
                # As `chain.content` reads it: SQL NULL, JSON null or an empty value is {}.
                details = canonical((decode(details_text)[0] if details_text else None) or {})
                if before is None:  # a cell to quote or escape: the plain path's writer
                    text = line([*cells[:DETAILS], details, *cells[DETAILS:]])
                elif '"' in details and not details.startswith(exporting.FORMULA_START):
                    cell = '"' + details.replace('"', '""') + '"'  # as csv.writer quotes it
                    text = f"{before},{cell},{after}\n"
                elif not details.startswith(exporting.FORMULA_START) and not any(
                    mark in details for mark in QUOTED
                ):
                    text = f"{before},{details},{after}\n"
                else:  # the cells hold no comma: splitting at them is exact
                    text = line([*before.split(","), details, *after.split(",")])
                pending.append(text)
                size += len(text)
                if size >= CHUNK_CHARS:
                    yield "".join(pending)
                    pending.clear()
                    size = 0
        if pending:
            yield "".join(pending)
