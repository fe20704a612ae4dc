"""Check an exported audit file away from the portal, with only its public key:

    python -m ims_portal.audit.verify_offline --file audit-2025-05.csv \\
        --checkpoints audit-checkpoints*.jsonl --public-key audit-public.pem

No settings, no database, nothing of the portal running: the file's signed metadata, every
row, its completeness, and the checkpoint chain (signatures, no gaps), against which the
file's rows are held. `manage.py verify_audit --file F --checkpoints C` runs the same check.
Exits 0 when everything holds, 1 with the first problem otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ims_portal.audit import checkpoints, exporting, signing
from ims_portal.audit.file_check import FileCheck, FileProblem


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


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: 0 when the file verifies, 1 (and why, on stderr) when not."""
    parser = argparse.ArgumentParser(
        prog="python -m ims_portal.audit.verify_offline", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--file", type=Path, required=True, help="an audit export (.csv, .jsonl)")
    parser.add_argument(
        "--checkpoints", type=Path, nargs="+", required=True, help="checkpoint files or folders"
    )
    parser.add_argument(
        "--public-key", type=Path, required=True, help="the portal's audit public key (PEM)"
    )
    options = parser.parse_args(argv)
    try:
        report = verify(options.file, options.checkpoints, load_key(options.public_key))
    except FileProblem as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
