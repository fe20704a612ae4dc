"""`ims-portal`: list images, request and follow exports, read the history, from a shell.

    ims-portal images [--exportable] [--json]
    ims-portal export IMAGE --bucket B --file F [--format FMT | --fast] [--wait] [--json]
    ims-portal status ID [--json]
    ims-portal history [--status S] [--search TEXT] [--user NAME] [--page N] [--json]

IMAGE is an image id or its exact name. Exit codes: `exit_codes.Exit`.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from ims_portal.cli import config, watching
from ims_portal.cli.client import ApiError, Portal
from ims_portal.cli.exit_codes import Exit, for_status

POLL_INTERVAL = 2.0  # seconds between two looks at an export: what its page does


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ims-portal",
        description="The IMS Export Portal from the command line, through its REST API. "
        f"Set {config.URL_VAR} and {config.TOKEN_VAR} (or a config file: "
        f"{config.CONFIG_VAR}, default ~/.config/ims-portal/config.toml).",
        epilog="Exit codes: "
        + ", ".join(f"{code.value} {code.name.lower().replace('_', ' ')}" for code in Exit),
    )
    top.add_argument("--url", help=f"the portal's address (default: {config.URL_VAR})")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    images = commands.add_parser("images", help="list the images, and why some cannot be exported")
    images.add_argument("--exportable", action="store_true", help="only the exportable ones")
    images.add_argument("--json", action="store_true", help="the API's answer, as JSON")

    export = commands.add_parser("export", help="export an image to an OBS bucket")
    export.add_argument("image", metavar="IMAGE", help="image id, or its exact name")
    export.add_argument("--bucket", required=True, help="the OBS bucket")
    export.add_argument("--file", required=True, help="the object to create in the bucket")
    kind = export.add_mutually_exclusive_group()
    kind.add_argument("--format", help="the file format (qcow2, vmdk, vhd, zvhd)")
    kind.add_argument("--fast", action="store_true", help="fast export (ZVHD2, no conversion)")
    export.add_argument("--wait", action="store_true", help="follow the export until it ends")
    export.add_argument(
        "--idempotency-key",
        help="the same key makes the same export, never a second one (default: a new one)",
    )
    export.add_argument("--interval", type=float, default=POLL_INTERVAL, help=argparse.SUPPRESS)
    export.add_argument("--json", action="store_true", help="print the export as JSON")

    status = commands.add_parser("status", help="one export: its status, progress and time left")
    status.add_argument("id", type=int, metavar="ID")
    status.add_argument("--json", action="store_true", help="the API's answer, as JSON")

    history = commands.add_parser("history", help="your exports (an auditor's: everyone's)")
    history.add_argument("--status", help="a status, or in_flight")
    history.add_argument("--search", help="image, bucket or file name contains")
    history.add_argument("--user", help="auditors: who requested it")
    history.add_argument("--page", type=int, help="the page (25 exports each)")
    history.add_argument("--json", action="store_true", help="the API's answer, as JSON")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the return value is the process's exit code."""
    args = parser().parse_args(argv)  # exits with USAGE (2) on its own
    try:
        settings = config.load(url=args.url)
    except config.ConfigError as error:
        print(f"ims-portal: {error}", file=sys.stderr)
        return Exit.USAGE
    portal = Portal(settings.url, settings.token)
    try:
        command = {"images": images, "export": export, "status": status, "history": history}
        return int(command[args.command](portal, args))
    except ApiError as error:
        print(f"ims-portal: {error}", file=sys.stderr)
        for entry in error.problem.get("errors", []):
            where = entry.get("pointer", "").removeprefix("#/") or entry.get("parameter", "")
            print(f"  {where or 'request'}: {entry.get('detail', '')}", file=sys.stderr)
        if error.slug in ("validation-failed", "idempotency-key-reused"):
            return Exit.REJECTED
        if error.status == 400 or error.slug == "invalid-request":
            return Exit.USAGE
        return Exit.PORTAL_ERROR
    except KeyboardInterrupt:
        print("ims-portal: interrupted; the export goes on in the portal", file=sys.stderr)
        return Exit.IN_FLIGHT


def images(portal: Portal, args: argparse.Namespace) -> Exit:
    found = portal.get("/images/", exportable="true" if args.exportable else None)
    if args.json:
        _print_json(found)
        return Exit.OK
    for image in found:
        size = f"{image['size_bytes'] / 1024**3:.1f} GiB"
        verdict = "exportable" if image["exportable"] else image["reason"]
        if image["exportable"] and image["requires_fast_export"]:
            verdict = "exportable (fast export only)"
        print(f"{image['id']}  {image['name']}  {size}  {verdict}")
    return Exit.OK


def export(portal: Portal, args: argparse.Namespace) -> Exit:
    image_id = _image_id(portal, args.image)
    body = {
        "image": image_id,
        "bucket": args.bucket,
        "file_name": args.file,
        "file_format": "" if args.fast else (args.format or ""),
        "fast_export": bool(args.fast),
    }
    key = args.idempotency_key or str(uuid.uuid4())
    made = portal.post("/exports/", body, idempotency_key=key)
    if not args.json:
        print(f"export #{made['id']}: {made['destination']} requested", flush=True)
    if not args.wait:
        if args.json:
            _print_json(made)
        return Exit.OK
    out = sys.stderr if args.json else sys.stdout
    ended = watching.follow(lambda: portal.get(f"/exports/{made['id']}/"), args.interval, out)
    if args.json:
        _print_json(ended)
    return for_status(ended["status"], ended["in_flight"])


def status(portal: Portal, args: argparse.Namespace) -> Exit:
    found = portal.get(f"/exports/{args.id}/")
    if args.json:
        _print_json(found)
    else:
        print(watching.describe(found))
        print(f"  {found['image_name']} → {found['destination']} ({found['written_format']})")
        if found.get("job_id"):
            print(f"  IMS job {found['job_id']}")
        error = found.get("error") or {}
        if error.get("remedy"):
            print(f"  what to do: {error['remedy']}")
    return for_status(found["status"], found["in_flight"])


def history(portal: Portal, args: argparse.Namespace) -> Exit:
    found = portal.get(
        "/exports/", status=args.status, q=args.search, user=args.user, page=args.page
    )
    if args.json:
        _print_json(found)
        return Exit.OK
    for row in found["results"]:
        when = row["created_at"][:16].replace("T", " ")
        print(
            f"#{row['id']}  {when}  {row['status']:<10}  {row['image_name']} → {row['destination']}"
        )
    print(f"page {found['page']} of {found['pages']}, {found['count']} exports", file=sys.stderr)
    return Exit.OK


def _image_id(portal: Portal, wanted: str) -> str:
    """The id of the image named `wanted` (an id, or an exact name that only one image has)."""
    listed: list[dict[str, Any]] = portal.get("/images/")
    if any(image["id"] == wanted for image in listed):
        return wanted
    named = [image for image in listed if image["name"] == wanted]
    if len(named) == 1:
        return str(named[0]["id"])
    # Unknown, or a name several images share: the portal's rules say what is wrong.
    return wanted


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
