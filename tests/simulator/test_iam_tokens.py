"""POST /v3/auth/tokens: password login scoped to the project."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from tests.simulator.conftest import TIMEOUT, token_request


def post_token(sim, body):
    return requests.post(f"{sim.url}/v3/auth/tokens", json=body, timeout=TIMEOUT)


def test_a_correct_password_gets_201_with_the_token_in_x_subject_token(sim):
    response = post_token(sim, token_request(sim))

    assert response.status_code == 201
    assert response.headers["X-Subject-Token"].startswith("MII")
    token = response.json()["token"]
    assert token["project"]["id"] == sim.project_id
    assert token["project"]["name"] == sim.project_name
    assert token["user"]["name"] == sim.username
    assert token["user"]["domain"]["name"] == sim.domain
    assert token["methods"] == ["password"]
    assert {entry["type"] for entry in token["catalog"]} == {"identity", "image"}


def test_the_token_lives_for_24_hours_by_default(sim):
    token = post_token(sim, token_request(sim)).json()["token"]

    issued = datetime.fromisoformat(token["issued_at"])
    expires = datetime.fromisoformat(token["expires_at"])
    assert token["expires_at"].endswith("Z")
    assert expires - issued == timedelta(hours=24)
    assert abs(issued - datetime.now(UTC)) < timedelta(minutes=1)


def test_the_project_can_be_named_instead_of_given_by_id(sim):
    body = token_request(sim, scope={"project": {"name": sim.project_name}})

    assert post_token(sim, body).status_code == 201


def test_the_token_lifetime_follows_the_configured_ttl(sim):
    sim.control.configure(token_ttl=60)

    token = post_token(sim, token_request(sim)).json()["token"]

    lifetime = datetime.fromisoformat(token["expires_at"]) - datetime.fromisoformat(
        token["issued_at"]
    )
    assert lifetime == timedelta(seconds=60)


def test_a_wrong_password_is_refused_with_401_in_iams_shape(sim):
    response = post_token(sim, token_request(sim, password="wrong"))

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401
    assert error["title"] == "Unauthorized"
    assert error["message"]
    assert "X-Subject-Token" not in response.headers


def test_a_wrong_account_name_is_refused_too(sim):
    assert post_token(sim, token_request(sim, domain="other-domain")).status_code == 401


def test_a_project_the_user_does_not_have_is_refused(sim):
    body = token_request(sim, scope={"project": {"id": "f" * 32}})

    assert post_token(sim, body).status_code == 401


def test_an_incomplete_request_is_a_400(sim):
    response = post_token(sim, {"auth": {"identity": {"methods": ["password"]}}})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def test_the_login_is_logged_without_its_password(sim):
    post_token(sim, token_request(sim))

    (entry,) = sim.control.requests(path_contains="/v3/auth/tokens")
    assert entry["status"] == 201
    assert entry["auth"] == "password"
    assert entry["body"] is None
