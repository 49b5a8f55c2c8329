"""The ``ckks`` backend of the encrypted settlement, on :mod:`tenseal` (Microsoft SEAL).

One ciphertext per vector of up to :data:`CKKS.slots` values (the slots of a billing period),
parameters in :data:`CKKS` (128-bit security). CKKS is approximate: decrypted values carry an
error of about 1e-8 (docs/privacy.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tenseal as ts
from numpy.typing import ArrayLike

from cosim.conventions import FloatArray
from cosim.settlement.crypto import (
    EncryptedBatch,
    EncryptionScheme,
    OpCounts,
    PublicKey,
    SecretKey,
    as_vector,
)

__all__ = ["CKKS", "CKKSBatch", "CKKSParameters", "CKKSPublicKey", "CKKSScheme", "CKKSSecretKey"]


@dataclass(frozen=True)
class CKKSParameters:
    """CKKS parameters of the ``ckks`` backend.

    ``N = 8192`` with a 210-bit coefficient modulus is below the 218-bit bound of the
    HomomorphicEncryption.org standard for 128-bit security (ternary secret, classical
    attacks). The chain ``[60, 40, 50, 60]`` gives one multiplicative level (the protocol only
    multiplies a ciphertext by a plaintext vector once): the 50-bit prime is consumed by the
    rescale after that product, the 40-bit prime stays as headroom so that decrypted values up
    to ``2**49`` fit, and the 60-bit primes are the decryption prime and the key-switching prime.
    The scale ``2**50`` keeps the error of a period bill (a dot product over up to 4096 slots)
    near 1e-8, below the 1e-6 required against the plain backend; with ``[60, 40, 40, 60]`` and
    ``2**40`` it is about 2e-6.

    Parameters
    ----------
    poly_modulus_degree : int
        Ring dimension ``N``; a ciphertext holds ``N / 2`` values.
    coeff_mod_bit_sizes : tuple of int
        Bit sizes of the coefficient modulus primes.
    scale_bits : int
        ``log2`` of the encoding scale.
    """

    poly_modulus_degree: int = 8192
    coeff_mod_bit_sizes: tuple[int, ...] = (60, 40, 50, 60)
    scale_bits: int = 50

    @property
    def slots(self) -> int:
        """Values per ciphertext, ``N / 2``."""
        return self.poly_modulus_degree // 2

    @property
    def total_modulus_bits(self) -> int:
        """Total bit size of the coefficient modulus (<= 218 for 128-bit security at N=8192)."""
        return sum(self.coeff_mod_bit_sizes)


CKKS = CKKSParameters()
"""The CKKS parameters in use."""


class CKKSBatch(EncryptedBatch):
    """One CKKS vector holding the values of all slots of the batch."""

    def __init__(self, key_id: str, vector: ts.CKKSVector, n_slots: int, counts: OpCounts) -> None:
        self.key_id = key_id
        self.vector = vector
        self.n_slots = n_slots
        self.counts = counts

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the vector with its (public) context as bytes, for checkpoints."""
        context = self.vector.context().serialize(save_secret_key=False)
        return {
            "key_id": self.key_id,
            "vector": self.vector.serialize(),
            "context": context,
            "n_slots": self.n_slots,
            "counts": self.counts,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.key_id = state["key_id"]
        self.vector = ts.ckks_vector_from(ts.context_from(state["context"]), state["vector"])
        self.n_slots = state["n_slots"]
        self.counts = state["counts"]

    def scaled(self, coef: ArrayLike) -> CKKSBatch | None:
        k = as_vector(coef, self.n_slots, "coef")
        if not np.any(k):  # SEAL refuses a product with an all-zero plaintext
            return None
        self.counts.homomorphic_operations += 1
        return CKKSBatch(self.key_id, self.vector * k.tolist(), self.n_slots, self.counts)

    def add(self, other: EncryptedBatch) -> CKKSBatch:
        self._check(other)
        assert isinstance(other, CKKSBatch)
        self.counts.homomorphic_operations += 1
        return CKKSBatch(self.key_id, self.vector + other.vector, self.n_slots, self.counts)

    def total(self) -> CKKSBatch:
        self.counts.homomorphic_operations += 1
        return CKKSBatch(self.key_id, self.vector.sum(), 1, self.counts)


class CKKSPublicKey(PublicKey):
    """tenseal context without its secret key (with Galois keys when ``sum`` is needed)."""

    scheme = "ckks"

    def __init__(self, key_id: str, context: ts.Context) -> None:
        if context.is_private():
            raise ValueError("a public key must not hold the secret key")
        self.key_id = key_id
        self.context = context

    def encrypt(self, values: ArrayLike, counts: OpCounts) -> bytes:
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        if x.size > CKKS.slots:
            raise ValueError(f"a CKKS ciphertext holds at most {CKKS.slots} values")
        counts.encryptions += 1
        return bytes(ts.ckks_vector(self.context, x.tolist()).serialize())

    def load(self, blob: bytes, n_slots: int, counts: OpCounts) -> CKKSBatch:
        try:
            vector = ts.ckks_vector_from(self.context, blob)
        except Exception as exc:  # tenseal raises assorted types on malformed bytes
            raise ValueError(f"malformed CKKS ciphertext: {exc}") from exc
        if vector.size() != n_slots:
            raise ValueError(f"expected a CKKS vector of {n_slots} slots, got {vector.size()}")
        return CKKSBatch(self.key_id, vector, n_slots, counts)

    def for_meters(self) -> CKKSPublicKey:
        """:meth:`without_galois_keys`: meters only encrypt."""
        return self.without_galois_keys()

    def without_galois_keys(self) -> CKKSPublicKey:
        """The same key for encryption only (a smaller context, as held by meters)."""
        blob = self.context.serialize(
            save_public_key=True,
            save_secret_key=False,
            save_galois_keys=False,
            save_relin_keys=False,
        )
        return CKKSPublicKey(self.key_id, ts.context_from(blob))

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the context as bytes (tenseal objects are not picklable)."""
        return {"key_id": self.key_id, "context": self.context.serialize(save_secret_key=False)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.key_id = state["key_id"]
        self.context = ts.context_from(state["context"])


class CKKSSecretKey(SecretKey):
    """tenseal secret key."""

    def __init__(self, key_id: str, context: ts.Context) -> None:
        self.key_id = key_id
        # a context of the secret key alone (no Galois keys): what a checkpoint stores
        self._context_bytes = context.serialize(
            save_secret_key=True, save_galois_keys=False, save_relin_keys=False
        )
        self._secret = context.secret_key()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the secret key as its context's bytes (tenseal objects are not picklable)."""
        return {"key_id": self.key_id, "context": self._context_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.key_id = state["key_id"]
        self._context_bytes = state["context"]
        self._secret = ts.context_from(self._context_bytes).secret_key()

    def decrypt(self, batch: EncryptedBatch, counts: OpCounts) -> FloatArray:
        self._check(batch)
        assert isinstance(batch, CKKSBatch)
        counts.decryptions += 1
        counts.decrypted_values += batch.n_slots
        return np.asarray(batch.vector.decrypt(self._secret), dtype=np.float64)[: batch.n_slots]


class CKKSScheme(EncryptionScheme):
    """``ckks``: one vector per value and billing period (up to :data:`CKKS.slots` slots)."""

    name = "ckks"
    batch_slots = CKKS.slots

    @classmethod
    def generate_keypair(
        cls, key_id: str, *, key_bits: int, galois_keys: bool
    ) -> tuple[CKKSPublicKey, CKKSSecretKey]:
        """Keys of the :data:`CKKS` parameters; ``key_bits`` is ignored.

        ``galois_keys`` adds the Galois (rotation) keys to the public key, needed to sum a
        vector's slots (the period bills).
        """
        context = ts.context(
            ts.SCHEME_TYPE.CKKS,
            poly_modulus_degree=CKKS.poly_modulus_degree,
            coeff_mod_bit_sizes=list(CKKS.coeff_mod_bit_sizes),
        )
        context.global_scale = 2.0**CKKS.scale_bits
        if galois_keys:
            context.generate_galois_keys()
        public = context.copy()
        public.make_context_public()  # drops the secret key
        return CKKSPublicKey(key_id, public), CKKSSecretKey(key_id, context)
