"""Interface of the encryption backends of the encrypted settlement.

Additively homomorphic schemes from existing libraries sit behind one small interface:
:class:`PublicKey` encrypts a batch of values to bytes (what a meter sends) and loads such bytes
as an :class:`EncryptedBatch`; the batch supports ``+``, multiplication by a plaintext vector
(:meth:`EncryptedBatch.scaled`), weighted sums (:meth:`EncryptedBatch.combine`) and summing its
slots. Only a :class:`SecretKey` decrypts. Every operation is counted in the :class:`OpCounts`
of the actor that performs it. An :class:`EncryptionScheme` names a backend, states its
properties (how many slots a ciphertext holds, which key sizes it accepts, whether encryption
randomness is precomputed) and generates its keys.

The backends: ``paillier`` and ``paillier_djn`` (:mod:`cosim.settlement.paillier`), ``ckks``
(:mod:`cosim.settlement.ckks`); the registry of names is :data:`cosim.settlement.schemes.SCHEMES`.
Meter signatures are in :mod:`cosim.settlement.signatures`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from cosim.conventions import FloatArray

__all__ = [
    "DEFAULT_KEY_BITS",
    "EncryptedBatch",
    "EncryptionScheme",
    "KeyMismatchError",
    "OpCounts",
    "PublicKey",
    "RunningSum",
    "SecretKey",
    "as_vector",
]

DEFAULT_KEY_BITS: int = 2048
"""Default modulus size [bit] of the schemes that have one (``settlement.key_bits``)."""


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

    def merge(self, other: OpCounts) -> None:
        """Add the counts of ``other`` (work done for the same actor elsewhere)."""
        self.encryptions += other.encryptions
        self.decryptions += other.decryptions
        self.decrypted_values += other.decrypted_values
        self.homomorphic_operations += other.homomorphic_operations


# --------------------------------------------------------------------------- batches


class EncryptedBatch(ABC):
    """One participant's values over the slots of a batch, under one public key.

    Operations are counted in ``counts`` (the :class:`OpCounts` of the holder) and inherited by
    the results.
    """

    key_id: str
    n_slots: int
    counts: OpCounts

    def detached(self) -> EncryptedBatch | None:
        """The ciphertexts alone, to be sent to another process (None: this backend cannot).

        A detached copy shares no counter or cache with its holder.
        """
        return None

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


def as_vector(values: ArrayLike, n: int, name: str) -> FloatArray:
    """``values`` as a finite float64 vector of ``n`` entries (a plaintext coefficient vector)."""
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

    def for_meters(self) -> PublicKey:
        """The key as the meters hold it (encryption only; a backend may drop evaluation keys)."""
        return self

    def use_pool(self, executor: Executor | None) -> None:
        """Precompute value-independent encryption work on ``executor`` (None: stop).

        Only schemes with :attr:`EncryptionScheme.pooled_randomizers` do anything here.
        """
        return None

    def warm_pool(self, count: int) -> None:
        """Have ``count`` precomputed encryptions ready (only with a pool; see :meth:`use_pool`)."""
        return None


class SecretKey(ABC):
    """Secret key of one actor (a supplier or the grid operator)."""

    key_id: str
    portable: bool = False
    """The key can be handed to a worker process that decrypts on its holder's behalf (it
    pickles, and so do :meth:`EncryptedBatch.detached` copies of its ciphertexts)."""

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


# --------------------------------------------------------------------------- schemes


class EncryptionScheme(ABC):
    """One homomorphic scheme: its name, its properties and its key generation.

    A scheme is a subclass registered in :data:`cosim.settlement.schemes.SCHEMES`; the
    settlement reads only these attributes, never the name.

    Attributes
    ----------
    name : str
        Value of ``settlement.encryption``.
    batch_slots : int
        Slots per ciphertext: 1 settles slot by slot; more settles the slots of a billing
        period together, at most this many per batch.
    pooled_randomizers : bool
        Encryption randomness is precomputed by background processes
        (:meth:`PublicKey.use_pool`); the meters then encrypt in the settlement's process.
    key_sharing : bool
        The grid operator's key can be a 2-of-2 shared key (:mod:`cosim.privacy.threshold`).
    uses_key_bits : bool
        ``settlement.key_bits`` sets the key size (else it is ignored).
    """

    name: ClassVar[str]
    batch_slots: ClassVar[int] = 1
    pooled_randomizers: ClassVar[bool] = False
    key_sharing: ClassVar[bool] = False
    uses_key_bits: ClassVar[bool] = False

    @classmethod
    def check_key_bits(cls, key_bits: int, insecure_test_keys: bool) -> None:
        """Raise ValueError when ``key_bits`` is not acceptable (default: any size is)."""
        return None

    @classmethod
    @abstractmethod
    def generate_keypair(
        cls, key_id: str, *, key_bits: int, galois_keys: bool
    ) -> tuple[PublicKey, SecretKey]:
        """A keypair from OS randomness (:func:`cosim.settlement.schemes.generate_keypair`)."""
