"""`Client.from_env` reads the agreed variables and names the one that is wrong."""

from __future__ import annotations

import pytest

from ims_portal.cloud import AkSkAuth, Client, ConfigurationError, TokenAuth
from ims_portal.cloud.obs import ObsEndpoint
from ims_portal.simulator import seed
from tests.cloud.conftest import wait_for_job

BASE = {"IMS_ENDPOINT": "https://ims.example.com/", "IMS_PROJECT_ID": "p-1"}
AKSK = {"IMS_AK": "AKVALUE0001", "IMS_SK": "SKVALUE-very-secret"}
PASSWORD = {
    "IAM_ENDPOINT": "https://iam.example.com",
    "IAM_USERNAME": "portal",
    "IAM_PASSWORD": "hunter2-password",
    "IAM_DOMAIN": "example-domain",
}


def test_aksk_settings_make_a_signing_client():
    client = Client.from_env({**BASE, **AKSK})
    assert isinstance(client.auth, AkSkAuth)
    assert client.endpoint == "https://ims.example.com"
    assert client.project_id == "p-1"


def test_password_settings_make_a_token_client():
    client = Client.from_env({**BASE, **PASSWORD}, retries=0, timeout=2)
    assert isinstance(client.auth, TokenAuth)
    assert client.auth.iam_endpoint == "https://iam.example.com"
    assert client.auth.project_id == "p-1"
    assert client.retry_policy.retries == 0
    assert client.timeout == 2


def test_the_process_environment_is_the_default(monkeypatch):
    for name, value in {**BASE, **AKSK}.items():
        monkeypatch.setenv(name, value)
    for name in PASSWORD:
        monkeypatch.delenv(name, raising=False)
    assert isinstance(Client.from_env().auth, AkSkAuth)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({**AKSK, "IMS_PROJECT_ID": "p"}, "IMS_ENDPOINT"),
        ({**AKSK, **BASE, "IMS_ENDPOINT": "  "}, "IMS_ENDPOINT"),
        ({**AKSK, **BASE, "IMS_ENDPOINT": "ims.example.com"}, "IMS_ENDPOINT"),
        ({**AKSK, **BASE, "IMS_ENDPOINT": "ftp://ims.example.com"}, "IMS_ENDPOINT"),
        ({**AKSK, **BASE, "IMS_ENDPOINT": "https://u:p@ims.example.com"}, "IMS_ENDPOINT"),
        ({**AKSK, "IMS_ENDPOINT": "https://ims.example.com"}, "IMS_PROJECT_ID"),
        ({**BASE, "IMS_AK": "AKVALUE0001"}, "IMS_SK"),
        ({**BASE, "IMS_SK": "SKVALUE-very-secret"}, "IMS_AK"),
        ({**BASE, **PASSWORD, "IAM_DOMAIN": ""}, "IAM_DOMAIN"),
        ({**BASE, "IAM_USERNAME": "portal"}, "IAM_PASSWORD"),
        ({**BASE, **PASSWORD, "IAM_ENDPOINT": ""}, "IAM_ENDPOINT"),
        ({**BASE, **AKSK, "IAM_PASSWORD": "hunter2-password"}, "IAM_PASSWORD"),
        ({**BASE, **AKSK, **PASSWORD}, "IMS_AK"),
        ({**BASE, "IMS_SK": "SKVALUE-very-secret", "IAM_USERNAME": "portal"}, "IAM_USERNAME"),
        (BASE, "IMS_AK"),
    ],
)
def test_missing_or_contradictory_settings_name_the_variable(environ, named):
    with pytest.raises(ConfigurationError, match=named) as caught:
        Client.from_env(environ)
    for secret in ("AKVALUE0001", "SKVALUE-very-secret", "hunter2-password"):
        assert secret not in str(caught.value)


def test_a_configuration_error_is_a_value_error():
    with pytest.raises(ValueError):
        Client.from_env({})


@pytest.mark.parametrize("scheme", ["aksk", "password"])
def test_a_client_from_the_environment_lists_every_image_and_exports_one_to_success(sim, scheme):
    environ = {"IMS_ENDPOINT": sim.url, "IMS_PROJECT_ID": sim.project_id}
    if scheme == "aksk":
        environ |= {"IMS_AK": sim.ak, "IMS_SK": sim.sk}
    else:
        environ |= {
            "IAM_ENDPOINT": sim.url,
            "IAM_USERNAME": sim.username,
            "IAM_PASSWORD": sim.password,
            "IAM_DOMAIN": sim.domain,
        }

    with Client.from_env(environ) as client:
        listed = [image.id for image in client.list_images()]
        job_id = client.export_image(seed.SMALL_CENTOS, f"ims-exports:{scheme}.qcow2", "qcow2")
        job = wait_for_job(client, job_id)

    seeded = {image["id"] for image in seed.seed_images(sim.settings.bulk_images)}
    assert sorted(listed) == sorted(seeded)  # every seeded image, once
    pages = sim.control.requests(method="GET", path_contains="/v2/cloudimages")
    assert len(pages) > 1
    assert job.status == "SUCCESS" and job.progress == 1.0
    assert {entry["auth"] for entry in sim.control.requests(method="GET")} == {
        "aksk" if scheme == "aksk" else "token"
    }


def test_the_export_api_version_defaults_to_v1():
    assert Client.from_env({**BASE, **AKSK}).export_api_version == "v1"
    blank = {**BASE, **AKSK, "IMS_EXPORT_API_VERSION": "  "}
    assert Client.from_env(blank).export_api_version == "v1"


