"""The PPBSP actors: meters, suppliers, grid operator and trading platform.

Actors and their keys (``docs/privacy.md`` has the full account):

- :class:`cosim.settlement.meters.Meters` — the users' smart meters (struct of arrays over all
  users). Each holds an Ed25519 signing key; meters know their own readings and the public keys.
- :class:`Supplier` — one per supplier, holds its own secret key (Paillier or CKKS).
- :class:`GridOperator` — holds the GO secret key; decrypts only market-wide slot sums. With
  ``privacy.aggregation: threshold_paillier`` it holds only one half of a 2-of-2 shared key
  (:mod:`cosim.privacy.threshold`) and :class:`DecryptionAuthority` the other: opening a sum
  needs both partial decryptions.
- :class:`TradingPlatform` — holds public keys and meter verification keys only; computes
  every bill term on ciphertexts with the coefficients of :func:`cosim.settlement.billing.
  bill_terms` (the one billing implementation of all backends).

What crosses between them is in :mod:`cosim.settlement.messages`: :class:`MeterPayload` (signed
as :class:`SignedPayload`) from the meters to the platform, :class:`EncryptedSum` from the
platform to the key holders.
:class:`cosim.settlement.protocol.EncryptedSettlement` creates the actors and runs the protocol
steps between them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cosim.conventions import FloatArray, IntArray
from cosim.privacy.threshold import KeyShare, combine, pack, unpack
from cosim.settlement.billing import AGGREGATE_MODELS, AGGREGATES, aggregate_masks, bill_terms
from cosim.settlement.crypto import EncryptedBatch, OpCounts, PublicKey, RunningSum, SecretKey
from cosim.settlement.messages import (
    BatchResult,
    EncryptedSum,
    MeterPayload,
    SignedPayload,
)
from cosim.settlement.meters import GO_KEY_ID
from cosim.settlement.paillier import PaillierBatch
from cosim.settlement.schemes import generate_keypair
from cosim.settlement.signatures import verify_signature
from cosim.settlement.terms import BillTerms, LinearForm, Prices, SlotInfo

__all__ = [
    "GO_KEY_ID",
    "OPENING_PART_DECRYPTIONS",
    "DecryptionAuthority",
    "GridOperator",
    "Opening",
    "PrivacyError",
    "Supplier",
    "TradingPlatform",
    "gross_energy_form",
    "supplier_key_id",
]


OPENING_PART_DECRYPTIONS = 16
"""Packed decryptions per part of a spread :class:`Opening` (about 0.1 s at 2048 bits)."""


def supplier_key_id(index: int) -> str:
    """Key name of supplier ``index``."""
    return f"supplier-{index}"


class PrivacyError(ValueError):
    """An actor refused a decryption that would reveal too small a group."""


# --------------------------------------------------------------------------- key holders


class Supplier:
    """A supplier: holds its secret key, opens its own balances and its customers' bills.

    Parameters
    ----------
    index : int
        Supplier index.
    scheme : {"paillier", "paillier_djn", "ckks"}
        Encryption scheme.
    key_bits : int
        Paillier modulus size [bit].
    """

    def __init__(self, index: int, scheme: str, key_bits: int) -> None:
        self.index = index
        self.public_key, self._secret = generate_keypair(
            scheme, supplier_key_id(index), key_bits=key_bits, galois_keys=True
        )
        self.counts = OpCounts()
        self._fallback_bills: dict[int, float] = {}

    def open_many(self, totals: Sequence[EncryptedSum]) -> list[FloatArray]:
        """Open several sums at once (the backend may pack them into fewer decryptions).

        Each is a per-slot money [currency] or gross energy [kWh] of its customers, or a bill.
        """
        return _open_sums(self._secret, totals, self.counts)

    @property
    def delegates_opening(self) -> bool:
        """Whether its key can go to worker processes acting for it (:meth:`start_opening`)."""
        return self._secret.portable

    def start_opening(
        self, totals: Sequence[EncryptedSum], compute: Executor | None, processes: int
    ) -> Opening:
        """Begin opening many sums, part of them on the supplier's own worker processes.

        ``compute`` is the supplier's compute: its tasks carry this supplier's secret key and
        ciphertexts under it only, and return the plaintexts to this supplier (docs/privacy.md).
        The results are those of :meth:`open_many`; :meth:`Opening.result` collects them.
        """
        return Opening(self._secret, totals, self.counts, compute, processes)

    def retail_fallback(
        self, user: int, net_kwh: FloatArray, prices: Prices, tol_kwh: float
    ) -> tuple[FloatArray, FloatArray]:
        """Settle a customer at retail from the supplier's own meter reading.

        Returns the per-slot money [currency] (> 0: the customer pays) and gross energy [kWh];
        the money is also added to the customer's bill of the current period.
        """
        price = np.where(net_kwh > tol_kwh, prices.retail_price, 0.0)
        price = np.where(net_kwh < -tol_kwh, prices.feed_in_tariff, price)
        money = net_kwh * price
        self._fallback_bills[user] = self._fallback_bills.get(user, 0.0) + float(money.sum())
        return money, np.abs(net_kwh)

    def open_bills(self, bills: Mapping[int, EncryptedSum]) -> dict[int, float]:
        """Open the period bills [currency] of its customers (> 0: the customer pays)."""
        opened = self.open_many(list(bills.values()))
        return {u: float(v[0]) for u, v in zip(bills, opened, strict=True)}

    def take_fallback_bills(self) -> dict[int, float]:
        """Retail fallback amounts of the period per customer [currency]; resets them."""
        out, self._fallback_bills = self._fallback_bills, {}
        return out


class GridOperator:
    """The grid operator: holds the GO secret key and opens only market-wide slot sums.

    Parameters
    ----------
    scheme : {"paillier", "paillier_djn", "ckks"}
        Encryption scheme.
    key_bits : int
        Paillier modulus size [bit].
    min_members : int
        Smallest non-empty group whose sum the GO agrees to decrypt (k-anonymity threshold).
    shared : (PublicKey, KeyShare), optional
        A 2-of-2 shared Paillier key instead of an own key pair: the GO then holds only its
        share and needs the :class:`DecryptionAuthority`'s partial decryptions to open a sum.
    """

    def __init__(
        self,
        scheme: str,
        key_bits: int,
        min_members: int,
        shared: tuple[PublicKey, KeyShare] | None = None,
    ) -> None:
        self._secret: SecretKey | None = None
        self._share: KeyShare | None = None
        if shared is None:
            self.public_key, self._secret = generate_keypair(scheme, GO_KEY_ID, key_bits=key_bits)
        else:
            self.public_key, self._share = shared
        self.min_members = min_members
        self.counts = OpCounts()
        self.single_member_sums = 0

    def open_aggregates(
        self,
        sums: Mapping[str, EncryptedSum],
        members: Mapping[str, IntArray],
        partner: Sequence[object] | None = None,
    ) -> dict[str, FloatArray]:
        """Open the deviation aggregates [kWh] per slot, refusing groups below the threshold.

        ``members[name][t]`` is the group size of aggregate ``name`` in slot ``t`` (public: it
        follows from the plaintext flags and signs). Values are clipped at 0 (each aggregate is
        a sum of positive values; CKKS noise may push an almost empty one below 0). With a
        shared key, ``partner`` holds the authority's partial decryptions of the same sums.
        """
        for name in sums:
            count = members[name]
            if np.any((count > 0) & (count < self.min_members)):
                raise PrivacyError(
                    f"aggregate {name} has a group of fewer than {self.min_members} members"
                )
            self.single_member_sums += int(np.count_nonzero(count == 1))
        values = self._open(list(sums.values()), partner)
        return {name: np.maximum(v, 0.0) for name, v in zip(sums, values, strict=True)}

    def open_pots(
        self, totals: Sequence[EncryptedSum], partner: Sequence[object] | None = None
    ) -> list[FloatArray]:
        """Open per-slot sums of all P2P money [currency] (the money-conservation check)."""
        if any(0 < t.members < self.min_members for t in totals):
            raise PrivacyError(f"pot over fewer than {self.min_members} participants")
        return self._open(totals, partner)

    def _open(
        self, totals: Sequence[EncryptedSum], partner: Sequence[object] | None
    ) -> list[FloatArray]:
        if self._secret is not None:
            return _open_sums(self._secret, totals, self.counts)
        assert self._share is not None
        if partner is None:
            raise PrivacyError("a shared key opens nothing without the authority's partials")
        return _open_shared(self._share, totals, partner, self.counts)


class DecryptionAuthority:
    """The second holder of a 2-of-2 shared GO key: partial decryptions of checked sums only.

    It applies the same k-anonymity rule as the GO before it contributes, so a GO (or a GO
    colluding with the platform) cannot open a single user's ciphertext.
    """

    def __init__(self, share: KeyShare, min_members: int) -> None:
        self._share = share
        self.min_members = min_members
        self.counts = OpCounts()

    def partial_aggregates(
        self, sums: Mapping[str, EncryptedSum], members: Mapping[str, IntArray]
    ) -> list[object]:
        """Partial decryptions of the packed aggregates, after the group-size check."""
        for name in sums:
            count = members[name]
            if np.any((count > 0) & (count < self.min_members)):
                raise PrivacyError(f"aggregate {name} below {self.min_members} members")
        return self._partial(list(sums.values()))

    def partial_pots(self, totals: Sequence[EncryptedSum]) -> list[object]:
        """Partial decryptions of the packed pots, after the group-size check."""
        if any(0 < t.members < self.min_members for t in totals):
            raise PrivacyError(f"pot over fewer than {self.min_members} participants")
        return self._partial(totals)

    def _partial(self, totals: Sequence[EncryptedSum]) -> list[object]:
        packed, _ = _pack_sums(self._share, totals, self.counts)
        self.counts.decryptions += len(packed)
        return list(self._share.partial(packed))


def _pack_sums(
    share: KeyShare, totals: Sequence[EncryptedSum], counts: OpCounts
) -> tuple[list[object], list[int]]:
    """The sums' ciphertexts packed as :func:`cosim.privacy.threshold.pack` (public operations)."""
    cells: list[object] = []
    scales: list[int] = []
    for t in totals:
        if t.cipher is None:
            continue
        assert isinstance(t.cipher, PaillierBatch)
        cells.extend(t.cipher.values)
        scales.extend([t.cipher.scale_bits] * t.cipher.n_slots)
    packed = pack(cells, share.lanes, share.nsquare)
    counts.homomorphic_operations += max(0, len(cells) - len(packed))
    return packed, scales


