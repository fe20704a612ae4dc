"""A stand-in for Open Telekom Cloud / Huawei Cloud IMS and IAM, speaking their wire protocol.

Run it as its own process::

    python -m ims_portal.simulator --port 8400 [--host 127.0.0.1] [--speed 1] [--no-progress-api]

Modules, one job each:

- `defaults`     the one set of credentials and the documented defaults (`SIMULATOR_*` env)
- `seed`         the seeded images, buckets and objects (every export rule has an image)
- `jobs`         export jobs and their progress over wall-clock time
- `state`        the in-memory store behind one lock
- `faults`       injected errors, throttling and latency
- `auth`         token and AK/SK checks, as the API gateway does them
- `errors`       the IMS, API-gateway and IAM error shapes
- `wire`         plain Request/Response values
- `cloud_api`    the IAM and IMS endpoints
- `control_api`  the `/_sim/` control endpoints for tests and demos
- `server`       HTTP handling and routing
- `control`      `SimulatorProcess` and `SimulatorControl`, for tests and run scripts

The simulator never imports Django; the export rules come from `ims_portal.exports.rules`,
which is plain Python.
"""

from ims_portal.simulator.defaults import (
    AK,
    IAM_DOMAIN,
    IAM_PASSWORD,
    IAM_USERNAME,
    PROJECT_ID,
    PROJECT_NAME,
    REGION,
    SK,
    TOKEN_TTL_SECONDS,
    SimulatorSettings,
)

__all__ = [
    "AK",
    "IAM_DOMAIN",
    "IAM_PASSWORD",
    "IAM_USERNAME",
    "PROJECT_ID",
    "PROJECT_NAME",
    "REGION",
    "SK",
    "TOKEN_TTL_SECONDS",
    "SimulatorSettings",
]
