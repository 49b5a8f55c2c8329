"""Encrypted consensus exchange: DES key holders, the DSO, signed key announcements.

Each DES owns one key pair of the configured scheme (``dispatch.encryption``) and one Ed25519
identity key whose public half every party knows from enrolment. A DES announces its public
encryption key signed with its identity key; the DSO relays announcements and every receiver
(the DSO included) verifies the signature before using a key, so a key substituted in transit
is refused (:class:`KeyAnnouncement`, :func:`verify_announcement`).

One exchange round (all boundary values packed, no rotations, so no Galois keys):

1. DES ``i`` packs its boundary values ``x_i`` in its own public layout (per boundary line
   ``[P(T), Q(T), V(T)]``) and encrypts the vector once under its own key; for each neighbour
   ``j`` it encrypts one vector in ``j``'s layout under ``j``'s key (its values at the positions
   of the lines it shares with ``j``, zeros elsewhere).
2. The DSO, holding only public keys, adds, per DES ``j``, ``j``'s ciphertext and its
   neighbours' ciphertexts under ``j``'s key: every slot then holds ``x_u + x_v`` of one line.
3. DES ``j`` decrypts the sum and halves it: the consensus value ``z = (x_u + x_v) / 2``.

Schemes: ``ckks`` (tenseal, N = 4096 with a 109-bit modulus, 128-bit security, see
:data:`CKKS_COEFF_MOD_BIT_SIZES`; values approximate, error about 1e-8), ``paillier_djn``
(exact: the values are fixed-point integers at scale ``2**40``, sums exact), ``plain`` (no
encryption, the same fixed-point integers, so Paillier iterates equal plain ones bit for bit).
docs/privacy.md lists what each party learns.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import phe
import tenseal as ts

from cosim.settlement.ckks import CKKSPublicKey, CKKSSecretKey
from cosim.settlement.crypto import OpCounts
from cosim.settlement.paillier import (
    FIXED_POINT_BITS,
    DJNPublicKey,
    fixed_point,
    generate_paillier_keypair,
)
from cosim.settlement.signatures import MeterSigner, verify_signature

__all__ = [
    "ENCRYPTION_SCHEMES",
    "Ciphertext",
    "DesEndpoint",
    "DistributionSystemOperator",
    "ExchangeStats",
    "KeyAnnouncement",
    "SecureExchange",
    "verify_announcement",
]

ENCRYPTION_SCHEMES: tuple[str, ...] = ("ckks", "paillier_djn", "plain")
"""Values of ``dispatch.encryption``."""

CKKS_POLY_MODULUS_DEGREE = 4096
"""Ring dimension of the dispatch's CKKS contexts (2048 slots: a DES with up to 28 boundary
lines at 24 steps fits one ciphertext)."""
CKKS_COEFF_MOD_BIT_SIZES: tuple[int, ...] = (60, 49)
"""One 60-bit data prime and the special prime: the exchange only adds ciphertexts (no
multiplication, no rescaling, no rotation), so no further level is needed. 109 bits total is
the HomomorphicEncryption.org bound for 128-bit security at N = 4096."""
CKKS_SCALE_BITS = 40
"""Encoding scale ``2**40``: decrypted sums carry an error of about 1e-8 (measured)."""


@dataclass(frozen=True)
class KeyAnnouncement:
    """A DES's public encryption key, signed with its Ed25519 identity key."""

    des: int
    scheme: str
    key_bytes: bytes
    signature: bytes

    def message(self) -> bytes:
        """The signed bytes: domain tag, scheme, DES index, key."""
        return announcement_message(self.des, self.scheme, self.key_bytes)


def announcement_message(des: int, scheme: str, key_bytes: bytes) -> bytes:
    """Bytes an announcement signs (domain-separated)."""
    return b"cosim-dispatch-key|" + scheme.encode() + b"|" + str(des).encode() + b"|" + key_bytes


def verify_announcement(ann: KeyAnnouncement, identities: dict[int, bytes]) -> bool:
    """True when ``ann`` is signed by the enrolled identity key of DES ``ann.des``."""
    public = identities.get(ann.des)
    return public is not None and verify_signature(public, ann.message(), ann.signature)


@dataclass(frozen=True)
class Ciphertext:
    """One encrypted vector in transit: who sent it, whose key encrypts it, the bytes."""

    sender: int
    key_owner: int
    blob: bytes


