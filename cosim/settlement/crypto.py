"""Encryption backends and meter signatures of the encrypted settlement.

Additively homomorphic schemes from existing libraries, behind one small interface:

- ``paillier`` and ``paillier_djn`` (:mod:`cosim.settlement.paillier`): one ciphertext per
  value at one fixed-point scale of ``2**40``; keys and decryption by :mod:`phe`, encryption by
  phe (textbook) or by pypaillier (Damgard-Jurik-Nielsen short exponent).
- ``ckks`` (:mod:`tenseal`): one ciphertext per vector of up to :data:`CKKS.slots` values (the
  slots of a billing period), parameters in :data:`CKKS` (128-bit security).

:class:`PublicKey` encrypts a batch of values to bytes (what a meter sends) and loads such bytes
as an :class:`EncryptedBatch`; the batch supports ``+``, multiplication by a plaintext vector
(:meth:`EncryptedBatch.scaled`), weighted sums (:meth:`EncryptedBatch.combine`) and summing its
slots. Only a :class:`SecretKey` decrypts. Every operation is counted in the :class:`OpCounts`
of the actor that performs it. Meter payloads are signed with Ed25519 (:class:`MeterSigner`).
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tenseal as ts
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from numpy.typing import ArrayLike

from cosim.conventions import FloatArray

__all__ = [
    "CKKS",
    "PAILLIER_MIN_KEY_BITS",
    "PAILLIER_TEST_MIN_KEY_BITS",
    "SCHEMES",
    "CKKSParameters",
    "EncryptedBatch",
    "KeyMismatchError",
    "MeterSigner",
    "OpCounts",
    "PublicKey",
    "SecretKey",
    "generate_keypair",
    "verify_signature",
]

SCHEMES: tuple[str, ...] = ("paillier", "paillier_djn", "ckks")
"""Homomorphic schemes (values of ``settlement.encryption`` other than ``plain``)."""

PAILLIER_MIN_KEY_BITS: int = 2048
"""Smallest Paillier modulus [bit] accepted without ``insecure_test_keys`` (about 112-bit
security, NIST SP 800-57)."""

PAILLIER_TEST_MIN_KEY_BITS: int = 1024
"""Smallest modulus [bit] even with ``insecure_test_keys``: the fixed-point products need room."""


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


class KeyMismatchError(ValueError):
    """A ciphertext was given to the secret key of another actor."""


@dataclass
class OpCounts:
    """Cryptographic operations performed by one actor.

    Parameters
    ----------
    encryptions : int
        Ciphertexts created (one per value for Paillier, one per vector for CKKS).
    decryptions : int
        Decryption operations (same unit; a packed Paillier decryption counts once).
    decrypted_values : int
        Values learned from decryptions (what the key holder sees, one per slot value).
    homomorphic_operations : int
        Library-level operations on ciphertexts: ciphertext + ciphertext, ciphertext +
        plaintext, ciphertext * plaintext, and (CKKS) the sum of a vector's slots.
    """

    encryptions: int = 0
    decryptions: int = 0
    decrypted_values: int = 0
    homomorphic_operations: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a plain dict."""
        return {
            "encryptions": self.encryptions,
            "decryptions": self.decryptions,
            "decrypted_values": self.decrypted_values,
            "homomorphic_operations": self.homomorphic_operations,
        }


# --------------------------------------------------------------------------- batches


class EncryptedBatch(ABC):
    """One participant's values over the slots of a batch, under one public key.

    Operations are counted in ``counts`` (the :class:`OpCounts` of the holder) and inherited by
    the results.
    """

    key_id: str
    n_slots: int
    counts: OpCounts

    @abstractmethod
    def scaled(self, coef: ArrayLike) -> EncryptedBatch | None:
        """Slot-wise product with the plaintext vector ``coef``; None when ``coef`` is all 0."""

    @abstractmethod
    def add(self, other: EncryptedBatch) -> EncryptedBatch:
        """Slot-wise sum of two batches under the same key."""

    @abstractmethod
    def total(self) -> EncryptedBatch:
        """Sum of the slots, as a batch of one slot."""

    @classmethod
    def combine(cls, terms: Sequence[tuple[EncryptedBatch, ArrayLike]]) -> EncryptedBatch | None:
        """Slot-wise ``sum_i batch_i * coef_i`` of batches under one key; None if all 0.

        The default folds :meth:`scaled` and :meth:`add`; a backend may do it with fewer
        operations, with the same result.
        """
        acc: EncryptedBatch | None = None
        for batch, coef in terms:
            part = batch.scaled(coef)
            if part is not None:
                acc = part if acc is None else acc.add(part)
        return acc

    def running_sum(self) -> RunningSum:
        """An empty :class:`RunningSum` for batches like this one."""
        return RunningSum()

    def _check(self, other: EncryptedBatch) -> None:
        if other.key_id != self.key_id or other.n_slots != self.n_slots:
            raise KeyMismatchError(
                f"cannot combine ciphertexts under {self.key_id!r} and {other.key_id!r}"
            )


