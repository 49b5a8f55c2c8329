"""Accumulates the bills of every billing model over the billing period (plaintext backend).

Per slot, :meth:`Ledger.settle` evaluates each configured model with
:func:`cosim.settlement.billing.settle_slot_plain` and adds the results to per-participant
and per-supplier totals. The pot of a model is the money that appears or vanishes:
``sum(participant amounts) - sum(supplier profit)``, i.e. the P2P money that does not net
to zero; it must stay 0 within rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cosim.settlement.billing import Prices, settle_slot_plain, slot_info_from_plain

__all__ = ["Ledger"]


class Ledger:
    """Running totals of bills and supplier balances.

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
        self.models = tuple(models)
        self.supplier = supplier
        self.n_suppliers = n_suppliers
        self.prices = prices
        n = supplier.size
        self.bills = {m: np.zeros(n) for m in self.models}
        self.supplier_profit = {m: np.zeros(n_suppliers) for m in self.models}
        self.supplier_energy_kwh = {m: np.zeros(n_suppliers) for m in self.models}
        self.pot = dict.fromkeys(self.models, 0.0)
        self.max_abs_slot_pot = dict.fromkeys(self.models, 0.0)
        self.rejected_payloads: list[dict[str, object]] = []
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
        """Bill one slot under every model.

        Parameters
        ----------
        side : ndarray of int8
            +1 buy, -1 sell, 0 none.
        accepted : ndarray of bool
            Any of the order matched.
        committed_kwh, deviation_kwh, net_kwh : ndarray
            Per participant [kWh] (DESIGN.md conventions).
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
        info = slot_info_from_plain(
            side, accepted, committed_kwh, deviation_kwh, net_kwh, p2p_price, slot_price
        )
        c = np.where(accepted, committed_kwh, 0.0)
        energy_per_model: dict[str, float] = {}
        for model in self.models:
            amount, supplier_money, supplier_energy = settle_slot_plain(
                model, c, deviation_kwh, info, self.prices
            )
            self.bills[model] += amount
            self.supplier_profit[model] += np.bincount(
                self.supplier, supplier_money, self.n_suppliers
            )
            abs_energy = np.abs(supplier_energy)
            self.supplier_energy_kwh[model] += np.bincount(
                self.supplier, abs_energy, self.n_suppliers
            )
            slot_pot = float(amount.sum() - supplier_money.sum())
            self.pot[model] += slot_pot
            self.max_abs_slot_pot[model] = max(self.max_abs_slot_pot[model], abs(slot_pot))
            energy_per_model[model] = float(abs_energy.sum())
            self.slot_supplier_energy_kwh[model].append(energy_per_model[model])
        return energy_per_model

    def finish(self) -> None:
        """End of the horizon; nothing to close in plaintext (interface of EncryptedSettlement)."""

    def crypto_counts(self) -> dict[str, dict[str, int]]:
        """Cryptographic operations per actor: all zero in plaintext."""
        actors = ("users", "suppliers", "grid_operator", "trading_platform", "total")
        ops = ("encryptions", "decryptions", "decrypted_values", "homomorphic_operations")
        return {actor: dict.fromkeys(ops, 0) for actor in actors}

    def bills_frame(self) -> pd.DataFrame:
        """``bills.csv``: participant x model, amount > 0 pays."""
        n = self.supplier.size
        return pd.DataFrame(
            {
                "participant": np.tile(np.arange(n), len(self.models)),
                "model": np.repeat(self.models, n),
                "amount": np.concatenate([self.bills[m] for m in self.models])
                if self.models
                else [],
                "supplier": np.tile(self.supplier, len(self.models)),
            }
        )

    def suppliers_frame(self) -> pd.DataFrame:
        """``suppliers.csv``: supplier x model, profit and balancing energy traded."""
        s = self.n_suppliers
        return pd.DataFrame(
            {
                "supplier": np.tile(np.arange(s), len(self.models)),
                "model": np.repeat(self.models, s),
                "profit": np.concatenate([self.supplier_profit[m] for m in self.models]),
                "energy_kwh": np.concatenate([self.supplier_energy_kwh[m] for m in self.models]),
            }
        )
