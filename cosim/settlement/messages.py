"""The PPBSP messages: what the meters send the platform, and what the platform sends back.

:class:`MeterPayload` is one meter's batch (plaintext flags and signs, ciphertexts) with its
canonical byte encoding, :class:`SignedPayload` those bytes with the meter's Ed25519
signature; :class:`EncryptedSum` is a per-slot sum the platform computes for a key holder to
open, :class:`BatchResult` all of them after a batch. The actors that exchange them are in
:mod:`cosim.settlement.actors`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cosim.conventions import FloatArray
from cosim.settlement.crypto import EncryptedBatch

__all__ = ["BLOB_NAMES", "BatchResult", "EncryptedSum", "MeterPayload", "SignedPayload"]

BLOB_NAMES: tuple[str, ...] = ("S.c", "S.d", "GO.c", "GO.d")
_MAGIC = b"PPBSP/1\x00"
_HEADER = struct.Struct(">8sIII")


@dataclass(frozen=True, eq=False)
class MeterPayload:
    """What one meter sends the platform for one batch of slots (signed as a whole).

    Parameters
    ----------
    user : int
        Participant index.
    first_slot : int
        First slot of the batch.
    side, accepted, deviation_sign, net_sign : ndarray, shape (T,)
        The plaintext of the protocol per slot: side (+1/-1/0), accepted flag, sign of ``d``,
        sign of the net import (retail only), signs with the tolerance.
    blobs : dict of str to bytes
        Ciphertexts: ``"S.d"`` (deviation under the supplier key) always; ``"S.c"``, ``"GO.c"``,
        ``"GO.d"`` when the user was accepted in any slot of the batch.
    """

    user: int
    first_slot: int
    side: NDArray[np.int8]
    accepted: NDArray[np.bool_]
    deviation_sign: NDArray[np.int8]
    net_sign: NDArray[np.int8]
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def n_slots(self) -> int:
        """Number of slots of the batch."""
        return int(self.side.shape[0])

    def to_bytes(self) -> bytes:
        """Canonical byte encoding (what is signed)."""
        parts = [_HEADER.pack(_MAGIC, self.user, self.first_slot, self.n_slots)]
        for arr in (self.side, self.accepted, self.deviation_sign, self.net_sign):
            parts.append(np.asarray(arr).astype(np.int8).tobytes())
        parts.append(struct.pack(">B", len(self.blobs)))
        for name in sorted(self.blobs):
            raw = name.encode()
            parts.append(
                struct.pack(">B", len(raw)) + raw + struct.pack(">Q", len(self.blobs[name]))
            )
            parts.append(self.blobs[name])
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> MeterPayload:
        """Parse :meth:`to_bytes`; raise ValueError when malformed."""
        try:
            magic, user, first, n = _HEADER.unpack_from(data, 0)
            if magic != _MAGIC:
                raise ValueError("unknown payload format")
            pos = _HEADER.size
            arrays = []
            for _ in range(4):
                arrays.append(np.frombuffer(data, np.int8, n, pos).copy())
                pos += n
            (n_blobs,) = struct.unpack_from(">B", data, pos)
            pos += 1
            blobs: dict[str, bytes] = {}
            for _ in range(n_blobs):
                (name_len,) = struct.unpack_from(">B", data, pos)
                name = data[pos + 1 : pos + 1 + name_len].decode()
                pos += 1 + name_len
                (size,) = struct.unpack_from(">Q", data, pos)
                blobs[name] = data[pos + 8 : pos + 8 + size]
                pos += 8 + size
        except (struct.error, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed payload: {exc}") from exc
        if pos != len(data) or len(blobs) != n_blobs or set(blobs) - set(BLOB_NAMES):
            raise ValueError("malformed payload")
        side, acc, dev, net = arrays
        return cls(user, first, side, acc.astype(bool), dev, net, blobs)


@dataclass(frozen=True)
class SignedPayload:
    """A payload's bytes and the meter's Ed25519 signature over them."""

    message: bytes
    signature: bytes


@dataclass(frozen=True, eq=False)
class EncryptedSum:
    """A per-slot sum computed by the platform: ciphertext plus the plaintext part it knows.

    ``value = decrypt(cipher) + offset`` per slot; ``members`` counts the participants whose
    ciphertexts are in the sum.
    """

    cipher: EncryptedBatch | None
    offset: FloatArray
    members: int = 0


@dataclass
class BatchResult:
    """What the platform sends after a batch: per supplier and model, per-slot balance sums."""

    money: list[dict[str, EncryptedSum]]
    energy: list[dict[str, EncryptedSum]]
    energy_unknown: list[dict[str, list[EncryptedSum]]]
    pot: dict[str, EncryptedSum]
