"""The `/_sim/` control API: what tests and demos use to steer the simulator.

No authentication, and plain `{"error": "..."}` bodies: this part is not playing the cloud.

    GET    /_sim/health          liveness, plus a few facts about the run (the IMS/IAM
                                 requests by method since the log was last emptied)
    GET    /_sim/config          the run-time configuration
    POST   /_sim/config          change it: {"speed": F, "progress_api": bool, "token_ttl": s,
                                 "refused_platforms": [...], "normal_export_above_fast_limit": b}
    GET    /_sim/faults          the faults set
    POST   /_sim/faults          add one: {"status": 503, "count": 3}, {"status": 429,
                                 "retry_after": 1}, {"latency": 0.5}, {"drop": true} (reset
                                 the connection), optional "paths" (regex), "method"/"methods",
                                 "code", "message", and "service": "ims" (default) or "obs"
    DELETE /_sim/faults          clear them
    POST   /_sim/images          add (or replace) one image record, as `GET /v2/cloudimages`
                                 lists it, until the next reset
    POST   /_sim/expire-tokens   every issued token (and temporary OBS key) expires now
    POST   /_sim/reset           back to the seed (and to the configuration given at start)
    GET    /_sim/requests        log of IMS/IAM requests: method, path, query, status, auth...
    DELETE /_sim/requests        empty the log (and its counts)
    GET    /_sim/jobs            every export job with its current progress and target
    GET    /_sim/buckets         every bucket (listed or not) with region, class, access
    POST   /_sim/buckets         add (or replace) one until the next reset: {"name": ...,
                                 "region", "storage_class", "listed", "accessible", "created"}
    GET    /_sim/objects         object keys per bucket ("buckets") and their metadata
                                 ("objects": size, etag, last_modified, content_type)
    POST   /_sim/objects         write one: {"bucket", "key", "size", optional "etag",
                                 "last_modified", "content_type"}
    DELETE /_sim/objects         remove one: {"bucket", "key"}
"""

from __future__ import annotations

import json
from collections.abc import Callable

from ims_portal.simulator import buckets
from ims_portal.simulator.buckets import BucketRecord, StoredObject
from ims_portal.simulator.faults import Fault
from ims_portal.simulator.state import SimulatorState
from ims_portal.simulator.wire import Request, Response

Handler = Callable[[SimulatorState, Request], Response]


class ControlError(Exception):
    """A bad control request; answered 400 with the message."""


def handle(state: SimulatorState, request: Request) -> Response:
    """Dispatch one `/_sim/...` request."""
    name = request.path.removeprefix("/_sim/").strip("/")
    handlers = _ROUTES.get(name)
    if handlers is None:
        return Response(404, {"error": f"no control endpoint /_sim/{name}"})
    handler = handlers.get(request.method)
    if handler is None:
        allowed = ", ".join(sorted(handlers))
        return Response(405, {"error": f"use {allowed}"}, {"Allow": allowed})
    try:
        return handler(state, request)
    except ControlError as exc:
        return Response(400, {"error": str(exc)})


def _body(request: Request) -> object:
    if not request.body.strip():
        return {}
    try:
        return json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ControlError(f"body is not JSON: {exc}") from exc


def _health(state: SimulatorState, request: Request) -> Response:
    config = state.config
    return Response(
        200,
        {
            "status": "ok",
            "project_id": state.settings.project_id,
            "region": state.settings.region,
            "speed": config.speed,
            "progress_api": config.progress_api,
            "request_counts": state.request_counts(),
        },
    )


def _get_config(state: SimulatorState, request: Request) -> Response:
    return Response(200, state.config.as_json())


def _set_config(state: SimulatorState, request: Request) -> Response:
    changes = _body(request)
    if not isinstance(changes, dict):
        raise ControlError("config changes are a JSON object")
    try:
        return Response(200, state.configure(changes).as_json())
    except ValueError as exc:
        raise ControlError(str(exc)) from exc


def _list_faults(state: SimulatorState, request: Request) -> Response:
    return Response(200, {"faults": [fault.as_json() for fault in state.faults()]})


def _add_fault(state: SimulatorState, request: Request) -> Response:
    try:
        fault = Fault.from_json(_body(request))
    except ValueError as exc:
        raise ControlError(str(exc)) from exc
    return Response(201, {"faults": [f.as_json() for f in state.add_fault(fault)]})


def _clear_faults(state: SimulatorState, request: Request) -> Response:
    state.clear_faults()
    return Response(200, {"faults": []})


def _add_image(state: SimulatorState, request: Request) -> Response:
    record = _body(request)
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not record["id"]:
        raise ControlError("an image is a JSON object with a non-empty string id")
    state.add_image(record)
    return Response(201, {"id": record["id"]})


