"""Ed25519 signatures over canonical JSON: what checkpoints, export files and evidence packs
carry, and how anyone holding the public key checks them.

A signed document is a JSON object with a `signature` member: `{"alg": "Ed25519", "key":
<fingerprint>, "value": <base64>}`, made over the canonical JSON (`chain.canonical_json`)
of the object without that member. The fingerprint is `SHA256:` and the hex SHA-256 of the
raw 32-byte public key, so a reader can tell which key a document names before checking.

Pure functions: no settings, no database (the offline verifier imports this module alone).
Where the portal's own key comes from is `keys.py`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ims_portal.audit.chain import canonical_json

ALGORITHM = "Ed25519"
SIGNATURE = "signature"


class BadSignature(Exception):
    """A document's signature is missing, malformed, from another key, or does not verify."""


def generate_private_pem() -> bytes:
    """A new Ed25519 private key, PEM (PKCS#8, unencrypted: file permissions guard it)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_pem(data: bytes) -> Ed25519PrivateKey:
    """The private key in a PEM document; ValueError if it is not an Ed25519 private key."""
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the key is not an Ed25519 private key")
    return key


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    """The public key in a PEM document (a private key's PEM gives its public half)."""
    if b"PRIVATE KEY" in data:
        return load_private_pem(data).public_key()
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the key is not an Ed25519 public key")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    """The public key as the PEM text auditors are given."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    """`SHA256:<hex>` of the raw public key: short enough to compare by eye."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def _message(document: Mapping[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in document.items() if k != SIGNATURE}).encode()


def signed(key: Ed25519PrivateKey, document: Mapping[str, Any]) -> dict[str, Any]:
    """`document` with its `signature` member added."""
    value = base64.b64encode(key.sign(_message(document))).decode()
    signature = {"alg": ALGORITHM, "key": fingerprint(key.public_key()), "value": value}
    return {**document, SIGNATURE: signature}


def check(key: Ed25519PublicKey, document: Mapping[str, Any]) -> None:
    """Raise `BadSignature`, saying why, unless `document` was signed by `key` as it is."""
    signature = document.get(SIGNATURE)
    if not isinstance(signature, Mapping):
        raise BadSignature("it carries no signature")
    if signature.get("alg") != ALGORITHM:
        raise BadSignature(f"its signature algorithm is {signature.get('alg')!r}, not Ed25519")
    expected = fingerprint(key)
    if signature.get("key") != expected:
        raise BadSignature(
            f"it was signed with key {signature.get('key')}, not with {expected} (the public "
            "key given)"
        )
    try:
        key.verify(base64.b64decode(str(signature.get("value")), validate=True), _message(document))
    except (InvalidSignature, ValueError) as error:
        raise BadSignature("its signature does not verify: it was altered after signing") from error
