"""Audit events as files auditors take away: CSV and JSON Lines, streamed, and read back.

Every file starts with one line of metadata: the filter, who exported it and when, and the
head of the chain at that moment (the export's own audit event), so the file can be
checked against the trail later (`manage.py verify_audit --file`). CSV files mark that
line with `# `; JSON Lines files hold it as `{"audit_export": {...}}`.

Rows are in chain order (oldest first) and carry every hashed field exactly as it was
hashed, so each row's hash can be recomputed from the file alone. In CSV, a cell that a
spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) is prefixed with `'`,
and so is a cell that already starts with `'`; `unescape_cell` undoes it exactly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ims_portal.audit import chain

FORMAT = "ims-portal-audit/1"
COLUMNS = ("id", *chain.FIELDS, "hash")
ROWS_PER_CHUNK = 500  # rows per yielded piece: few, large writes to the socket

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}
CSV_MARK = "# "
JSONL_KEY = "audit_export"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def exported_row(values: tuple[Any, ...]) -> dict[str, Any]:
    """One `values_list(*COLUMNS)` tuple as it goes into a file: canonical content."""
    row = dict(zip(COLUMNS, values, strict=True))
    return {"id": row["id"], **chain.content(row), "hash": row["hash"]}


def escape_cell(value: str) -> str:
    """A CSV cell a spreadsheet will show as text, never run as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def unescape_cell(value: str) -> str:
    """The value `escape_cell` was given, exactly."""
    return value[1:] if value.startswith("'") else value


def stream(fmt: str, header: dict[str, Any], rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    """The file, piece by piece: memory stays flat whatever the number of rows."""
    write = _csv_lines if fmt == "csv" else _jsonl_lines
    yield from write(header, rows)


def _batched(lines: Iterable[str]) -> Iterator[str]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= ROWS_PER_CHUNK:
            yield "".join(batch)
            batch.clear()
    if batch:
        yield "".join(batch)


def csv_line() -> Callable[[Iterable[str]], str]:
    """A writer of one row of cells as a CSV line ending in "\n".

    `csv.writer` quotes a cell holding a character of its line terminator: told "\n", it
    would leave a bare CR unquoted, and a reader ends the row there. So it writes "\r\n"
    (quoting every cell with a CR or an LF) and the line end is put back to "\n".
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: Iterable[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()[:-2] + "\n"

    return line


def _csv_lines(header: dict[str, Any], rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    line = csv_line()
    yield CSV_MARK + chain.canonical_json(header) + "\n"
    yield line(COLUMNS)

    def body() -> Iterator[str]:
        for values in rows:
            row = exported_row(values)
            row["details"] = chain.canonical_json(row["details"])
            yield line(escape_cell(str(row[column])) for column in COLUMNS)

    yield from _batched(body())


def _jsonl_lines(header: dict[str, Any], rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    yield json.dumps({JSONL_KEY: header}, ensure_ascii=False) + "\n"
    yield from _batched(
        json.dumps(exported_row(values), ensure_ascii=False) + "\n" for values in rows
    )


def read(lines: Iterable[str]) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """Read an exported file back: its metadata, and its rows as hashable mappings."""
    lines = iter(lines)
    first = next(lines, "")
    if first.startswith(CSV_MARK):
        return json.loads(first[len(CSV_MARK) :]), _csv_rows(lines)
    if first.startswith("{"):
        return json.loads(first)[JSONL_KEY], (json.loads(line) for line in lines if line.strip())
    raise ValueError("not an audit export: the first line holds no export metadata")


def _csv_rows(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for raw in csv.DictReader(lines):
        row: dict[str, Any] = {name: unescape_cell(value) for name, value in raw.items()}
        row["id"] = int(row["id"])
        yield row