def _expire_tokens(state: SimulatorState, request: Request) -> Response:
    return Response(200, {"expired": state.expire_tokens()})


def _reset(state: SimulatorState, request: Request) -> Response:
    state.reset()
    return Response(200, {"status": "reset"})


def _requests(state: SimulatorState, request: Request) -> Response:
    return Response(200, {"requests": state.requests()})


def _clear_requests(state: SimulatorState, request: Request) -> Response:
    state.clear_requests()
    return Response(200, {"requests": []})


def _jobs(state: SimulatorState, request: Request) -> Response:
    now = state.now()
    jobs = []
    for job in state.jobs():
        body = job.progress_body(now)
        body["bucket_url"] = f"{job.bucket}:{job.object_name}"
        body["file_format"] = job.file_format
        body["is_quick_export"] = job.quick
        jobs.append(body)
    return Response(200, {"jobs": jobs})


def _objects(state: SimulatorState, request: Request) -> Response:
    details = {
        bucket: {key: stored.as_json() for key, stored in keys.items()}
        for bucket, keys in state.object_details().items()
    }
    return Response(200, {"buckets": state.objects(), "objects": details})


def _put_object(state: SimulatorState, request: Request) -> Response:
    data = _json_object(request)
    bucket, key, size = data.get("bucket"), data.get("key"), data.get("size")
    if not isinstance(bucket, str) or not isinstance(key, str) or not key:
        raise ControlError("an object needs a bucket and a non-empty key")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ControlError("size must be a whole number of bytes, 0 or more")
    generated = buckets.multipart_etag(f"{bucket}/{key}", size) if size else buckets.single_etag("")
    stored = StoredObject(
        size=size,
        etag=_text_field(data, "etag", generated).strip('"') or generated,
        last_modified=_time_field(data, "last_modified", state.now()),
        content_type=_text_field(data, "content_type", buckets.CONTENT_TYPE),
    )
    try:
        state.put_object(bucket, key, stored)
    except KeyError:
        raise ControlError(f"no bucket {bucket!r}: add it first") from None
    return Response(201, {"bucket": bucket, "key": key, **stored.as_json()})


def _delete_object(state: SimulatorState, request: Request) -> Response:
    data = _json_object(request)
    bucket, key = data.get("bucket"), data.get("key")
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise ControlError("name the object by bucket and key")
    return Response(200, {"deleted": state.delete_object(bucket, key)})


def _buckets(state: SimulatorState, request: Request) -> Response:
    return Response(200, {"buckets": [record.as_json() for record in state.buckets()]})


def _add_bucket(state: SimulatorState, request: Request) -> Response:
    data = _json_object(request)
    unknown = set(data) - {"name", "region", "storage_class", "listed", "accessible", "created"}
    if unknown:
        raise ControlError(f"unknown bucket fields: {', '.join(sorted(unknown))}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ControlError("a bucket needs a non-empty name")
    storage_class = _text_field(data, "storage_class", buckets.STANDARD)
    if storage_class not in buckets.STORAGE_CLASSES:
        raise ControlError(f"storage_class must be one of {', '.join(buckets.STORAGE_CLASSES)}")
    flags = {}
    for flag in ("listed", "accessible"):
        value = data.get(flag, True)
        if not isinstance(value, bool):
            raise ControlError(f"{flag} must be true or false")
        flags[flag] = value
    record = BucketRecord(
        name=name,
        region=_text_field(data, "region", state.settings.region),
        storage_class=storage_class,
        created=_time_field(data, "created", state.now()),
        **flags,
    )
    state.add_bucket(record)
    return Response(201, record.as_json())


def _json_object(request: Request) -> dict[str, object]:
    data = _body(request)
    if not isinstance(data, dict):
        raise ControlError("the body is a JSON object")
    return data


def _text_field(data: dict[str, object], name: str, default: str) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise ControlError(f"{name} must be a string")
    return value


def _time_field(data: dict[str, object], name: str, default: float) -> float:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ControlError(f"{name} must be an ISO 8601 time")
    try:
        return buckets.parse_iso(value)
    except ValueError:
        raise ControlError(f"{name} must be an ISO 8601 time") from None


_ROUTES: dict[str, dict[str, Handler]] = {
    "health": {"GET": _health},
    "config": {"GET": _get_config, "POST": _set_config},
    "faults": {"GET": _list_faults, "POST": _add_fault, "DELETE": _clear_faults},
    "images": {"POST": _add_image},
    "expire-tokens": {"POST": _expire_tokens},
    "reset": {"POST": _reset},
    "requests": {"GET": _requests, "DELETE": _clear_requests},
    "jobs": {"GET": _jobs},
    "objects": {"GET": _objects, "POST": _put_object, "DELETE": _delete_object},
    "buckets": {"GET": _buckets, "POST": _add_bucket},
}
