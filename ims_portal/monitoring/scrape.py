"""The registry one scrape of `/metrics` reads.

In multiprocess mode (`PROMETHEUS_MULTIPROC_DIR` set) the counters and histograms of every
process, web and Celery workers alike, are read from their files there; otherwise only this
process's own. Either way the scrape-time figures (`collectors.PortalCollector`) are added,
computed now from the database and the broker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ims_portal.celery import app as celery_app
from ims_portal.monitoring.collectors import PortalCollector

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class _ThisProcess(Collector):
    """This process's own metrics (single-process mode), the default registry's."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def multiprocess() -> bool:
    """Whether the processes share their metrics through files (see `metrics.py`)."""
    return bool(os.environ.get(MULTIPROCESS_VARIABLE))


def registry() -> CollectorRegistry:
    """A registry for one scrape: every process's metrics and the scrape-time figures."""
    scraped = CollectorRegistry()
    if multiprocess():
        MultiProcessCollector(scraped)
    else:
        scraped.register(_ThisProcess())
    scraped.register(PortalCollector(celery_app))
    return scraped
