"""Receding-horizon battery schedules as linear programs (pure functions, HiGHS).

Two planners behind ``participants.battery_strategy`` (docs/rolling.md, "Battery strategies in
runs"):

* :func:`plan_price`: every battery owner minimises its own energy bill over the horizon,
  buying at ``buy_price`` and selling at ``sell_price``; one LP for all owners (they do not
  interact, so this equals one LP per owner).
* :func:`plan_feeder`: the feeder-wide LinDistFlow schedule of the rolling-horizon reference
  LP (``tests/reference/rolling_lp.py``, docs/rolling.md) in its injection-only form: no
  bilateral-trade pair variables (the trades are advisory in a run), so the LP grows with the
  number of batteries, not with ``n**2``. The traded volume of the pair formulation at its
  optimum is the sum of positive injections (slack included), which is what the trade penalty
  prices here; both forms have the same optimal objective. Both LPs are built and solved with
  :mod:`cosim.lp`.

Conventions: slots of ``slot_hours``; ``residual_kwh = load - pv`` per slot (> 0 deficit,
the engine's sign); ``battery_kwh`` > 0 charges (AC side). Charging ``c`` and discharging
``d`` [kW] are separate so that the one-way efficiencies hold:
``e[t+1] = e[t] + slot_hours * (eta_charge * c - d / eta_discharge)``. Energy left in a
battery at the horizon end is worth ``stored_energy_price`` per kWh (the ``cost``
objectives); the ``tracking`` objective instead ends each window at its start energy
(the 4-node case of docs/rolling.md). Among optimal schedules a tiny throughput weight growing over
the horizon (:data:`TIE_BREAK_PER_KWH`) prefers acting early and cycling less.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from cosim.grid.feeder import FeederModel
from cosim.lp import LinearProgram
from cosim.participants.battery import BatteryFleet

__all__ = ["TIE_BREAK_PER_KWH", "VIOLATION_PENALTY", "BatteryPlan", "plan_feeder", "plan_price"]

#: Weight of battery throughput in the objective [currency/kWh], times ``1 + t / T``.
TIE_BREAK_PER_KWH: Final[float] = 1e-4
#: Squared-voltage rows are multiplied by this before solving (as in the reference LP).
_VOLT_SCALE: Final[float] = 1000.0
#: Rows whose worst case over the battery power box stays this far inside a limit are dropped.
_ROW_SLACK: Final[float] = 1e-9
#: Cost of exceeding a network limit in plan_feeder [currency per kW, or per 1e-3 pu^2, per h].
VIOLATION_PENALTY: Final[float] = 1000.0
#: A slack above this counts as a violation [kW or 1e-3 pu^2].
_VIOLATION_TOL: Final[float] = 1e-6


@dataclass(frozen=True, eq=False)
class BatteryPlan:
    """Schedule of the batteries over one horizon (NaN arrays unless ``status == "optimal"``).

    Attributes
    ----------
    status : str
        ``"optimal"``, ``"infeasible"``, ``"unbounded"`` or ``"solver_failed"``.
    message : str
        Why it is not optimal (empty when optimal).
    objective : float
        Optimal objective value (constants of fixed participants left out) [currency or kW].
    battery_kwh : numpy.ndarray, shape (T, m)
        Energy into each battery per slot, AC side [kWh] (> 0 charging).
    soc_kwh : numpy.ndarray, shape (T + 1, m)
        State of charge at each slot start and at the horizon end [kWh].
    injection_kw : numpy.ndarray, shape (T, n)
        :func:`plan_feeder` only: node injections, slack first (> 0 generation) [kW].
    v_sq_pu2 : numpy.ndarray, shape (T, n_v)
        :func:`plan_feeder` only: squared voltages of the LP [pu^2].
    flow_kw : numpy.ndarray, shape (T, n_line)
        :func:`plan_feeder` only: branch flows of the LP [kW].
    rows : int
        Network rows kept after dropping those that cannot bind.
    violated_slots : int
        :func:`plan_feeder` with elastic limits: slots of the horizon in which the schedule
        still exceeds a network limit (the batteries cannot do more) [-].
    first_slot_violated : bool
        Whether the first (committed) slot is one of them.
    """

    status: str
    message: str
    objective: float
    battery_kwh: np.ndarray
    soc_kwh: np.ndarray
    injection_kw: np.ndarray
    v_sq_pu2: np.ndarray
    flow_kw: np.ndarray
    rows: int = 0
    violated_slots: int = 0
    first_slot_violated: bool = False


def _failed(status: str, message: str, t: int, m: int, shapes: tuple[int, int, int]) -> BatteryPlan:
    n, n_v, n_line = shapes
    return BatteryPlan(
        status,
        message,
        np.nan,
        np.full((t, m), np.nan),
        np.full((t + 1, m), np.nan),
        np.full((t, n), np.nan),
        np.full((t, n_v), np.nan),
        np.full((t, n_line), np.nan),
    )


def _check(residual_kwh: np.ndarray, soc_kwh: np.ndarray, fleet: BatteryFleet) -> np.ndarray:
    res = np.asarray(residual_kwh, dtype=np.float64)
    m = fleet.capacity_kwh.size
    if res.ndim != 2 or res.shape[0] < 1 or not np.isfinite(res).all():
        raise ValueError(f"residual_kwh must be a finite (T, ...) array, got shape {res.shape}")
    soc = np.asarray(soc_kwh, dtype=np.float64)
    if soc.shape != (m,) or not np.isfinite(soc).all():
        raise ValueError(f"soc_kwh must have {m} finite entries, got shape {soc.shape}")
    if np.any(fleet.eta_charge <= 0) or np.any(fleet.eta_discharge <= 0):
        raise ValueError("every planned battery needs efficiencies > 0")
    return res


def _battery_block(
    lp: LinearProgram, fleet: BatteryFleet, soc_kwh: np.ndarray, t_len: int, dt: float,
    terminal: str, stored_energy_price: float, tie_break: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Charge, discharge [kW] and energy [kWh] variables with the SoC dynamics."""
    m = soc_kwh.size
    weight = tie_break * dt * (1.0 + np.arange(t_len) / t_len)[:, None]
    c = lp.block((t_len, m), 0.0, fleet.power_kw, weight)
    d = lp.block((t_len, m), 0.0, fleet.power_kw, weight)
    # the metered SoC may sit (by rounding) a hair outside the bounds: widen them to it
    e_lo = np.minimum(fleet.soc_min_kwh, soc_kwh)
    e_hi = np.maximum(fleet.soc_max_kwh, soc_kwh)
    e_lo_t = np.tile(e_lo, (t_len, 1))
    e_hi_t = np.tile(e_hi, (t_len, 1))
    end_cost = np.zeros((t_len, m))
    if terminal == "start":
        e_lo_t[-1] = e_hi_t[-1] = soc_kwh
    else:
        end_cost[-1] = -stored_energy_price
    e = lp.block((t_len, m), e_lo_t, e_hi_t, end_cost)  # energy at the END of each slot
    # e[t] - e[t-1] - dt (eta_c c[t] - d[t] / eta_d) = 0, with e[-1] = soc (a constant)
    flows = [(c, -dt * fleet.eta_charge), (d, dt / fleet.eta_discharge)]
    lp.add("eq", [(e[:1], 1.0), *((x[:1], k) for x, k in flows)], soc_kwh[None, :])
    if t_len > 1:
        terms = [(e[1:], 1.0), (e[:-1], -1.0), *((x[1:], k) for x, k in flows)]
        lp.add("eq", terms, np.zeros((t_len - 1, m)))
    return c, d, e


