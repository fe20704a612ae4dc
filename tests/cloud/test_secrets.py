"""AK, SK, passwords and tokens never show up in logs, reprs or exception texts."""

from __future__ import annotations

import logging

import pytest

from ims_portal.cloud import (
    AkSkAuth,
    AuthenticationError,
    Client,
    CloudError,
    ConfigurationError,
    Secret,
    TokenAuth,
)
from ims_portal.simulator import seed

from .conftest import AKSK, TOKEN, make_auth, wait_for_job

WRONG_AK = "WRONGACCESSKEY000042"
WRONG_PASSWORD = "not-the-password-42"


def assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret leaked: ...{secret[-4:]}"


def test_reprs_show_no_secrets(sim):
    token_auth = TokenAuth(sim.url, sim.username, sim.password, sim.domain, sim.project_id)
    aksk_auth = AkSkAuth(sim.ak, sim.sk, sim.project_id)
    token_auth.token()  # hold a live token while we look
    secrets = [sim.password, sim.ak, sim.sk, token_auth.token()]

    for thing in (token_auth, aksk_auth, Client(sim.url, sim.project_id, aksk_auth)):
        assert_clean(repr(thing), secrets)
        assert_clean(str(thing), secrets)
        # Also what a debugger or an error reporter printing attributes would show.
        assert_clean(repr(vars(thing)) if hasattr(thing, "__dict__") else "", secrets)
    assert repr(Secret("abc-secret")) == "Secret('***')"
    assert str(Secret("abc-secret")) == "Secret('***')"


def test_a_whole_run_logs_no_secrets(sim, new_client, caplog, mode):
    caplog.set_level(logging.DEBUG)  # everything, including urllib3's own lines
    client = new_client(mode)
    secrets = [sim.password, sim.ak, sim.sk]

    next(client.list_images(limit=5))
    if mode == TOKEN:
        secrets.append(client.auth.token())
        sim.control.expire_tokens()
    sim.control.fault(503, count=1, paths="/v2/cloudimages")
    client.get_image(seed.SMALL_CENTOS)
    job_id = client.export_image(seed.SMALL_CENTOS, "ims-exports:s.qcow2", "qcow2")
    wait_for_job(client, job_id)
    if mode == TOKEN:
        secrets.append(client.auth.token())
    sim.control.fault(500, count=1, paths="/file")
    with pytest.raises(CloudError) as caught:
        client.export_image(seed.SMALL_UBUNTU, "ims-exports:t.qcow2", "qcow2")

    assert caught.value.outcome_unknown
    assert "401" in caplog.text or mode == AKSK  # the re-auth did happen, and was logged
    assert "GET /v2/cloudimages 503" in caplog.text
    assert_clean(caplog.text, secrets)
    assert_clean(str(caught.value) + repr(caught.value), secrets)


def test_a_gateway_echoing_the_access_key_is_masked(sim, new_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = new_client(auth=make_auth(sim, AKSK, ak=WRONG_AK))

    with pytest.raises(AuthenticationError) as caught:
        client.get_image(seed.SMALL_CENTOS)

    text = str(caught.value) + repr(caught.value) + caught.value.message
    assert "secretKey" in text  # the gateway's message is kept...
    assert_clean(text, [WRONG_AK, sim.sk])  # ...without the key it echoed
    assert_clean(caplog.text, [WRONG_AK, sim.sk])


def test_a_refused_password_is_not_repeated_back(sim, new_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = new_client(auth=make_auth(sim, TOKEN, password=WRONG_PASSWORD))

    with pytest.raises(AuthenticationError) as caught:
        client.get_image(seed.SMALL_CENTOS)

    assert_clean(str(caught.value) + repr(caught.value), [WRONG_PASSWORD])
    assert_clean(caplog.text, [WRONG_PASSWORD])


def test_configuration_errors_name_variables_not_values():
    environ = {
        "IMS_ENDPOINT": "https://ims.example.com",
        "IMS_PROJECT_ID": "p",
        "IMS_AK": "AK-VALUE-123456",
        "IAM_PASSWORD": WRONG_PASSWORD,
    }
    with pytest.raises(ConfigurationError) as caught:
        Client.from_env(environ)
    assert_clean(str(caught.value), ["AK-VALUE-123456", WRONG_PASSWORD])


# --- OBS ------------------------------------------------------------------------------------


def temporary_keys(client) -> list[str]:
    """The temporary AK, SK and security token a token-mode client holds right now."""
    current = client._obs.keys._keys
    assert current is not None, "no temporary keys fetched yet"
    return [value for value in current.reveal() if value]


def test_obs_reprs_show_no_keys(sim, new_client, mode):
    client = new_client(mode)
    client.list_buckets()
    secrets = [sim.password, sim.ak, sim.sk]
    if mode == TOKEN:
        secrets += [*temporary_keys(client), client.auth.token()]

    keys = client._obs.keys
    for thing in (client, client._obs, keys, keys.keys(), client.obs_endpoint):
        assert_clean(repr(thing), secrets)
        assert_clean(str(thing), secrets)
        assert_clean(repr(vars(thing)) if hasattr(thing, "__dict__") else "", secrets)


def test_a_whole_obs_run_logs_no_keys(sim, new_client, caplog, mode):
    caplog.set_level(logging.DEBUG)
    client = new_client(mode)
    secrets = [sim.password, sim.ak, sim.sk]

    client.list_buckets()
    if mode == TOKEN:
        secrets += [*temporary_keys(client), client.auth.token()]
        sim.control.expire_tokens()  # refused, renewed: new keys, new token
    client.bucket_info("ims-exports")
    if mode == TOKEN:
        secrets += [*temporary_keys(client), client.auth.token()]
    client.object_info("ims-exports", "existing.qcow2")
    sim.control.obs_fault(503, count=1)
    client.list_buckets()
    with pytest.raises(CloudError) as closed:
        client.bucket_info("finance-restricted")
    sim.control.obs_forbidden()
    with pytest.raises(CloudError) as forbidden:
        client.list_buckets()
    errors = [closed.value, forbidden.value]

    assert "GET / 503" in caplog.text  # the retry was logged...
    assert_clean(caplog.text, secrets)  # ...and nothing secret with it
    for error in errors:
        assert_clean(str(error) + repr(error) + error.message, secrets)


def test_a_refused_obs_signature_names_no_key(sim, new_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = new_client(auth=make_auth(sim, AKSK, ak=WRONG_AK))

    with pytest.raises(CloudError) as caught:
        client.list_buckets()

    assert caught.value.code == "InvalidAccessKeyId"
    text = str(caught.value) + repr(caught.value)
    assert_clean(text, [WRONG_AK, sim.sk])
    assert_clean(caplog.text, [WRONG_AK, sim.sk])


def test_the_simulator_logs_no_temporary_keys_request_body(sim, new_client):
    client = new_client(TOKEN)
    client.list_buckets()

    [trade] = sim.control.requests(method="POST", path_contains="securitytokens")
    assert trade["body"] is None  # it may carry a token id
