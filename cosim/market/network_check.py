"""Network check of matched P2P trades: the largest executable fraction of each trade.

After the double auction (:func:`cosim.market.auction.clear`), :func:`check_trades` solves one
linear program with HiGHS (:func:`cosim.lp.solve_highs`)::

    maximise    sum_t w_t x_t e_t
    subject to  |P_k(x)| <= U_k                 every active line and transformer k
                lo_i <= V_i(x) <= hi_i          every supplied bus i (LinDistFlow only)
                0 <= x_t <= 1

where ``e_t`` is trade t's energy [kWh] and ``x_t`` its executed fraction. A trade from the
seller at bus ``a`` to the buyer at bus ``b`` adds ``x_t * e_t / slot_hours`` [kW] of
generation at ``a`` and of consumption at ``b``, on top of the **base case** (the slot's
non-P2P injections). With the load-convention sensitivities of
:class:`~cosim.grid.linear.LinearGridModel`::

    P(x) = P_base + sum_t x_t p_t (F[:, b_t] - F[:, a_t])
    V(x) = V_base + sum_t x_t p_t (Vp[:, b_t] - Vp[:, a_t])

Limits (``margin`` and ``v_margin_pu`` tighten them):

* thermal, ``"dc"``: ``U_k = (1 - margin) S_k`` with ``S_k`` the branch rating at nominal
  voltage (:attr:`~cosim.grid.linear.LinearGridModel.branch_rating_kva`);
* thermal, ``"lindistflow"``: the reactive flow ``Q_k`` does not depend on the trades (they
  are active power), so the apparent-power limit is exactly linear in ``P``:
  ``U_k = sqrt(max(((1 - margin) S_k v_k)**2 - Q_k**2, 0))``, where
  ``v_k = min(1, base voltages of k's two ends)`` turns the current rating into power at the
  actual voltage;
* voltage: ``lo = v_min_pu + v_margin_pu``, ``hi = v_max_pu - v_margin_pu``.

Base case already outside a limit: the trades may not make it worse. Each violated limit is
widened to the base value (``U_k = |P_base_k|``, ``lo_i = V_base_i`` or ``hi_i = V_base_i``),
so ``x = 0`` is always feasible and a trade that relieves the violation is still allowed.
The weights ``w_t = 1 + 1e-6 (m - t) / m`` break ties between equally large solutions in
favour of earlier trades (merit order) and change the executed total by at most 1e-6 of it.

A solver failure gives all fractions 0 and ``status="solver_failed"``; it never raises.

Examples
--------
>>> import numpy as np
>>> from cosim.grid.linear import LinearGridModel, derate
>>> from cosim.grid.networks import load_network
>>> model = LinearGridModel.from_pandapower(derate(load_network("village"), 0.1), "lindistflow")
>>> zero = np.zeros(model.n_bus)
>>> res = check_trades(model, [40], [10], [200.0], zero, zero, slot_hours=1.0)
>>> res.status, bool(0.0 < res.fraction[0] < 1.0)
('optimal', True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from cosim.grid.linear import LinearGridModel
from cosim.lp import solve_highs

__all__ = ["CheckResult", "check_trades"]

#: Relative weight of the merit-order tie-break in the objective [-].
TIE_BREAK: Final[float] = 1e-6

#: Fractions within this of 0 or 1 are snapped to it (solver rounding) [-].
SNAP: Final[float] = 1e-9

_VOLT_SCALE: Final[float] = 100.0  # voltage rows in percent, comparable to kW rows


@dataclass(frozen=True, eq=False)
class CheckResult:
    """Outcome of the network check of one slot's trades (arrays are read-only).

    Parameters
    ----------
    fraction : numpy.ndarray of float64, shape (m,)
        Executable fraction of each trade, in [0, 1]; trades order of the input.
    requested_kwh : float
        Sum of the trades' energy [kWh].
    executable_kwh : float
        ``sum(fraction * energy_kwh)`` [kWh].
    status : str
        ``"optimal"`` (LP solved), ``"unconstrained"`` (no limit can bind: every trade at
        fraction 1 without solving), ``"no_trades"`` or ``"solver_failed"`` (all fractions 0).
    message : str
        The solver's message, empty unless it failed.
    binding_branch : numpy.ndarray of intp
        Positions in ``model.branch_ids`` of thermal limits at their bound in the solution.
    binding_bus : numpy.ndarray of intp
        Positions in ``model.bus_ids`` of voltage limits at their bound (LinDistFlow).
    base_violation : bool
        The base case alone already violates a limit of the model (which was then widened).
    """

    fraction: np.ndarray
    requested_kwh: float
    executable_kwh: float
    status: str
    message: str
    binding_branch: np.ndarray
    binding_bus: np.ndarray
    base_violation: bool


def check_trades(
    model: LinearGridModel,
    seller_bus: np.ndarray,
    buyer_bus: np.ndarray,
    energy_kwh: np.ndarray,
    base_p_kw: np.ndarray,
    base_q_kvar: np.ndarray,
    slot_hours: float,
    v_min_pu: float = 0.95,
    v_max_pu: float = 1.05,
    margin: float = 0.0,
    v_margin_pu: float = 0.0,
) -> CheckResult:
    """Largest executable fraction of each trade under thermal (and voltage) limits.

    Parameters
    ----------
    model : LinearGridModel
        Linear model of the network; ``"dc"`` checks thermal limits only, ``"lindistflow"``
        thermal and voltage limits.
    seller_bus, buyer_bus : numpy.ndarray of int, shape (m,)
        pandapower bus index of each trade's seller and buyer (not participant ids).
    energy_kwh : numpy.ndarray of float, shape (m,)
        Matched energy of each trade [kWh], >= 0.
    base_p_kw : numpy.ndarray, shape (n_bus,)
        Non-P2P active power consumed per bus, order of ``model.bus_ids`` [kW]; load
        convention (> 0 consumption, < 0 generation).
    base_q_kvar : numpy.ndarray, shape (n_bus,)
        Reactive power consumed per bus [kvar] (all of it: trades carry no reactive power).
    slot_hours : float
        Slot length [h]; a trade's power is ``energy_kwh / slot_hours`` [kW].
    v_min_pu, v_max_pu : float, default 0.95, 1.05
        Voltage band [pu] (LinDistFlow).
    margin : float, default 0.0
        Thermal safety margin: limits are ``(1 - margin)`` times the rating [-], in [0, 1).
    v_margin_pu : float, default 0.0
        Voltage safety margin: the band shrinks by this on each side [pu], >= 0.

    Returns
    -------
    CheckResult

    Raises
    ------
    ValueError
        Inconsistent shapes, unknown buses, negative or non-finite energies or injections,
        ``slot_hours <= 0``, ``margin`` outside [0, 1), ``v_margin_pu < 0`` or an empty band.
        (Grid conditions never raise.)
    """
    seller = model.bus_positions(np.asarray(seller_bus))
    buyer = model.bus_positions(np.asarray(buyer_bus))
    e = np.asarray(energy_kwh, dtype=np.float64).reshape(-1)
    _validate(model, seller, buyer, e, slot_hours, margin, v_margin_pu, v_min_pu, v_max_pu)
    p_base = model.as_bus_vector(base_p_kw, "base_p_kw")
    q_base = model.as_bus_vector(base_q_kvar, "base_q_kvar")
    m = e.size
    empty = np.empty(0, dtype=np.intp)
    if m == 0:
        return _result(np.zeros(0), e, "no_trades", "", empty, empty, False)

    # Trades with a party outside the supplied network cannot be delivered.
    deliverable = model.supplied[seller] & model.supplied[buyer]
    power_kw = e / slot_hours

    # Thermal rows.
    active = np.flatnonzero(model.branch_active)
    sens = model.flow_sensitivity[active]
    flow_base = sens @ p_base
    rating = (1.0 - margin) * model.branch_rating_kva[active]
    lind = model.kind == "lindistflow"
    v_base = model.voltages_pu(p_base, q_base) if lind else None
    if v_base is not None:
        v_end = np.minimum(model.branch_end_voltages(v_base)[active], 1.0)
        q_flow = sens @ q_base
        limit = np.sqrt(np.maximum((rating * v_end) ** 2 - q_flow**2, 0.0))
    else:
        limit = rating
    violated = np.abs(flow_base) > limit
    limit = np.maximum(limit, np.abs(flow_base))
    g = (sens[:, buyer] - sens[:, seller]) * power_kw
    rows = [g, -g]
    rhs = [limit - flow_base, limit + flow_base]
    row_kind = [np.zeros(active.size, dtype=np.int8)] * 2  # 0 branch, 1 bus
    row_pos = [active, active]

    base_violation = bool(violated.any())
    if v_base is not None:
        assert model.voltage_sensitivity_p is not None  # lindistflow has them
        buses = np.flatnonzero(model.supplied)
        vsens = model.voltage_sensitivity_p[buses]
        h = (vsens[:, buyer] - vsens[:, seller]) * power_kw * _VOLT_SCALE
        vb = v_base[buses]
        lo = np.minimum(v_min_pu + v_margin_pu, vb)
        hi = np.maximum(v_max_pu - v_margin_pu, vb)
        base_violation |= bool(np.any(vb < v_min_pu + v_margin_pu))
        base_violation |= bool(np.any(vb > v_max_pu - v_margin_pu))
        rows += [h, -h]
        rhs += [(hi - vb) * _VOLT_SCALE, (vb - lo) * _VOLT_SCALE]
        row_kind += [np.ones(buses.size, dtype=np.int8)] * 2
        row_pos += [buses, buses]

    a_ub = np.vstack(rows)
    b_ub = np.concatenate(rhs)
    kinds = np.concatenate(row_kind)
    positions = np.concatenate(row_pos)
    a_ub[:, ~deliverable] = 0.0
    # Keep only rows that some x in [0, 1]^m can violate.
    reach = np.clip(a_ub, 0.0, None).sum(axis=1)
    can_bind = reach > b_ub * (1.0 + 1e-12)
    if not can_bind.any():
        fraction = np.where(deliverable, 1.0, 0.0)
        return _result(fraction, e, "unconstrained", "", empty, empty, base_violation)
    a_ub, b_ub = a_ub[can_bind], b_ub[can_bind]
    kinds, positions = kinds[can_bind], positions[can_bind]

    weight = 1.0 + TIE_BREAK * (m - np.arange(m)) / m
    bounds = np.column_stack([np.zeros(m), np.where(deliverable, 1.0, 0.0)])
    sol = solve_highs(-(e * weight), a_ub=a_ub, b_ub=b_ub, bounds=bounds)
    if sol.status != "optimal":  # infeasible cannot happen (x = 0 is feasible): a failure
        return _result(np.zeros(m), e, "solver_failed", sol.message, empty, empty, base_violation)
    x = np.clip(sol.x, 0.0, 1.0)
    x[x < SNAP] = 0.0
    x[x > 1.0 - SNAP] = 1.0
    slack = b_ub - a_ub @ x
    tight = slack <= 1e-6 * np.maximum(1.0, np.abs(b_ub))
    binding_branch = np.unique(positions[tight & (kinds == 0)]).astype(np.intp)
    binding_bus = np.unique(positions[tight & (kinds == 1)]).astype(np.intp)
    return _result(x, e, "optimal", "", binding_branch, binding_bus, base_violation)


def _validate(
    model: LinearGridModel,
    seller: np.ndarray,
    buyer: np.ndarray,
    e: np.ndarray,
    slot_hours: float,
    margin: float,
    v_margin_pu: float,
    v_min_pu: float,
    v_max_pu: float,
) -> None:
    """Raise ValueError for inputs that are a bug upstream."""
    if not (seller.shape == buyer.shape == e.shape):
        raise ValueError("seller_bus, buyer_bus and energy_kwh must have the same length")
    if not np.isfinite(e).all() or np.any(e < 0):
        raise ValueError("energy_kwh must be finite and >= 0")
    if not (math.isfinite(slot_hours) and slot_hours > 0):
        raise ValueError(f"slot_hours must be > 0 [h], got {slot_hours!r}")
    if not (0.0 <= margin < 1.0):
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    if not (math.isfinite(v_margin_pu) and v_margin_pu >= 0.0):
        raise ValueError(f"v_margin_pu must be >= 0 [pu], got {v_margin_pu!r}")
    if not (v_min_pu + v_margin_pu < v_max_pu - v_margin_pu):
        raise ValueError("the voltage band v_min_pu..v_max_pu (less the margins) is empty")


def _result(
    fraction: np.ndarray,
    e: np.ndarray,
    status: str,
    message: str,
    binding_branch: np.ndarray,
    binding_bus: np.ndarray,
    base_violation: bool,
) -> CheckResult:
    """Assemble a read-only :class:`CheckResult`."""
    frac = np.array(fraction, dtype=np.float64, copy=True)
    for arr in (frac, binding_branch, binding_bus):
        arr.setflags(write=False)
    return CheckResult(
        fraction=frac,
        requested_kwh=float(e.sum()),
        executable_kwh=float(np.dot(frac, e)),
        status=status,
        message=message,
        binding_branch=binding_branch,
        binding_bus=binding_bus,
        base_violation=base_violation,
    )
