"""Secure aggregation by pairwise masking with double masking (Bonawitz et al. 2017).

Bonawitz, Ivanov, Kreuter, Marcedone, McMahan, Patel, Ramage, Segal, Seth, "Practical Secure
Aggregation for Privacy-Preserving Machine Learning", ACM CCS 2017 (the semi-honest protocol
of its section 4), with the sparse neighbourhood of Bell, Bonawitz, Gascon, Lepoint, Raykova,
"Secure Single-Server Aggregation with (Poly)Logarithmic Overhead", ACM CCS 2020, for large
groups. Every reading is an integer modulo ``2**64`` (the fixed-point encoding of
:mod:`cosim.privacy.fixedpoint`).

Per meter ``u`` of a group (docs/privacy.md has the full account):

- two X25519 key pairs: ``c_u`` (channel: shares travel encrypted through the aggregator with
  AES-GCM under ``HKDF(X25519(c_u, c_v))``) and ``s_u`` (masking: the pair key
  ``s_uv = HKDF(X25519(s_u, s_v))``). The ``s_u`` private key is Shamir-shared among ``u``'s
  neighbours (threshold ``t``) when it is made.
- per batch ``r`` (a run of slots): a fresh self-mask seed ``b_u``, Shamir-shared among the
  neighbours *before* any masked value is sent; then the masked vector
  ``y_u = x_u + PRG(b_u) + sum_{v > u} PRG(s_uv) - sum_{v < u} PRG(s_uv)  (mod 2**64)``,
  ``PRG`` = ChaCha20 keystream with the batch number as nonce.
- the aggregator sums the ``y_u`` it accepted (survivors ``U'``); for every survivor it asks
  the survivors for shares of ``b_u`` and removes ``PRG(b_u)``; for every neighbour that
  dropped or was rejected it asks for shares of ``s_u``'s private key and removes the pair
  masks that the dropped meter would have cancelled. An honest meter answers, for one batch,
  either ``b``-shares or ``s``-shares of a given neighbour, never both
  (:meth:`MaskingMeter.unmask_shares` refuses), so the aggregator never holds both masks of
  one meter: a late ``y_u`` of a dropped meter stays hidden behind ``PRG(b_u)``.
- a meter whose masking key was reconstructed is **re-keyed** before its next batch (fresh
  ``s_u``, fresh shares): otherwise its pair masks would be known in every later batch.

The aggregator (:class:`MaskingAggregator`) holds public keys and ciphertexts only.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from numpy.typing import NDArray

from cosim.privacy import shamir

__all__ = [
    "MaskedInput",
    "MaskingAggregator",
    "MaskingGroup",
    "MaskingMeter",
    "PrivacyViolation",
    "RoundResult",
    "ShareMessage",
    "neighbourhoods",
    "prg",
]

Entropy = Callable[[int], bytes]
U64 = NDArray[np.uint64]
_RAW = serialization.Encoding.Raw
_SHARE_BYTES = 66  # an element of GF(2**521 - 1)
_B, _S = 0, 1  # share kinds: self-mask seed, masking private key


class PrivacyViolation(RuntimeError):
    """A request that would make a meter reveal both masks of one neighbour."""


def prg(key: bytes, batch: int, length: int) -> U64:
    """``length`` pseudo-random integers mod ``2**64``: ChaCha20(key, nonce = batch) keystream."""
    nonce = struct.pack("<QQ", 0, batch)
    enc = Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor()
    return np.frombuffer(enc.update(bytes(8 * length)), dtype="<u8").astype(np.uint64)


def _kdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _raw_public(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)


def neighbourhoods(n: int, degree: int, rng: np.random.Generator) -> list[list[int]]:
    """Who masks with whom: everyone (``n - 1 <= degree``) or a ``degree``-regular graph.

    The sparse graph is a Harary (circulant) graph on a random order of the members: member
    at position ``p`` pairs with the ``degree // 2`` positions on either side (``degree``
    rounded down to even), so every member has exactly that many neighbours (Bell et al. 2020
    pick a random graph of logarithmic degree; a regular one guarantees the degree).
    """
    if n - 1 <= degree:
        return [[v for v in range(n) if v != u] for u in range(n)]
    half = max(1, degree // 2)
    order = rng.permutation(n)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    out = []
    for u in range(n):
        p = int(pos[u])
        out.append(sorted(int(order[(p + d) % n]) for d in range(-half, half + 1) if d != 0))
    return out


@dataclass(frozen=True)
class ShareMessage:
    """An encrypted Shamir share from ``sender`` to ``receiver``, routed by the aggregator."""

    sender: int
    receiver: int
    kind: int  # 0: self-mask seed b, 1: masking private key s
    tag: int  # batch (kind 0) or key epoch (kind 1)
    ciphertext: bytes


@dataclass(frozen=True)
class MaskedInput:
    """A meter's masked batch: ``T`` integers mod ``2**64``, little-endian."""

    sender: int
    batch: int
    payload: bytes


