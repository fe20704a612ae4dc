"""Check an exported audit file away from the portal, with only its public key:

    python -m ims_portal.audit.verify_offline --file audit-2025-05.csv \\
        --checkpoints audit-checkpoints*.jsonl --public-key audit-public.pem

No settings, no database, nothing of the portal running: the file's signed metadata, every
row, its completeness, and the checkpoint chain (signatures, no gaps), against which the
file's rows are held. `manage.py verify_audit --file F --checkpoints C` runs the same check.
With `--evidence PACK.json` instead of `--file`, it checks an export's evidence pack.
Exits 0 when everything holds, 1 with the first problem otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ims_portal.audit import chain, checkpoints, exporting, signing
from ims_portal.audit.file_check import FileCheck, FileProblem

# An export's evidence pack (ims_portal/exports/evidence.py, which takes it from here).
EVIDENCE_FORMAT = "ims-portal-evidence/1"


def load_key(path: Path) -> Ed25519PublicKey:
    """The public key in a PEM file; `FileProblem` if there is none."""
    try:
        return signing.load_public_pem(path.read_bytes())
    except (OSError, ValueError) as error:
        raise FileProblem(f"{path}: not a usable public key ({error})") from error


def verify(file: Path, checkpoint_paths: Sequence[Path], key: Ed25519PublicKey) -> list[str]:
    """The report's lines; `FileProblem` at the first thing that does not hold."""
    try:
        found = checkpoints.read(checkpoint_paths)
    except (OSError, checkpoints.CheckpointError) as error:
        raise FileProblem(f"checkpoints: {error}") from error
    try:
        with file.open(encoding="utf-8", newline="") as lines:
            try:
                header, rows = exporting.read(lines)
            except ValueError as error:
                raise FileProblem(f"{file}: {error}") from error
            check = FileCheck(str(file), header, key, found)
            for number, row in enumerate(rows, start=1):
                check.row(number, row)
            return check.finish()
    except OSError as error:
        raise FileProblem(f"{file}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise FileProblem(f"{file}: not an audit export (not UTF-8 text)") from error


def verify_evidence(path: Path, key: Ed25519PublicKey) -> list[str]:
    """Check an export's evidence pack: its signature (any field changed breaks it), each of
    its audit events against its hash, their order, and the checkpoint it names."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FileProblem(f"{path}: not an evidence pack ({error})") from error
    if not isinstance(document, dict) or document.get("evidence") != EVIDENCE_FORMAT:
        raise FileProblem(f"{path}: not an evidence pack of format {EVIDENCE_FORMAT}")
    try:
        signing.check(key, document)
    except signing.BadSignature as error:
        raise FileProblem(f"{path}: the evidence pack cannot be trusted: {error}") from error
    events = document.get("events") or []
    previous = 0
    for event in events:
        if chain.digest(event) != event.get("hash"):
            raise FileProblem(f"{path}: event #{event.get('id')} does not match its hash")
        if event["position"] <= previous:
            raise FileProblem(f"{path}: event #{event['id']} is out of chain order")
        previous = event["position"]
    report = [
        f"{path}: the evidence pack of export #{document['export']['id']} verifies: signed, "
        f"{len(events)} audit events matching their hashes, in chain order."
    ]
    covering = document.get("covering_checkpoint")
    if covering:
        try:
            signing.check(key, covering)
        except signing.BadSignature as error:
            raise FileProblem(f"{path}: its checkpoint cannot be trusted: {error}") from error
        report.append(
            f"Covered by checkpoint {covering['seq']} of {covering['at']} (trail size "
            f"{covering['size']}), signed with the same key."
        )
    else:
        report.append(
            "No checkpoint covered its last status change when it was made: check its "
            "events against a later checkpoint with `verify_audit`."
        )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: 0 when the file verifies, 1 (and why, on stderr) when not."""
    parser = argparse.ArgumentParser(
        prog="python -m ims_portal.audit.verify_offline", description=__doc__.split("\n\n")[0]
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", type=Path, help="an audit export (.csv, .jsonl)")
    what.add_argument("--evidence", type=Path, help="an export's evidence pack (.json)")
    parser.add_argument(
        "--checkpoints", type=Path, nargs="+", help="checkpoint files or folders (with --file)"
    )
    parser.add_argument(
        "--public-key", type=Path, required=True, help="the portal's audit public key (PEM)"
    )
    options = parser.parse_args(argv)
    if options.file and not options.checkpoints:
        parser.error("--file needs --checkpoints")
    try:
        key = load_key(options.public_key)
        if options.evidence:
            report = verify_evidence(options.evidence, key)
        else:
            report = verify(options.file, options.checkpoints, key)
    except FileProblem as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
