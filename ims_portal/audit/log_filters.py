"""Put the request id (in a worker, the one its task carries) on every log record."""

import logging

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