def _result(
    lp_x: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray, soc_kwh: np.ndarray, dt: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    charge, discharge = lp_x[c], lp_x[d]
    soc = np.vstack([soc_kwh[None, :], lp_x[e]])
    return (charge - discharge) * dt, soc, charge - discharge


def plan_price(
    residual_kwh: np.ndarray,
    soc_kwh: np.ndarray,
    fleet: BatteryFleet,
    slot_hours: float,
    buy_price: np.ndarray,
    sell_price: np.ndarray,
    stored_energy_price: float,
    tie_break_per_kwh: float = TIE_BREAK_PER_KWH,
) -> BatteryPlan:
    """Each battery owner's cheapest schedule over the horizon (one LP for all owners).

    Minimises ``sum_t (buy_t * import_t - sell_t * export_t) - stored_energy_price * e_T``
    per owner, where ``import_t - export_t = residual_t + battery_t`` (both >= 0), subject to
    the battery's power and SoC limits and efficiencies.

    Parameters
    ----------
    residual_kwh : numpy.ndarray, shape (T, m)
        Forecast load minus PV of each owner per slot [kWh] (> 0 deficit).
    soc_kwh : numpy.ndarray, shape (m,)
        State of charge at the horizon start (the metered one) [kWh].
    fleet : BatteryFleet
        The owners' batteries (``m`` entries, efficiencies > 0).
    slot_hours : float
        Slot length [h].
    buy_price, sell_price : numpy.ndarray, shape (T,)
        Price of imported and of exported energy [currency/kWh], ``sell <= buy``.
    stored_energy_price : float
        Value of energy left in the battery at the horizon end [currency/kWh].
    tie_break_per_kwh : float, default TIE_BREAK_PER_KWH
        Throughput weight that picks one schedule among equally cheap ones [currency/kWh].

    Returns
    -------
    BatteryPlan
        ``status != "optimal"`` (NaN arrays) if the LP does not solve; never raises for that.

    Examples
    --------
    >>> import numpy as np
    >>> f = BatteryFleet(*(np.array([x]) for x in (4.0, 2.0, 1.0, 1.0, 0.0, 4.0)))
    >>> plan = plan_price(np.array([[0.0], [1.0]]), np.array([0.0]), f, 1.0,
    ...                   np.array([0.1, 0.5]), np.array([0.0, 0.0]), 0.0)
    >>> np.round(plan.battery_kwh[:, 0], 6).tolist()  # buy cheap, use it in the dear slot
    [1.0, -1.0]
    """
    res = _check(residual_kwh, soc_kwh, fleet)
    t_len, m = res.shape
    buy = np.asarray(buy_price, dtype=np.float64).reshape(-1)
    sell = np.asarray(sell_price, dtype=np.float64).reshape(-1)
    if buy.shape != (t_len,) or sell.shape != (t_len,) or np.any(sell > buy):
        raise ValueError("buy_price and sell_price need T entries each, sell_price <= buy_price")
    soc = np.asarray(soc_kwh, dtype=np.float64)
    dt = float(slot_hours)
    lp = LinearProgram()
    c, d, e = _battery_block(
        lp, fleet, soc, t_len, dt, "value", stored_energy_price, tie_break_per_kwh
    )
    g_buy = lp.block((t_len, m), 0.0, np.inf, dt * buy[:, None])
    g_sell = lp.block((t_len, m), 0.0, np.inf, -dt * sell[:, None])
    # import - export - charge + discharge = residual [kW]
    lp.add("eq", [(g_buy, 1.0), (g_sell, -1.0), (c, -1.0), (d, 1.0)], res / dt)
    sol = lp.solve()
    if sol.status != "optimal":
        return _failed(sol.status, sol.message, t_len, m, (0, 0, 0))
    battery, soc_out, _ = _result(sol.x, c, d, e, soc, dt)
    return BatteryPlan(
        sol.status, "", sol.objective, battery, soc_out, np.zeros((t_len, 0)), np.zeros((t_len, 0)),
        np.zeros((t_len, 0)),
    )  # fmt: skip


def plan_feeder(
    feeder: FeederModel,
    residual_kwh: np.ndarray,
    owner: np.ndarray,
    soc_kwh: np.ndarray,
    fleet: BatteryFleet,
    slot_hours: float,
    *,
    objective: str = "cost",
    buy_price: np.ndarray | None = None,
    sell_price: np.ndarray | None = None,
    stored_energy_price: float = 0.0,
    trade_penalty_per_kwh: float = 0.0,
    target_import_kw: np.ndarray | None = None,
    v_sq_base_pu2: np.ndarray | None = None,
    flow_max_kw: np.ndarray | None = None,
    tie_break_per_kwh: float = TIE_BREAK_PER_KWH,
    violation_penalty: float | None = VIOLATION_PENALTY,
) -> BatteryPlan:
    """Feeder-wide battery schedule under LinDistFlow voltage and branch limits (one LP).

    Node 0 of ``feeder`` is the slack; node ``i + 1`` is participant ``i``. Participants
    without a battery inject ``-residual`` (fixed); owners inject ``-(residual + battery)``.
    Objectives, with ``import_t = p_0,t`` the feeder's import from the upstream grid [kW]:

    * ``"cost"``: ``slot_hours * sum_t (buy_t import+_t - sell_t import-_t)``
      ``- stored_energy_price * sum_b e_b,T`` (the community's bill at its connection);
    * ``"tracking"``: ``slot_hours * sum_t |import_t - target_t|``; windows end at their start
      energy.

    Both add ``trade_penalty_per_kwh * slot_hours * sum_t sum_i max(p_i,t, 0)`` over the slack
    and the owners: the traded volume of the pair formulation at its optimum (the fixed
    participants' share is a constant and left out).

    Parameters
    ----------
    feeder : FeederModel
        ``n = participants + 1`` nodes; ``p_max_kw`` is not used.
    residual_kwh : numpy.ndarray, shape (T, n - 1)
        Forecast load minus PV of every participant per slot [kWh].
    owner : numpy.ndarray of int, shape (m,)
        Participant index of each battery.
    soc_kwh : numpy.ndarray, shape (m,)
        State of charge at the start [kWh].
    fleet : BatteryFleet
        The owners' batteries.
    slot_hours : float
        Slot length [h].
    objective : {"cost", "tracking"}
    buy_price, sell_price : numpy.ndarray, shape (T,), optional
        ``"cost"``: prices at the connection [currency/kWh], ``sell <= buy``.
    stored_energy_price : float
        ``"cost"``: value of energy left in the batteries [currency/kWh].
    trade_penalty_per_kwh : float
        Weight of the traded volume [currency/kWh], >= 0.
    target_import_kw : numpy.ndarray, shape (T,), optional
        ``"tracking"``: target import [kW]; default 0.
    v_sq_base_pu2 : numpy.ndarray, shape (T, n_v), optional
        Per-slot ``feeder.v_sq_base`` (e.g. with the slot's reactive loads).
    flow_max_kw : numpy.ndarray, shape (T, n_line), optional
        Per-slot ``feeder.flow_max_kw``.
    tie_break_per_kwh : float, default TIE_BREAK_PER_KWH
        As for :func:`plan_price` [objective unit per kWh].
    violation_penalty : float or None, default VIOLATION_PENALTY
        Elastic limits: each network row gets a slack variable costing this much per kW (branch
        rows) or per 1e-3 pu^2 (voltage rows) and slot hour, far above any energy price, so
        the batteries do all they can against a violation they cannot remove and the horizon
        still solves (``violated_slots`` says where). None: hard limits; a horizon with an
        unreachable limit is then ``"infeasible"``.

    Returns
    -------
    BatteryPlan
        With ``injection_kw``, ``v_sq_pu2`` and ``flow_kw`` of the LP; ``status !=
        "optimal"`` when the LP does not solve (never raises for that).
    """
    res = _check(residual_kwh, soc_kwh, fleet)
    t_len, n_part = res.shape
    n = feeder.n_node
    if n_part != n - 1:
        raise ValueError(f"residual_kwh has {n_part} participants, the feeder {n - 1}")
    own = np.asarray(owner, dtype=np.intp).reshape(-1)
    m = own.size
    if m != fleet.capacity_kwh.size or np.any(own < 0) or np.any(own >= n_part):
        raise ValueError("owner must give one valid participant index per battery")
    if objective not in ("cost", "tracking"):
        raise ValueError(f"objective must be 'cost' or 'tracking', got {objective!r}")
    if not (np.isfinite(trade_penalty_per_kwh) and trade_penalty_per_kwh >= 0):
        raise ValueError("trade_penalty_per_kwh must be >= 0")
    n_v, n_line = feeder.v_sq_base.size, feeder.flow_max_kw.size
    shapes = (n, n_v, n_line)
    v_base = np.broadcast_to(feeder.v_sq_base if v_sq_base_pu2 is None else v_sq_base_pu2,
                             (t_len, n_v))  # fmt: skip
    f_max = np.broadcast_to(feeder.flow_max_kw if flow_max_kw is None else flow_max_kw,
                            (t_len, n_line))  # fmt: skip
    soc = np.asarray(soc_kwh, dtype=np.float64)
    dt = float(slot_hours)
    p_fixed = np.zeros((t_len, n))
    p_fixed[:, 1:] = -res / dt  # injections with every battery idle [kW]
    total_residual_kw = res.sum(axis=1) / dt  # = p_0 with every battery idle

    lp = LinearProgram()
    terminal = "start" if objective == "tracking" else "value"
    c, d, e = _battery_block(
        lp, fleet, soc, t_len, dt, terminal, stored_energy_price, tie_break_per_kwh
    )
    pen = trade_penalty_per_kwh * dt
    # network rows: value = base + S p_fixed + S_own (d - c) within [lo, hi]
    kept = 0
    slacks: list[tuple[np.ndarray, np.ndarray]] = []  # (slot of each row, its slack variable)
    for sens, base, lo, hi, scale in (
        (feeder.v_sq_sensitivity, v_base, feeder.v_sq_min, feeder.v_sq_max, _VOLT_SCALE),
        (feeder.flow_sensitivity, np.zeros((t_len, n_line)), -f_max, f_max, 1.0),
    ):
        s_own = sens[:, own + 1] * scale  # (rows, m)
        fixed = (base + p_fixed @ sens.T) * scale  # (T, rows)
        reach = np.abs(s_own) @ fleet.power_kw  # most the batteries can move a row
        for sign, limit in ((1.0, hi), (-1.0, lo)):
            rhs = sign * (np.broadcast_to(limit, fixed.shape) * scale - fixed)  # (T, rows)
            if violation_penalty is None and np.any(rhs < -reach - _ROW_SLACK):
                t_bad, r_bad = np.argwhere(rhs < -reach - _ROW_SLACK)[0]
                what = "voltage" if scale != 1.0 else "branch"
                why = f"slot {t_bad}: {what} row {r_bad} is violated whatever the batteries do"
                return _failed("infeasible", why, t_len, m, shapes)
            t_idx, r_idx = np.nonzero(rhs < reach + _ROW_SLACK)
            if t_idx.size == 0:
                continue
            kept += t_idx.size
            coef = sign * s_own[r_idx]  # (k, m): coefficient of d; -coef of c
            terms: list[tuple[np.ndarray, object]] = [(d[t_idx], coef), (c[t_idx], -coef)]
            if violation_penalty is not None:
                slack = lp.block((t_idx.size,), 0.0, np.inf, violation_penalty * dt)
                terms.append((slack, -1.0))
                slacks.append((t_idx, slack))
            lp.add("ub", terms, rhs[t_idx, r_idx])
    if objective == "cost":
        if buy_price is None or sell_price is None:
            raise ValueError("objective 'cost' needs buy_price and sell_price")
        buy = np.asarray(buy_price, dtype=np.float64).reshape(-1)
        sell = np.asarray(sell_price, dtype=np.float64).reshape(-1)
        if buy.shape != (t_len,) or sell.shape != (t_len,) or np.any(sell > buy):
            raise ValueError("buy_price and sell_price need T entries each, sell <= buy")
        g_buy = lp.block((t_len,), 0.0, np.inf, dt * buy + pen)  # import+ = max(p_0, 0)
        g_sell = lp.block((t_len,), 0.0, np.inf, -dt * sell)
        # p_0 = total residual + sum_b (c - d)
        lp.add("eq", [(g_buy, 1.0), (g_sell, -1.0), (c, -1.0), (d, 1.0)], total_residual_kw)
    else:
        target = np.zeros(t_len) if target_import_kw is None else np.asarray(target_import_kw)
        target = np.broadcast_to(np.asarray(target, dtype=np.float64), (t_len,))
        dev = lp.block((t_len,), 0.0, np.inf, dt)
        # +-(p_0 - target) <= dev
        for sign in (1.0, -1.0):
            rhs = sign * (target - total_residual_kw)
            lp.add("ub", [(c, sign), (d, -sign), (dev[:, None], -1.0)], rhs)
        if pen > 0:
            u0 = lp.block((t_len,), 0.0, np.inf, pen)  # u0 >= p_0
            lp.add("ub", [(c, 1.0), (d, -1.0), (u0[:, None], -1.0)], -total_residual_kw)
    if pen > 0:  # u_b >= p_b = -(residual + c - d)
        u = lp.block((t_len, m), 0.0, np.inf, pen)
        lp.add("ub", [(c, -1.0), (d, 1.0), (u, -1.0)], res[:, own] / dt)
    sol = lp.solve()
    if sol.status != "optimal":
        return _failed(sol.status, sol.message, t_len, m, shapes)
    x = sol.x
    battery, soc_out, b_kw = _result(x, c, d, e, soc, dt)
    over = np.zeros(t_len, dtype=bool)
    for t_idx, slack in slacks:
        over[t_idx[x[slack] > _VIOLATION_TOL]] = True
    p = p_fixed.copy()
    p[:, own + 1] -= b_kw
    p[:, 0] = -p[:, 1:].sum(axis=1)
    return BatteryPlan(
        sol.status,
        "",
        sol.objective,
        battery,
        soc_out,
        p,
        v_base + p @ feeder.v_sq_sensitivity.T,
        p @ feeder.flow_sensitivity.T,
        kept,
        int(over.sum()),
        bool(over[0]),
    )
