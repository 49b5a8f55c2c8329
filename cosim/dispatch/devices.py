"""Devices of a distributed energy system (DES) as LP blocks: the dispatch side of the devices.

Every device kind implements :class:`DispatchDevice`: ``build(lp, time)`` adds its variables
and rows to the DES's LP (:class:`cosim.lp.LinearProgram`) and returns an :class:`Injection`,
its contribution to the node's active (``p``, kW), reactive (``q``, kvar) and heat (``h``,
kW_th) balances, positive = supplied to the node. The model (:mod:`cosim.dispatch.model`)
never asks which kind it holds.

There is one device registry, :data:`cosim.participants.devices.DEVICE_TYPES`: a device type
carries its fleet for ``cosim run`` and its dispatch block (``DeviceType.dispatch``).
:data:`DEVICE_KINDS` is the view of that registry that a device table reads (``kind`` -> the
block's class); :func:`make_device` checks the name. The multi-energy devices live in their
own modules with their fleets: ``heat_pump``, ``electric_heater``, ``heat_load`` and
``heat_storage`` in :mod:`cosim.participants.heat`, ``chp`` in :mod:`cosim.participants.chp`,
``wind`` in :mod:`cosim.participants.wind`. This module holds the interface, the shared row
builders and the kinds that exist only in dispatch cases (``load``, ``pv``, ``battery``,
``grid``: a run has its own base load, PV and battery in the population), registered here.

Units: power kW (electric), kvar, kW_th (heat); energy kWh, kWh_th; prices currency/kWh.
A time axis has ``steps`` slots of ``step_hours`` h. Devices follow the model of the dual-privacy
framework (Li et al., public repository aponie0525/A-Dual-Privacy-Framework-for-Decentralized-
Energy-Management; docs/dispatch.md), written from its equations, with three corrections stated
there: storage updates carry the step length, the battery's power limit and start/end energy are
parameters (the derivation script sets them to the values the source effectively used), and
reactive limits use one variable per device.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from cosim.lp import LinearProgram as LpBlock
from cosim.lp import Term
from cosim.participants.devices import DeviceType, device_types, register

__all__ = [
    "DEVICE_KINDS",
    "Battery",
    "DispatchDevice",
    "FixedLoad",
    "GridInterface",
    "Injection",
    "Renewable",
    "TimeAxis",
    "make_device",
]


@dataclass(frozen=True)
class TimeAxis:
    """``steps`` slots of ``step_hours`` hours each."""

    steps: int
    step_hours: float


@dataclass
class Injection:
    """A device's contribution to its node's balances, per step (positive = supplied)."""

    p: list[Term] = field(default_factory=list)
    q: list[Term] = field(default_factory=list)
    h: list[Term] = field(default_factory=list)
    p_const: np.ndarray | float = 0.0
    q_const: np.ndarray | float = 0.0
    h_const: np.ndarray | float = 0.0


class DispatchDevice(Protocol):
    """One device of a DES (the interface of every kind)."""

    @property
    def kind(self) -> str:
        """Registry name of the device's kind."""
        ...

    @property
    def name(self) -> str:
        """Unique name within its case (prefixes its variable names)."""
        ...

    def build(self, lp: LpBlock, time: TimeAxis) -> Injection:
        """Add variables and rows to ``lp``; return the injection into the node."""
        ...


def series(params: Mapping[str, Any], key: str, time: TimeAxis) -> np.ndarray:
    value = np.asarray(params[key], dtype=float)
    if value.ndim == 0:
        return np.full(time.steps, float(value))
    if value.size < time.steps:
        raise ValueError(f"{key}: {value.size} values for {time.steps} steps")
    return value[: time.steps].copy()


def pf_rows(lp: LpBlock, q: np.ndarray, p_terms: list[Term], pf: float) -> None:
    """``|q| <= tan(acos(pf)) * sum(p_terms)`` as two row groups."""
    k = math.tan(math.acos(pf))
    lp.add_ub([(q, 1.0), *[(c, -k * np.asarray(v)) for c, v in p_terms]], 0.0)
    lp.add_ub([(q, -1.0), *[(c, -k * np.asarray(v)) for c, v in p_terms]], 0.0)


