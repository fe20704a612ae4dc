"""The /_sim/ control API, unknown paths, and the simulator's own boundaries."""

from __future__ import annotations

import ast
from pathlib import Path

import requests

from ims_portal.simulator import seed
from ims_portal.simulator.defaults import SimulatorSettings
from tests.simulator.conftest import TIMEOUT, get_token

SIMULATOR_PACKAGE = Path(__file__).resolve().parents[2] / "ims_portal" / "simulator"


def test_health_answers_with_the_project_and_pace(sim):
    health = sim.control.health()

    assert health["status"] == "ok"
    assert health["project_id"] == sim.project_id
    assert health["progress_api"] is True


def test_reset_restores_the_seed_state(ims, sim):
    ims.wait_until_finished(ims.start_export(seed.SMALL_CENTOS))
    sim.control.fault(status=503, paths="^/nowhere$")
    sim.control.configure(speed=3, progress_api=False)

    sim.control.reset()

    assert sim.control.jobs() == []
    assert sim.control.objects() == {
        "ims-exports": ["existing.qcow2", "web-frontend-2024-01.qcow2"]
    }
    assert sim.control.faults() == []
    assert sim.control.requests() == []
    assert sim.control.config()["progress_api"] is True
    assert ims.get("/v2/cloudimages", limit=1).status_code == 401  # tokens are gone too


def test_the_request_log_records_each_cloud_call_once(ims, sim):
    ims.get("/v2/cloudimages", limit=3, __imagetype="private")
    ims.export(seed.SMALL_CENTOS, bucket_url="ims-exports:logged.qcow2")

    listing, export = sim.control.requests(path_contains="/cloudimages")
    assert listing["method"] == "GET"
    assert listing["params"] == {"limit": "3", "__imagetype": "private"}
    assert listing["status"] == 200
    assert listing["auth"] == "token"
    assert export["method"] == "POST"
    assert export["path"] == f"/v1/cloudimages/{seed.SMALL_CENTOS}/file"
    assert export["body"]["bucket_url"] == "ims-exports:logged.qcow2"
    assert len(sim.control.requests(method="POST", path_contains="/file")) == 1


def test_requests_are_counted_by_method_until_the_log_is_emptied(ims, sim):
    ims.get("/v2/cloudimages", limit=3, __imagetype="private")
    ims.get("/v2/cloudimages", limit=3, __imagetype="private")
    ims.export(seed.SMALL_CENTOS, bucket_url="ims-exports:counted.qcow2")
    # The token fetch is a POST too: count what the log shows, by method.
    logged = sim.control.requests()
    by_method = {m: sum(1 for e in logged if e["method"] == m) for m in ("GET", "POST")}

    assert by_method["GET"] == 2
    assert sim.control.request_counts() == by_method
    sim.control.clear_requests()
    assert sim.control.request_counts() == {}


def test_control_calls_are_not_in_the_request_log(sim):
    sim.control.health()
    sim.control.jobs()

    assert sim.control.requests() == []


def test_the_job_listing_shows_target_and_progress(ims, sim):
    ims.start_export(
        seed.LARGE_200G, bucket_url="ims-exports:big.zvhd2", file_format=None, quick=True
    )

    (job,) = sim.control.jobs()

    assert job["bucket_url"] == "ims-exports:big.zvhd2"
    assert job["file_format"] == "zvhd2"
    assert job["is_quick_export"] is True
    assert "process_percent" in job["entities"]


def test_an_unknown_path_gets_the_gateways_404(sim):
    token = get_token(sim)

    response = requests.get(
        f"{sim.url}/v2/nothing", headers={"X-Auth-Token": token}, timeout=TIMEOUT
    )

    assert response.status_code == 404
    assert response.json()["error_code"] == "APIGW.0101"


def test_a_known_path_with_the_wrong_method_gets_the_gateways_404(ims):
    response = ims.post("/v2/cloudimages", {})

    assert response.status_code == 404
    assert response.json()["error_code"] == "APIGW.0101"


def test_an_unknown_control_endpoint_is_a_404(sim):
    assert requests.get(f"{sim.url}/_sim/nothing", timeout=TIMEOUT).status_code == 404


def test_a_bad_config_change_is_refused(sim):
    response = requests.post(f"{sim.url}/_sim/config", json={"speed": 0}, timeout=TIMEOUT)

    assert response.status_code == 400


def test_credentials_come_from_the_environment_with_documented_defaults():
    defaults = SimulatorSettings.from_env({})
    custom = SimulatorSettings.from_env(
        {"SIMULATOR_IAM_USERNAME": "alice", "SIMULATOR_TOKEN_TTL": "60"}
    )

    assert (defaults.username, defaults.password, defaults.domain) == (
        "portal",
        "portal-password",
        "example-domain",
    )
    assert defaults.project_id == "0605767e5a80d5762fb2c0142f5a4d6f"
    assert (defaults.ak, defaults.sk) == ("SIMULATORAK0000000001", "simulator-secret-key-0001")
    assert defaults.token_ttl == 24 * 3600
    assert (custom.username, custom.token_ttl) == ("alice", 60)


def test_the_seed_has_more_images_than_one_default_page():
    assert len(seed.seed_images(SimulatorSettings.from_env({}).bulk_images)) > 500


def test_the_simulator_code_never_imports_django():
    for module in SIMULATOR_PACKAGE.glob("*.py"):
        tree = ast.parse(module.read_text(), filename=str(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] in ("django", "celery") for name in names), module


def added_image(sim, **changes):
    spec = seed.ImageSpec(
        "0d1c6f8e-6a57-4f53-9a0e-6d1e2b7c9a10", "added-by-a-test", "2025-02-01T09:00:00Z",
        2.0, "Debian", "Debian GNU/Linux 12 64bit",
    )  # fmt: skip
    return {**seed.image_json(spec, sim.project_id), **changes}


def test_an_added_image_is_listed_and_exportable_until_the_next_reset(ims, sim):
    record = added_image(sim)

    sim.control.add_image(record)

    assert [image["id"] for image in ims.images(name="added-by-a-test")] == [record["id"]]
    assert ims.export(record["id"]).status_code == 200
    sim.control.reset()
    ims.token = get_token(sim)  # a reset forgets the tokens too
    assert ims.images(name="added-by-a-test") == []


def test_an_unregistered_image_is_never_listed(ims, sim):
    sim.control.add_image(added_image(sim, __isregistered="false"))

    assert ims.images(name="added-by-a-test") == []


def test_an_image_without_an_id_is_refused(sim):
    response = requests.post(f"{sim.url}/_sim/images", json={"name": "x"}, timeout=TIMEOUT)

    assert response.status_code == 400
    assert "id" in response.json()["error"]
