"""Encrypted settlement: the PPBSP protocol between meters, suppliers, grid operator and platform.

The actors (:class:`Meters`, :class:`Supplier`, :class:`GridOperator`, :class:`TradingPlatform`)
live in :mod:`cosim.settlement.actors`, their messages in :mod:`cosim.settlement.messages`
(``docs/privacy.md`` has the full account of who holds which key and what crosses between
them).

:class:`EncryptedSettlement` runs them with the duck-typed interface of
:class:`cosim.settlement.ledger.Ledger`. The settlement works in *batches* of slots: one slot
for Paillier (one ciphertext per value), the slots of a billing period (at most 4096) for CKKS
(one vector per value). Per batch: meters send signed payloads; the platform verifies them,
asks the GO to open the four deviation aggregates, computes the coefficients per slot, and
sends each supplier its per-slot balance (money and gross energy) and the GO the per-slot
P2P money sum (the pot); bills are summed per participant over the billing period and opened
by the participant's supplier when the period closes.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cosim.conventions import FloatArray, IntArray
from cosim.settlement.actors import (
    DecryptionAuthority,
    GridOperator,
    Supplier,
    TradingPlatform,
)
from cosim.settlement.backend import SettlementSetup
from cosim.settlement.billing import AGGREGATE_MODELS, MODELS, slot_info_from_plain
from cosim.settlement.crypto import DEFAULT_KEY_BITS, OpCounts
from cosim.settlement.messages import SignedPayload
from cosim.settlement.meters import GO_KEY_ID, Meters
from cosim.settlement.paillier import randomizer_worker_init
from cosim.settlement.schemes import SCHEMES
from cosim.settlement.terms import Prices
from cosim.settlement.totals import SettlementTotals
from cosim.subprocesses import init_child

__all__ = ["PERIODS", "Disclosures", "EncryptedSettlement", "encrypted_backend", "period_ids"]

PERIODS: tuple[str, ...] = ("slot", "day", "month", "horizon")
"""Billing periods: bills are opened by the suppliers at the end of each period."""

Tamper = set[tuple[int, int]] | Callable[[int, int, "SignedPayload"], "SignedPayload | None"]


# --------------------------------------------------------------------------- orchestration


@dataclass
class Disclosures:
    """What the key holders decrypted, as they report it (the basis of their role views).

    Rows: ``go_aggregates`` (slot, aggregate, members, value_kwh) and ``go_pots`` (slot,
    model, pot) opened by the grid operator; ``supplier_balances`` (supplier, slot, model,
    money, energy_kwh) and ``supplier_bills`` (supplier, participant, model, amount, one per
    billing period) opened by the suppliers.
    """

    go_aggregates: list[tuple[int, str, int, float]] = field(default_factory=list)
    go_pots: list[tuple[int, str, float]] = field(default_factory=list)
    supplier_balances: list[tuple[int, int, str, float, float]] = field(default_factory=list)
    supplier_bills: list[tuple[int, int, str, float]] = field(default_factory=list)


def period_ids(slot_times: pd.DatetimeIndex, period: str) -> IntArray:
    """Billing period of each slot, numbered 0, 1, ... in slot order.

    Parameters
    ----------
    slot_times : pandas.DatetimeIndex
        Start of each slot; ``day`` and ``month`` are calendar days/months of these times in
        their own time zone.
    period : {"slot", "day", "month", "horizon"}
        Billing period.

    Returns
    -------
    ndarray of int64
    """
    n = len(slot_times)
    if period == "slot":
        return np.arange(n, dtype=np.int64)
    if period == "horizon":
        return np.zeros(n, dtype=np.int64)
    if period == "day":
        key = np.asarray(slot_times.normalize().asi8)
    elif period == "month":
        key = np.asarray(slot_times.year * 12 + slot_times.month)
    else:
        raise ValueError(f"unknown billing period {period!r}; expected one of {PERIODS}")
    return np.concatenate([[0], np.cumsum(key[1:] != key[:-1])]).astype(np.int64)


def _init_worker(pooled: bool, parent_pid: int) -> None:
    """Initializer of an encryption worker: dies with the run, leaves Ctrl-C to it."""
    init_child(parent_pid)
    if pooled:
        randomizer_worker_init()


class EncryptedSettlement(SettlementTotals):
    """PPBSP settlement on Paillier or CKKS: a :class:`~cosim.settlement.backend.SettlementBackend`.

    Parameters
    ----------
    models : sequence of str
        Billing models.
    supplier : ndarray of int
        Supplier of each participant.
    n_suppliers : int
        Number of suppliers.
    prices : Prices
        Retail price and feed-in tariff [currency/kWh].
    backend : {"paillier", "paillier_djn", "ckks"}
        Encryption scheme.
    key_bits : int, default 2048
        Paillier modulus size [bit]; below 2048 only with ``insecure_test_keys``.
    period : {"slot", "day", "month", "horizon"}, default "horizon"
        Billing period: bills are opened by the suppliers at its end.
    slot_times : pandas.DatetimeIndex
        Start of every slot of the horizon (the engine calls :meth:`settle` once per slot).
    workers : int, default 1
        Processes for the user-side encryption (1: in this process). With ``paillier_djn``,
        ``workers - 1`` background processes precompute the meters' randomizers (encryptions
        of 0) and the meters combine them with their readings in this process.
    insecure_test_keys : bool, default False
        Allow Paillier keys below 2048 bits (tests only).
    tamper : set of (user, slot) or callable, optional
        Test hook between meters and platform: a set alters the signed payload of each listed
        user covering the slot (flips a byte); a callable ``f(user, first_slot, payload)``
        returns the payload to deliver (or None to drop it).
    min_aggregate_members : int, default 1
        k of the GO's k-anonymity rule: the GO refuses to decrypt a non-empty group of fewer
        members; such slots are settled as ``individual`` under the aggregate models. 1 keeps
        PPBSP as published (and the bills equal to the plain backend).
    tol_kwh : float, default 1e-9
        Tolerance [kWh] of the billing module.
    go_key_sharing : bool, default False
        Paillier only: the GO key is a 2-of-2 shared key (:mod:`cosim.privacy.threshold`),
        half with the GO, half with a :class:`DecryptionAuthority`; every GO opening needs both.

    Notes
    -----
    Batches: one slot for Paillier, a billing period (at most 4096 slots per ciphertext) for
    CKKS. :meth:`settle` returns the slot's supplier energy per model when the slot's batch is
    closed by that call, else NaN; :attr:`slot_supplier_energy_kwh` holds every slot's value
    once its batch closed. Decrypted outputs are reproducible; ciphertext bytes are not (fresh
    encryption randomness from the OS).
    """

    def __init__(
        self,
        models: Sequence[str],
        supplier: NDArray[np.integer],
        n_suppliers: int,
        prices: Prices,
        *,
        backend: str,
        key_bits: int = DEFAULT_KEY_BITS,
        period: str = "horizon",
        slot_times: pd.DatetimeIndex,
        workers: int = 1,
        insecure_test_keys: bool = False,
        tamper: Tamper | None = None,
        min_aggregate_members: int = 1,
        tol_kwh: float = 1e-9,
        go_key_sharing: bool = False,
    ) -> None:
        started = time.perf_counter()
        unknown = set(models) - set(MODELS)
        if unknown:
            raise ValueError(f"unknown billing models {sorted(unknown)}; expected {MODELS}")
        if backend not in SCHEMES:
            raise ValueError(
                f"settlement.encryption must be one of {tuple(SCHEMES)}, got {backend!r}"
            )
        scheme = SCHEMES[backend]
        scheme.check_key_bits(key_bits, insecure_test_keys)
        if workers < 1 or min_aggregate_members < 1:
            raise ValueError("workers and min_aggregate_members must be >= 1")
        sup = np.asarray(supplier, dtype=np.int64)
        if sup.ndim != 1 or np.any(sup < 0) or np.any(sup >= n_suppliers):
            raise ValueError(f"supplier must be a 1-D array of indices in [0, {n_suppliers})")
        super().__init__(models, sup, n_suppliers)
        self.prices = prices
        self.backend = backend
        self._scheme = scheme
        self.period = period
        self.workers = workers
        self.tol_kwh = tol_kwh
        self._tamper = tamper
        self._period = period_ids(slot_times, period)
        n_slots = len(slot_times)
        self._capacity = scheme.batch_slots

        self.authority: DecryptionAuthority | None = None
        if go_key_sharing:
            if not scheme.key_sharing:
                raise ValueError(f"go_key_sharing is not available with {backend!r}")
            from cosim.privacy.threshold import deal_two_of_two

            public, go_share, auth_share = deal_two_of_two(
                key_bits, ("grid-operator", "authority"), backend, GO_KEY_ID
            )
            self.grid_operator = GridOperator(
                backend, key_bits, min_aggregate_members, shared=(public, go_share)
            )
            self.authority = DecryptionAuthority(auth_share, min_aggregate_members)
        else:
            self.grid_operator = GridOperator(backend, key_bits, min_aggregate_members)
        self.disclosures = Disclosures()
        self.suppliers = [Supplier(j, backend, key_bits) for j in range(n_suppliers)]
        supplier_keys = [s.public_key for s in self.suppliers]
        self.meters = Meters(sup, supplier_keys, self.grid_operator.public_key, tol_kwh)
        self.platform = TradingPlatform(
            self.models,
            sup,
            prices,
            supplier_keys,
            self.grid_operator.public_key,
            self.meters.verify_keys,
            min_aggregate_members,
            tol_kwh,
        )
        self._executor: ProcessPoolExecutor | None = None
        self._supplier_compute: ProcessPoolExecutor | None = None

        self.slot_supplier_energy_kwh: dict[str, FloatArray] = {
            m: np.full(n_slots, np.nan) for m in self.models
        }
        self._next_slot = 0
        self._batch_start = 0
        self._unaudited_pots = 0
        self._period_open = False
        if workers > 1:  # started now, so that the first slot finds them ready
            self._start_workers()
            self.meters.warm_randomizer_pools()
        self.setup_seconds = time.perf_counter() - started

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore from a checkpoint: workers and pools are started again when needed."""
        self.__dict__.update(state)
        self.setup_seconds = 0.0

    # ----------------------------------------------------------------- Ledger interface

    def settle(
        self,
        side: NDArray[np.generic],
        accepted: NDArray[np.bool_],
        committed_kwh: FloatArray,
        deviation_kwh: FloatArray,
        net_kwh: FloatArray,
        p2p_price: FloatArray,
        slot_price: float,
    ) -> dict[str, float]:
        """Settle one slot (same arguments as :meth:`Ledger.settle`).

        Returns
        -------
        dict
            Per model, the slot's supplier energy [kWh] (sum over participants of the absolute
            energy traded with their supplier); NaN while the slot's CKKS batch is open.
        """
        k = self._next_slot
        if k >= self._period.size:
            raise ValueError(f"settle called for slot {k}, beyond the {self._period.size} slots")
        info = slot_info_from_plain(
            side, accepted, committed_kwh, deviation_kwh, net_kwh, p2p_price, slot_price,
            self.tol_kwh,
        )  # fmt: skip
        c = np.where(info.accepted, np.asarray(committed_kwh, dtype=np.float64), 0.0)
        d = np.asarray(deviation_kwh, dtype=np.float64)
        self.meters.record(info.side, info.accepted, c, d)
        self.platform.record_market(info.side, info.accepted, info.p2p_price, info.slot_price)
        self._period_open = True
        self._next_slot = k + 1
        last = k + 1 == self._period.size
        period_end = last or self._period[k + 1] != self._period[k]
        if period_end or k + 1 - self._batch_start == self._capacity:
            self._close_batch()
        if period_end:
            self._close_period()
        return {m: float(self.slot_supplier_energy_kwh[m][k]) for m in self.models}

    def settle_chunk(
        self,
        side: NDArray[np.generic],
        accepted: NDArray[np.bool_],
        committed_kwh: FloatArray,
        deviation_kwh: FloatArray,
        net_kwh: FloatArray,
        p2p_price: FloatArray,
        slot_price: FloatArray,
    ) -> dict[str, FloatArray]:
        """Settle consecutive slots, one by one (the arguments of :meth:`Ledger.settle_chunk`).

        Arrays of shape ``(slots, n)``, ``slot_price`` of shape ``(slots,)``.

        Returns
        -------
        dict
            Per model, the supplier energy of each slot [kWh], shape ``(slots,)``, as
            :meth:`settle` returned it (NaN while a slot's CKKS batch is open).
        """
        returned = [
            self.settle(
                side[t],
                accepted[t],
                committed_kwh[t],
                deviation_kwh[t],
                net_kwh[t],
                p2p_price[t],
                float(slot_price[t]),
            )
            for t in range(len(slot_price))
        ]
        return {m: np.array([r[m] for r in returned], dtype=np.float64) for m in self.models}

    def finish(self) -> None:
        """Close an open batch and billing period (suppliers open the bills); stop workers."""
        if self._next_slot > self._batch_start:
            self._close_batch()
        if self._period_open:
            self._close_period()
        self.close()

    def close(self) -> None:
        """Shut down the worker processes, if any."""
        if self._executor is not None:
            self.meters.use_randomizer_pools(None)
            self._executor.shutdown(cancel_futures=True)
            self._executor = None
        if self._supplier_compute is not None:
            self._supplier_compute.shutdown(cancel_futures=True)
            self._supplier_compute = None

    def crypto_counts(self) -> dict[str, dict[str, int]]:
        """Encryptions, decryptions and homomorphic operations per actor, and their total."""
        sup = OpCounts()
        for s in self.suppliers:
            for name, value in s.counts.as_dict().items():
                setattr(sup, name, getattr(sup, name) + value)
        out = {
            "users": self.meters.counts.as_dict(),
            "suppliers": sup.as_dict(),
            "grid_operator": self.grid_operator.counts.as_dict(),
            "trading_platform": self.platform.counts.as_dict(),
        }
        if self.authority is not None:
            out["authority"] = self.authority.counts.as_dict()
        out["total"] = {key: sum(v[key] for v in out.values()) for key in sup.as_dict()}
        return out

    def privacy_summary(self) -> dict[str, int]:
        """Counts for ``summary.json``: rejected payloads and the k-anonymity rule's effects.

        Returns
        -------
        dict
            ``rejected_payloads`` (user-slots), ``min_aggregate_members`` (k),
            ``slots_without_aggregates`` (settled as individual because a group was below k),
            ``single_member_aggregates`` (slot aggregates the GO decrypted over one user: each
            reveals that user's deviation), ``unaudited_pots`` (batch x model pots not decrypted
            because fewer than k users had P2P money).
        """
        return {
            "rejected_payloads": len(self.rejected_payloads),
            "min_aggregate_members": self.grid_operator.min_members,
            "slots_without_aggregates": self.platform.refused_slots,
            "single_member_aggregates": self.grid_operator.single_member_sums,
            "unaudited_pots": self._unaudited_pots,
        }

    # ----------------------------------------------------------------- protocol steps

    def _deliver(
        self, payloads: list[SignedPayload], first: int, n_slots: int
    ) -> list[SignedPayload | None]:
        """The network between meters and platform, with the tampering hook of the tests."""
        if self._tamper is None:
            return list(payloads)
        out: list[SignedPayload | None] = []
        slots = set(range(first, first + n_slots))
        for user, p in enumerate(payloads):
            if callable(self._tamper):
                out.append(self._tamper(user, first, p))
            elif any((user, s) in self._tamper for s in slots):
                altered = bytearray(p.message)
                altered[-1] ^= 0x01  # one bit of the last ciphertext
                out.append(SignedPayload(bytes(altered), p.signature))
            else:
                out.append(p)
        return out

    def _start_workers(self) -> None:
        """Start the worker processes: the meters' (and their randomizer pools on them) and,
        when the suppliers can delegate decryption, the suppliers' (docs/privacy.md)."""
        pooled = self._scheme.pooled_randomizers
        spawn = multiprocessing.get_context("spawn")
        self._executor = ProcessPoolExecutor(
            self.workers - int(pooled),
            mp_context=spawn,
            initializer=_init_worker,
            initargs=(pooled, os.getpid()),
        )
        if pooled:  # DJN randomizers made ahead on the workers; the meters only combine
            self.meters.use_randomizer_pools(self._executor)
        if self._supplier_compute is None and all(s.delegates_opening for s in self.suppliers):
            # separate processes: they run suppliers' openings only, never a meter's work, and
            # they idle between billing periods
            self._supplier_compute = ProcessPoolExecutor(
                self.workers - 1,
                mp_context=spawn,
                initializer=_init_worker,
                initargs=(False, os.getpid()),
            )
            self._supplier_compute.submit(int)  # starts its process now, during the build

    def _close_batch(self) -> None:
        first, n_slots = self._batch_start, self._next_slot - self._batch_start
        if self.workers > 1 and self._executor is None:
            self._start_workers()
        if self._scheme.pooled_randomizers:  # meters combine precomputed randomizers here
            payloads = self.meters.payloads(first, None, 1)
        else:
            payloads = self.meters.payloads(first, self._executor, self.workers)
        rejected = self.platform.receive(self._deliver(payloads, first, n_slots), first)
        aggregates: dict[str, FloatArray] = {}
        if any(m in AGGREGATE_MODELS for m in self.models):
            sums, members = self.platform.aggregate_request()
            partner = (
                self.authority.partial_aggregates(sums, members)
                if self.authority is not None
                else None
            )
            aggregates = self.grid_operator.open_aggregates(sums, members, partner)
            for name, value in aggregates.items():
                self.disclosures.go_aggregates.extend(
                    (first + t, name, int(members[name][t]), float(value[t]))
                    for t in range(n_slots)
                    if members[name][t] > 0
                )
        result = self.platform.settle_batch(aggregates)

        money = np.zeros((len(self.models), n_slots, self.n_suppliers))
        energy = np.zeros_like(money)
        for j, sup in enumerate(self.suppliers):
            unknown = [result.energy_unknown[j][m] for m in self.models]
            opened = iter(
                sup.open_many(
                    [s for m, u in zip(self.models, unknown, strict=True)
                     for s in (result.money[j][m], result.energy[j][m], *u)]
                )
            )  # fmt: skip
            for mi, extra in enumerate(unknown):
                money[mi, :, j] = next(opened)
                energy[mi, :, j] = next(opened)
                for _ in extra:
                    energy[mi, :, j] += np.abs(next(opened))
        for user, reason in sorted(rejected.items()):
            j = int(self.supplier[user])
            net = self.meters.reading_for_supplier(j, user)
            fb_money, fb_energy = self.suppliers[j].retail_fallback(
                user, net, self.prices, self.tol_kwh
            )
            money[:, :, j] += fb_money[None, :]
            energy[:, :, j] += fb_energy[None, :]
            self.rejected_payloads.extend(
                {"participant": user, "slot": first + t, "reason": reason} for t in range(n_slots)
            )
        audited = [
            m for m in self.models if not 0 < result.pot[m].members < self.grid_operator.min_members
        ]
        self._unaudited_pots += len(self.models) - len(audited)  # too few to hide among
        pot_sums = [result.pot[m] for m in audited]
        pot_partner = self.authority.partial_pots(pot_sums) if self.authority is not None else None
        pots = self.grid_operator.open_pots(pot_sums, pot_partner)
        for model, pot in zip(audited, pots, strict=True):
            self.disclosures.go_pots.extend(
                (first + t, model, float(pot[t])) for t in range(pot.size)
            )
            self.pot[model] += float(pot.sum())
            self.max_abs_slot_pot[model] = max(
                self.max_abs_slot_pot[model], float(np.max(np.abs(pot)))
            )
        self.disclosures.supplier_balances.extend(
            (j, first + t, model, float(money[mi, t, j]), float(energy[mi, t, j]))
            for j in range(self.n_suppliers)
            for mi, model in enumerate(self.models)
            for t in range(n_slots)
        )
        for mi, model in enumerate(self.models):
            self.supplier_profit[model] += money[mi].sum(axis=0)
            self.supplier_energy_kwh[model] += energy[mi].sum(axis=0)
            self.slot_supplier_energy_kwh[model][first : first + n_slots] = energy[mi].sum(axis=1)
        self.meters.clear()
        self._batch_start = self._next_slot

    def _close_period(self) -> None:
        if self._next_slot == self._period.size and self._executor is not None:
            self.meters.use_randomizer_pools(None)  # no batch left: free the workers
        bills = self.platform.period_bills()
        fallback = [s.take_fallback_bills() for s in self.suppliers]
        mine = [
            [(m, u, b) for m in self.models for u, b in bills[m][j].items()]
            for j in range(self.n_suppliers)
        ]
        # every supplier's opening is submitted before any is collected, so the suppliers'
        # worker processes (their compute, docs/privacy.md) and this process decrypt together
        openings = [
            sup.start_opening([b for _, _, b in mine[j]], self._supplier_compute, self.workers - 1)
            for j, sup in enumerate(self.suppliers)
        ]
        for j, opening in enumerate(openings):
            opened = opening.result()
            for (model, user, _), amount in zip(mine[j], opened, strict=True):
                bill = float(amount[0]) + fallback[j].get(user, 0.0)
                self.bills[model][user] += bill
                self.disclosures.supplier_bills.append((j, user, model, bill))
        self._period_open = False


def encrypted_backend(name: str, setup: SettlementSetup) -> EncryptedSettlement:
    """The encrypted settlement with the scheme ``name`` (registry factory)."""
    return EncryptedSettlement(
        setup.models,
        setup.supplier,
        setup.suppliers,
        setup.prices,
        backend=name,
        key_bits=setup.key_bits,
        period=setup.period,
        slot_times=setup.slot_times,
        workers=setup.workers,
        insecure_test_keys=setup.insecure_test_keys,
        min_aggregate_members=setup.min_aggregate_members,
        tamper=setup.tamper,
        go_key_sharing=setup.threshold_metering and SCHEMES[name].key_sharing,
    )
