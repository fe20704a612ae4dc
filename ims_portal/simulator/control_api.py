"""The `/_sim/` control API: what tests and demos use to steer the simulator.

No authentication, and plain `{"error": "..."}` bodies: this part is not playing the cloud.

    GET    /_sim/health          liveness, plus a few facts about the run
    GET    /_sim/config          the run-time configuration
    POST   /_sim/config          change it: {"speed": F, "progress_api": bool, "token_ttl": s,
                                 "refused_platforms": [...], "normal_export_above_fast_limit": b}
    GET    /_sim/faults          the faults set
    POST   /_sim/faults          add one: {"status": 503, "count": 3}, {"status": 429,
                                 "retry_after": 1}, {"latency": 0.5}, optional "paths" (regex),
                                 "method"/"methods", "code", "message"
    DELETE /_sim/faults          clear them
    POST   /_sim/images          add (or replace) one image record, as `GET /v2/cloudimages`
                                 lists it, until the next reset
    POST   /_sim/expire-tokens   every issued token expires now
    POST   /_sim/reset           back to the seed (and to the configuration given at start)
    GET    /_sim/requests        log of IMS/IAM requests: method, path, query, status, auth...
    DELETE /_sim/requests        empty the log
    GET    /_sim/jobs            every export job with its current progress and target
    GET    /_sim/objects         objects per bucket
"""

from __future__ import annotations

import json
from collections.abc import Callable

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
    return Response(200, {"buckets": state.objects()})


_ROUTES: dict[str, dict[str, Handler]] = {
    "health": {"GET": _health},
    "config": {"GET": _get_config, "POST": _set_config},
    "faults": {"GET": _list_faults, "POST": _add_fault, "DELETE": _clear_faults},
    "images": {"POST": _add_image},
    "expire-tokens": {"POST": _expire_tokens},
    "reset": {"POST": _reset},
    "requests": {"GET": _requests, "DELETE": _clear_requests},
    "jobs": {"GET": _jobs},
    "objects": {"GET": _objects},
}
