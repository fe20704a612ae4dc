"""Logging filters: the request id (in a worker, the one its task carries) on every record,
and a once-a-minute gate for messages an outage would otherwise repeat on every request."""

import logging
import threading
import time

from ims_portal.audit import context


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record, "-" outside a request or task, so log formats can
    name it and a log line can be matched with its audit events.

    Django logs 4xx responses (`django.request`) after the middleware has returned, where
    no request is bound any more; those records carry the request itself, and its id.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        origin = context.current()
        record.request_id = origin.request_id or getattr(request, "request_id", None) or "-"
        record.task_id = origin.task_id  # a worker's task, for formats that name it
        return True


class OnceAMinuteFilter(logging.Filter):
    """Lets one record through per logger and minute, shortened to one line.

    For the cache (django-redis logs every error it ignores, with its traceback): while
    Redis is down each request would add one, and the first says all there is to say.
    """

    PERIOD = 60.0

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(record.name)
            if last is not None and now - last < self.PERIOD:
                return False
            self._last[record.name] = now
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            cause = error.__cause__ or error
            record.msg = "cache unavailable, pages read from the source (%s: %s); next report in a minute at the earliest"
            record.args = (type(cause).__name__, cause)
            record.exc_info = None
            record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class RoutineTaskFilter(logging.Filter):
    """Drops Celery's INFO lines about the housekeeping tasks that beat sends more often
    than once a minute (the sending, the receiving, the success): three lines every few
    seconds would bury what an operator reads the log for. Their warnings and errors, and
    every line the tasks log themselves, still pass."""

    CHATTY_LOGGERS = frozenset({"celery.beat", "celery.worker.strategy", "celery.app.trace"})
    OFTEN = 60.0  # seconds between runs, below which a task is routine

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        from django.conf import settings  # configured by now: logging is set up from it

        self.routine = tuple(
            entry["task"]
            for entry in settings.CELERY_BEAT_SCHEDULE.values()
            if isinstance(entry["schedule"], int | float) and entry["schedule"] < self.OFTEN
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.name not in self.CHATTY_LOGGERS:
            return True
        message = record.getMessage()
        return not any(task in message for task in self.routine)
