"""Metering aggregation schemes: one named interface, one registry.

A scheme aggregates one group's fixed-point readings of a batch of slots so that the grid
operator gets the group sums and no single party can open one reading:

- ``masking`` (:class:`MaskingScheme`): pairwise masks with double masking
  (:mod:`cosim.privacy.masking`); the aggregator holds no key at all.
- ``threshold_paillier`` (:class:`ThresholdPaillierScheme`): meters encrypt under a Paillier
  key whose decryption exponent is split 2-of-2 between the grid operator and a second
  authority (:mod:`cosim.privacy.threshold`); the aggregator multiplies ciphertexts.

Fixed point: a reading ``x`` [kWh] is the integer ``round(x * 2**40)`` (the settlement's one
scale, :data:`cosim.settlement.paillier.FIXED_POINT_SCALE`); sums are exact integers.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import gmpy2
import numpy as np
from numpy.typing import NDArray

from cosim.conventions import IntArray
from cosim.privacy.masking import Entropy, MaskingGroup
from cosim.privacy.threshold import KeyShare, combine, deal_two_of_two, pack, unpack
from cosim.settlement.crypto import OpCounts
from cosim.settlement.paillier import FIXED_POINT_BITS, PaillierPublicKey

__all__ = [
    "SCHEMES",
    "AggregationScheme",
    "MaskingScheme",
    "ThresholdPaillierScheme",
    "encode_kwh",
    "make_scheme",
]


def encode_kwh(values: NDArray[np.float64]) -> IntArray:
    """Fixed-point integers ``round(x * 2**40)`` (as :func:`cosim.settlement.paillier.fixed_point`).

    Examples
    --------
    >>> int(encode_kwh(np.array([1.5]))[0]) == 3 * 2**39
    True
    """
    return np.rint(np.asarray(values, dtype=np.float64) * 2.0**FIXED_POINT_BITS).astype(np.int64)


class AggregationScheme(ABC):
    """One group's meters, aggregator and key holders for one scheme."""

    name: ClassVar[str]

    @abstractmethod
    def aggregate(
        self, batch: int, values: IntArray, present: NDArray[np.bool_]
    ) -> tuple[IntArray | None, float]:
        """Group sums of one batch.

        Parameters
        ----------
        batch : int
            Batch number (unique per run).
        values : ndarray of int64, shape (members, T)
            Each member's fixed-point readings.
        present : ndarray of bool, shape (members,)
            False: the meter's batch is missing (it drops out).

        Returns
        -------
        ndarray of int64 or None
            Per slot, the sum over the present members (None: the batch could not be opened).
        float
            Mean bytes a meter sent for the batch.
        """


class MaskingScheme(AggregationScheme):
    """Bonawitz et al. (2017) double masking; see :mod:`cosim.privacy.masking`."""

    name = "masking"

    def __init__(
        self, size: int, degree: int, rng: np.random.Generator, entropy: Entropy = os.urandom
    ) -> None:
        self.group = MaskingGroup(size, degree, rng, entropy)
        self.tamper: Callable[[int, Any], Any] | None = None

    def aggregate(
        self, batch: int, values: IntArray, present: NDArray[np.bool_]
    ) -> tuple[IntArray | None, float]:
        result = self.group.run_batch(batch, values, present, self.tamper)
        return result.total, result.bytes_per_meter


class SharedKey:
    """The dealt 2-of-2 key: the public key and the two holders' shares (set up once per run).

    The dealer object keeps nothing else; :class:`ThresholdPaillierScheme` gives the public
    key to meters and aggregator, one share to the grid operator, the other to the authority.
    """

    def __init__(self, key_bits: int, scheme: str = "paillier_djn") -> None:
        self.public, go, auth = deal_two_of_two(
            key_bits, ("grid-operator", "authority"), scheme if key_bits >= 2048 else "paillier"
        )
        self.grid_operator = ShareHolder(go)
        self.authority = ShareHolder(auth)


class ShareHolder:
    """A key holder of a 2-of-2 key: partial decryptions of packed sums, nothing else."""

    def __init__(self, share: KeyShare) -> None:
        self._share = share
        self.counts = OpCounts()

    @property
    def lanes(self) -> int:
        """Values per packed decryption."""
        return self._share.lanes

    def partial(self, packed: Sequence[Any]) -> list[Any]:
        """Its partial decryptions of packed group sums."""
        self.counts.decryptions += len(packed)
        return self._share.partial(packed)


class PaillierAggregator:
    """Multiplies the members' ciphertexts per slot; holds the public key only."""

    def __init__(self, public: PaillierPublicKey) -> None:
        self.public = public
        self.counts = OpCounts()

    def sums(self, blobs: Sequence[bytes], length: int) -> list[Any]:
        """Per slot, the ciphertext of the sum over the members' blobs."""
        nsq = self.public.nsquare
        acc = [gmpy2.mpz(1)] * length
        for blob in blobs:
            batch = self.public.load(blob, length, self.counts)
            acc = [a * c % nsq for a, c in zip(acc, batch.values, strict=True)]
            self.counts.homomorphic_operations += length
        return acc


class ThresholdPaillierScheme(AggregationScheme):
    """Meters encrypt under the shared key; opening a sum needs both key holders."""

    name = "threshold_paillier"

    def __init__(self, key: SharedKey) -> None:
        self.key = key
        self.aggregator = PaillierAggregator(key.public)
        self.meter_counts = OpCounts()

    def aggregate(
        self, batch: int, values: IntArray, present: NDArray[np.bool_]
    ) -> tuple[IntArray | None, float]:
        m, length = values.shape
        scale = 2.0**FIXED_POINT_BITS
        rows = [values[u].astype(np.float64) / scale for u in range(m) if present[u]]
        blobs = self.key.public.encrypt_many(rows, self.meter_counts) if rows else []
        cts = self.aggregator.sums(blobs, length)
        n = int(self.key.public.n)
        packed = pack(cts, self.key.grid_operator.lanes, self.key.public.nsquare)
        mine = self.key.grid_operator.partial(packed)
        theirs = self.key.authority.partial(packed)  # the authority's answer to the same request
        total = unpack(combine(mine, theirs, n), n, length, self.key.grid_operator.lanes)
        sent = float(np.mean([len(b) for b in blobs])) if blobs else 0.0
        return np.array(total, dtype=np.int64), sent


SCHEMES: dict[str, type[AggregationScheme]] = {
    MaskingScheme.name: MaskingScheme,
    ThresholdPaillierScheme.name: ThresholdPaillierScheme,
}
"""The registry of ``privacy.aggregation`` values (``none`` has no scheme)."""


def make_scheme(
    name: str, size: int, *, degree: int, rng: np.random.Generator, key: SharedKey | None
) -> AggregationScheme:
    """The scheme ``name`` for a group of ``size`` meters."""
    if name == MaskingScheme.name:
        return MaskingScheme(size, degree, rng)
    if name == ThresholdPaillierScheme.name:
        if key is None:
            raise ValueError("threshold_paillier needs the dealt SharedKey")
        return ThresholdPaillierScheme(key)
    raise ValueError(f"unknown aggregation {name!r}; expected one of {sorted(SCHEMES)}")
