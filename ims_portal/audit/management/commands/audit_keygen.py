"""`manage.py audit_keygen --out PATH`: make the Ed25519 key that signs the audit trail's
checkpoints and exports, and print its public half (for auditors and the README's steps).

The file is created with mode 0600 and never overwritten: replacing a key by accident would
leave every earlier checkpoint verifiable only with a public key nobody kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ims_portal.audit import keys, signing


class Command(BaseCommand):
    help = "Create an Ed25519 private key (PEM) for AUDIT_SIGNING_KEY_FILE; print its public key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, required=True, help="where to write the key")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["out"]
        try:
            public = keys.create_key_file(path)
        except FileExistsError as error:
            raise CommandError(f"{path} exists: a key is never overwritten") from error
        self.stdout.write(f"Wrote the audit signing key to {path}. Its public key, for auditors:")
        self.stdout.write(signing.public_pem(public) + signing.fingerprint(public))
