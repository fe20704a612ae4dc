"""Each process says once, at its start, which broker and which cloud it uses, and the
portal builds its client from one mapping: the environment, over the simulator's in
development."""

from __future__ import annotations

import pytest

from ims_portal.cloud.auth import AkSkAuth, TokenAuth
from ims_portal.cloud.errors import ConfigurationError
from ims_portal.exports import cloud_access
from ims_portal.simulator.defaults import SimulatorSettings
from ims_portal.startup import describe_broker
from tests.startup.helpers import bare_env, run_python

CLOUD_VARIABLES = (
    "IMS_ENDPOINT", "IAM_ENDPOINT", "IMS_PROJECT_ID", "IMS_REGION", "IMS_AK", "IMS_SK",
    "IAM_USERNAME", "IAM_PASSWORD", "IAM_DOMAIN", "SIMULATOR_PORT", "OBS_ENDPOINT",
    "OBS_ADDRESSING", "SIMULATOR_OBS_PORT",
)  # fmt: skip


@pytest.fixture
def no_cloud_settings(monkeypatch, settings):
    """A process given no cloud variables at all, in development."""
    for name in CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    settings.DEBUG = True
    cloud_access.get_client.cache_clear()
    yield monkeypatch
    cloud_access.get_client.cache_clear()


def test_in_development_without_an_endpoint_the_client_talks_to_the_simulator(no_cloud_settings):
    no_cloud_settings.setenv("SIMULATOR_PORT", "8411")
    no_cloud_settings.setenv("SIMULATOR_OBS_PORT", "8413")
    client = cloud_access.get_client()
    simulator = SimulatorSettings.from_env()
    assert client.endpoint == "http://127.0.0.1:8411"
    assert client.obs_endpoint is not None
    assert (client.obs_endpoint.url, client.obs_endpoint.addressing) == (
        "http://127.0.0.1:8413",
        "path",
    )
    assert client.project_id == simulator.project_id
    assert isinstance(client.auth, TokenAuth)
    assert cloud_access.describe_cloud() == "simulator at http://127.0.0.1:8411"


def test_an_access_key_pair_given_by_hand_wins_over_the_simulators_user(no_cloud_settings):
    no_cloud_settings.setenv("IMS_AK", "AK-BY-HAND")
    no_cloud_settings.setenv("IMS_SK", "sk-by-hand")
    assert isinstance(cloud_access.get_client().auth, AkSkAuth)


def test_a_given_endpoint_is_the_cloud_and_the_simulator_stays_out(no_cloud_settings):
    no_cloud_settings.setenv("IMS_ENDPOINT", "https://ims.eu-de.example.com")
    assert cloud_access.cloud_environment().get("IAM_USERNAME") is None
    assert cloud_access.cloud_environment().get("OBS_ENDPOINT") is None
    assert cloud_access.describe_cloud() == "IMS at https://ims.eu-de.example.com"
    with pytest.raises(ConfigurationError, match="IMS_PROJECT_ID"):
        cloud_access.get_client()


def test_outside_development_nothing_is_filled_in(no_cloud_settings, settings):
    settings.DEBUG = False
    assert cloud_access.describe_cloud() == "none (IMS_ENDPOINT is not set)"
    with pytest.raises(ConfigurationError, match="IMS_ENDPOINT"):
        cloud_access.get_client()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0 (Redis)"),
        ("rediss://:hunter2@cache.internal:6380/1", "rediss://:**@cache.internal:6380/1 (Redis)"),
        ("filesystem://", "filesystem:// (embedded in the file system, development only)"),
        ("amqp://portal:hunter2@mq.internal//", "amqp://portal:**@mq.internal//"),
    ],
)
def test_the_broker_is_named_without_its_password(url, shown):
    assert describe_broker(url) == shown


@pytest.mark.parametrize("entry", ["ims_portal.wsgi", "ims_portal.asgi"])
def test_the_web_process_logs_its_broker_and_cloud_once(entry):
    env = bare_env(
        DEBUG="true",
        REDIS_URL="redis://:hunter2@127.0.0.1:1/0",
        DATABASE_URL="sqlite:///:memory:",
        SIMULATOR_PORT="8412",
    )
    result = run_python(f"import {entry}", env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "broker:" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith(
        "web: broker: redis://:**@127.0.0.1:1/0 (Redis); cloud: simulator at http://127.0.0.1:8412"
    )
    assert "hunter2" not in result.stderr