def _open_shared(
    share: KeyShare, totals: Sequence[EncryptedSum], partner: Sequence[object], counts: OpCounts
) -> list[FloatArray]:
    """Open sums with the GO's share and the authority's partial decryptions."""
    packed, scales = _pack_sums(share, totals, counts)
    mine = share.partial(packed)
    counts.decryptions += len(packed)
    n = int(share.n)
    ints = unpack(combine(mine, partner, n), n, len(scales), share.lanes)
    counts.decrypted_values += len(ints)
    flat = iter([v / 2.0**s for v, s in zip(ints, scales, strict=True)])
    out = []
    for t in totals:
        offset = np.asarray(t.offset, dtype=np.float64)
        if t.cipher is None:
            out.append(offset.copy())
        else:
            out.append(np.array([next(flat) for _ in range(t.cipher.n_slots)]) + offset)
    return out


def _decrypt_part(
    secret: SecretKey, batches: Sequence[EncryptedBatch]
) -> tuple[list[FloatArray], OpCounts]:
    """One part of a spread opening (runs in a worker process acting for the key's holder)."""
    counts = OpCounts()
    return secret.decrypt_many(batches, counts), counts


class Opening:
    """An opening of many sums by one key holder, spread over its own worker processes.

    The ciphertexts are cut into parts of about :data:`OPENING_PART_DECRYPTIONS` packed
    decryptions. The first ``1 / (processes + 1)`` of the parts stay in this process, the rest
    are submitted to ``compute``; :meth:`result` decrypts the first ones here, then takes back
    the submitted parts no worker has started (from the last one) and decrypts them here too.
    Every value is decrypted exactly as :func:`_open_sums` would; only the grouping of the
    packed decryptions may differ, which does not change a value.

    Parameters
    ----------
    secret : SecretKey
        The holder's key; only a :attr:`~cosim.settlement.crypto.SecretKey.portable` key is
        sent to ``compute``, any other opening runs here whole.
    totals : sequence of EncryptedSum
        The sums.
    counts : OpCounts
        The holder's counter (it receives the workers' counts too).
    compute : Executor or None
        Worker processes acting for the holder (None: all here).
    processes : int
        Worker processes of ``compute``.
    """

    def __init__(
        self,
        secret: SecretKey,
        totals: Sequence[EncryptedSum],
        counts: OpCounts,
        compute: Executor | None,
        processes: int,
    ) -> None:
        self._secret = secret
        self._totals = list(totals)
        self._counts = counts
        ciphers = [t.cipher for t in self._totals if t.cipher is not None]
        size = OPENING_PART_DECRYPTIONS * getattr(secret, "lanes", 1)
        self._parts = [ciphers[i : i + size] for i in range(0, len(ciphers), size)]
        self._submitted: list[Future[tuple[list[FloatArray], OpCounts]] | None] = []
        self._local = len(self._parts)
        if compute is not None and secret.portable and processes > 0 and len(self._parts) > 1:
            self._local = max(1, math.ceil(len(self._parts) / (processes + 1)))
            for part in self._parts[self._local :]:
                copies = [c for b in part if (c := b.detached()) is not None]
                if len(copies) != len(part):
                    raise TypeError(f"ciphertexts of the portable key {secret.key_id} must detach")
                self._submitted.append(compute.submit(_decrypt_part, secret, copies))

    def result(self) -> list[FloatArray]:
        """``decrypt(cipher) + offset`` of each sum, in order (waits for the workers)."""
        done: list[list[FloatArray] | None] = [None] * len(self._parts)
        for i in range(self._local):
            done[i] = self._secret.decrypt_many(self._parts[i], self._counts)
        for k in reversed(range(len(self._submitted))):  # take back what no worker started
            task = self._submitted[k]
            if task is not None and task.cancel():
                i = self._local + k
                done[i] = self._secret.decrypt_many(self._parts[i], self._counts)
                self._submitted[k] = None
        for k, task in enumerate(self._submitted):
            if task is not None:
                values, counts = task.result()
                done[self._local + k] = values
                self._counts.merge(counts)
        opened = iter([v for part in done if part is not None for v in part])
        return [
            np.asarray(t.offset, dtype=np.float64).copy()
            if t.cipher is None
            else next(opened) + t.offset
            for t in self._totals
        ]


