"""Fixtures of the tests that run real worker processes."""

from __future__ import annotations

import pytest

from ims_portal.celery import app
from tests.integration.processes import private_queue


@pytest.fixture
def queue(cloud_settings):
    """This test's own queue, for the tasks this process sends and the worker's."""
    name, before = private_queue(), app.conf.task_default_queue
    app.conf.task_default_queue = name
    yield name
    app.conf.task_default_queue = before
