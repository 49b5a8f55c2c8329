"""A naive per-operation phe implementation of PPBSP: the baseline of benchmark (c).

What a researcher writes first with python-paillier (``phe``), and what the PPBSP prototype did:
every value is encrypted with ``public_key.encrypt(float)`` (textbook Paillier, phe's own float
encoding), every bill term is one ``EncryptedNumber * float`` and one ``+`` per user, and every
value a key holder needs is one ``private_key.decrypt``. Same protocol as
:class:`cosim.settlement.protocol.EncryptedSettlement` (PPBSP, Hutu & Mustafa 2023): four
encryptions per accepted user-slot (one when not accepted), the GO decrypts the four slot
aggregates and the pot per model, each supplier decrypts its per-slot money and gross energy per
model, and its customers' bills at the end of each billing day. No signatures, no packing, no
grouping, no parallelism. The billing coefficients come from the same plaintext code
(:func:`cosim.settlement.billing.bill_terms`), so the results must equal the plain ``Ledger``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import phe
from numpy.typing import NDArray

from cosim.settlement.actors import gross_energy_form
from cosim.settlement.billing import (
    AGGREGATE_MODELS,
    AGGREGATES,
    aggregate_masks,
    bill_terms,
    slot_info_from_plain,
)
from cosim.settlement.terms import Prices

__all__ = ["NaivePPBSP"]


class NaivePPBSP:
    """PPBSP with one phe call per operation; the ``Ledger`` interface used by the benchmark.

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
    slot_times : pandas.DatetimeIndex
        Start of each slot; bills are decrypted at the end of each calendar day.
    key_bits : int, default 2048
        Paillier modulus [bit].
    """

    def __init__(
        self,
        models: tuple[str, ...],
        supplier: NDArray[np.int64],
        n_suppliers: int,
        prices: Prices,
        slot_times: pd.DatetimeIndex,
        key_bits: int = 2048,
    ) -> None:
        self.models, self.supplier, self.prices = models, supplier, prices
        self.sup_keys = [
            phe.generate_paillier_keypair(n_length=key_bits) for _ in range(n_suppliers)
        ]
        self.go_pub, self.go_sec = phe.generate_paillier_keypair(n_length=key_bits)
        n = supplier.size
        self.day = slot_times.normalize()
        self.t = 0
        self.bills = {m: np.zeros(n) for m in models}
        self.supplier_profit = {m: np.zeros(n_suppliers) for m in models}
        self.supplier_energy_kwh = {m: np.zeros(n_suppliers) for m in models}
        self.pot = dict.fromkeys(models, 0.0)
        self._open: dict[str, list[Any]] = {m: [0.0] * n for m in models}
        self.counts = {"encryptions": 0, "decryptions": 0, "homomorphic_operations": 0}
        self.close_s = 0.0  # time spent opening the day's bills [s]
        self.close_decryptions = 0

    def _enc(self, pub: phe.PaillierPublicKey, x: float) -> phe.EncryptedNumber:
        self.counts["encryptions"] += 1
        return pub.encrypt(float(x))

    def _dec(self, sec: phe.PaillierPrivateKey, x: Any) -> float:
        if not isinstance(x, phe.EncryptedNumber):
            return float(x)
        self.counts["decryptions"] += 1
        return float(sec.decrypt(x))

    def _lin(self, cts: dict[str, Any], key: str, kc: float, kd: float) -> Any:
        out: Any = 0.0
        for name, k in ((f"{key}.c", kc), (f"{key}.d", kd)):
            if k != 0.0 and name in cts:
                out = out + cts[name] * float(k)
                self.counts["homomorphic_operations"] += 2
        return out

    def settle(
        self,
        side: NDArray[np.int8],
        accepted: NDArray[np.bool_],
        c: NDArray[np.float64],
        d: NDArray[np.float64],
        net: NDArray[np.float64],
        p2p_price: NDArray[np.float64],
        slot_price: float,
    ) -> None:
        """Settle one slot (arguments as :meth:`cosim.settlement.ledger.Ledger.settle`)."""
        n = self.supplier.size
        cts: list[dict[str, Any]] = []
        for i in range(n):  # the meters
            pub = self.sup_keys[int(self.supplier[i])][0]
            mine = {"S.d": self._enc(pub, d[i])}
            if accepted[i]:
                mine["S.c"] = self._enc(pub, c[i])
                mine["GO.c"] = self._enc(self.go_pub, c[i])
                mine["GO.d"] = self._enc(self.go_pub, d[i])
            cts.append(mine)
        info = slot_info_from_plain(side, accepted, c, d, net, p2p_price, slot_price)
        agg = dict.fromkeys(AGGREGATES, 0.0)
        if any(m in AGGREGATE_MODELS for m in self.models):
            for name, (mask, sign) in aggregate_masks(info).items():
                total: Any = 0.0
                for i in np.flatnonzero(mask):
                    total = total + self._lin(cts[i], "GO", 0.0, sign)
                agg[name] = max(self._dec(self.go_sec, total), 0.0)
        for model in self.models:
            terms = bill_terms(model, info, self.prices, agg)
            amount, money, p2p = terms.amount, terms.supplier, terms.p2p
            energy, unknown = gross_energy_form(terms.supplier_energy, info)
            pot: Any = float(np.sum(p2p.const))
            for i in range(n):
                bill = self._lin(cts[i], "S", amount.coef_c[i], amount.coef_d[i])
                self._open[model][i] = self._open[model][i] + bill + float(amount.const[i])
                pot = pot + self._lin(cts[i], "GO", p2p.coef_c[i], p2p.coef_d[i])
            for j, (_, sec) in enumerate(self.sup_keys):
                m_sum: Any = 0.0
                e_sum: Any = 0.0
                for i in np.flatnonzero(self.supplier == j):
                    m_sum = m_sum + self._lin(cts[i], "S", money.coef_c[i], money.coef_d[i])
                    m_sum = m_sum + float(money.const[i])
                    if unknown[i]:
                        raw = terms.supplier_energy
                        one = self._lin(cts[i], "S", raw.coef_c[i], raw.coef_d[i])
                        e_sum = e_sum + abs(self._dec(sec, one + float(raw.const[i])))
                    else:
                        e_sum = e_sum + self._lin(cts[i], "S", energy.coef_c[i], energy.coef_d[i])
                        e_sum = e_sum + float(energy.const[i])
                self.supplier_profit[model][j] += self._dec(sec, m_sum)
                self.supplier_energy_kwh[model][j] += self._dec(sec, e_sum)
            self.pot[model] += self._dec(self.go_sec, pot)
        self.t += 1
        if self.t == len(self.day) or self.day[self.t] != self.day[self.t - 1]:
            self._close_day()

    def _close_day(self) -> None:
        t0 = time.perf_counter()
        before = self.counts["decryptions"]
        self._close_bills()
        self.close_s += time.perf_counter() - t0
        self.close_decryptions += self.counts["decryptions"] - before

    def _close_bills(self) -> None:
        for model in self.models:
            for i, bill in enumerate(self._open[model]):
                sec = self.sup_keys[int(self.supplier[i])][1]
                self.bills[model][i] += self._dec(sec, bill)
            self._open[model] = [0.0] * self.supplier.size