def _open_sums(
    secret: SecretKey, totals: Sequence[EncryptedSum], counts: OpCounts
) -> list[FloatArray]:
    """``decrypt(cipher) + offset`` of each sum, all ciphertexts in one ``decrypt_many``."""
    opened = iter(secret.decrypt_many([t.cipher for t in totals if t.cipher is not None], counts))
    return [
        np.asarray(t.offset, dtype=np.float64).copy()
        if t.cipher is None
        else next(opened) + t.offset
        for t in totals
    ]


# --------------------------------------------------------------------------- platform


def gross_energy_form(form: LinearForm, info: SlotInfo) -> tuple[LinearForm, NDArray[np.bool_]]:
    """Turn a supplier-energy form into the form of its absolute value, where the sign is public.

    ``|e| = sign(e) * e``; the sign follows from the plaintext for every pattern the billing
    models produce: a constant (sign of the constant), ``b*d`` (``sign(b) * sign(d)``),
    ``a*(c+d)`` (retail: ``sign(a) * s * sign(net)``). Other patterns (the social_equal baseline's
    ``s*d - share``) are flagged ``unknown`` and get coefficient 0 here.

    Returns
    -------
    LinearForm
        ``sign * form`` per participant [kWh].
    ndarray of bool
        Participants whose sign is not public.
    """
    a, b, k = form.coef_c, form.coef_d, form.const
    const_only = (a == 0.0) & (b == 0.0)
    d_only = (a == 0.0) & (b != 0.0) & (k == 0.0)
    net_only = (a == b) & (a != 0.0) & (k == 0.0)  # retail: the same coefficient on c and d
    sign = np.zeros(a.shape)
    sign[const_only] = np.sign(k[const_only])
    sign[d_only] = (np.sign(b) * info.deviation_sign)[d_only]
    sign[net_only] = (np.sign(a) * info.orientation * info.net_sign)[net_only]
    unknown = ~(const_only | d_only | net_only)
    return LinearForm(a * sign, b * sign, k * sign), unknown


