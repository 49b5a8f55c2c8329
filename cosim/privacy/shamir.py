"""Shamir secret sharing of 32-byte seeds over the prime field of ``2**521 - 1``.

Shamir, "How to share a secret", Communications of the ACM 22(11), 1979: a secret ``s`` is the
constant term of a random polynomial ``f`` of degree ``t - 1``; share ``x`` is ``f(x)``. Any
``t`` shares give ``s`` by Lagrange interpolation at 0; ``t - 1`` shares are independent of
``s`` (information-theoretic). The masking protocol (:mod:`cosim.privacy.masking`) shares each
meter's self-mask seed and masking private key among its neighbours this way, as Bonawitz et
al. (2017) do.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> shares = share(b"\\x07" * 32, threshold=3, points=[1, 2, 3, 4, 5], entropy=rng.bytes)
>>> reconstruct({x: shares[x] for x in (2, 4, 5)}) == b"\\x07" * 32
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

__all__ = ["PRIME", "reconstruct", "share"]

PRIME: int = 2**521 - 1
"""The field: the Mersenne prime ``2**521 - 1`` (larger than any 32-byte secret)."""

SECRET_BYTES = 32


def share(
    secret: bytes, threshold: int, points: Sequence[int], entropy: Callable[[int], bytes]
) -> dict[int, int]:
    """Split ``secret`` into one share per evaluation point; any ``threshold`` of them open it.

    Parameters
    ----------
    secret : bytes
        32 bytes.
    threshold : int
        Shares needed to reconstruct (>= 1).
    points : sequence of int
        Distinct non-zero evaluation points (the holders' ids + 1).
    entropy : callable
        ``entropy(n) -> n random bytes`` for the polynomial's coefficients.
    """
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"secret must be {SECRET_BYTES} bytes")
    if threshold < 1 or threshold > len(points):
        raise ValueError(f"threshold must be in [1, {len(points)}], got {threshold}")
    if len(set(points)) != len(points) or any(p % PRIME == 0 for p in points):
        raise ValueError("evaluation points must be distinct and non-zero")
    coefs = [int.from_bytes(secret, "big")] + [
        int.from_bytes(entropy(72), "big") % PRIME for _ in range(threshold - 1)
    ]
    out = {}
    for x in points:
        acc = 0
        for c in reversed(coefs):  # Horner
            acc = (acc * x + c) % PRIME
        out[x] = acc
    return out


def reconstruct(shares: Mapping[int, int]) -> bytes:
    """Lagrange interpolation at 0 of the given shares (at least the threshold of them).

    With fewer shares than the threshold the result is a uniformly random field element, not
    the secret: the caller must know the threshold (:class:`cosim.privacy.masking` does).
    """
    xs = list(shares)
    secret = 0
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if i != j:
                num = num * (-xj) % PRIME
                den = den * (xi - xj) % PRIME
        secret = (secret + shares[xi] * num * pow(den, -1, PRIME)) % PRIME
    if secret >= 2 ** (8 * SECRET_BYTES):
        raise ValueError("shares do not interpolate to a 32-byte secret (too few or corrupt)")
    return secret.to_bytes(SECRET_BYTES, "big")
