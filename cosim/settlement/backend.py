"""What the engine asks of a settlement backend (:class:`SettlementBackend`).

Two backends satisfy it: the plaintext :class:`~cosim.settlement.ledger.Ledger` and the
encrypted :class:`~cosim.settlement.protocol.EncryptedSettlement`. Both keep their totals in a
:class:`~cosim.settlement.totals.SettlementTotals`, settle a chunk of slots with the same call
and report the same tables, so the engine never asks which one it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import pandas as pd
from numpy.typing import NDArray

from cosim.conventions import BoolArray, FloatArray

__all__ = ["SettlementBackend"]


@runtime_checkable
class SettlementBackend(Protocol):
    """A settlement backend: bills slots under every billing model and keeps the totals.

    Attributes
    ----------
    models : tuple of str
        Billing models, in the order of the result tables.
    bills, supplier_profit, supplier_energy_kwh, pot, max_abs_slot_pot, rejected_payloads,
    slot_supplier_energy_kwh
        The totals of :class:`~cosim.settlement.totals.SettlementTotals`.
    """

    models: tuple[str, ...]
    bills: dict[str, FloatArray]
    supplier_profit: dict[str, FloatArray]
    supplier_energy_kwh: dict[str, FloatArray]
    pot: dict[str, float]
    max_abs_slot_pot: dict[str, float]
    rejected_payloads: list[dict[str, object]]

    @property
    def slot_supplier_energy_kwh(self) -> Mapping[str, Sequence[float] | FloatArray]:
        """Supplier balancing energy of each settled slot per model [kWh]."""
        ...

    def settle(
        self,
        side: NDArray[Any],
        accepted: BoolArray,
        committed_kwh: FloatArray,
        deviation_kwh: FloatArray,
        net_kwh: FloatArray,
        p2p_price: FloatArray,
        slot_price: float,
    ) -> dict[str, float]:
        """Bill one slot; per model its supplier balancing energy [kWh] (NaN while unknown)."""
        ...

    def settle_chunk(
        self,
        side: NDArray[Any],
        accepted: BoolArray,
        committed_kwh: FloatArray,
        deviation_kwh: FloatArray,
        net_kwh: FloatArray,
        p2p_price: FloatArray,
        slot_price: FloatArray,
    ) -> dict[str, FloatArray]:
        """Bill consecutive slots: arrays ``(slots, n)``, ``slot_price`` ``(slots,)``.

        Returns per model the supplier balancing energy of each slot [kWh], shape ``(slots,)``
        (NaN for a slot whose encrypted batch is still open). Equal, bit for bit, to
        :meth:`settle` slot by slot.
        """
        ...

    def finish(self) -> None:
        """End of the horizon: close open batches and billing periods; stop workers."""
        ...

    def close(self) -> None:
        """Release resources (worker processes); safe to call more than once."""
        ...

    def bills_frame(self) -> pd.DataFrame:
        """``bills.csv``."""
        ...

    def suppliers_frame(self) -> pd.DataFrame:
        """``suppliers.csv``."""
        ...

    def settlement_slots_frame(self, n_slots: int) -> pd.DataFrame:
        """``settlement_slots.csv`` up to ``n_slots`` slots."""
        ...

    def crypto_counts(self) -> dict[str, dict[str, int]]:
        """Cryptographic operations per actor and their total (all zero in plaintext)."""
        ...

    def privacy_summary(self) -> dict[str, int] | None:
        """The privacy counts of ``summary.json`` (None in plaintext)."""
        ...
