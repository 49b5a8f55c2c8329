"""The messages the engine's slot processes pass to one another through SimPy stores.

One slot travels as :class:`SlotOrders` (participants -> market), :class:`SlotCommitments`
(market -> meters), :class:`SlotReading` (meters -> grid and settlement) and
:class:`SlotSettled` (settlement -> recorder); the grid hands the recorder a
:class:`cosim.grid.powerflow.FlowResult`. A run that stops early sends :class:`Stop` down the
same pipeline instead of a slot, so every process ends at the same slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from cosim.market.auction import ClearingResult
from cosim.market.export_limits import ExportDecision
from cosim.participants.fulfilment import Delivery, Orders

__all__ = ["SlotCommitments", "SlotOrders", "SlotReading", "SlotSettled", "Stop"]


@dataclass(frozen=True)
class SlotOrders:
    """What the participants submit at gate closure of slot ``k``.

    Attributes
    ----------
    k : int
        Slot index.
    load_kwh, pv_kwh : numpy.ndarray
        Actual base load and PV energy of the slot per participant [kWh] (the meters use them
        during delivery; the orders were formed from forecasts of them).
    soc_kwh : numpy.ndarray
        Metered battery state of charge at the start of the slot [kWh].
    orders : Orders
        One order (or none) per participant.
    setpoint_kwh : numpy.ndarray or None
        Planned energy into each battery [kWh] (None: self-consumption dispatch).
    plan_status : str
        Status of the battery strategy's plan for the slot.
    device_kwh : numpy.ndarray or None
        Net energy of the participants' other devices (electric vehicles, heat pumps, CHP,
        wind ...) [kWh], > 0 drawn, < 0 generated; None when the run has none. Its consumption
        part counts as load (:attr:`demand_kwh`), its generation part as generation beside
        PV (:attr:`supply_kwh`).
    device_columns : mapping
        The devices' per-participant columns of the slot for participants.csv.
    """

    k: int
    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    soc_kwh: np.ndarray
    orders: Orders
    setpoint_kwh: np.ndarray | None = None
    plan_status: str = "self_consumption"
    device_kwh: np.ndarray | None = None
    device_columns: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def demand_kwh(self) -> np.ndarray:
        """Energy the participants draw before PV and battery [kWh]: base load plus the
        devices' net consumption ``max(device_kwh, 0)``."""
        return (
            self.load_kwh
            if self.device_kwh is None
            else self.load_kwh + consumption(self.device_kwh)
        )

    @property
    def supply_kwh(self) -> np.ndarray:
        """Energy the participants generate behind the meter [kWh]: PV plus the devices' net
        generation ``max(-device_kwh, 0)`` (a CHP, a wind turbine)."""
        return self.pv_kwh if self.device_kwh is None else self.pv_kwh + generation(self.device_kwh)


def consumption(device_kwh: np.ndarray) -> np.ndarray:
    """The consumption part of the devices' net energy per participant [kWh] (>= 0)."""
    return np.maximum(device_kwh, 0.0)


def generation(device_kwh: np.ndarray) -> np.ndarray:
    """The generation part of the devices' net energy per participant [kWh] (>= 0); with
    :func:`consumption`, ``consumption - generation == device_kwh``."""
    return np.maximum(-device_kwh, 0.0)


@dataclass(frozen=True)
class SlotCommitments(SlotOrders):
    """The market's result for slot ``k``: the orders with their clearing.

    Attributes
    ----------
    clearing : ClearingResult
        Trades and prices of the double auction (after the network check's fractions).
    filled_kwh : numpy.ndarray
        Matched volume per participant [kWh] (0 without an order).
    p2p_price : numpy.ndarray
        Average price of each participant's trades [currency/kWh] (NaN without an order).
    check : ExportDecision or None
        The network check's decision (None without a check).
    """

    clearing: ClearingResult = field(kw_only=True)
    filled_kwh: np.ndarray = field(kw_only=True)
    p2p_price: np.ndarray = field(kw_only=True)
    check: ExportDecision | None = field(kw_only=True)


@dataclass(frozen=True)
class SlotReading:
    """The meters' reading at the end of slot ``k``: the commitments and what was delivered.

    ``missing`` marks the readings the settlement did not have at its deadline (None: all
    there; docs/faults.md).
    """

    market: SlotCommitments
    delivery: Delivery
    missing: np.ndarray | None = None


@dataclass(frozen=True)
class SlotSettled:
    """A settled slot: its reading and, per billing model, the supplier energy [kWh]."""

    reading: SlotReading
    supplier_energy_kwh: Mapping[str, float]


@dataclass(frozen=True)
class Stop:
    """Passed down the pipeline instead of a slot when the run stops before its end."""

    slot: int  # the first slot not run