@pytest.mark.parametrize("raw", ["v2.1", " V2.1 ", "v1"])
def test_the_export_api_version_is_read_from_the_environment(raw):
    client = Client.from_env({**BASE, **PASSWORD, "IMS_EXPORT_API_VERSION": raw})
    assert client.export_api_version == raw.strip().lower()


@pytest.mark.parametrize("raw", ["v2", "2.1", "v1.1", "latest"])
def test_an_unknown_export_api_version_names_the_variable(raw):
    with pytest.raises(ConfigurationError, match="IMS_EXPORT_API_VERSION") as caught:
        Client.from_env({**BASE, **AKSK, "IMS_EXPORT_API_VERSION": raw})
    assert "v1, v2.1" in str(caught.value)


def test_an_explicit_export_api_version_wins_over_the_environment():
    environ = {**BASE, **AKSK, "IMS_EXPORT_API_VERSION": "v2.1"}
    assert Client.from_env(environ, export_api_version="v1").export_api_version == "v1"


def test_the_constructor_refuses_an_unknown_export_api_version():
    with pytest.raises(ConfigurationError, match="export_api_version"):
        Client(
            "https://ims.example.com", "p-1", AkSkAuth("AK", "SK", "p-1"), export_api_version="v3"
        )  # type: ignore[arg-type]


# --- OBS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ims_endpoint", "region", "obs_endpoint"),
    [
        ("https://ims.eu-de.otc.t-systems.com", "eu-de", "https://obs.eu-de.otc.t-systems.com"),
        ("https://ims.eu-nl.otc.t-systems.com", "", "https://obs.eu-nl.otc.t-systems.com"),
        ("https://ims.cn-north-4.myhuaweicloud.com", "", "https://obs.cn-north-4.myhuaweicloud.com"),
        ("https://ims.ap-southeast-1.myhuaweicloud.com", "ap-southeast-1",
         "https://obs.ap-southeast-1.myhuaweicloud.com"),
        ("https://ims.eu-west-101.myhuaweicloud.eu", "", "https://obs.eu-west-101.myhuaweicloud.eu"),
        ("https://ims.eu-west-101.myhuaweicloud.com", "eu-west-101",
         "https://obs.eu-west-101.myhuaweicloud.eu"),
        # A proxy in front of IMS: only a region that names its cloud helps.
        ("https://ims-proxy.corp.example", "eu-de", "https://obs.eu-de.otc.t-systems.com"),
        ("https://ims-proxy.corp.example", "", None),
        ("https://ims-proxy.corp.example", "cn-north-4", None),
        ("http://127.0.0.1:8400", "", None),
    ],
)  # fmt: skip
def test_an_unset_obs_endpoint_is_derived_where_the_cloud_and_region_are_known(
    ims_endpoint, region, obs_endpoint
):
    environ = {**BASE, **AKSK, "IMS_ENDPOINT": ims_endpoint, "IMS_REGION": region}

    client = Client.from_env(environ)

    if obs_endpoint is None:
        assert client.obs_endpoint is None
    else:
        assert client.obs_endpoint == ObsEndpoint(obs_endpoint, "virtual")


def test_a_given_obs_endpoint_and_addressing_win():
    environ = {
        **BASE,
        **AKSK,
        "IMS_ENDPOINT": "https://ims.eu-de.otc.t-systems.com",
        "OBS_ENDPOINT": "https://obs.internal.example:8443/",
        "OBS_ADDRESSING": " Path ",
    }

    assert Client.from_env(environ).obs_endpoint == ObsEndpoint(
        "https://obs.internal.example:8443", "path"
    )


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"OBS_ENDPOINT": "obs.eu-de.otc.t-systems.com"}, "OBS_ENDPOINT"),
        ({"OBS_ENDPOINT": "https://u:p@obs.example.com"}, "OBS_ENDPOINT"),
        ({"OBS_ENDPOINT": "https://obs.example.com/prefix"}, "OBS_ENDPOINT"),
        ({"OBS_ENDPOINT": "https://obs.example.com/?x=1"}, "OBS_ENDPOINT"),
        ({"OBS_ENDPOINT": "http://127.0.0.1:8401"}, "OBS_ADDRESSING=path"),
        ({"OBS_ENDPOINT": "http://[::1]:8401", "OBS_ADDRESSING": "virtual"}, "OBS_ADDRESSING"),
        ({"OBS_ADDRESSING": "vhost"}, "OBS_ADDRESSING"),
        # Refused even where no endpoint is derived, so a typo never waits to be noticed.
        ({"IMS_ENDPOINT": "https://ims.corp.example", "OBS_ADDRESSING": "dns"}, "OBS_ADDRESSING"),
    ],
)
def test_bad_obs_settings_name_the_variable(changes, named):
    environ = {**BASE, **AKSK, "IMS_ENDPOINT": "https://ims.eu-de.otc.t-systems.com", **changes}

    with pytest.raises(ConfigurationError, match=named):
        Client.from_env(environ)


def test_an_ip_address_endpoint_with_path_addressing_is_accepted():
    environ = {**BASE, **AKSK, "OBS_ENDPOINT": "http://127.0.0.1:8401", "OBS_ADDRESSING": "path"}

    assert Client.from_env(environ).obs_endpoint == ObsEndpoint("http://127.0.0.1:8401", "path")


def test_the_simulators_environment_reaches_its_obs(sim):
    with Client.from_env(sim.client_environment()) as client:
        assert client.obs_endpoint == ObsEndpoint(sim.obs_url, "path")
        assert client.bucket_info("ims-exports") is not None
