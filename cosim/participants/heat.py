"""Electric heating behind the meter: heat demand, heat pumps and electric heaters with a tank.

A seeded share of the participants owns a building with a heat demand [kWh_th per slot] and
an electric heat source: a heat pump (``heat_pump``: heat = ``cop`` x electricity) or a
resistive heater (``electric_heater``: heat = ``efficiency`` x electricity), each with an
optional hot-water tank (``storage_kwh_th``, 0 for none). The heat demand is the built-in
profile ``cosim/data/profiles/heat.csv`` (SimBench's ground-source heat-pump shapes, scaled to
``heat_kwh_th_per_year``; docs/devices.md), each owner on a seeded column and a seeded shift of
whole slots. Per slot and owner (:func:`heat_slot`, ``dt`` the slot length):

- the tank first loses ``storage_loss_per_h * dt`` of its content;
- ``self_consumption`` (default): the demand is served from the tank first; the source makes
  what the tank cannot give, plus as much heat as the household's PV surplus
  ``max(pv - load, 0)`` can make, into the tank (up to its room and the power limit);
- ``follow_demand``: the source serves the demand and refills the tank at once, up to its
  power limit; the tank gives only what the source cannot.

Heat the source and the tank cannot give is counted as unmet. The electricity drawn,
``heat / cop`` (or ``/ efficiency``), is the device's energy (>= 0). The module also holds the
dispatch blocks of the heat devices (:class:`HeatPump`, :class:`ElectricHeater`,
:class:`HeatLoad`, :class:`HeatStorage`): one registry entry per type carries both sides.

Example
-------
>>> import numpy as np, pandas as pd
>>> from cosim.participants.devices import DeviceContext, build_devices
>>> ctx = DeviceContext(n=4, kind=np.array(["household"] * 4), slot_minutes=60,
...                     slot_times=pd.date_range("2016-01-10", periods=24, freq="h", tz="UTC"))
>>> hp = build_devices({"heat_pump": {"share": 0.5, "storage_kwh_th": 0.0}}, ctx, seed=1)
>>> e = np.array([hp.energy_kwh(k, np.full(4, 0.3), np.zeros(4), 1.0) for k in range(24)])
>>> int((e > 0).any(axis=0).sum())  # two of four households heat with a heat pump
2
>>> cols = hp.columns()
>>> bool(np.allclose(cols["heat_pump_heat_kwh_th"], 3.5 * cols["heat_pump_kwh"]))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from cosim.dispatch.devices import Injection, TimeAxis, pf_rows, series, storage_rows
from cosim.lp import LinearProgram
from cosim.participants.device_profiles import OwnerProfiles, choose_owners, device_profiles
from cosim.participants.devices import (
    DeviceContext,
    DeviceType,
    FloatArray,
    OwnedDeviceConfig,
    ParticipantKind,
    next_slot,
    owner_kinds,
    owner_share,
    register,
)

__all__ = [
    "ElectricHeater",
    "ElectricHeaterConfig",
    "HeatConfig",
    "HeatFleet",
    "HeatLoad",
    "HeatPump",
    "HeatPumpConfig",
    "HeatStorage",
    "heat_slot",
]

#: The columns of a heat source, after its type's name (``heat_pump_kwh`` ...).
HEAT_COLUMNS: tuple[str, ...] = (
    "kwh",
    "heat_kwh_th",
    "demand_kwh_th",
    "stored_kwh_th",
    "unmet_kwh_th",
)


class HeatConfig(OwnedDeviceConfig):
    """What every heated building shares: owners, heat demand and the hot-water tank."""

    share: float = owner_share(0.3)
    kinds: tuple[ParticipantKind, ...] = owner_kinds(("household",))
    heat_kwh_th_per_year: float = Field(
        default=10000.0,
        gt=0,
        le=1e7,
        description="Annual heat demand of each owner's building, space heating and hot "
        "water [kWh_th/a]; scales the built-in profile (1,000 kWh_th/a).",
    )
    shift_minutes: float = Field(
        default=60.0,
        ge=0,
        le=720,
        description="Largest shift of an owner's heat profile [min]: each owner is shifted by "
        "a seeded whole number of slots within +-shift_minutes, so owners on one profile do "
        "not switch together.",
    )
    storage_kwh_th: float = Field(
        default=10.0,
        ge=0,
        le=1e5,
        description="Hot-water tank capacity [kWh_th]; 0: no tank. 10 kWh_th is about 300 l "
        "heated by 30 K.",
    )
    storage_loss_per_h: float = Field(
        default=0.01, ge=0, le=0.5, description="Share of the stored heat lost per hour [1/h]."
    )
    storage_start: float = Field(
        default=0.5, ge=0, le=1, description="Tank content at the start, share of its capacity [-]."
    )


Strategy = Literal["self_consumption", "follow_demand"]
_STRATEGY_TEXT = (
    "`self_consumption`: the tank first, the source makes the rest plus what the PV surplus "
    "can make into the tank; `follow_demand`: the source serves the demand and refills the "
    "tank at once."
)


class HeatPumpConfig(HeatConfig):
    """Electric heat pumps heating the owners' buildings, with an optional hot-water tank."""

    p_max_kw: float = Field(
        default=3.0,
        gt=0,
        le=1000,
        description="Electric power limit of the heat pump [kW]; heat output at most "
        "cop * p_max_kw [kW_th].",
    )
    cop: float = Field(
        default=3.5,
        ge=1,
        le=8,
        description="Coefficient of performance, heat out per electricity in [kWh_th/kWh]; "
        "constant (a ground-source heat pump).",
    )
    strategy: Strategy = Field(default="self_consumption", description=_STRATEGY_TEXT)


