"""`manage.py audit_keygen --out PATH`: make the Ed25519 key that signs the audit trail's
checkpoints and exports, and print its public half (for auditors and the README's steps).

The file is created with mode 0600 and never overwritten: replacing a key by accident would
leave every earlier checkpoint verifiable only with a public key nobody kept.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ims_portal.audit import signing


class Command(BaseCommand):
    help = "Create an Ed25519 private key (PEM) for AUDIT_SIGNING_KEY_FILE; print its public key."
    requires_system_checks: list[str] = []  # runs before the portal is configured (make run)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, required=True, help="where to write the key")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["out"]
        pem = signing.generate_private_pem()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as error:
            raise CommandError(f"{path} exists: a key is never overwritten") from error
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        public = signing.load_private_pem(pem).public_key()
        self.stdout.write(f"Wrote the audit signing key to {path}. Its public key, for auditors:")
        self.stdout.write(signing.public_pem(public) + signing.fingerprint(public))