class MaskingMeter:
    """One meter's side of the protocol: its readings' masks and its neighbours' shares.

    Parameters
    ----------
    index : int
        Position in the group (the ordering of the pair masks' signs).
    neighbours : sequence of int
        Group positions it masks with and shares its secrets with.
    threshold : int
        Shares needed to reconstruct one of its secrets.
    entropy : callable
        ``entropy(n) -> n bytes`` for keys, seeds and share polynomials (default: the OS).
    """

    def __init__(
        self, index: int, neighbours: Sequence[int], threshold: int, entropy: Entropy = os.urandom
    ) -> None:
        self.index = index
        self.neighbours = tuple(neighbours)
        self.threshold = threshold
        self._entropy = entropy
        self._channel = X25519PrivateKey.from_private_bytes(entropy(32))
        self._mask = X25519PrivateKey.from_private_bytes(entropy(32))
        self.epoch = 0
        self._channel_keys: dict[int, AESGCM] = {}
        self._channel_raw: dict[int, bytes] = {}
        self._pair_keys: dict[int, bytes] = {}
        self._held: dict[tuple[int, int, int], int] = {}  # (owner, kind, tag) -> share
        self._seed: tuple[int, bytes] | None = None  # (batch, b_u)
        self._answered: dict[tuple[int, int], int] = {}  # (batch, owner) -> kind revealed

    def __getstate__(self) -> dict[str, object]:
        """Pickle (checkpoints) with the X25519 and AES-GCM keys as their raw bytes."""
        state = dict(self.__dict__)
        for name in ("_channel", "_mask"):
            state[name] = state[name].private_bytes(
                _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
        state["_channel_keys"] = dict(self._channel_raw)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        for name in ("_channel", "_mask"):
            raw = state[name]
            assert isinstance(raw, bytes)
            setattr(self, name, X25519PrivateKey.from_private_bytes(raw))
        self._channel_keys = {v: AESGCM(k) for v, k in self._channel_raw.items()}

    @property
    def channel_public(self) -> bytes:
        """Raw X25519 channel public key."""
        return _raw_public(self._channel)

    @property
    def mask_public(self) -> bytes:
        """Raw X25519 masking public key of the current epoch."""
        return _raw_public(self._mask)

    def rekey(self) -> None:
        """Fresh masking key pair (after its private key was reconstructed); new epoch."""
        self._mask = X25519PrivateKey.from_private_bytes(self._entropy(32))
        self.epoch += 1
        self._pair_keys = {}

    def learn_keys(
        self, channel: Mapping[int, bytes], mask: Mapping[int, bytes], epochs: Mapping[int, int]
    ) -> None:
        """Derive channel and pair keys with the neighbours from their public keys."""
        for v in self.neighbours:
            lo, hi = min(self.index, v), max(self.index, v)
            if v not in self._channel_keys:
                shared = self._channel.exchange(X25519PublicKey.from_public_bytes(channel[v]))
                info = b"cosim/masking/channel|%d|%d" % (lo, hi)
                self._channel_raw[v] = _kdf(shared, info)
                self._channel_keys[v] = AESGCM(self._channel_raw[v])
            shared = self._mask.exchange(X25519PublicKey.from_public_bytes(mask[v]))
            e_lo, e_hi = (self.epoch, epochs[v]) if self.index == lo else (epochs[v], self.epoch)
            info = b"cosim/masking/pair|%d|%d|%d|%d" % (lo, hi, e_lo, e_hi)
            self._pair_keys[v] = _kdf(shared, info)

    @staticmethod
    def _nonce(kind: int, tag: int, sender: int, receiver: int) -> bytes:
        """Unique per pair key: kind, direction and batch or epoch."""
        return struct.pack(">BBQxx", kind, int(sender < receiver), tag)

    def _share_out(self, secret: bytes, kind: int, tag: int) -> list[ShareMessage]:
        points = [v + 1 for v in self.neighbours]
        shares = shamir.share(secret, self.threshold, points, self._entropy)
        out = []
        for v in self.neighbours:
            plain = shares[v + 1].to_bytes(_SHARE_BYTES, "big")
            aad = struct.pack(">IIBQ", self.index, v, kind, tag)
            ct = self._channel_keys[v].encrypt(self._nonce(kind, tag, self.index, v), plain, aad)
            out.append(ShareMessage(self.index, v, kind, tag, ct))
        return out

    def key_shares(self) -> list[ShareMessage]:
        """Encrypted shares of its masking private key, one per neighbour (per epoch)."""
        raw = self._mask.private_bytes(
            _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return self._share_out(raw, _S, self.epoch)

    def seed_shares(self, batch: int) -> list[ShareMessage]:
        """Draw the batch's self-mask seed ``b_u``; encrypted shares, one per neighbour."""
        seed = self._entropy(32)
        self._seed = (batch, seed)
        # earlier batches are closed: their seed shares and answers are no longer needed
        self._held = {key: v for key, v in self._held.items() if key[1] != _B or key[2] >= batch}
        self._answered = {key: v for key, v in self._answered.items() if key[0] >= batch}
        return self._share_out(seed, _B, batch)

    def receive(self, messages: Sequence[ShareMessage]) -> None:
        """Decrypt and keep the shares addressed to this meter."""
        for m in messages:
            if m.receiver != self.index or m.sender not in self._channel_keys:
                continue
            aad = struct.pack(">IIBQ", m.sender, self.index, m.kind, m.tag)
            nonce = self._nonce(m.kind, m.tag, m.sender, self.index)
            plain = self._channel_keys[m.sender].decrypt(nonce, m.ciphertext, aad)
            self._held[(m.sender, m.kind, m.tag)] = int.from_bytes(plain, "big")

    def masked_input(self, batch: int, values: NDArray[np.int64]) -> MaskedInput:
        """``y_u = x_u + PRG(b_u) + sum_{v>u} PRG(s_uv) - sum_{v<u} PRG(s_uv)`` mod ``2**64``."""
        if self._seed is None or self._seed[0] != batch:
            raise RuntimeError("seed_shares(batch) must come before masked_input(batch)")
        x = np.asarray(values, dtype=np.int64).view(np.uint64)
        y = x + prg(self._seed[1], batch, x.size)
        for v in self.neighbours:
            mask = prg(self._pair_keys[v], batch, x.size)
            y = y + mask if v > self.index else y - mask
        return MaskedInput(self.index, batch, y.astype("<u8").tobytes())

    def unmask_shares(
        self,
        batch: int,
        survivors: Sequence[int],
        dropped: Sequence[int],
        epochs: Mapping[int, int],
    ) -> dict[int, tuple[int, int]]:
        """Shares for the aggregator: ``b``-shares of survivors, ``s``-shares of dropped ones.

        Raises
        ------
        PrivacyViolation
            When the aggregator asks for the other kind of a neighbour already answered in
            this batch (the double-masking rule: never both masks of one meter).
        """
        overlap = set(survivors) & set(dropped)
        if overlap:
            raise PrivacyViolation(f"meters {sorted(overlap)} cannot be both alive and dropped")
        out: dict[int, tuple[int, int]] = {}
        for kind, owners in ((_B, survivors), (_S, dropped)):
            for u in owners:
                if u not in self.neighbours:
                    continue
                seen = self._answered.get((batch, u))
                if seen is not None and seen != kind:
                    raise PrivacyViolation(
                        f"meter {self.index}: already revealed the other mask of {u}"
                    )
                tag = batch if kind == _B else epochs[u]
                share = self._held.get((u, kind, tag))
                if share is not None:
                    self._answered[(batch, u)] = kind
                    out[u] = (kind, share)
        return out


@dataclass
class RoundResult:
    """Outcome of one batch of one group."""

    total: NDArray[np.int64] | None  # sum over survivors mod 2**64 as signed; None: failed
    survivors: list[int]
    dropped: list[int]
    bytes_per_meter: float  # mean bytes a meter sent in the batch (shares + masked vector)


class MaskingAggregator:
    """Routes encrypted shares, sums masked vectors, removes masks with recovered seeds.

    Holds the meters' public keys (channel and masking, with their epochs) and nothing else.
    """

    def __init__(self, neighbours: Sequence[Sequence[int]], threshold: int) -> None:
        self.neighbours = [tuple(v) for v in neighbours]
        self.threshold = threshold
        self.channel_keys: dict[int, bytes] = {}
        self.mask_keys: dict[int, bytes] = {}
        self.epochs: dict[int, int] = {}
        self.rejected: list[tuple[int, int, str]] = []  # (batch, meter, reason)

    def register(self, meter: int, channel: bytes, mask: bytes, epoch: int) -> None:
        """Publish a meter's public keys (a PKI is assumed; see docs/privacy.md)."""
        self.channel_keys[meter] = channel
        self.mask_keys[meter] = mask
        self.epochs[meter] = epoch

    @staticmethod
    def route(messages: Sequence[ShareMessage]) -> dict[int, list[ShareMessage]]:
        """Forward each encrypted share to its receiver (the aggregator cannot read them)."""
        out: dict[int, list[ShareMessage]] = {}
        for m in messages:
            out.setdefault(m.receiver, []).append(m)
        return out

    def accept(
        self, batch: int, inputs: Mapping[int, MaskedInput | None], length: int
    ) -> dict[int, U64]:
        """Check the masked vectors; missing or malformed ones count as dropped."""
        ok: dict[int, U64] = {}
        for u in range(len(self.neighbours)):
            msg = inputs.get(u)
            if msg is None:
                self.rejected.append((batch, u, "missing"))
            elif msg.sender != u or msg.batch != batch or len(msg.payload) != 8 * length:
                self.rejected.append((batch, u, "malformed or replayed"))
            else:
                ok[u] = np.frombuffer(msg.payload, dtype="<u8").astype(np.uint64)
        return ok

    def unmask(
        self,
        batch: int,
        accepted: Mapping[int, U64],
        responses: Mapping[int, Mapping[int, tuple[int, int]]],
        length: int,
    ) -> NDArray[np.int64] | None:
        """The group sum from the accepted vectors and the survivors' shares (None: too few)."""
        alive = set(accepted)
        total = np.zeros(length, dtype=np.uint64)
        for y in accepted.values():
            total = total + y
        for u in range(len(self.neighbours)):
            kind = _B if u in alive else _S
            if kind == _S and not (set(self.neighbours[u]) & alive):
                continue  # nobody alive masked with u: nothing to remove
            got = {v + 1: r[u][1] for v, r in responses.items() if u in r and r[u][0] == kind}
            if len(got) < self.threshold:
                return None
            secret = shamir.reconstruct(dict(list(got.items())[: self.threshold]))
            if kind == _B:
                total = total - prg(secret, batch, length)
                continue
            private = X25519PrivateKey.from_private_bytes(secret)
            for v in self.neighbours[u]:
                if v not in alive:
                    continue
                shared = private.exchange(X25519PublicKey.from_public_bytes(self.mask_keys[v]))
                lo, hi = min(u, v), max(u, v)
                e_lo, e_hi = (
                    (self.epochs[u], self.epochs[v])
                    if u == lo
                    else (self.epochs[v], self.epochs[u])
                )
                key = _kdf(shared, b"cosim/masking/pair|%d|%d|%d|%d" % (lo, hi, e_lo, e_hi))
                mask = prg(key, batch, length)
                # v added +mask when u > v, -mask when u < v: undo it
                total = total - mask if u > v else total + mask
        return total.view(np.int64)


@dataclass
class MaskingGroup:
    """One group's meters and aggregator, and the message flow of a batch between them.

    Parameters
    ----------
    size : int
        Meters in the group.
    degree : int
        Neighbours per meter (everyone when the group is smaller).
    rng : numpy.random.Generator
        Draws the neighbourhood graph (public).
    entropy : callable, optional
        Key and seed randomness of the meters (default: the OS).
    """

    size: int
    degree: int
    rng: np.random.Generator
    entropy: Entropy = os.urandom
    meters: list[MaskingMeter] = field(init=False)
    aggregator: MaskingAggregator = field(init=False)
    rekeyed: int = field(init=False, default=0)
    failed_batches: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        graph = neighbourhoods(self.size, self.degree, self.rng)
        deg = min(len(g) for g in graph) if graph else 0
        self.threshold = max(1, deg // 2 + 1)
        self.meters = [
            MaskingMeter(u, graph[u], self.threshold, self.entropy) for u in range(self.size)
        ]
        self.aggregator = MaskingAggregator(graph, self.threshold)
        self._setup_bytes = np.zeros(self.size)
        self._publish(range(self.size))

    def _publish(self, which: Sequence[int] | range) -> None:
        """(Re-)register keys and distribute the masking-key shares of ``which``."""
        agg = self.aggregator
        for u in which:
            m = self.meters[u]
            agg.register(u, m.channel_public, m.mask_public, m.epoch)
            self._setup_bytes[u] += 64
        for m in self.meters:
            m.learn_keys(agg.channel_keys, agg.mask_keys, agg.epochs)
        msgs = [s for u in which for s in self.meters[u].key_shares()]
        for s in msgs:
            self._setup_bytes[s.sender] += len(s.ciphertext)
        for v, mine in agg.route(msgs).items():
            self.meters[v].receive(mine)

    def run_batch(
        self,
        batch: int,
        values: NDArray[np.int64],
        present: NDArray[np.bool_],
        tamper: Callable[[int, MaskedInput], MaskedInput | None] | None = None,
    ) -> RoundResult:
        """Aggregate one batch: ``values`` (members x T) fixed-point readings.

        ``present[u]`` False: meter ``u`` sends its seed shares, then drops before its masked
        vector (the worst case of Bonawitz et al.). ``tamper`` alters or drops a vector on the
        way (a rejected reading).
        """
        n, length = values.shape
        sent = self._setup_bytes.copy()
        self._setup_bytes[:] = 0
        msgs = [s for m in self.meters for s in m.seed_shares(batch)]
        for s in msgs:
            sent[s.sender] += len(s.ciphertext)
        for v, mine in self.aggregator.route(msgs).items():
            self.meters[v].receive(mine)
        inputs: dict[int, MaskedInput | None] = {}
        for u, m in enumerate(self.meters):
            if not present[u]:
                continue
            y = m.masked_input(batch, values[u])
            sent[u] += len(y.payload)
            inputs[u] = tamper(u, y) if tamper is not None else y
        accepted = self.aggregator.accept(batch, inputs, length)
        survivors = sorted(accepted)
        dropped = [u for u in range(n) if u not in accepted]
        responses = {
            v: self.meters[v].unmask_shares(batch, survivors, dropped, self.aggregator.epochs)
            for v in survivors
        }
        total = self.aggregator.unmask(batch, accepted, responses, length)
        if total is None:
            self.failed_batches += 1
        # the dropped meters' masking keys are now known: fresh keys before the next batch
        burnt = [u for u in dropped if set(self.aggregator.neighbours[u]) & set(survivors)]
        for u in burnt:
            self.meters[u].rekey()
        if burnt:
            self.rekeyed += len(burnt)
            self._publish(burnt)
        return RoundResult(total, survivors, dropped, float(sent.mean()) if n else 0.0)
