"""The figures computed when `/metrics` is scraped, from the database and the broker.

- `ims_portal_exports{status}`: exports by status, from one grouped query;
- `ims_portal_poll_lag_seconds`: how far past due the most overdue poll of a followed
  export is (0 when none is), from one aggregate query; it grows when no worker polls;
- `ims_portal_queue_depth{queue}`: messages waiting in each Celery queue (Redis `LLEN`);
- `ims_portal_metrics_source_up{source}`: 1 when the database or broker answered for this
  scrape, 0 when it did not (its figures are then left out, not reported as zero).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import redis
from celery import Celery
from django.db.models import Count, Min
from django.utils import timezone
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ims_portal.celery import work_queues
from ims_portal.exports.models import Export, Status

log = logging.getLogger(__name__)

# Seconds for the broker to answer a scrape: a scrape must never hang on a dead Redis.
BROKER_TIMEOUT = 2.0


def queue_names(app: Celery) -> list[str]:
    """The Celery queues tasks go to: the default one and the submit queue, and any other
    declared or routed."""
    names = set(work_queues("all", app.conf.task_default_queue))
    for queue in app.conf.task_queues or ():
        names.add(queue.name)
    routes = app.conf.task_routes
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                names.add(str(route["queue"]))
    return sorted(names)


def redis_queue_depths(
    url: str, queues: Iterable[str], *, key_prefix: str = "", timeout: float = BROKER_TIMEOUT
) -> dict[str, int]:
    """Messages waiting in each queue of a Redis broker, priority lists included (kombu
    keeps a queue's higher priorities in lists of its own)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        with client.pipeline(transaction=False) as pipe:
            names = list(queues)
            for name in names:
                for step in PRIORITY_STEPS:
                    suffix = f"{Channel.sep}{step}" if step else ""
                    pipe.llen(f"{key_prefix}{name}{suffix}")
            lengths = pipe.execute()
    finally:
        client.close()
    per_queue = len(PRIORITY_STEPS)
    return {
        name: sum(int(n) for n in lengths[i * per_queue : (i + 1) * per_queue])
        for i, name in enumerate(names)
    }


class PortalCollector(Collector):
    """Collects the scrape-time figures above; each source that fails is logged and
    reported as down, and the scrape goes on."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "ims_portal_metrics_source_up",
            "Whether a source of scrape-time figures answered this scrape.",
            labels=["source"],
        )
        database = self._from_database()
        up.add_metric(["database"], 1 if database else 0)
        yield from database
        broker = self._from_broker()
        if broker is not None:
            up.add_metric(["broker"], 1 if broker else 0)
            yield from broker
        yield up

    def _from_database(self) -> list[Metric]:
        """Exports by status and the poll lag; empty if the database did not answer."""
        try:
            counts = dict(
                Export.objects.order_by()
                .values_list("status")
                .annotate(n=Count("id"))
                .values_list("status", "n")
            )
            oldest_due = Export.objects.followed().aggregate(due=Min("next_poll_at"))["due"]
        except Exception:
            log.warning("metrics: the database did not answer", exc_info=True)
            return []
        exports = GaugeMetricFamily(
            "ims_portal_exports", "Exports by status, counted at scrape.", labels=["status"]
        )
        for status in Status:
            exports.add_metric([status.value], counts.get(status.value, 0))
        lag = 0.0 if oldest_due is None else (timezone.now() - oldest_due).total_seconds()
        poll_lag = GaugeMetricFamily(
            "ims_portal_poll_lag_seconds",
            "How far past due the most overdue poll of a followed export is (0: none is).",
            value=max(0.0, lag),
        )
        return [exports, poll_lag]

    def _from_broker(self) -> list[Metric] | None:
        """Queue depths; empty if the broker did not answer, None for a broker that is not
        Redis (the embedded development one)."""
        url = str(self.app.conf.broker_url)
        if not url.startswith(("redis://", "rediss://", "unix://")):
            return None
        options = self.app.conf.broker_transport_options or {}
        try:
            depths = redis_queue_depths(
                url, queue_names(self.app), key_prefix=options.get("global_keyprefix", "")
            )
        except redis.RedisError:
            log.warning("metrics: the broker did not answer", exc_info=True)
            return []
        depth = GaugeMetricFamily(
            "ims_portal_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        for name, count in depths.items():
            depth.add_metric([name], count)
        return [depth]
