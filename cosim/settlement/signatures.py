"""Ed25519 signatures of the smart meters' payloads.

Each meter holds an Ed25519 signing key (RFC 8032, via :mod:`cryptography`) and signs every
payload it sends; the platform verifies the signature against the meter's registered public
key before it uses the payload (docs/privacy.md). Signatures are independent of the encryption
scheme (:mod:`cosim.settlement.schemes`).
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["MeterSigner", "verify_signature"]


class MeterSigner:
    """Ed25519 signing key of one smart meter (kept as its 32 raw bytes, so it pickles)."""

    def __init__(self, raw: bytes | None = None) -> None:
        key = (
            Ed25519PrivateKey.generate()
            if raw is None
            else Ed25519PrivateKey.from_private_bytes(raw)
        )
        self._raw = key.private_bytes_raw()
        self._key: Ed25519PrivateKey | None = key
        self.public_bytes = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the raw bytes only (key objects of ``cryptography`` do not pickle)."""
        return {**self.__dict__, "_key": None}

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature (64 bytes) of ``message``."""
        if self._key is None:
            self._key = Ed25519PrivateKey.from_private_bytes(self._raw)
        return self._key.sign(message)


@functools.lru_cache(maxsize=65_536)
def _verifier(public_bytes: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_bytes)


def verify_signature(public_bytes: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_bytes``."""
    try:
        _verifier(public_bytes).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
