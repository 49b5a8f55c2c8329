"""Gas-fired micro combined heat and power (CHP) behind the meter, heat-led, with a tank.

A seeded share of the participants heats its building (the heat demand of
:mod:`cosim.participants.heat`: the built-in profile scaled to ``heat_kwh_th_per_year``, a
seeded column and shift per owner) with a gas-fired CHP unit, a hot-water tank and a gas
boiler for what the CHP and the tank cannot give. The CHP is **heat-led**: in each slot it makes
the heat that serves the demand and refills the tank, up to ``p_max_kw * heat_ratio * dt``
(:func:`cosim.participants.heat.heat_slot` with ``fill``); it modulates freely between 0 and
its limit (no minimum load, no start-up cost). Its electricity ``heat / heat_ratio`` [kWh] is
**generation**: the device's energy is negative, ``-heat / heat_ratio``.

How it enters the participant's net energy: the engine splits every participant's net device
energy (the sum of its device types) into consumption, added to the base load, and generation,
added to the PV side (:attr:`cosim.engine.messages.SlotOrders.demand_kwh` and
``supply_kwh``), so forecasts, orders and delivery treat CHP electricity like PV; a household
with a heat pump and a CHP nets the two first. Fuel [kWh of gas] is ``electricity /
electrical_efficiency`` for the CHP and ``heat / boiler_efficiency`` for the boiler; both are
columns and totals, not electricity.

The dispatch block of the same type is :class:`CHP` (registered with the fleet).

Example
-------
>>> import numpy as np, pandas as pd
>>> from cosim.participants.devices import DeviceContext, build_devices
>>> ctx = DeviceContext(n=4, kind=np.array(["household"] * 4), slot_minutes=60,
...                     slot_times=pd.date_range("2016-01-10", periods=24, freq="h", tz="UTC"))
>>> chp = build_devices({"chp": {"share": 0.5}}, ctx, seed=1)
>>> e = np.array([chp.energy_kwh(k, np.full(4, 0.3), np.zeros(4), 1.0) for k in range(24)])
>>> bool((e <= 0).all()), int((e < 0).any(axis=0).sum())  # two CHPs generate
(True, 2)
>>> float(e.min()) >= -1.0  # never above p_max_kw = 1 kW for one hour
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from cosim.dispatch.devices import Injection, TimeAxis, pf_rows
from cosim.lp import LinearProgram
from cosim.participants.devices import DeviceContext, DeviceType, FloatArray, owner_share, register
from cosim.participants.heat import HeatConfig, HeatFleet

__all__ = ["CHP", "CHPConfig", "CHPFleet"]


class CHPConfig(HeatConfig):
    """Gas-fired micro-CHP units, heat-led, with a hot-water tank and a backup gas boiler."""

    share: float = owner_share(0.1)
    p_max_kw: float = Field(
        default=1.0, gt=0, le=1000, description="Electric output limit of the CHP unit [kW]."
    )
    heat_ratio: float = Field(
        default=2.5,
        gt=0,
        le=10,
        description="Heat made per electricity made [kWh_th/kWh] (2.5: a 1 kW_el, "
        "2.5 kW_th household unit).",
    )
    electrical_efficiency: float = Field(
        default=0.26,
        gt=0,
        le=0.6,
        description="Electricity made per gas burnt [kWh/kWh]; with heat_ratio 2.5 the unit "
        "converts 0.26 + 0.65 = 91 % of the gas.",
    )
    boiler_efficiency: float = Field(
        default=0.95, gt=0, le=1.1, description="Heat per gas of the backup boiler [kWh_th/kWh]."
    )
    storage_kwh_th: float = Field(
        default=15.0,
        ge=0,
        le=1e5,
        description="Hot-water tank capacity [kWh_th]; 0: no tank (15 kWh_th: about 430 l "
        "heated by 30 K).",
    )


class CHPFleet(HeatFleet):
    """The CHP units of a run: a heat-led :class:`~cosim.participants.heat.HeatFleet` whose
    electricity is generation and whose unmet heat the boiler makes.

    Columns: ``chp_kwh`` (electricity at the connection, <= 0 [kWh]), ``chp_heat_kwh_th``
    (heat of the CHP unit), ``chp_demand_kwh_th``, ``chp_stored_kwh_th`` (tank at the slot's
    end), ``chp_boiler_kwh_th`` (heat of the boiler), ``chp_fuel_kwh`` (gas of unit and boiler).
    Cut off from the grid (:meth:`disconnect`), anti-islanding stops the unit for the slot; the
    tank and the boiler serve the demand.
    """

    draws = False  # its electricity is generation

    def __init__(self, config: CHPConfig, context: DeviceContext, rng: np.random.Generator) -> None:
        super().__init__("chp", config, context, rng, config.heat_ratio, config.p_max_kw, True)
        self.chp = config
        self.column_names = (
            "chp_kwh",
            "chp_heat_kwh_th",
            "chp_demand_kwh_th",
            "chp_stored_kwh_th",
            "chp_boiler_kwh_th",
            "chp_fuel_kwh",
        )

    def energy_kwh(
        self, k: int, load_kwh: FloatArray, pv_kwh: FloatArray, slot_hours: float
    ) -> FloatArray:
        """Electricity of slot ``k`` per participant [kWh], <= 0 (generation)."""
        return -super().energy_kwh(k, load_kwh, pv_kwh, slot_hours)

    def _fuel(self) -> FloatArray:
        c = self.chp
        return self.e / c.electrical_efficiency + self.unmet / c.boiler_efficiency

    def columns(self) -> dict[str, FloatArray]:
        """The slot last computed's values (see the class docstring); 0 without a CHP."""
        values = (-self.e, self.heat, self.demand, self.stored, self.unmet, self._fuel())
        cols = {c: np.zeros(self.n) for c in self.column_names}
        for c, v in zip(self.column_names, values, strict=True):
            cols[c][self.owner] = v
        return cols

    def summary(self) -> dict[str, Any]:
        """Run totals: units, heat demand, heat of unit and boiler, electricity, gas."""
        t, c = self.totals, self.chp
        return {
            "units": int(self.owner.size),
            "demand_kwh_th": t["demand"],
            "heat_kwh_th": t["heat"],
            "boiler_kwh_th": t["unmet"],
            "generated_kwh": t["electricity"],
            "fuel_kwh": t["electricity"] / c.electrical_efficiency
            + t["unmet"] / c.boiler_efficiency,
            "storage_loss_kwh_th": t["loss"],
            "stored_start_kwh_th": c.storage_start * c.storage_kwh_th * int(self.owner.size),
            "stored_end_kwh_th": float(self.stored.sum()),
        }


