"""Log records as JSON, one object a line (`LOG_FORMAT=json`), for a log pipeline to parse.

Each line has `time` (UTC, ISO 8601), `level`, `logger`, `message` and `request_id` (from
`audit.log_filters.RequestIdFilter`: the request's id, in a worker the one its task carries,
"-" outside both); in a worker also `task_id`; and `exception` when there is one.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        task_id = getattr(record, "task_id", "")
        if task_id:
            entry["task_id"] = task_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