class _Batch(Protocol):
    def add(self, other: Any) -> Any: ...


# ----------------------------------------------------------------------------- schemes


class _PlainBatch:
    """Fixed-point integers at scale ``2**40`` (the ``plain`` wire format)."""

    def __init__(self, values: list[int]) -> None:
        self.values = values

    def add(self, other: _PlainBatch) -> _PlainBatch:
        return _PlainBatch([a + b for a, b in zip(self.values, other.values, strict=True)])


class _PlainPublic:
    """The ``plain`` scheme's "public key": encodes, adds; nothing is secret."""

    scheme = "plain"

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id

    def to_bytes(self) -> bytes:
        return self.key_id.encode()

    def seal(self, values: np.ndarray, counts: OpCounts) -> bytes:
        return b"".join(fixed_point(v).to_bytes(16, "big", signed=True) for v in values.tolist())

    def load(self, blob: bytes, n: int, counts: OpCounts) -> _PlainBatch:
        if len(blob) != 16 * n:
            raise ValueError("malformed plain vector")
        return _PlainBatch(
            [int.from_bytes(blob[16 * k : 16 * k + 16], "big", signed=True) for k in range(n)]
        )

    def dump(self, batch: _PlainBatch) -> bytes:
        return b"".join(v.to_bytes(16, "big", signed=True) for v in batch.values)


class _PlainSecret:
    def open(self, batch: _PlainBatch, counts: OpCounts) -> np.ndarray:
        return np.array([v / 2.0**FIXED_POINT_BITS for v in batch.values])


class _CkksPublic:
    """tenseal public context without Galois and relinearisation keys (only additions)."""

    scheme = "ckks"

    def __init__(self, key: CKKSPublicKey) -> None:
        self.key = key
        self.key_id = key.key_id

    def to_bytes(self) -> bytes:
        return bytes(
            self.key.context.serialize(
                save_public_key=True,
                save_secret_key=False,
                save_galois_keys=False,
                save_relin_keys=False,
            )
        )

    def seal(self, values: np.ndarray, counts: OpCounts) -> bytes:
        return self.key.encrypt(values, counts)

    def load(self, blob: bytes, n: int, counts: OpCounts) -> Any:
        return self.key.load(blob, n, counts)

    def dump(self, batch: Any) -> bytes:
        return bytes(batch.vector.serialize())