@dataclass(frozen=True)
class CHP:
    """Dispatch block: ``0 <= p <= p_max_kw``, ``0 <= h <= heat_ratio * p``.

    Fuel cost ``fuel_price_per_kwh * (1 + heat_ratio) * p * step_hours`` (the fuel of the
    electric and the largest possible heat output), reactive power at ``pf_min``.
    """

    name: str
    p_max_kw: float
    heat_ratio: float
    fuel_price_per_kwh: float
    pf_min: float = 0.8
    kind: str = "chp"

    def build(self, lp: LinearProgram, time: TimeAxis) -> Injection:
        cost = self.fuel_price_per_kwh * (1.0 + self.heat_ratio) * time.step_hours
        p = lp.add_var(f"{self.name}.p_kw", time.steps, 0.0, self.p_max_kw, cost)
        h = lp.add_var(f"{self.name}.h_kw_th", time.steps, 0.0, np.inf)
        q = lp.add_var(f"{self.name}.q_kvar", time.steps, -np.inf, np.inf)
        lp.add_ub([(h, 1.0), (p, -self.heat_ratio)], 0.0)
        pf_rows(lp, q, [(p, 1.0)], self.pf_min)
        return Injection(p=[(p, 1.0)], q=[(q, 1.0)], h=[(h, 1.0)])


def _build(config: CHPConfig, context: DeviceContext, rng: np.random.Generator) -> CHPFleet:
    return CHPFleet(config, context, rng)


CHP_TYPE = register(
    DeviceType(
        name="chp",
        config_model=CHPConfig,
        build=_build,
        description="gas-fired micro-CHP, heat-led, with a tank and a backup boiler",
        dispatch=CHP,
    )
)