@dataclass(frozen=True)
class FixedLoad:
    """Electric (``p_kw``), reactive (``q_kvar``, optional) demand of a node [kW, kvar]."""

    name: str
    p_kw: Any
    q_kvar: Any = 0.0
    kind: str = "load"

    def build(self, lp: LpBlock, time: TimeAxis) -> Injection:
        return Injection(
            p_const=-series({"p": self.p_kw}, "p", time),
            q_const=-series({"q": self.q_kvar}, "q", time),
        )


@dataclass(frozen=True)
class Renewable:
    """PV or wind: ``0 <= p <= p_max_kw(t)`` (curtailable), ``|q| <= tan(acos(pf_min)) p``."""

    name: str
    p_max_kw: Any
    pf_min: float = 0.9
    kind: str = "pv"

    def build(self, lp: LpBlock, time: TimeAxis) -> Injection:
        p = lp.add_var(
            f"{self.name}.p_kw", time.steps, 0.0, series({"p": self.p_max_kw}, "p", time)
        )
        q = lp.add_var(f"{self.name}.q_kvar", time.steps, -np.inf, np.inf)
        pf_rows(lp, q, [(p, 1.0)], self.pf_min)
        return Injection(p=[(p, 1.0)], q=[(q, 1.0)])


def storage_rows(
    lp: LpBlock,
    name: str,
    time: TimeAxis,
    e_max: float,
    e_start: float,
    e_end: float | None,
    loss_per_h: float,
    into: Term,
    out: Term,
    e_min: float = 0.0,
    end_value_per_kwh: float = 0.0,
) -> np.ndarray:
    """State of energy ``e[t] = e[t-1] (1 - loss dt) + dt (into - out)``, ``e[T-1] = e_end``.

    ``e_end`` None leaves the end free and values it at ``end_value_per_kwh`` instead (a
    receding horizon's terminal value: cost ``-end_value_per_kwh * e[T-1]``).
    """
    e = lp.add_var(f"{name}.e", time.steps, e_min, e_max)
    dt = time.step_hours
    keep = 1.0 - loss_per_h * dt
    first = slice(0, 1)
    lp.add_eq(
        [
            (e[first], 1.0),
            (into[0][first], -dt * np.asarray(into[1])),
            (out[0][first], dt * np.asarray(out[1])),
        ],
        keep * e_start,
    )
    if time.steps > 1:
        rest = slice(1, None)
        lp.add_eq(
            [
                (e[rest], 1.0),
                (e[:-1], -keep),
                (into[0][rest], -dt * np.asarray(into[1])),
                (out[0][rest], dt * np.asarray(out[1])),
            ],
            0.0,
        )
    if e_end is None:
        lp.add_cost(e[-1:], -end_value_per_kwh)
    else:
        lp.add_eq([(e[-1:], 1.0)], e_end)
    return e


@dataclass(frozen=True)
class Battery:
    """Battery: charge ``c``, discharge ``d`` in ``[0, p_max_kw]``, ``0 <= e <= e_max_kwh``.

    ``e[t] = e[t-1] (1 - self_loss_per_h dt) + dt (eta_charge c - d / eta_discharge)``, from
    ``e_start_kwh`` to ``e_end_kwh``; inverter ``|q| <= tan(acos(pf_min)) (c + d)``.
    ``e_end_kwh`` None: the end is free and each kWh left is worth ``end_value_per_kwh`` (a
    receding horizon, :mod:`cosim.dispatch.strategy`); ``e`` stays in ``[e_min_kwh, e_max_kwh]``.
    ``wear_per_kw2h`` > 0 adds ``wear_per_kw2h (c^2 + d^2) dt``: batteries that are otherwise
    interchangeable then share the work and the dispatch is unique.
    """

    name: str
    e_max_kwh: float
    p_max_kw: float
    e_start_kwh: float
    e_end_kwh: float | None
    eta_charge: float = 0.95
    eta_discharge: float = 0.95
    self_loss_per_h: float = 0.0
    pf_min: float = 0.8
    kind: str = "battery"
    e_min_kwh: float = 0.0
    end_value_per_kwh: float = 0.0
    wear_per_kw2h: float = 0.0

    def build(self, lp: LpBlock, time: TimeAxis) -> Injection:
        c = lp.add_var(f"{self.name}.charge_kw", time.steps, 0.0, self.p_max_kw)
        d = lp.add_var(f"{self.name}.discharge_kw", time.steps, 0.0, self.p_max_kw)
        q = lp.add_var(f"{self.name}.q_kvar", time.steps, -np.inf, np.inf)
        storage_rows(
            lp,
            self.name,
            time,
            self.e_max_kwh,
            self.e_start_kwh,
            self.e_end_kwh,
            self.self_loss_per_h,
            (c, self.eta_charge),
            (d, 1.0 / self.eta_discharge),
            self.e_min_kwh,
            self.end_value_per_kwh,
        )
        pf_rows(lp, q, [(c, 1.0), (d, 1.0)], self.pf_min)
        if self.wear_per_kw2h > 0:  # strictly convex in c and d: a unique dispatch
            lp.add_quadratic(c, self.wear_per_kw2h * time.step_hours)
            lp.add_quadratic(d, self.wear_per_kw2h * time.step_hours)
        return Injection(p=[(d, 1.0), (c, -1.0)], q=[(q, 1.0)])


