"""Accumulates the bills of every billing model over the billing period (plaintext backend).

Per chunk of slots, :meth:`Ledger.settle_chunk` evaluates each configured model with
:func:`cosim.settlement.billing.settle_slot_plain` over arrays of shape ``(slots, n)`` and adds
the results to per-participant and per-supplier totals, slot after slot in order, so a chunk
gives the same bits as its slots settled one by one (:meth:`Ledger.settle`). The pot of a
model is the money that appears or vanishes: ``sum(participant amounts) - sum(supplier
profit)``, i.e. the P2P money that does not net to zero; it must stay 0 within rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cosim.settlement.backend import SettlementSetup
from cosim.settlement.billing import (
    AGGREGATE_MODELS,
    aggregate_plain,
    settle_slot_plain,
    slot_info_from_plain,
)
from cosim.settlement.terms import Prices
from cosim.settlement.totals import SettlementTotals

__all__ = ["Ledger", "plain_backend"]


class Ledger(SettlementTotals):
    """Running totals of bills and supplier balances, billed in plaintext.

    Parameters
    ----------
    models : sequence of str
        Billing models.
    supplier : ndarray of int64
        Supplier of each participant.
    n_suppliers : int
        Number of suppliers.
    prices : Prices
        Retail price and feed-in tariff [currency/kWh].
    """

    def __init__(
        self, models: Sequence[str], supplier: np.ndarray, n_suppliers: int, prices: Prices
    ) -> None:
        super().__init__(models, supplier, n_suppliers)
        self.prices = prices
        self.slot_supplier_energy_kwh: dict[str, list[float]] = {m: [] for m in self.models}

    def settle(
        self,
        side: np.ndarray,
        accepted: np.ndarray,
        committed_kwh: np.ndarray,
        deviation_kwh: np.ndarray,
        net_kwh: np.ndarray,
        p2p_price: np.ndarray,
        slot_price: float,
    ) -> dict[str, float]:
        """Bill one slot under every model (:meth:`settle_chunk` of one slot).

        Parameters
        ----------
        side : ndarray of int8
            +1 buy, -1 sell, 0 none.
        accepted : ndarray of bool
            Any of the order matched.
        committed_kwh, deviation_kwh, net_kwh : ndarray
            Per participant [kWh] (docs/glossary.md conventions).
        p2p_price : ndarray
            Volume-weighted price of each participant's trades [currency/kWh] (NaN if none).
        slot_price : float
            The slot's P2P price for deviation redistribution [currency/kWh] (NaN if no trade).

        Returns
        -------
        dict
            Per model, the supplier balancing energy of the slot [kWh] (sum over participants
            of the absolute energy traded with their supplier).
        """
        chunk = self.settle_chunk(
            np.asarray(side)[None],
            np.asarray(accepted)[None],
            np.asarray(committed_kwh)[None],
            np.asarray(deviation_kwh)[None],
            np.asarray(net_kwh)[None],
            np.asarray(p2p_price)[None],
            np.array([slot_price]),
        )
        return {model: float(e[0]) for model, e in chunk.items()}

    def settle_chunk(
        self,
        side: np.ndarray,
        accepted: np.ndarray,
        committed_kwh: np.ndarray,
        deviation_kwh: np.ndarray,
        net_kwh: np.ndarray,
        p2p_price: np.ndarray,
        slot_price: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Bill a chunk of consecutive slots under every model with array operations.

        The per-participant arrays have shape ``(slots, n)``, ``slot_price`` shape ``(slots,)``.
        The totals are accumulated slot after slot in order, so the result is bit-identical to
        calling :meth:`settle` on each slot.

        Returns
        -------
        dict
            Per model, the supplier balancing energy of each slot [kWh], shape ``(slots,)``.
        """
        info = slot_info_from_plain(
            side, accepted, committed_kwh, deviation_kwh, net_kwh, p2p_price, slot_price
        )
        d = np.asarray(deviation_kwh, dtype=np.float64)
        c = np.where(info.accepted, np.asarray(committed_kwh, dtype=np.float64), 0.0)
        n_slots = c.shape[0]
        # one bincount over (slot, supplier) pairs: each bin adds its participants in order,
        # exactly like a bincount per slot
        bins = (self.supplier[None, :] + self.n_suppliers * np.arange(n_slots)[:, None]).ravel()
        size = n_slots * self.n_suppliers
        energy_per_model: dict[str, np.ndarray] = {}
        needs = any(m in AGGREGATE_MODELS for m in self.models)
        aggregates = aggregate_plain(info, d) if needs else None
        for model in self.models:
            amount, supplier_money, supplier_energy = settle_slot_plain(
                model, c, d, info, self.prices, aggregates=aggregates
            )
            abs_energy = np.abs(supplier_energy)
            money = np.bincount(bins, supplier_money.ravel(), size).reshape(n_slots, -1)
            energy = np.bincount(bins, abs_energy.ravel(), size).reshape(n_slots, -1)
            slot_pot = amount.sum(axis=1) - supplier_money.sum(axis=1)
            # running totals in slot order (accumulate is sequential: same bits as slot by slot)
            self.bills[model] = _running(self.bills[model], amount)
            self.supplier_profit[model] = _running(self.supplier_profit[model], money)
            self.supplier_energy_kwh[model] = _running(self.supplier_energy_kwh[model], energy)
            self.pot[model] = float(_running(np.array([self.pot[model]]), slot_pot[:, None])[0])
            worst = float(np.abs(slot_pot).max()) if n_slots else 0.0
            self.max_abs_slot_pot[model] = max(self.max_abs_slot_pot[model], worst)
            energy_per_model[model] = abs_energy.sum(axis=1)
            self.slot_supplier_energy_kwh[model].extend(energy_per_model[model].tolist())
        return energy_per_model

    def finish(self) -> None:
        """End of the horizon; nothing to close in plaintext."""

    def close(self) -> None:
        """Nothing to release in plaintext."""

    def crypto_counts(self) -> dict[str, dict[str, int]]:
        """Cryptographic operations per actor: all zero in plaintext."""
        actors = ("users", "suppliers", "grid_operator", "trading_platform", "total")
        ops = ("encryptions", "decryptions", "decrypted_values", "homomorphic_operations")
        return {actor: dict.fromkeys(ops, 0) for actor in actors}

    def privacy_summary(self) -> None:
        """No privacy counts in plaintext (``summary.json`` has ``privacy: null``)."""
        return None


def _running(total: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``total + rows[0] + rows[1] + ...`` added in this order (``np.add.accumulate``)."""
    if rows.shape[0] == 0:
        return total
    return np.add.accumulate(np.concatenate([total[None], rows]), axis=0)[-1]


def plain_backend(name: str, setup: SettlementSetup) -> Ledger:
    """The ``plain`` settlement backend (registry factory)."""
    return Ledger(setup.models, setup.supplier, setup.suppliers, setup.prices)