class RunningSum:
    """``sum`` over slots and calls of weighted batches, e.g. a bill over a billing period.

    The default adds each call's :meth:`EncryptedBatch.combine` total at once; a backend may
    defer the work (:class:`cosim.settlement.paillier.PaillierRunningSum`).
    """

    def __init__(self) -> None:
        self._value: EncryptedBatch | None = None

    def add(self, terms: Sequence[tuple[EncryptedBatch, ArrayLike]]) -> None:
        """Add ``sum_t sum_i batch_i[t] * coef_i[t]``."""
        if not terms:
            return
        part = type(terms[0][0]).combine(terms)
        if part is None:
            return
        part = part.total()
        self._value = part if self._value is None else self._value.add(part)

    def result(self) -> EncryptedBatch | None:
        """The sum as a one-slot batch; None when every term was 0."""
        return self._value


def _as_vector(values: ArrayLike, n: int, name: str) -> FloatArray:
    if isinstance(values, np.ndarray) and values.shape == (n,) and values.dtype == np.float64:
        if n == 1:  # the hot path of one-slot batches
            if not math.isfinite(values[0]):
                raise ValueError(f"{name} must be finite")
            return values
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have {n} entries, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


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
        k = _as_vector(coef, self.n_slots, "coef")
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


# --------------------------------------------------------------------------- keys


class PublicKey(ABC):
    """Public key of one actor: encrypts values and loads ciphertexts sent as bytes."""

    key_id: str
    scheme: str

    @abstractmethod
    def encrypt(self, values: ArrayLike, counts: OpCounts) -> bytes:
        """Encrypt the values of one batch [any unit] and serialize the ciphertext(s)."""

    @abstractmethod
    def load(self, blob: bytes, n_slots: int, counts: OpCounts) -> EncryptedBatch:
        """Deserialize ciphertext(s) made by :meth:`encrypt`; raise ValueError if malformed."""

    def encrypt_many(self, batches: Sequence[ArrayLike], counts: OpCounts) -> list[bytes]:
        """Encrypt several batches (one :meth:`encrypt` each; a backend may do it at once)."""
        return [self.encrypt(values, counts) for values in batches]


class SecretKey(ABC):
    """Secret key of one actor (a supplier or the grid operator)."""

    key_id: str

    @abstractmethod
    def decrypt(self, batch: EncryptedBatch, counts: OpCounts) -> FloatArray:
        """Decrypt a batch to one float per slot [unit of the encrypted values]."""

    def decrypt_many(self, batches: Sequence[EncryptedBatch], counts: OpCounts) -> list[FloatArray]:
        """Decrypt several batches (one :meth:`decrypt` each; a backend may pack them)."""
        return [self.decrypt(batch, counts) for batch in batches]

    def _check(self, batch: EncryptedBatch) -> None:
        if batch.key_id != self.key_id:
            raise KeyMismatchError(
                f"key {self.key_id!r} cannot decrypt a ciphertext under {batch.key_id!r}"
            )


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


def generate_keypair(
    scheme: str,
    key_id: str,
    *,
    key_bits: int = PAILLIER_MIN_KEY_BITS,
    galois_keys: bool = False,
) -> tuple[PublicKey, SecretKey]:
    """Generate a keypair from OS randomness.

    Parameters
    ----------
    scheme : {"paillier", "paillier_djn", "ckks"}
        Homomorphic scheme.
    key_id : str
        Name of the owner's key (e.g. ``"supplier-0"``, ``"grid-operator"``).
    key_bits : int, default 2048
        Paillier modulus size [bit]; the caller enforces the minimum. Ignored for CKKS.
    galois_keys : bool, default False
        CKKS only: add the Galois (rotation) keys to the public key, needed to sum a vector's
        slots (the period bills).

    Returns
    -------
    (PublicKey, SecretKey)
    """
    if scheme in ("paillier", "paillier_djn"):
        from cosim.settlement.paillier import generate_paillier_keypair

        return generate_paillier_keypair(scheme, key_id, key_bits)
    if scheme == "ckks":
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
    raise ValueError(f"unknown encryption scheme {scheme!r}; expected one of {SCHEMES}")


# --------------------------------------------------------------------------- signatures


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
