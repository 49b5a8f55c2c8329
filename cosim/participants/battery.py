"""Battery physics for all participants at once (struct of arrays).

Pure functions over numpy arrays, one entry per participant. Energies are per slot [kWh],
powers [kW]; a participant without a device has zeros for its parameters.
Sign conventions (docs/glossary.md): ``net_kwh`` > 0 draws energy from the grid;
``battery_kwh`` > 0 charges the battery (AC side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BatteryFleet", "dispatch_self_consumption", "follow_setpoint"]


@dataclass(frozen=True)
class BatteryFleet:
    """Battery parameters of every participant (zeros where there is no battery).

    Attributes
    ----------
    capacity_kwh : ndarray
        Usable capacity [kWh].
    power_kw : ndarray
        Charge/discharge power limit [kW].
    eta_charge, eta_discharge : ndarray
        One-way efficiencies [-]; their product is the round-trip efficiency.
    soc_min_kwh, soc_max_kwh : ndarray
        State-of-charge bounds [kWh].
    """

    capacity_kwh: np.ndarray
    power_kw: np.ndarray
    eta_charge: np.ndarray
    eta_discharge: np.ndarray
    soc_min_kwh: np.ndarray
    soc_max_kwh: np.ndarray


def dispatch_self_consumption(
    residual_kwh: np.ndarray, soc_kwh: np.ndarray, fleet: BatteryFleet, slot_hours: float
) -> tuple[np.ndarray, np.ndarray]:
    """Self-consumption dispatch: charge from surplus, discharge into deficit.

    Parameters
    ----------
    residual_kwh : ndarray
        Load minus PV in the slot, before the battery [kWh]; > 0 is a deficit.
    soc_kwh : ndarray
        State of charge at the start of the slot [kWh].
    fleet : BatteryFleet
        Battery parameters.
    slot_hours : float
        Slot length [h].

    Returns
    -------
    battery_kwh : ndarray
        Energy into the battery on its AC side [kWh]; > 0 charging, < 0 discharging.
    soc_after_kwh : ndarray
        State of charge at the end of the slot [kWh].

    Examples
    --------
    >>> import numpy as np
    >>> f = BatteryFleet(*(np.array([x]) for x in (5.0, 2.0, 1.0, 1.0, 0.0, 5.0)))
    >>> dispatch_self_consumption(np.array([-3.0]), np.array([4.5]), f, 0.5)
    (array([0.5]), array([5.]))
    """
    step_kwh = fleet.power_kw * slot_hours
    headroom_kwh = np.maximum(fleet.soc_max_kwh - soc_kwh, 0.0)
    available_kwh = np.maximum(soc_kwh - fleet.soc_min_kwh, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        charge_limit = np.where(fleet.eta_charge > 0, headroom_kwh / fleet.eta_charge, 0.0)
    charge_kwh = np.minimum(np.minimum(np.maximum(-residual_kwh, 0.0), step_kwh), charge_limit)
    discharge_kwh = np.minimum(
        np.minimum(np.maximum(residual_kwh, 0.0), step_kwh), available_kwh * fleet.eta_discharge
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        drawn_kwh = np.where(fleet.eta_discharge > 0, discharge_kwh / fleet.eta_discharge, 0.0)
    soc_after = soc_kwh + charge_kwh * fleet.eta_charge - drawn_kwh
    soc_after = np.clip(
        soc_after, fleet.soc_min_kwh, np.maximum(fleet.soc_max_kwh, fleet.soc_min_kwh)
    )
    # a battery-less participant keeps soc 0 whatever the bounds say
    soc_after = np.where(fleet.capacity_kwh > 0, soc_after, 0.0)
    return charge_kwh - discharge_kwh, soc_after


def follow_setpoint(
    setpoint_kwh: np.ndarray, soc_kwh: np.ndarray, fleet: BatteryFleet, slot_hours: float
) -> tuple[np.ndarray, np.ndarray]:
    """Battery following a planned set-point, clipped to its power and state-of-charge limits.

    The same physics as :func:`dispatch_self_consumption`, whose target is the surplus:
    ``follow_setpoint(x)`` equals ``dispatch_self_consumption(-x)``.

    Parameters
    ----------
    setpoint_kwh : ndarray
        Planned energy into the battery, AC side [kWh] (> 0 charging); NaN counts as 0.
    soc_kwh : ndarray
        State of charge at the start of the slot [kWh].
    fleet : BatteryFleet
        Battery parameters.
    slot_hours : float
        Slot length [h].

    Returns
    -------
    battery_kwh : ndarray
        Energy into the battery [kWh] (> 0 charging).
    soc_after_kwh : ndarray
        State of charge at the end of the slot [kWh].
    """
    target = np.nan_to_num(np.asarray(setpoint_kwh, dtype=np.float64), nan=0.0)
    return dispatch_self_consumption(-target, soc_kwh, fleet, slot_hours)
