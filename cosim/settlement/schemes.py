"""Registry of the encryption schemes of the encrypted settlement.

:data:`SCHEMES` maps each value of ``settlement.encryption`` other than ``plain`` to its
:class:`~cosim.settlement.crypto.EncryptionScheme`. Adding a scheme is one subclass (in its own
module, on the interface of :mod:`cosim.settlement.crypto`) and one line here.

Examples
--------
>>> sorted(SCHEMES)
['ckks', 'paillier', 'paillier_djn']
>>> scheme("ckks").batch_slots, scheme("paillier").batch_slots
(4096, 1)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from cosim.settlement.ckks import CKKSScheme
from cosim.settlement.crypto import DEFAULT_KEY_BITS, EncryptionScheme, PublicKey, SecretKey
from cosim.settlement.paillier import DJNScheme, PaillierScheme

__all__ = ["SCHEMES", "generate_keypair", "scheme"]

SCHEMES: Final = MappingProxyType({s.name: s for s in (PaillierScheme, DJNScheme, CKKSScheme)})
"""Encryption scheme of each ``settlement.encryption`` name (``plain`` excluded)."""


def scheme(name: str) -> type[EncryptionScheme]:
    """The scheme registered as ``name``.

    Raises
    ------
    ValueError
        ``name`` is not in :data:`SCHEMES`.
    """
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(
            f"unknown encryption scheme {name!r}; expected one of {tuple(SCHEMES)}"
        ) from None


def generate_keypair(
    name: str,
    key_id: str,
    *,
    key_bits: int = DEFAULT_KEY_BITS,
    galois_keys: bool = False,
) -> tuple[PublicKey, SecretKey]:
    """Generate a keypair of the scheme ``name`` from OS randomness.

    Parameters
    ----------
    name : {"paillier", "paillier_djn", "ckks"}
        A key of :data:`SCHEMES`.
    key_id : str
        Name of the owner's key (e.g. ``"supplier-0"``, ``"grid-operator"``).
    key_bits : int, default 2048
        Modulus size [bit] (Paillier); the caller enforces the minimum
        (:meth:`~cosim.settlement.crypto.EncryptionScheme.check_key_bits`). Ignored by CKKS.
    galois_keys : bool, default False
        CKKS only: add the Galois (rotation) keys to the public key, needed to sum a vector's
        slots (the period bills).

    Returns
    -------
    (PublicKey, SecretKey)
    """
    return scheme(name).generate_keypair(key_id, key_bits=key_bits, galois_keys=galois_keys)
