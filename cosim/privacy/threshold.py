"""2-of-2 threshold Paillier: the decryption exponent split additively over the integers.

Construction (Damgard & Jurik, "A Generalisation, a Simplification and Some Applications of
Paillier's Probabilistic Public-Key System", PKC 2001, section 4: the exponent ``d`` with
``d = 0 mod lambda`` and ``d = 1 mod n``; its two-party additive sharing over the integers as in
Hazay, Mikkelsen, Rabin & Toft, "Efficient RSA Key Generation and Threshold Paillier in the
Two-Party Setting", CT-RSA 2012 / J. Cryptology 2019):

- a dealer makes a Paillier key ``(n, p, q)`` (phe), ``lambda = lcm(p - 1, q - 1)`` and
  ``d = lambda * (lambda^-1 mod n)``; it draws ``d1`` uniformly from ``[0, 2**sigma * n**2)``
  (``sigma`` = :data:`STATISTICAL_BITS` = 128) and sets ``d2 = d - d1`` (a negative integer);
  it hands ``d1`` to one holder, ``d2`` to the other, and forgets ``p``, ``q``, ``lambda``, ``d``.
  ``d < n**2``, so either share alone is within statistical distance ``2**-128`` of a value
  independent of ``d``: one share opens nothing.
- partial decryption: ``c_i = c^(d_i) mod n^2`` (``d2 < 0`` uses ``c^-1``); combining:
  ``c1 * c2 = c^d = (1 + n)^(m d) r^(n d) = 1 + m n (mod n^2)`` since ``n d = 0 mod n lambda``
  and ``d = 1 mod n``; ``m = (c1 c2 - 1) / n``.

Assumption beyond Paillier's (DCR): the dealer is trusted at key generation (Hazay et al.
remove it with a distributed key generation, not implemented). The share holders are honest
but curious (no proofs that a partial decryption is correct).

Packed opening: several sums are packed into one plaintext with public operations (Horner,
``2**128`` per lane, as :class:`cosim.settlement.paillier.PaillierSecretKey` does) so that both
holders do one partial decryption per :attr:`KeyShare.lanes` values.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import gmpy2
import phe

from cosim.settlement.paillier import LANE_BITS, DJNPublicKey, PaillierPublicKey

__all__ = [
    "STATISTICAL_BITS",
    "KeyShare",
    "combine",
    "deal_two_of_two",
    "pack",
    "unpack",
]

STATISTICAL_BITS = 128
"""sigma: a share is uniform over a range ``2**sigma`` times larger than the secret exponent."""


class KeyShare:
    """One holder's half of a 2-of-2 Paillier decryption exponent.

    Parameters
    ----------
    holder : str
        Who holds it (``"grid-operator"``, ``"authority"``, ...).
    n : int
        Public modulus.
    exponent : int
        The share ``d_i`` (may be negative).
    """

    def __init__(self, holder: str, n: int, exponent: int) -> None:
        self.holder = holder
        self.n = gmpy2.mpz(n)
        self.nsquare = self.n * self.n
        self.lanes = max(1, (n.bit_length() - 2) // LANE_BITS)
        self._exponent = gmpy2.mpz(exponent)

    def partial(self, ciphertexts: Sequence[Any]) -> list[Any]:
        """``c^(d_i) mod n^2`` of each ciphertext (its partial decryption)."""
        return [gmpy2.powmod(gmpy2.mpz(c), self._exponent, self.nsquare) for c in ciphertexts]


def deal_two_of_two(
    key_bits: int,
    holders: tuple[str, str],
    scheme: str = "paillier",
    key_id: str = "shared",
    entropy: Callable[[int], bytes] = os.urandom,
) -> tuple[PaillierPublicKey, KeyShare, KeyShare]:
    """A fresh Paillier key whose decryption exponent is split between two holders.

    Parameters
    ----------
    key_bits : int
        Modulus size [bit] (the caller enforces the minimum).
    holders : (str, str)
        Names of the two holders.
    scheme : {"paillier", "paillier_djn"}
        Encryption of the public key (phe textbook or pypaillier DJN).
    key_id : str
        Name of the public key.
    entropy : callable
        Randomness for the share ``d1``.

    Returns
    -------
    (PaillierPublicKey, KeyShare, KeyShare)
        The private key is not returned: nothing keeps ``p``, ``q`` or ``d`` after this call.
    """
    pub, priv = phe.generate_paillier_keypair(n_length=key_bits)
    n = pub.n
    lam = math.lcm(priv.p - 1, priv.q - 1)
    d = lam * pow(lam, -1, n)
    bound = n * n << STATISTICAL_BITS
    d1 = int.from_bytes(entropy((bound.bit_length() + 7) // 8 + 8), "big") % bound
    d2 = d - d1
    del priv, lam, d
    cls = DJNPublicKey if scheme == "paillier_djn" else PaillierPublicKey
    return cls(key_id, pub), KeyShare(holders[0], n, d1), KeyShare(holders[1], n, d2)


def combine(first: Sequence[Any], second: Sequence[Any], n: int) -> list[int]:
    """Plaintexts in ``[0, n)`` from the two holders' partial decryptions."""
    nn = gmpy2.mpz(n)
    nsquare = nn * nn
    out = []
    for a, b in zip(first, second, strict=True):
        u = a * b % nsquare
        out.append(int((u - 1) // nn % nn))
    return out


def pack(ciphertexts: Sequence[Any], lanes: int, nsquare: Any) -> list[Any]:
    """Pack ciphertexts ``lanes`` at a time: ``E(sum_j x_j 2^(128 j))`` (public operations)."""
    shift = 2**LANE_BITS
    out = []
    for start in range(0, len(ciphertexts), lanes):
        group = ciphertexts[start : start + lanes]
        acc = gmpy2.mpz(group[-1])
        for c in reversed(group[:-1]):
            acc = gmpy2.powmod(acc, shift, nsquare) * c % nsquare
        out.append(acc)
    return out


def unpack(plaintexts: Sequence[int], n: int, count: int, lanes: int) -> list[int]:
    """The ``count`` signed lane values of packed plaintexts (inverse of :func:`pack`)."""
    shift, half, mask = 2**LANE_BITS, 2 ** (LANE_BITS - 1), 2**LANE_BITS - 1
    values: list[int] = []
    for m in plaintexts:
        m = m - n if m > n // 2 else m
        for _ in range(min(lanes, count - len(values))):
            lane = m & mask
            if lane >= half:
                lane -= shift
            values.append(lane)
            m = (m - lane) >> LANE_BITS
    return values
