"""Running totals of a settlement backend, and the result tables made from them.

Both backends, the plaintext :class:`~cosim.settlement.ledger.Ledger` and the encrypted
:class:`~cosim.settlement.protocol.EncryptedSettlement`, keep the same totals per billing model
and write ``bills.csv``, ``suppliers.csv`` and ``settlement_slots.csv`` from them in the same
way; :class:`SettlementTotals` holds them once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cosim.conventions import FloatArray, IntArray

__all__ = ["SettlementTotals"]


class SettlementTotals:
    """Per billing model: bills, supplier balances, the pot and the rejected payloads.

    Parameters
    ----------
    models : sequence of str
        Billing models.
    supplier : ndarray of int
        Supplier of each participant.
    n_suppliers : int
        Number of suppliers.

    Attributes
    ----------
    bills : dict of str to ndarray, shape (n,)
        Bill of each participant [currency] (> 0 pays).
    supplier_profit : dict of str to ndarray, shape (n_suppliers,)
        Money each supplier received from its customers minus money it paid them [currency].
    supplier_energy_kwh : dict of str to ndarray, shape (n_suppliers,)
        Balancing energy each supplier traded with its customers [kWh] (absolute values).
    pot : dict of str to float
        P2P money that appeared or vanished over the run [currency] (0 within rounding for the
        zero-sum models).
    max_abs_slot_pot : dict of str to float
        Largest ``|pot|`` of one slot [currency].
    rejected_payloads : list of dict
        ``participant``, ``slot``, ``reason`` of each meter payload the platform refused
        (always empty in plaintext).
    slot_supplier_energy_kwh : mapping of str to sequence of float
        Balancing energy of each settled slot [kWh]; set by the backend (a list grown slot by
        slot in plaintext; an array of every slot, NaN until its batch closes, when encrypted).
    setup_seconds : float
        Wall time the backend took to set itself up [s]: keys, worker processes and their first
        precomputed work (0 in plaintext); ``summary.json`` counts it in the build.
    """

    slot_supplier_energy_kwh: Mapping[str, Sequence[float] | FloatArray]

    def __init__(self, models: Sequence[str], supplier: IntArray, n_suppliers: int) -> None:
        self.models = tuple(models)
        self.supplier = supplier
        self.n_suppliers = n_suppliers
        n = supplier.size
        self.bills = {m: np.zeros(n) for m in self.models}
        self.supplier_profit = {m: np.zeros(n_suppliers) for m in self.models}
        self.supplier_energy_kwh = {m: np.zeros(n_suppliers) for m in self.models}
        self.pot = dict.fromkeys(self.models, 0.0)
        self.max_abs_slot_pot = dict.fromkeys(self.models, 0.0)
        self.rejected_payloads: list[dict[str, object]] = []
        self.setup_seconds = 0.0

    def bills_frame(self) -> pd.DataFrame:
        """``bills.csv``: participant x model, amount > 0 pays."""
        n, m = self.supplier.size, len(self.models)
        return pd.DataFrame(
            {
                "participant": np.tile(np.arange(n), m),
                "model": np.repeat(self.models, n),
                "amount": np.concatenate([self.bills[x] for x in self.models]) if m else [],
                "supplier": np.tile(self.supplier, m),
            }
        )

    def suppliers_frame(self) -> pd.DataFrame:
        """``suppliers.csv``: supplier x model, profit and balancing energy traded."""
        s, m = self.n_suppliers, len(self.models)
        return pd.DataFrame(
            {
                "supplier": np.tile(np.arange(s), m),
                "model": np.repeat(self.models, s),
                "profit": np.concatenate([self.supplier_profit[x] for x in self.models]),
                "energy_kwh": np.concatenate([self.supplier_energy_kwh[x] for x in self.models]),
            }
        )

    def settlement_slots_frame(self, n_slots: int) -> pd.DataFrame:
        """``settlement_slots.csv``: per slot and model, the supplier balancing energy [kWh].

        Parameters
        ----------
        n_slots : int
            Slots done; rows stop there, or earlier at the last slot every model has settled.
        """
        models = self.models
        energy = [
            np.asarray(self.slot_supplier_energy_kwh[m], dtype=float)[:n_slots] for m in models
        ]
        done = min((e.size for e in energy), default=0)
        return pd.DataFrame(
            {
                "slot": np.tile(np.arange(done), len(models)),
                "model": np.repeat(models, done),
                "supplier_energy_kwh": np.concatenate([e[:done] for e in energy]) if models else [],
            }
        )
