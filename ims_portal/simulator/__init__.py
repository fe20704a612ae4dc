"""A stand-in for Open Telekom Cloud / Huawei Cloud IMS, IAM and OBS, speaking their wire
protocol.

Run it as its own process::

    python -m ims_portal.simulator [--port N] [--obs-port M] [--host H] [--speed F]
                                   [--no-progress-api]

IAM, IMS and the control API answer on the first port, OBS on the second.

Modules, one job each:

- `defaults`      the one set of credentials and the documented defaults (`SIMULATOR_*` env)
- `export_rules`  the cloud's export rules, each with its IMS error code, read from the IMS
                  reference on their own (never the portal's rules)
- `seed`          the seeded images, buckets and objects (every export rule has an image,
                  every reason a bucket cannot take an export has a bucket)
- `buckets`       OBS bucket and object records, and what an export writes (size, ETag)
- `jobs`          export jobs and their progress over wall-clock time
- `state`         the in-memory store behind one lock
- `faults`        injected errors, throttling and latency
- `signature`     the API gateway's check of an AK/SK (`SDK-HMAC-SHA256`) signature
- `obs_signature` OBS's check of its own signature (`OBS AK:HMAC-SHA1`)
- `auth`          token and AK/SK checks, as the API gateway does them
- `errors`        the IMS, API-gateway and IAM error shapes
- `wire`          plain Request/Response values
- `cloud_api`     the IAM and IMS endpoints (with IAM's temporary keys for OBS)
- `obs_api`       the OBS endpoints, their signature check and XML errors
- `control_api`   the `/_sim/` control endpoints for tests and demos
- `server`        HTTP handling and routing, for both listeners

The simulator plays the cloud, so it imports nothing of the portal (`ims_portal.*` outside
this package), nor Django: a rule or a signature the portal gets wrong has to fail against
it. The helpers that start and steer it in tests live in the test tooling
(`tests/simulator_process.py`).
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
