"""The portal's audit signing key, from the settings: AUDIT_SIGNING_KEY_FILE (a PEM file),
else AUDIT_SIGNING_KEY (the PEM text itself).

Read when first needed, not at import: the settings only name the key, and a process that
never signs (the simulator, an offline check) never opens it. `manage.py audit_keygen`
makes a key; `make run` makes one under var/ when none is set.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ims_portal.audit import signing


class NoSigningKey(ImproperlyConfigured):
    """No audit signing key is configured (or it cannot be read)."""


def create_key_file(path: Path) -> Ed25519PublicKey:
    """Write a new private key to `path` (mode 0600, never over an existing file:
    `FileExistsError`) and return its public half."""
    pem = signing.generate_private_pem()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return signing.load_private_pem(pem).public_key()


def configured() -> bool:
    """Whether a signing key is set at all (it may still fail to load)."""
    return bool(settings.AUDIT_SIGNING_KEY_FILE or settings.AUDIT_SIGNING_KEY)


def private_key() -> Ed25519PrivateKey:
    """The signing key; `NoSigningKey` naming the setting when there is none or it is bad."""
    return _load(settings.AUDIT_SIGNING_KEY_FILE, settings.AUDIT_SIGNING_KEY)


def public_key() -> Ed25519PublicKey:
    """The public half: what auditors verify with."""
    return private_key().public_key()


@cache
def _load(path: str, text: str) -> Ed25519PrivateKey:
    # Cached per value, so tests that change the settings get the key they set.
    if path:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise NoSigningKey(
                f"AUDIT_SIGNING_KEY_FILE={path}: {error.strerror or error} "
                "(`manage.py audit_keygen --out PATH` makes a key)"
            ) from error
        source = f"AUDIT_SIGNING_KEY_FILE={path}"
    elif text:
        data, source = text.encode(), "AUDIT_SIGNING_KEY"
    else:
        raise NoSigningKey(
            "No audit signing key: set AUDIT_SIGNING_KEY_FILE to an Ed25519 private key in PEM "
            "(`manage.py audit_keygen --out PATH` makes one)."
        )
    try:
        return signing.load_private_pem(data)
    except ValueError as error:
        raise NoSigningKey(f"{source}: not an Ed25519 private key in PEM ({error})") from error
