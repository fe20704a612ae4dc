"""The metrics each process counts as things happen (counters and histograms).

Only prometheus_client here, nothing of the portal, so any module may import it. With
`PROMETHEUS_MULTIPROC_DIR` set in the environment of every process (`bin/run` does, so do
the tests), each process writes its values to files there and one scrape of `/metrics`, in
any web process, adds up the web workers' and the Celery workers' alike (prometheus_client's
multiprocess mode). The variable must be set before the process starts: prometheus_client
reads it when this module is first imported. Figures computed when scraped (exports by
status, queue depth) are in `collectors.py`.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Cloud calls take from a few milliseconds (the simulator) to the read timeout (30 s).
CLOUD_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A poll runs late by the worker's backlog: seconds when healthy, minutes when not.
LATENESS_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

EXPORTS_CREATED = Counter(
    "ims_portal_exports_created", "Exports requested (each export.requested audit event)."
)
EXPORTS_FINISHED = Counter(
    "ims_portal_exports_finished",
    "Exports that entered a terminal status, by that status (an unknown export that is "
    "later abandoned counts under both).",
    ["status"],
)
AUDIT_EVENTS = Counter(
    "ims_portal_audit_events", "Audit events written (committed).", ["action", "outcome"]
)
SIGN_INS = Counter(
    "ims_portal_sign_ins",
    "Sign-in attempts by outcome: success, superuser, failure, refused, no_access.",
    ["outcome"],
)
CLOUD_REQUESTS = Histogram(
    "ims_portal_cloud_request_duration_seconds",
    "Each HTTP exchange with IAM and IMS, by endpoint and status code (or the failure's "
    "name when no answer came); its _count is the number of calls.",
    ["method", "endpoint", "code"],
    buckets=CLOUD_BUCKETS,
)
POLL_LATENESS = Histogram(
    "ims_portal_poll_lateness_seconds",
    "How long after it was due each job poll ran.",
    buckets=LATENESS_BUCKETS,
)
