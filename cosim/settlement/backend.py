"""What the engine asks of a settlement backend (:class:`SettlementBackend`), and the registry
of backends (:data:`SETTLEMENT_BACKENDS`, ``settlement.encryption``).

Two backends satisfy it: the plaintext :class:`~cosim.settlement.ledger.Ledger` and the
encrypted :class:`~cosim.settlement.protocol.EncryptedSettlement`. Both keep their totals in a
:class:`~cosim.settlement.totals.SettlementTotals`, settle a chunk of slots with the same call
and report the same tables, so the engine never asks which one it holds. ``plain`` builds the
ledger; every encryption scheme of :data:`cosim.settlement.schemes.SCHEMES` builds the
encrypted protocol with that scheme (the registry lists them lazily, so loading a scenario does
not import the cryptography libraries; a test checks the two lists agree).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pandas as pd
from numpy.typing import NDArray

from cosim.conventions import BoolArray, FloatArray, IntArray
from cosim.registry import Registry
from cosim.settlement.terms import Prices

__all__ = ["SETTLEMENT_BACKENDS", "BackendFactory", "SettlementBackend", "SettlementSetup"]


@runtime_checkable
class SettlementBackend(Protocol):
    """A settlement backend: bills slots under every billing model and keeps the totals.

    Attributes
    ----------
    models : tuple of str
        Billing models, in the order of the result tables.
    bills, supplier_profit, supplier_energy_kwh, pot, max_abs_slot_pot, rejected_payloads,
    slot_supplier_energy_kwh, setup_seconds
        The totals of :class:`~cosim.settlement.totals.SettlementTotals`.
    """

    models: tuple[str, ...]
    bills: dict[str, FloatArray]
    supplier_profit: dict[str, FloatArray]
    supplier_energy_kwh: dict[str, FloatArray]
    pot: dict[str, float]
    max_abs_slot_pot: dict[str, float]
    rejected_payloads: list[dict[str, object]]
    setup_seconds: float

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


@dataclass(frozen=True)
class SettlementSetup:
    """What a settlement backend is built from (``settlement:`` and the population).

    Attributes
    ----------
    models : tuple of str
        Billing models (``settlement.models``).
    supplier : numpy.ndarray
        Supplier index of each participant.
    suppliers : int
        Number of suppliers.
    prices : Prices
        Retail price and feed-in tariff [currency/kWh].
    slot_times : pandas.DatetimeIndex
        Start of each slot (billing periods follow the calendar).
    period : str
        Billing period (``settlement.period``).
    key_bits : int
        Paillier modulus size [bit].
    workers : int
        Processes for the meters' encryption.
    insecure_test_keys : bool
        Allow small keys (tests only).
    min_aggregate_members : int
        k of the k-anonymity rule on opened aggregates.
    threshold_metering : bool
        The metering privacy shares the grid operator's key (``privacy.aggregation:
        threshold_paillier``); schemes that can share a key then do.
    tamper : callable or set, optional
        Payloads not delivered or altered (faults, tests; ``EncryptedSettlement``).
    """

    models: tuple[str, ...]
    supplier: IntArray
    suppliers: int
    prices: Prices
    slot_times: pd.DatetimeIndex
    period: str = "horizon"
    key_bits: int = 2048
    workers: int = 1
    insecure_test_keys: bool = False
    min_aggregate_members: int = 1
    threshold_metering: bool = False
    tamper: Any = None


#: A registered backend: ``factory(name, setup)``.
BackendFactory = Callable[[str, SettlementSetup], SettlementBackend]

#: ``settlement.encryption``: ``plain`` and one entry per encryption scheme.
SETTLEMENT_BACKENDS: Registry[BackendFactory] = Registry(
    "settlement.encryption",
    {
        "plain": "cosim.settlement.ledger:plain_backend",
        "paillier": "cosim.settlement.protocol:encrypted_backend",
        "paillier_djn": "cosim.settlement.protocol:encrypted_backend",
        "ckks": "cosim.settlement.protocol:encrypted_backend",
    },
)