@dataclass(frozen=True)
class GridInterface:
    """Connection to the upstream grid: buys at ``buy_price_per_kwh(t)``, sells at its price."""

    name: str
    buy_price_per_kwh: Any
    sell_price_per_kwh: Any
    p_buy_max_kw: float = np.inf
    p_sell_max_kw: float = np.inf
    pf_min: float = 0.8
    kind: str = "grid"

    def build(self, lp: LpBlock, time: TimeAxis) -> Injection:
        dt = time.step_hours
        buy_price = series({"b": self.buy_price_per_kwh}, "b", time)
        sell_price = series({"s": self.sell_price_per_kwh}, "s", time)
        buy = lp.add_var(f"{self.name}.buy_kw", time.steps, 0.0, self.p_buy_max_kw, buy_price * dt)
        sell = lp.add_var(
            f"{self.name}.sell_kw", time.steps, 0.0, self.p_sell_max_kw, -sell_price * dt
        )
        q = lp.add_var(f"{self.name}.q_kvar", time.steps, -np.inf, np.inf)
        pf_rows(lp, q, [(buy, 1.0), (sell, 1.0)], self.pf_min)
        return Injection(p=[(buy, 1.0), (sell, -1.0)], q=[(q, 1.0)])


for _name, _block, _text in (
    ("load", FixedLoad, "fixed electric and reactive demand of a dispatch node"),
    ("pv", Renewable, "curtailable PV of a dispatch node"),
    ("battery", Battery, "battery of a dispatch node"),
    ("grid", GridInterface, "connection of a dispatch case to the upstream grid"),
):
    register(DeviceType(name=_name, description=_text, dispatch=_block))


class _DeviceKinds(Mapping[str, Callable[..., DispatchDevice]]):
    """The dispatch blocks of the one device registry, by ``kind`` (a live, read-only view)."""

    def _kinds(self) -> dict[str, Callable[..., DispatchDevice]]:
        return {n: t.dispatch for n, t in device_types().items() if t.dispatch is not None}

    def __getitem__(self, kind: str) -> Callable[..., DispatchDevice]:
        return self._kinds()[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds())

    def __len__(self) -> int:
        return len(self._kinds())


DEVICE_KINDS: Mapping[str, Callable[..., DispatchDevice]] = _DeviceKinds()
"""The ``kind`` of a device record -> its block's class: a view of
:data:`cosim.participants.devices.DEVICE_TYPES` (every type with a dispatch block)."""

#: Block classes that moved to the modules of their device types, under their old names here.
_MOVED = {
    "HeatLoad": "cosim.participants.heat",
    "HeatStorage": "cosim.participants.heat",
    "HeatPump": "cosim.participants.heat",
    "ElectricHeater": "cosim.participants.heat",
    "CHP": "cosim.participants.chp",
    "Wind": "cosim.participants.wind",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_device(record: Mapping[str, Any]) -> DispatchDevice:
    """Device from one device-table record (``kind``, ``name`` and the class's fields).

    Examples
    --------
    >>> rec = {"kind": "electric_heater", "name": "eh", "p_max_kw": 5, "efficiency": 0.95}
    >>> make_device(rec).kind
    'electric_heater'
    """
    kind = record.get("kind")
    kinds = dict(DEVICE_KINDS)
    if not isinstance(kind, str) or kind not in kinds:
        raise ValueError(f"unknown device kind {kind!r}; expected one of {sorted(kinds)}")
    fields = {k: v for k, v in record.items() if k not in ("kind", "node")}
    try:
        return kinds[kind](**fields)
    except TypeError as exc:
        raise ValueError(f"device {record.get('name')!r} ({kind}): {exc}") from exc