class _PaillierPublic:
    """DJN-Paillier public key (exact fixed-point integers)."""

    scheme = "paillier_djn"

    def __init__(self, key: DJNPublicKey) -> None:
        self.key = key
        self.key_id = key.key_id
        self._size = (int(key.nsquare).bit_length() + 7) // 8

    def to_bytes(self) -> bytes:
        n = int(self.key.n)
        return n.to_bytes((n.bit_length() + 7) // 8, "big")

    def seal(self, values: np.ndarray, counts: OpCounts) -> bytes:
        return self.key.encrypt(values, counts)

    def load(self, blob: bytes, n: int, counts: OpCounts) -> Any:
        return self.key.load(blob, n, counts)

    def dump(self, batch: Any) -> bytes:
        return b"".join(int(c).to_bytes(self._size, "big") for c in batch.values)


class _SettlementSecret:
    """Wraps a settlement secret key (CKKS or Paillier)."""

    def __init__(self, key: Any) -> None:
        self._key = key

    def open(self, batch: Any, counts: OpCounts) -> np.ndarray:
        return np.asarray(self._key.decrypt_many([batch], counts)[0], dtype=float)


def _keypair(scheme: str, key_id: str, key_bits: int) -> tuple[Any, Any]:
    if scheme == "plain":
        return _PlainPublic(key_id), _PlainSecret()
    if scheme == "ckks":
        context = ts.context(
            ts.SCHEME_TYPE.CKKS,
            poly_modulus_degree=CKKS_POLY_MODULUS_DEGREE,
            coeff_mod_bit_sizes=list(CKKS_COEFF_MOD_BIT_SIZES),
        )
        context.global_scale = 2.0**CKKS_SCALE_BITS
        public = context.copy()
        public.make_context_public()  # drops the secret key
        return _CkksPublic(CKKSPublicKey(key_id, public)), _SettlementSecret(
            CKKSSecretKey(key_id, context)
        )
    if scheme == "paillier_djn":
        pub, sec = generate_paillier_keypair("paillier_djn", key_id, key_bits)
        assert isinstance(pub, DJNPublicKey)
        return _PaillierPublic(pub), _SettlementSecret(sec)
    raise ValueError(f"unknown encryption {scheme!r}; expected one of {ENCRYPTION_SCHEMES}")


def public_from_bytes(scheme: str, key_id: str, data: bytes) -> Any:
    """Rebuild a received public key (after its announcement was verified)."""
    if scheme == "plain":
        return _PlainPublic(key_id)
    if scheme == "ckks":
        context = ts.context_from(data)
        return _CkksPublic(CKKSPublicKey(key_id, context))
    if scheme == "paillier_djn":
        return _PaillierPublic(
            DJNPublicKey(key_id, phe.PaillierPublicKey(int.from_bytes(data, "big")))
        )
    raise ValueError(f"unknown encryption {scheme!r}")


# ----------------------------------------------------------------------------- actors


class DesEndpoint:
    """The crypto side of one DES: its keys, its neighbours' verified public keys, its layout.

    Parameters
    ----------
    des : int
    layout_size : int
        Length of the DES's boundary vector.
    shared : dict of int -> (positions here, positions in the neighbour's layout)
        For each neighbouring DES, where the shared lines sit in both layouts.
    scheme : str
    key_bits : int
        Paillier modulus size [bit].
    """

    def __init__(
        self,
        des: int,
        layout_size: int,
        shared: dict[int, tuple[np.ndarray, np.ndarray]],
        scheme: str,
        key_bits: int = 2048,
    ) -> None:
        self.des = des
        self.layout_size = layout_size
        self.shared = shared
        self.scheme = scheme
        self._identity = MeterSigner()
        self.identity_public = self._identity.public_bytes
        self.public, self._secret = _keypair(scheme, f"des-{des}", key_bits)
        self.neighbour_keys: dict[int, Any] = {}
        self.counts = OpCounts()

    def announce(self) -> KeyAnnouncement:
        """This DES's public key, signed."""
        data = self.public.to_bytes()
        sig = self._identity.sign(announcement_message(self.des, self.scheme, data))
        return KeyAnnouncement(self.des, self.scheme, data, sig)

    def accept(
        self, announcements: Sequence[KeyAnnouncement], identities: dict[int, bytes]
    ) -> None:
        """Take the neighbours' keys from relayed announcements; refuse unsigned ones."""
        for ann in announcements:
            if ann.des not in self.shared:
                continue
            if ann.scheme != self.scheme or not verify_announcement(ann, identities):
                raise ValueError(
                    f"DES {self.des}: key announcement of DES {ann.des} fails verification"
                )
            self.neighbour_keys[ann.des] = public_from_bytes(
                ann.scheme, f"des-{ann.des}", ann.key_bytes
            )
        missing = set(self.shared) - set(self.neighbour_keys)
        if missing:
            raise ValueError(f"DES {self.des}: no verified key of neighbours {sorted(missing)}")

    def seal(self, values: np.ndarray) -> list[Ciphertext]:
        """Own vector under the own key, one vector per neighbour under that neighbour's key."""
        out = [Ciphertext(self.des, self.des, self.public.seal(values, self.counts))]
        for j, (here, there) in sorted(self.shared.items()):
            key = self.neighbour_keys[j]
            vec = np.zeros(self.shared_size(j))
            vec[there] = values[here]
            out.append(Ciphertext(self.des, j, key.seal(vec, self.counts)))
        return out

    def shared_size(self, j: int) -> int:
        """Layout length of neighbour ``j`` (public)."""
        return self._sizes[j]

    def set_sizes(self, sizes: dict[int, int]) -> None:
        """Layout lengths of all DES (public)."""
        self._sizes = dict(sizes)

    def open(self, blob: bytes) -> np.ndarray:
        """Consensus values ``z`` from the DSO's summed ciphertext."""
        batch = self.public.load(blob, self.layout_size, self.counts)
        return 0.5 * self._secret.open(batch, self.counts)


class DistributionSystemOperator:
    """The DSO: verified public keys and ciphertexts only; sums each DES's incoming vectors.

    Parameters
    ----------
    sizes : dict of int -> int
        Layout length of every DES (public).
    identities : dict of int -> bytes
        Enrolled Ed25519 identity keys (public).
    """

    def __init__(self, sizes: dict[int, int], identities: dict[int, bytes]) -> None:
        self.sizes = dict(sizes)
        self.identities = dict(identities)
        self.keys: dict[int, Any] = {}
        self.counts = OpCounts()
        self.received: list[type] = []

    def register(self, announcements: Sequence[KeyAnnouncement]) -> list[KeyAnnouncement]:
        """Verify and keep every DES's public key; return the announcements to relay."""
        for ann in announcements:
            if not verify_announcement(ann, self.identities):
                raise ValueError(f"DSO: key announcement of DES {ann.des} fails verification")
            self.keys[ann.des] = public_from_bytes(ann.scheme, f"des-{ann.des}", ann.key_bytes)
        return list(announcements)

    def aggregate(self, messages: Sequence[Ciphertext]) -> dict[int, bytes]:
        """Per DES, the sum of the ciphertexts under its key (``x_u + x_v`` in every slot)."""
        sums: dict[int, Any] = {}
        for msg in messages:
            self.received.append(type(msg))
            key = self.keys[msg.key_owner]
            batch = key.load(msg.blob, self.sizes[msg.key_owner], self.counts)
            prev = sums.get(msg.key_owner)
            sums[msg.key_owner] = batch if prev is None else prev.add(batch)
        return {j: self.keys[j].dump(b) for j, b in sums.items()}


@dataclass
class ExchangeStats:
    """Bytes and seconds of the exchange rounds."""

    bytes_up: int = 0
    bytes_down: int = 0
    encrypt_seconds: float = 0.0
    aggregate_seconds: float = 0.0
    decrypt_seconds: float = 0.0
    key_setup_seconds: float = 0.0
    key_bytes: dict[int, int] = field(default_factory=dict)


class SecureExchange:
    """All endpoints and the DSO of one dispatch, wired by the public topology.

    Parameters
    ----------
    layouts : list of (size, shared)
        Per DES: layout length and, per neighbour, ``(positions here, positions there)``.
    scheme : {"ckks", "paillier_djn", "plain"}
    key_bits : int
    """

    def __init__(
        self,
        layouts: list[tuple[int, dict[int, tuple[np.ndarray, np.ndarray]]]],
        scheme: str,
        key_bits: int = 2048,
    ) -> None:
        tic = time.perf_counter()
        self.scheme = scheme
        self.endpoints = [
            DesEndpoint(d, size, shared, scheme, key_bits)
            for d, (size, shared) in enumerate(layouts)
        ]
        sizes = {d: size for d, (size, _) in enumerate(layouts)}
        identities = {e.des: e.identity_public for e in self.endpoints}
        self.dso = DistributionSystemOperator(sizes, identities)
        relayed = self.dso.register([e.announce() for e in self.endpoints])
        for e in self.endpoints:
            e.set_sizes(sizes)
            e.accept(relayed, identities)
        self.stats = ExchangeStats()
        self.stats.key_setup_seconds = time.perf_counter() - tic
        self.stats.key_bytes = {a.des: len(a.key_bytes) for a in relayed}

    def relayout(self, layouts: list[tuple[int, dict[int, tuple[np.ndarray, np.ndarray]]]]) -> None:
        """New public layouts of the same DES and neighbours (a shorter horizon); keys kept."""
        if len(layouts) != len(self.endpoints) or any(
            set(shared) != set(e.shared)
            for e, (_, shared) in zip(self.endpoints, layouts, strict=True)
        ):
            raise ValueError("relayout needs the same DES and neighbours")
        sizes = {d: size for d, (size, _) in enumerate(layouts)}
        for e, (size, shared) in zip(self.endpoints, layouts, strict=True):
            e.layout_size, e.shared = size, shared
            e.set_sizes(sizes)
        self.dso.sizes = dict(sizes)

    def round(self, values: list[np.ndarray]) -> list[np.ndarray]:
        """One exchange: every DES's boundary values in, every DES's ``z`` out."""
        tic = time.perf_counter()
        messages = [m for e, v in zip(self.endpoints, values, strict=True) for m in e.seal(v)]
        toc = time.perf_counter()
        replies = self.dso.aggregate(messages)
        tac = time.perf_counter()
        z = [e.open(replies[e.des]) if e.layout_size else np.zeros(0) for e in self.endpoints]
        self.stats.encrypt_seconds += toc - tic
        self.stats.aggregate_seconds += tac - toc
        self.stats.decrypt_seconds += time.perf_counter() - tac
        self.stats.bytes_up += sum(len(m.blob) for m in messages)
        self.stats.bytes_down += sum(len(b) for b in replies.values())
        return z