class ElectricHeaterConfig(HeatConfig):
    """Resistive electric heaters heating the owners' buildings, with an optional tank."""

    p_max_kw: float = Field(
        default=9.0, gt=0, le=1000, description="Electric power limit of the heater [kW]."
    )
    efficiency: float = Field(
        default=0.99, gt=0, le=1, description="Heat out per electricity in [kWh_th/kWh]."
    )
    storage_kwh_th: float = Field(
        default=0.0, ge=0, le=1e5, description="Hot-water tank capacity [kWh_th]; 0: no tank."
    )
    strategy: Strategy = Field(default="self_consumption", description=_STRATEGY_TEXT)


def heat_slot(
    stored_kwh_th: FloatArray,
    demand_kwh_th: FloatArray,
    heat_max_kwh_th: FloatArray | float,
    capacity_kwh_th: float,
    keep: float,
    fill: bool,
    extra_kwh_th: FloatArray | float = 0.0,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """One slot of a heat source with a tank, per owner (vectorised).

    Parameters
    ----------
    stored_kwh_th : ndarray
        Tank content at the start of the slot [kWh_th].
    demand_kwh_th : ndarray
        Heat demand of the slot [kWh_th].
    heat_max_kwh_th : ndarray or float
        Most heat the source can make in the slot [kWh_th] (0: it is off).
    capacity_kwh_th : float
        Tank capacity [kWh_th] (0: no tank).
    keep : float
        Share of the tank content kept over the slot, ``1 - loss_per_h * dt`` [-].
    fill : bool
        True: the source serves the demand and refills the tank (``follow_demand``, heat-led).
        False: the tank first; the source makes the rest plus ``extra_kwh_th`` into the tank.
    extra_kwh_th : ndarray or float
        With ``fill`` False: heat the source may make beyond the demand, for the tank
        [kWh_th] (what the PV surplus can make).

    Returns
    -------
    heat_kwh_th, stored_kwh_th, unmet_kwh_th, loss_kwh_th : ndarray
        Heat made, tank content at the end, demand not served, tank loss [kWh_th]; per owner
        ``stored_end = stored - loss + heat - (demand - unmet)``.

    Examples
    --------
    >>> h, e, u, _ = heat_slot(np.array([4.0]), np.array([3.0]), 2.0, 10.0, 1.0, False, 1.5)
    >>> h.tolist(), e.tolist(), u.tolist()  # the tank gives 3, the source 1.5 into the tank
    ([1.5], [2.5], [0.0])
    >>> h, e, u, _ = heat_slot(np.array([4.0]), np.array([3.0]), 2.0, 10.0, 1.0, True)
    >>> h.tolist(), e.tolist(), u.tolist()  # the source at its limit, the tank gives 1
    ([2.0], [3.0], [0.0])
    """
    e0 = stored_kwh_th * keep
    loss = stored_kwh_th - e0
    if fill:
        heat = np.minimum(heat_max_kwh_th, demand_kwh_th + (capacity_kwh_th - e0))
        short = np.maximum(demand_kwh_th - heat, 0.0)
        from_tank = np.minimum(e0, short)
        stored = e0 + np.maximum(heat - demand_kwh_th, 0.0) - from_tank
        unmet = short - from_tank
    else:
        from_tank = np.minimum(e0, demand_kwh_th)
        need = demand_kwh_th - from_tank
        room = capacity_kwh_th - (e0 - from_tank)
        heat = np.minimum(heat_max_kwh_th, need + np.minimum(extra_kwh_th, room))
        covered = np.minimum(heat, need)
        unmet = need - covered
        stored = e0 - from_tank + (heat - covered)
    return heat, stored, unmet, loss


class HeatFleet:
    """The heated buildings of one electric heat source type (heat pumps or heaters).

    Parameters
    ----------
    name : str
        The type's name, prefix of the columns.
    config : HeatPumpConfig or ElectricHeaterConfig
    context : DeviceContext
    rng : numpy.random.Generator
        The type's stream (:func:`cosim.participants.devices.device_rng`).
    heat_per_kwh : float
        Heat made per electricity drawn [kWh_th/kWh] (``cop`` or ``efficiency``; a CHP's
        heat per electricity made).
    p_max_kw : float
        Electric power limit [kW].
    fill : bool
        The rule of :func:`heat_slot`: True for ``follow_demand`` (and the heat-led CHP).

    Notes
    -----
    Draws, all at build: one permutation of the eligible participants (the owners), then two
    uniforms per eligible participant (profile column, shift), of which the owners' are used;
    nothing is drawn during the run.
    """

    #: True: the source draws electricity (the part of it the household's PV surplus covers is
    #: counted); a generating subclass (the CHP) sets False.
    draws: bool = True

    def __init__(
        self,
        name: str,
        config: HeatConfig,
        context: DeviceContext,
        rng: np.random.Generator,
        heat_per_kwh: float,
        p_max_kw: float,
        fill: bool,
    ) -> None:
        self.name = name
        self.config = config
        self.column_names = tuple(f"{name}_{c}" for c in HEAT_COLUMNS)
        self.n = context.n
        self.dt_h = context.slot_hours
        self.owner, pick, n_eligible = choose_owners(context.kind, config.kinds, config.share, rng)
        u = rng.random((2, n_eligible))[:, pick]
        n_cols = len(device_profiles("heat").names)
        reach = int(config.shift_minutes // context.slot_minutes)
        column = np.minimum((u[0] * n_cols).astype(np.int64), n_cols - 1)
        shift = np.rint((2.0 * u[1] - 1.0) * reach).astype(np.int64)
        self.profiles = OwnerProfiles(
            "heat", context.slot_times, context.slot_minutes, column, shift
        )
        self.demand_scale = config.heat_kwh_th_per_year / 1000.0
        self.heat_per_kwh = heat_per_kwh
        self.heat_max_kwh_th = p_max_kw * heat_per_kwh * self.dt_h
        self.keep = 1.0 - config.storage_loss_per_h * self.dt_h
        self.fill = fill
        m = self.owner.size
        self.stored = np.full(m, config.storage_start * config.storage_kwh_th)
        self.before = self.stored.copy()  # tank content at the start of the slot last computed
        self.e = np.zeros(m)  # electricity of the slot last computed [kWh]
        self.heat = np.zeros(m)
        self.demand = np.zeros(m)
        self.unmet = np.zeros(m)
        self.pv_last = np.zeros(m)
        self.k = 0
        self.totals = dict.fromkeys(
            ("electricity", "heat", "demand", "unmet", "loss", "pv_surplus"), 0.0
        )

    def _account(self, sign: float, loss: FloatArray) -> None:
        t = self.totals
        t["electricity"] += sign * float(self.e.sum())
        t["heat"] += sign * float(self.heat.sum())
        t["unmet"] += sign * float(self.unmet.sum())
        t["loss"] += sign * float(loss.sum())
        t["pv_surplus"] += sign * float(self.pv_last.sum())

    def energy_kwh(
        self, k: int, load_kwh: FloatArray, pv_kwh: FloatArray, slot_hours: float
    ) -> FloatArray:
        """Electricity drawn in slot ``k`` per participant [kWh] (>= 0)."""
        self.k = next_slot(self.name, self.k, k, self.dt_h, slot_hours)
        own = self.owner
        self.demand = self.profiles.slot(k) * self.demand_scale
        surplus = np.maximum((pv_kwh - load_kwh)[own], 0.0)
        self.before = self.stored
        self.heat, self.stored, self.unmet, loss = heat_slot(
            self.before,
            self.demand,
            self.heat_max_kwh_th,
            self.config.storage_kwh_th,
            self.keep,
            self.fill,
            surplus * self.heat_per_kwh,
        )
        self.e = self.heat / self.heat_per_kwh
        self.pv_last = np.minimum(self.e, surplus) if self.draws else np.zeros(own.size)
        self.totals["demand"] += float(self.demand.sum())
        self._account(1.0, loss)
        out = np.zeros(self.n)
        out[own] = self.e
        return out

    def disconnect(self, cut: NDArray[np.bool_]) -> None:
        """Owners in ``cut`` drew nothing in the slot last computed: their source was off,
        the tank gave what it had, the rest of the demand is unmet."""
        idx = np.flatnonzero(cut[self.owner])
        if idx.size == 0:
            return
        t = self.totals
        t["electricity"] -= float(self.e[idx].sum())
        t["heat"] -= float(self.heat[idx].sum())
        t["unmet"] -= float(self.unmet[idx].sum())
        t["pv_surplus"] -= float(self.pv_last[idx].sum())
        heat, stored, unmet, _ = heat_slot(
            self.before[idx],
            self.demand[idx],
            0.0,
            self.config.storage_kwh_th,
            self.keep,
            self.fill,
        )
        self.heat[idx], self.stored[idx], self.unmet[idx] = heat, stored, unmet
        self.e[idx] = 0.0
        self.pv_last[idx] = 0.0
        t["unmet"] += float(unmet.sum())  # the tank's loss is the same with the source off

    def columns(self) -> dict[str, FloatArray]:
        """Electricity [kWh], heat made, demand, tank content at the slot's end and unmet
        demand [kWh_th] of the slot last computed; 0 for participants without one."""
        cols = {c: np.zeros(self.n) for c in self.column_names}
        values = (self.e, self.heat, self.demand, self.stored, self.unmet)
        for c, v in zip(self.column_names, values, strict=True):
            cols[c][self.owner] = v
        return cols

    def state(self) -> dict[str, Any]:
        """Tank contents, the last slot's values, the slot counter and the totals."""
        arrays = ("stored", "before", "e", "heat", "demand", "unmet", "pv_last")
        return {
            **{a: getattr(self, a).copy() for a in arrays},
            "k": self.k,
            "totals": dict(self.totals),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (of a fleet built from the same configuration)."""
        for a in ("stored", "before", "e", "heat", "demand", "unmet", "pv_last"):
            setattr(self, a, np.array(state[a], dtype=np.float64, copy=True))
        self.k = int(state["k"])
        self.totals = dict(state["totals"])

    def summary(self) -> dict[str, Any]:
        """Run totals: owners, heat demand, heat made, electricity, unmet heat, tank losses."""
        t = self.totals
        c = self.config
        return {
            "strategy": "follow_demand" if self.fill else "self_consumption",
            "owners": int(self.owner.size),
            "demand_kwh_th": t["demand"],
            "heat_kwh_th": t["heat"],
            "electricity_kwh": t["electricity"],
            "pv_surplus_kwh": t["pv_surplus"],
            "unmet_kwh_th": t["unmet"],
            "storage_loss_kwh_th": t["loss"],
            "stored_start_kwh_th": c.storage_start * c.storage_kwh_th * int(self.owner.size),
            "stored_end_kwh_th": float(self.stored.sum()),
        }


# ----------------------------------------------------------------------- dispatch blocks


@dataclass(frozen=True)
class HeatLoad:
    """Heat demand of a dispatch node [kW_th]."""

    name: str
    h_kw_th: Any
    kind: str = "heat_load"

    def build(self, lp: LinearProgram, time: TimeAxis) -> Injection:
        return Injection(h_const=-series({"h": self.h_kw_th}, "h", time))


@dataclass(frozen=True)
class HeatStorage:
    """Heat store: store/release in ``[0, h_max_kw_th]``, ``0 <= e <= e_max_kwh_th``."""

    name: str
    e_max_kwh_th: float
    h_max_kw_th: float
    e_start_kwh_th: float
    e_end_kwh_th: float
    self_loss_per_h: float = 0.0
    kind: str = "heat_storage"

    def build(self, lp: LinearProgram, time: TimeAxis) -> Injection:
        sto = lp.add_var(f"{self.name}.store_kw_th", time.steps, 0.0, self.h_max_kw_th)
        rel = lp.add_var(f"{self.name}.release_kw_th", time.steps, 0.0, self.h_max_kw_th)
        storage_rows(
            lp,
            self.name,
            time,
            self.e_max_kwh_th,
            self.e_start_kwh_th,
            self.e_end_kwh_th,
            self.self_loss_per_h,
            (sto, 1.0),
            (rel, 1.0),
        )
        return Injection(h=[(rel, 1.0), (sto, -1.0)])


@dataclass(frozen=True)
class HeatPump:
    """Electric heat pump: draws ``0 <= p <= p_max_kw``, supplies ``cop * p`` kW_th."""

    name: str
    p_max_kw: float
    cop: float
    pf_min: float = 0.8
    kind: str = "heat_pump"

    def build(self, lp: LinearProgram, time: TimeAxis) -> Injection:
        p = lp.add_var(f"{self.name}.p_kw", time.steps, 0.0, self.p_max_kw)
        q = lp.add_var(f"{self.name}.q_kvar", time.steps, -np.inf, np.inf)
        pf_rows(lp, q, [(p, 1.0)], self.pf_min)
        return Injection(p=[(p, -1.0)], q=[(q, 1.0)], h=[(p, self.cop)])


@dataclass(frozen=True)
class ElectricHeater:
    """Resistive heater: draws ``0 <= p <= p_max_kw``, supplies ``efficiency * p`` kW_th."""

    name: str
    p_max_kw: float
    efficiency: float
    kind: str = "electric_heater"

    def build(self, lp: LinearProgram, time: TimeAxis) -> Injection:
        p = lp.add_var(f"{self.name}.p_kw", time.steps, 0.0, self.p_max_kw)
        return Injection(p=[(p, -1.0)], h=[(p, self.efficiency)])


def _heat_pump(
    config: HeatPumpConfig, context: DeviceContext, rng: np.random.Generator
) -> HeatFleet:
    fill = config.strategy == "follow_demand"
    return HeatFleet("heat_pump", config, context, rng, config.cop, config.p_max_kw, fill)


def _heater(
    config: ElectricHeaterConfig, context: DeviceContext, rng: np.random.Generator
) -> HeatFleet:
    fill = config.strategy == "follow_demand"
    return HeatFleet(
        "electric_heater", config, context, rng, config.efficiency, config.p_max_kw, fill
    )


HEAT_PUMP = register(
    DeviceType(
        name="heat_pump",
        config_model=HeatPumpConfig,
        build=_heat_pump,
        description="electric heat pumps with a hot-water tank serving the owners' heat demand",
        dispatch=HeatPump,
    )
)
ELECTRIC_HEATER = register(
    DeviceType(
        name="electric_heater",
        config_model=ElectricHeaterConfig,
        build=_heater,
        description="resistive electric heaters serving the owners' heat demand",
        dispatch=ElectricHeater,
    )
)
HEAT_LOAD = register(
    DeviceType(
        name="heat_load",
        description="heat demand of a dispatch node (in runs: part of the heat devices)",
        dispatch=HeatLoad,
    )
)
HEAT_STORAGE = register(
    DeviceType(
        name="heat_storage",
        description="heat store of a dispatch node (in runs: the tank of the heat devices)",
        dispatch=HeatStorage,
    )
)