def _slot_rows(info: SlotInfo, rows: NDArray[np.bool_]) -> SlotInfo:
    """The slots ``rows`` of a chunk's plaintext."""
    return SlotInfo(
        side=info.side[rows],
        accepted=info.accepted[rows],
        deviation_sign=info.deviation_sign[rows],
        net_sign=info.net_sign[rows],
        p2p_price=info.p2p_price[rows],
        slot_price=info.slot_price[rows],
    )


def _forms(terms: BillTerms) -> tuple[LinearForm, LinearForm, LinearForm]:
    return terms.p2p, terms.supplier, terms.supplier_energy


def _put_rows(base: LinearForm, part: LinearForm, rows: NDArray[np.bool_]) -> LinearForm:
    """``base`` with the slots ``rows`` replaced by ``part`` (which has only those slots)."""
    arrays = []
    for whole, some in zip(
        (base.coef_c, base.coef_d, base.const),
        (part.coef_c, part.coef_d, part.const),
        strict=True,
    ):
        merged = np.array(whole)
        merged[rows] = some
        arrays.append(merged)
    return LinearForm(*arrays)


def _live(coef: FloatArray | None) -> list[bool]:
    """Per user (column), whether any slot's coefficient is non-zero (empty for None)."""
    return [] if coef is None else np.any(coef != 0.0, axis=0).tolist()


@dataclass
class _Stacked:
    """One linear form per slot of a batch, stacked: arrays of shape (T, n)."""

    c: FloatArray
    d: FloatArray
    k: FloatArray

    @classmethod
    def of(cls, form: LinearForm, accepted: NDArray[np.bool_]) -> _Stacked:
        """The chunk form's arrays; ``c = 0`` is public whenever not accepted: dropped."""
        return cls(np.where(accepted, form.coef_c, 0.0), form.coef_d, form.const)


class TradingPlatform:
    """The trading platform: verifies payloads and computes every bill term on ciphertexts.

    It holds public keys and meter verification keys only; it never receives a secret key.

    Parameters
    ----------
    models : sequence of str
        Billing models.
    supplier : ndarray of int
        Supplier of each participant.
    prices : Prices
        Retail price and feed-in tariff [currency/kWh].
    supplier_keys : sequence of PublicKey
        Public key of each supplier.
    go_key : PublicKey
        Public key of the grid operator.
    verify_keys : sequence of bytes
        Ed25519 public key of each meter.
    min_members : int
        Groups of fewer members are not sent to the GO; the slot is settled as ``individual``.
    tol_kwh : float
        Tolerance [kWh] of the billing module.
    """

    def __init__(
        self,
        models: Sequence[str],
        supplier: IntArray,
        prices: Prices,
        supplier_keys: Sequence[PublicKey],
        go_key: PublicKey,
        verify_keys: Sequence[bytes],
        min_members: int,
        tol_kwh: float,
    ) -> None:
        self.models = tuple(models)
        self.supplier = supplier
        self.prices = prices
        self.supplier_keys = tuple(supplier_keys)
        self.go_key = go_key
        self.verify_keys = tuple(verify_keys)
        self.min_members = min_members
        self.tol_kwh = tol_kwh
        self.counts = OpCounts()
        self.refused_slots = 0
        n = supplier.size
        self._bills: dict[str, dict[int, RunningSum]] = {m: {} for m in self.models}
        self._bill_offsets = {m: np.zeros(n) for m in self.models}
        self._market: list[tuple[NDArray[np.int8], NDArray[np.bool_], FloatArray, float]] = []
        self._cts: list[dict[str, EncryptedBatch]] = []
        self._info: SlotInfo | None = None  # the batch's plaintext, arrays of shape (T, n)
        self._small: NDArray[np.bool_] = np.zeros(0, dtype=bool)

    def record_market(
        self,
        side: NDArray[np.int8],
        accepted: NDArray[np.bool_],
        p2p_price: FloatArray,
        slot_price: float,
    ) -> None:
        """Buffer the platform's own market result of one slot."""
        self._market.append((side, accepted, p2p_price, slot_price))

    def receive(self, payloads: Sequence[SignedPayload | None], first_slot: int) -> dict[int, str]:
        """Verify and load the meters' payloads of the buffered batch.

        Returns
        -------
        dict of int to str
            Rejected users and the reason; they take no part in the batch (their supplier
            settles them at retail from its own meter data).
        """
        side = np.stack([m[0] for m in self._market])
        acc = np.stack([m[1] for m in self._market])
        n_slots, n = side.shape
        rejected: dict[int, str] = {}
        self._cts = []
        dev = np.zeros((n_slots, n), dtype=np.int8)
        net = np.zeros((n_slots, n), dtype=np.int8)
        for user in range(n):
            signed = payloads[user] if user < len(payloads) else None
            reason, payload, cts = self._load(user, signed, first_slot, side[:, user], acc[:, user])
            self._cts.append(cts)
            if payload is None:
                rejected[user] = reason
                continue
            dev[:, user], net[:, user] = payload.deviation_sign, payload.net_sign
        ok = np.array([u not in rejected for u in range(n)])
        self._small = np.zeros(n_slots, dtype=bool)
        self._info = SlotInfo(
            side=side,
            accepted=acc & ok,
            deviation_sign=np.where(ok, dev, 0),
            net_sign=np.where(ok, net, 0),
            p2p_price=np.stack([m[2] for m in self._market]),
            slot_price=np.array([m[3] for m in self._market], dtype=np.float64),
        )
        return rejected

    def _load(
        self,
        user: int,
        signed: SignedPayload | None,
        first_slot: int,
        side: NDArray[np.int8],
        accepted: NDArray[np.bool_],
    ) -> tuple[str, MeterPayload | None, dict[str, EncryptedBatch]]:
        """Check one payload: ``("", payload, ciphertexts)`` or ``(reason, None, {})``."""
        if signed is None:
            return "missing payload", None, {}
        if not verify_signature(self.verify_keys[user], signed.message, signed.signature):
            return "invalid signature", None, {}
        try:
            p = MeterPayload.from_bytes(signed.message)
        except ValueError as exc:
            return str(exc), None, {}
        n_slots = side.size
        if p.user != user or p.first_slot != first_slot or p.n_slots != n_slots:
            return f"payload for user {p.user} slots {p.first_slot}+{p.n_slots} (replay?)", None, {}
        if np.any(p.side != side) or np.any(p.accepted != accepted):
            return "flags disagree with the market result", None, {}
        if not (
            np.all(np.abs(p.deviation_sign.astype(np.int64)) <= 1)
            and np.all(np.abs(p.net_sign.astype(np.int64)) <= 1)
        ):
            return "signs must be -1, 0 or +1", None, {}
        expected = {"S.d"} | ({"S.c", "GO.c", "GO.d"} if np.any(accepted) else set())
        if set(p.blobs) != expected:
            return f"expected ciphertexts {sorted(expected)}, got {sorted(p.blobs)}", None, {}
        keys = {"S": self.supplier_keys[int(self.supplier[user])], "GO": self.go_key}
        try:
            cts = {
                name: keys[name.split(".")[0]].load(blob, n_slots, self.counts)
                for name, blob in p.blobs.items()
            }
        except ValueError as exc:
            return str(exc), None, {}
        return "", p, cts

    def aggregate_request(self) -> tuple[dict[str, EncryptedSum], dict[str, IntArray]]:
        """Sums of ``E_GO(d)`` per aggregate and slot, and the public group sizes.

        Slots with a non-empty group smaller than ``min_members`` are left out (masks set to
        0); they are settled with the ``individual`` model under every aggregate model.
        """
        info = self._batch_info()
        masks = {
            name: np.where(mask, sign, 0.0) for name, (mask, sign) in aggregate_masks(info).items()
        }
        members = {name: np.count_nonzero(m, axis=1) for name, m in masks.items()}
        self._small = np.zeros(info.side.shape[0], dtype=bool)
        for count in members.values():
            self._small |= (count > 0) & (count < self.min_members)
        self.refused_slots += int(np.count_nonzero(self._small))
        sums: dict[str, EncryptedSum] = {}
        for name in AGGREGATES:
            masks[name][self._small] = 0.0
            members[name] = np.count_nonzero(masks[name], axis=1)
            total = self._weighted_sum(range(self.supplier.size), "GO", None, masks[name])
            if total.cipher is not None:
                sums[name] = total
        return sums, members

    def _terms(
        self,
        i: int,
        key: str,
        coef_c: FloatArray | None,
        coef_d: FloatArray,
        live: tuple[list[bool], list[bool]],
    ) -> list[tuple[EncryptedBatch, FloatArray]]:
        """User ``i``'s non-zero terms ``(E(c), coef_c[:, i])``, ``(E(d), coef_d[:, i])``.

        ``live`` is :func:`_live` of the two coefficient arrays (computed once for all users).
        """
        cts = self._cts[i]
        out = []
        for name, coef, nonzero in ((f"{key}.c", coef_c, live[0]), (f"{key}.d", coef_d, live[1])):
            if coef is not None and nonzero[i] and name in cts:
                out.append((cts[name], coef[:, i]))
        return out

    def _weighted_sum(
        self, users: Sequence[int] | range, key: str, coef_c: FloatArray | None, coef_d: FloatArray
    ) -> EncryptedSum:
        """``sum_i c_i * coef_c[:, i] + d_i * coef_d[:, i]`` per slot, under copy ``key``."""
        terms: list[tuple[EncryptedBatch, FloatArray]] = []
        members = 0
        live = (_live(coef_c), _live(coef_d))
        for i in users:
            mine = self._terms(i, key, coef_c, coef_d, live)
            terms.extend(mine)
            members += bool(mine)
        acc = type(terms[0][0]).combine(terms) if terms else None
        return EncryptedSum(acc, np.zeros(coef_d.shape[0]), members)

    def settle_batch(self, aggregates: Mapping[str, FloatArray]) -> BatchResult:
        """Compute the batch's bill terms on ciphertexts for every model.

        Bills are added to the participants' period totals (see :meth:`period_bills`);
        per-slot supplier balances and the pot are returned for the key holders to open.
        """
        info = self._batch_info()
        n_slots = info.side.shape[0]
        n_sup = len(self.supplier_keys)
        result = BatchResult(
            [{} for _ in range(n_sup)], [{} for _ in range(n_sup)], [{} for _ in range(n_sup)], {}
        )
        accepted = info.accepted
        customers = [np.flatnonzero(self.supplier == j) for j in range(n_sup)]
        agg = {name: np.asarray(aggregates.get(name, np.zeros(n_slots))) for name in AGGREGATES}
        for model in self.models:
            terms = self._chunk_terms(model, info, agg)
            amount = _Stacked.of(terms.amount, accepted)
            money = _Stacked.of(terms.supplier, accepted)
            gross, unknown = gross_energy_form(terms.supplier_energy, info)
            energy = _Stacked.of(gross, accepted)
            raw = _Stacked.of(terms.supplier_energy, accepted)
            p2p = _Stacked.of(terms.p2p, accepted)
            loaded = [i for i in range(self.supplier.size) if self._cts[i]]
            live = (_live(amount.c), _live(amount.d))
            for i in loaded:
                bill_terms_i = self._terms(i, "S", amount.c, amount.d, live)
                if bill_terms_i:
                    running = self._bills[model].get(i)
                    if running is None:
                        running = self._bills[model][i] = bill_terms_i[0][0].running_sum()
                    running.add(bill_terms_i)
                self._bill_offsets[model][i] += amount.k[:, i].sum()
            for j, users in enumerate(customers):
                mine = [int(i) for i in users if self._cts[i]]
                m_sum = self._weighted_sum(mine, "S", money.c, money.d)
                result.money[j][model] = EncryptedSum(
                    m_sum.cipher, money.k[:, mine].sum(axis=1), m_sum.members
                )
                e_sum = self._weighted_sum(mine, "S", energy.c, energy.d)
                result.energy[j][model] = EncryptedSum(
                    e_sum.cipher, energy.k[:, mine].sum(axis=1), e_sum.members
                )
                result.energy_unknown[j][model] = [
                    EncryptedSum(
                        self._weighted_sum([i], "S", raw.c * unknown, raw.d * unknown).cipher,
                        raw.k[:, i] * unknown[:, i],
                        1,
                    )
                    for i in mine
                    if np.any(unknown[:, i])
                ]
            pot = self._weighted_sum(loaded, "GO", p2p.c, p2p.d)
            result.pot[model] = EncryptedSum(pot.cipher, p2p.k[:, loaded].sum(axis=1), pot.members)
        self._market = []
        return result

    def _batch_info(self) -> SlotInfo:
        if self._info is None:
            raise RuntimeError("no batch received")
        return self._info

    def _chunk_terms(
        self, model: str, info: SlotInfo, aggregates: Mapping[str, FloatArray]
    ) -> BillTerms:
        """Bill terms of ``model`` over the whole batch (arrays of shape ``(T, n)``): the one
        implementation of the formulas (:func:`bill_terms`) over a chunk of slots, as the
        plaintext ledger computes them. Slots whose aggregate groups were refused
        (:meth:`aggregate_request`) are billed with ``individual`` under an aggregate model."""
        small = self._small if model in AGGREGATE_MODELS else np.zeros_like(self._small)
        if not small.any():
            return bill_terms(model, info, self.prices, aggregates, self.tol_kwh)
        out = bill_terms("individual", info, self.prices, None, self.tol_kwh)
        keep = ~small
        if not keep.any():
            return out
        part = bill_terms(
            model,
            _slot_rows(info, keep),
            self.prices,
            {name: value[keep] for name, value in aggregates.items()},
            self.tol_kwh,
        )
        merged = (_put_rows(f, g, keep) for f, g in zip(_forms(out), _forms(part), strict=True))
        return BillTerms(*merged)

    def period_bills(self) -> dict[str, list[dict[int, EncryptedSum]]]:
        """Hand over the period bills, per model and supplier, and start a new period."""
        out: dict[str, list[dict[int, EncryptedSum]]] = {}
        n_sup = len(self.supplier_keys)
        for model in self.models:
            running, offsets = self._bills[model], self._bill_offsets[model]
            sums = {
                i: EncryptedSum(
                    running[i].result() if i in running else None, np.array([offsets[i]])
                )
                for i in range(self.supplier.size)
            }
            out[model] = [
                {int(i): sums[int(i)] for i in np.flatnonzero(self.supplier == j)}
                for j in range(n_sup)
            ]
            self._bills[model] = {}
            self._bill_offsets[model] = np.zeros(self.supplier.size)
        return out
