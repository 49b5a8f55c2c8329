"""Reference: rolling-horizon battery and bilateral-trade scheduling on a radial feeder (LP).

This is a test reference, not part of the runtime package. It states the published method in
its own pair formulation (one variable per bilateral trade, ``n**2`` of them), so the tests can
check that the runtime's injection-only LP (:func:`cosim.participants.storage.plan_feeder`) has
the same optimum, and that the 4-node case of docs/rolling.md reproduces.

Pure functions: :func:`solve_window` solves one window as a linear program with HiGHS
(:func:`cosim.lp.solve_highs`); :func:`roll` solves a window, commits its
first step, carries the battery energy forward and repeats. The method is that of docs/rolling.md
section 3 (solved there centrally with SLSQP); docs/rolling.md has the full formulation.

Conventions:

* nodes ``0 .. n-1``; node 0 is the slack (the utility), nodes ``1 .. n-1`` are prosumers,
  each with one battery (a zero power rating means none);
* ``residual_kw`` is PV minus load of each prosumer [kW] (> 0 surplus);
* ``P_ij`` [kW] is the bilateral trade from ``i`` to ``j`` (> 0: ``i`` sells to ``j``) with
  reciprocity ``P_ji = -P_ij`` (one LP variable per pair ``i < j``, so it holds exactly);
* ``p_i = sum_j P_ij`` is the net injection (> 0 generation) [kW]; ``sum_i p_i = 0``;
* ``battery_kw = residual - p`` (> 0 charging, the glossary's sign; the reference's "battery power
  = p_i - (PV - load)" is its negative, discharge-positive); the battery is lossless:
  ``e[t + 1] = e[t] + battery_kw[t] * step_hours``;
* ``utility_import_kw = -p_0 = sum_{i>=1} p_i``: what the utility takes from the feeder
  (> 0 the community exports); the target of the ``"tracking"`` objective;
* squared voltages ``v = v_bar + R p`` [pu^2] and line flows ``f = F p`` [kW] come from a
  :class:`FeederModel`.

Examples
--------
>>> import numpy as np
>>> feeder = FeederModel.four_node_reference()
>>> battery = reference_battery()
>>> res = solve_window(feeder, REFERENCE_RESIDUAL_KW[:4], battery,
...                    REFERENCE_TARGET_KW[:4], REFERENCE_PRIORITY[:4])
>>> res.status, bool(np.allclose(res.energy_kwh[-1], battery.e_init_kwh))
('optimal', True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from scipy import sparse

from cosim.grid.feeder import FeederModel, frozen_checked
from cosim.lp import solve_highs

__all__ = [
    "REFERENCE_PRIORITY",
    "REFERENCE_RESIDUAL_KW",
    "REFERENCE_TARGET_KW",
    "BatteryParams",
    "Objective",
    "RollingResult",
    "SparseRows",
    "WindowResult",
    "reference_battery",
    "roll",
    "solve_window",
]

Objective = Literal["tracking", "cost"]
"""``"tracking"``: follow the utility's import targets; ``"cost"``: minimise the import bill."""

#: Squared-voltage rows are multiplied by this before solving (pu^2 rows next to kW rows).
_VOLT_SCALE: Final[float] = 1000.0


class SparseRows:
    """Accumulates blocks of sparse constraint rows ``A x (<=|=) b`` at block-relative rows."""

    def __init__(self, n_var: int) -> None:
        self.n_var = n_var
        self.n_rows = 0
        self._r: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._b: list[np.ndarray] = []
        self._block_b: np.ndarray | None = None

    def add(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        vals: float | np.ndarray,
        rhs: np.ndarray | None = None,
    ) -> None:
        """Add entries at block-relative ``rows``; ``rhs`` sets the block's right-hand side."""
        r = np.asarray(rows, dtype=np.intp).ravel()
        self._r.append(self.n_rows + r)
        self._c.append(np.asarray(cols, dtype=np.intp).ravel())
        self._v.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), r.shape).copy())
        if rhs is not None:
            self._block_b = np.asarray(rhs, dtype=np.float64).ravel()

    def close(self, size: int) -> None:
        """End the current block of ``size`` rows."""
        b = np.zeros(size) if self._block_b is None else self._block_b
        if b.size != size:
            raise AssertionError("block right-hand side has the wrong size")  # internal bug
        self._b.append(b)
        self._block_b = None
        self.n_rows += size

    def matrix(self) -> tuple[sparse.csr_array | None, np.ndarray | None]:
        """The rows as a sparse matrix and right-hand side (None when empty)."""
        if self.n_rows == 0:
            return None, None
        a = sparse.coo_array(
            (np.concatenate(self._v), (np.concatenate(self._r), np.concatenate(self._c))),
            shape=(self.n_rows, self.n_var),
        ).tocsr()
        return a, np.concatenate(self._b)


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Node pairs ``(i, j)`` with ``i < j``, in row-major order."""
    i, j = np.triu_indices(n, k=1)
    return i.astype(np.intp), j.astype(np.intp)


# ---------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class BatteryParams:
    """Batteries of the prosumers (nodes ``1 .. n-1``, in order); arrays are read-only.

    Parameters
    ----------
    power_kw : numpy.ndarray, shape (m,)
        Charge and discharge limit ``|battery_kw| <=`` [kW]; 0 for no battery.
    e_min_kwh, e_max_kwh : numpy.ndarray, shape (m,)
        Energy bounds [kWh].
    e_init_kwh : numpy.ndarray, shape (m,)
        Energy at the start of the first step [kWh].
    step_hours : float
        Length of one step [h].
    """

    power_kw: np.ndarray
    e_min_kwh: np.ndarray
    e_max_kwh: np.ndarray
    e_init_kwh: np.ndarray
    step_hours: float

    def __post_init__(self) -> None:
        m = np.asarray(self.power_kw).reshape(-1).size
        for name in ("power_kw", "e_min_kwh", "e_max_kwh", "e_init_kwh"):
            arr = frozen_checked(getattr(self, name), (m,), name)
            if not np.isfinite(arr).all():
                raise ValueError(f"{name} must be finite")
            object.__setattr__(self, name, arr)
        if np.any(self.power_kw < 0) or np.any(self.e_min_kwh > self.e_max_kwh):
            raise ValueError("need power_kw >= 0 and e_min_kwh <= e_max_kwh")
        if not (math.isfinite(self.step_hours) and self.step_hours > 0):
            raise ValueError(f"step_hours must be > 0 [h], got {self.step_hours!r}")

    @property
    def n_battery(self) -> int:
        """Number of prosumers (``n_node - 1``)."""
        return int(self.power_kw.size)


# ---------------------------------------------------------------------- reference data

#: Utility import targets of the 4-node reference case (docs/rolling.md), six 4 h steps [kW].
REFERENCE_TARGET_KW: Final[np.ndarray] = np.array([0.0, 10.0, 0.0, 0.0, 40.0, 0.0])
REFERENCE_TARGET_KW.setflags(write=False)
#: Priorities of those targets [-].
REFERENCE_PRIORITY: Final[np.ndarray] = np.array([0.0, 1.0, 0.0, 0.0, 10.0, 0.0])
REFERENCE_PRIORITY.setflags(write=False)
#: Our choice of PV minus load (the reference leaves it to the user), mean over each 4 h step
#: (00-04, 04-08, 08-12, 12-16, 16-20, 20-24) for nodes 1-3 [kW]: small night loads, a
#: morning peak, PV surplus around noon (largest at node 3), an evening peak.
REFERENCE_RESIDUAL_KW: Final[np.ndarray] = np.array(
    [
        [-0.4, -0.3, -0.5],
        [-1.2, -0.8, -1.5],
        [2.0, 3.0, 5.0],
        [3.0, 4.0, 7.0],
        [-1.5, -1.0, -2.0],
        [-0.8, -0.6, -1.0],
    ]
)
REFERENCE_RESIDUAL_KW.setflags(write=False)


def reference_battery() -> BatteryParams:
    """Batteries of the 4-node reference case (docs/rolling.md) at nodes 1-3 (7.5 kW, 4 h steps)."""
    return BatteryParams(
        power_kw=np.full(3, 7.5),
        e_min_kwh=np.array([2.0, 10.0, 4.0]),
        e_max_kwh=np.array([12.0, 12.0, 22.0]),
        e_init_kwh=np.array([6.0, 12.0, 11.0]),
        step_hours=4.0,
    )


# ---------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class WindowResult:
    """Solution of one window (NaN arrays unless ``status == "optimal"``).

    Parameters
    ----------
    status : str
        ``"optimal"``, ``"infeasible"``, ``"unbounded"`` or ``"solver_failed"``.
    message : str
        Why it is not optimal (empty when optimal).
    objective : float
        Optimal objective value (section "Objective" of docs/rolling.md).
    trade_kw : numpy.ndarray, shape (T, n, n)
        Bilateral trades ``P_ij`` (> 0: ``i`` sells to ``j``), antisymmetric [kW].
    injection_kw : numpy.ndarray, shape (T, n)
        Net injection ``p_i = sum_j P_ij`` [kW] (> 0 generation).
    battery_kw : numpy.ndarray, shape (T, n - 1)
        Battery power of nodes 1..n-1 [kW] (> 0 charging).
    energy_kwh : numpy.ndarray, shape (T + 1, n - 1)
        Battery energy at the start of each step and at the end of the window [kWh].
    utility_import_kw : numpy.ndarray, shape (T,)
        ``-p_0``: power the utility takes from the feeder [kW].
    traded_kw : numpy.ndarray, shape (T,)
        Traded volume ``sum_{i<j} |P_ij|`` [kW].
    v_sq_pu2 : numpy.ndarray, shape (T, n_v)
        Squared voltages of the monitored points [pu^2].
    flow_kw : numpy.ndarray, shape (T, n_line)
        Line flows [kW].
    """

    status: str
    message: str
    objective: float
    trade_kw: np.ndarray
    injection_kw: np.ndarray
    battery_kw: np.ndarray
    energy_kwh: np.ndarray
    utility_import_kw: np.ndarray
    traded_kw: np.ndarray
    v_sq_pu2: np.ndarray
    flow_kw: np.ndarray


@dataclass(frozen=True, eq=False)
class RollingResult:
    """Committed schedule of :func:`roll`; steps after a failed window are NaN.

    Parameters
    ----------
    status : str
        ``"optimal"`` if every window solved, else the status of the first that did not.
    failed_step : int or None
        First step whose window did not solve.
    trade_kw, injection_kw, battery_kw, utility_import_kw, traded_kw, v_sq_pu2, flow_kw
        First step of each window, stacked (shapes of :class:`WindowResult` with
        ``T = T_total``).
    energy_kwh : numpy.ndarray, shape (T_total + 1, n - 1)
        Battery energy carried from step to step [kWh].
    windows : tuple of WindowResult
        The solved windows, one per committed (or failed) step.
    """

    status: str
    failed_step: int | None
    trade_kw: np.ndarray
    injection_kw: np.ndarray
    battery_kw: np.ndarray
    energy_kwh: np.ndarray
    utility_import_kw: np.ndarray
    traded_kw: np.ndarray
    v_sq_pu2: np.ndarray
    flow_kw: np.ndarray
    windows: tuple[WindowResult, ...] = field(default=())


def _failed(status: str, message: str, t: int, n: int, n_v: int, n_line: int) -> WindowResult:
    nan = np.nan
    return WindowResult(
        status=status,
        message=message,
        objective=nan,
        trade_kw=np.full((t, n, n), nan),
        injection_kw=np.full((t, n), nan),
        battery_kw=np.full((t, n - 1), nan),
        energy_kwh=np.full((t + 1, n - 1), nan),
        utility_import_kw=np.full(t, nan),
        traded_kw=np.full(t, nan),
        v_sq_pu2=np.full((t, n_v), nan),
        flow_kw=np.full((t, n_line), nan),
    )


# ---------------------------------------------------------------------- one window


def solve_window(
    feeder: FeederModel,
    residual_kw: np.ndarray,
    battery: BatteryParams,
    target_import_kw: np.ndarray,
    priority: np.ndarray,
    trade_penalty: float = 0.01,
    e_start_kwh: np.ndarray | None = None,
    objective: Objective = "tracking",
    prices: np.ndarray | None = None,
    feed_in_prices: np.ndarray | None = None,
    e_end_kwh: np.ndarray | None = None,
) -> WindowResult:
    """Schedule trades and batteries over one window (one LP).

    Parameters
    ----------
    feeder : FeederModel
        Network, ``n`` nodes with node 0 the slack.
    residual_kw : numpy.ndarray, shape (T, n - 1)
        PV minus load of nodes 1..n-1 per step [kW].
    battery : BatteryParams
        Batteries of nodes 1..n-1.
    target_import_kw : numpy.ndarray, shape (T,)
        Utility import target per step [kW] (``"tracking"``; ignored by ``"cost"``).
    priority : numpy.ndarray, shape (T,)
        Weight of each step's ``|import - target|`` [per kW of deviation], >= 0.
    trade_penalty : float, default 0.01
        Weight of the traded volume ``sum_t sum_{i<j} |P_ij,t|`` [per kW], >= 0.
    e_start_kwh : numpy.ndarray, shape (n - 1,), optional
        Battery energy at the window start [kWh]; default ``battery.e_init_kwh``.
    objective : {"tracking", "cost"}, default "tracking"
        ``"tracking"``: ``sum_t priority_t |import_t - target_t|`` + trade penalty.
        ``"cost"``: ``step_hours * sum_t (prices_t g+_t - feed_in_prices_t g-_t)`` + trade
        penalty, with ``g+ - g- = p_0`` the community's purchase (> 0) or sale from / to the
        utility.
    prices : numpy.ndarray, shape (T,), optional
        Price of energy bought from the utility [currency/kWh]; required for ``"cost"``.
    feed_in_prices : numpy.ndarray, shape (T,), optional
        Price of energy sold to it [currency/kWh], ``<= prices``; default ``prices``.
    e_end_kwh : numpy.ndarray, shape (n - 1,), optional
        Battery energy required at the window end [kWh]; default ``e_start_kwh`` (back to the
        start level).

    Returns
    -------
    WindowResult
        ``status != "optimal"`` (and NaN arrays) when the data admit no schedule; never
        raises for that.

    Raises
    ------
    ValueError
        Inputs of the wrong shape, NaN, negative priorities or penalty, missing prices.
    """
    n = feeder.n_node
    m = battery.n_battery
    if m != n - 1:
        raise ValueError(f"battery has {m} entries, the feeder {n - 1} prosumer nodes")
    res = np.asarray(residual_kw, dtype=np.float64)
    if res.ndim != 2 or res.shape[1] != m or res.shape[0] < 1:
        raise ValueError(f"residual_kw must have shape (T, {m}), got {res.shape}")
    t_len = res.shape[0]
    target = _vector(target_import_kw, t_len, "target_import_kw")
    weight = _vector(priority, t_len, "priority")
    if not (np.isfinite(res).all() and np.isfinite(target).all() and np.all(weight >= 0)):
        raise ValueError("residual_kw and target_import_kw must be finite, priority >= 0")
    if not (math.isfinite(trade_penalty) and trade_penalty >= 0):
        raise ValueError(f"trade_penalty must be >= 0, got {trade_penalty!r}")
    e0 = battery.e_init_kwh if e_start_kwh is None else _vector(e_start_kwh, m, "e_start_kwh")
    e_end = e0 if e_end_kwh is None else _vector(e_end_kwh, m, "e_end_kwh")
    if objective not in ("tracking", "cost"):
        raise ValueError(f"objective must be 'tracking' or 'cost', got {objective!r}")
    buy = sell = np.zeros(t_len)
    if objective == "cost":
        if prices is None:
            raise ValueError("objective 'cost' needs prices")
        buy = _vector(prices, t_len, "prices")
        sell = buy if feed_in_prices is None else _vector(feed_in_prices, t_len, "feed_in_prices")
        if np.any(sell > buy):
            raise ValueError("feed_in_prices must be <= prices (else the LP is unbounded)")

    n_v = feeder.v_sq_base.size
    n_line = feeder.flow_max_kw.size
    dt = battery.step_hours

    # Bounds of p_i: injection limit and battery power (p = residual - battery_kw).
    p_lo = np.tile(-feeder.p_max_kw, (t_len, 1))
    p_hi = np.tile(feeder.p_max_kw, (t_len, 1))
    p_lo[:, 1:] = np.maximum(p_lo[:, 1:], res - battery.power_kw)
    p_hi[:, 1:] = np.minimum(p_hi[:, 1:], res + battery.power_kw)
    # Energy bounds: e_0 fixed, e_T = e_end, both inside [e_min, e_max].
    e_lo = np.tile(battery.e_min_kwh, (t_len + 1, 1))
    e_hi = np.tile(battery.e_max_kwh, (t_len + 1, 1))
    e_lo[0] = e_hi[0] = e0
    e_lo[-1] = np.maximum(e_lo[-1], e_end)
    e_hi[-1] = np.minimum(e_hi[-1], e_end)
    bad_p = np.argwhere(p_lo > p_hi + 1e-9)
    bad_e = np.argwhere(e_lo[1:] > e_hi[1:] + 1e-9)
    if bad_p.size or bad_e.size:
        if bad_p.size:
            t, i = bad_p[0]
            why = f"step {t}, node {i}: injection and battery power limits cannot both hold"
        else:
            t, i = bad_e[0]
            why = f"battery of node {i + 1}: end energy outside its bounds (step {t + 1})"
        return _failed("infeasible", why, t_len, n, n_v, n_line)
    p_hi = np.maximum(p_hi, p_lo)
    e_hi = np.maximum(e_hi, e_lo)

    # Variable layout.
    pi, pj = _pairs(n)
    k_pairs = pi.size
    n_p_trade = t_len * k_pairs
    off_trade = 0
    off_abs = off_trade + n_p_trade
    off_inj = off_abs + n_p_trade
    off_e = off_inj + t_len * n
    off_aux = off_e + (t_len + 1) * m
    n_aux = t_len if objective == "tracking" else 2 * t_len
    n_var = off_aux + n_aux
    rt = np.arange(t_len)

    def trade(t: np.ndarray, k: np.ndarray) -> np.ndarray:
        return off_trade + t * k_pairs + k

    def inj(t: np.ndarray, i: np.ndarray) -> np.ndarray:
        return off_inj + t * n + i

    def energy(t: np.ndarray, i: np.ndarray) -> np.ndarray:
        return off_e + t * m + i

    eq = SparseRows(n_var)
    ub = SparseRows(n_var)
    # p_i - sum_j P_ij = 0 (P_ji = -P_ij).
    tt, ii = np.meshgrid(rt, np.arange(n), indexing="ij")
    eq.add(np.arange(t_len * n), inj(tt, ii).ravel(), 1.0, np.zeros(t_len * n))
    tk, kk = np.meshgrid(rt, np.arange(k_pairs), indexing="ij")
    row_i = (tk * n + pi[kk]).ravel()
    row_j = (tk * n + pj[kk]).ravel()
    col = trade(tk, kk).ravel()
    eq.add(row_i, col, -1.0)
    eq.add(row_j, col, 1.0)
    eq.close(t_len * n)
    # e[t+1] - e[t] + dt p = dt residual.
    te, ie = np.meshgrid(rt, np.arange(m), indexing="ij")
    rows = np.arange(t_len * m)
    eq.add(rows, energy(te + 1, ie).ravel(), 1.0, (dt * res).ravel())
    eq.add(rows, energy(te, ie).ravel(), -1.0)
    eq.add(rows, inj(te, ie + 1).ravel(), dt)
    eq.close(t_len * m)
    # |P| <= U.
    rows = np.arange(n_p_trade)
    for sign in (1.0, -1.0):
        ub.add(rows, off_trade + rows, sign, np.zeros(n_p_trade))
        ub.add(rows, off_abs + rows, -1.0)
        ub.close(n_p_trade)
    # Voltage and line limits per step.
    for sens, base, lo, hi, scale in (
        (feeder.v_sq_sensitivity, feeder.v_sq_base, feeder.v_sq_min, feeder.v_sq_max, _VOLT_SCALE),
        (feeder.flow_sensitivity, 0.0, -feeder.flow_max_kw, feeder.flow_max_kw, 1.0),
    ):
        r_idx, c_idx = np.nonzero(sens)
        n_rows = sens.shape[0]
        tr, rr = np.meshgrid(rt, r_idx, indexing="ij")
        cols = inj(tr, np.broadcast_to(c_idx, tr.shape))
        for sign, rhs in ((1.0, hi - base), (-1.0, base - lo)):
            finite = np.isfinite(rhs)  # an infinite limit leaves the row empty (0 <= 0)
            keep = np.broadcast_to(finite[r_idx], tr.shape)
            vals = np.broadcast_to(sign * scale * sens[r_idx, c_idx], tr.shape)
            ub.add(
                (tr * n_rows + rr)[keep],
                cols[keep],
                vals[keep],
                np.tile(np.where(finite, scale * rhs, 0.0), t_len),
            )
            ub.close(t_len * n_rows)
    # Objective-specific rows; import = -p_0.
    cost = np.zeros(n_var)
    cost[off_abs : off_abs + n_p_trade] = trade_penalty
    aux = off_aux + rt
    p0 = inj(rt, np.zeros(t_len, dtype=np.intp))
    if objective == "tracking":
        # |-p_0 - target| <= D
        ub.add(rt, p0, -1.0, target)
        ub.add(rt, aux, -1.0)
        ub.close(t_len)
        ub.add(rt, p0, 1.0, -target)
        ub.add(rt, aux, -1.0)
        ub.close(t_len)
        cost[aux] = weight
    else:
        # p_0 - g+ + g- = 0
        eq.add(rt, p0, 1.0, np.zeros(t_len))
        eq.add(rt, aux, -1.0)
        eq.add(rt, aux + t_len, 1.0)
        eq.close(t_len)
        cost[aux] = dt * buy
        cost[aux + t_len] = -dt * sell

    bounds = np.empty((n_var, 2))
    bounds[:, 0], bounds[:, 1] = -np.inf, np.inf
    bounds[off_abs:off_inj, 0] = 0.0
    bounds[off_inj:off_e, 0] = p_lo.ravel()
    bounds[off_inj:off_e, 1] = p_hi.ravel()
    bounds[off_e:off_aux, 0] = e_lo.ravel()
    bounds[off_e:off_aux, 1] = e_hi.ravel()
    bounds[off_aux:, 0] = 0.0
    a_eq, b_eq = eq.matrix()
    a_ub, b_ub = ub.matrix()
    sol = solve_highs(cost, a_ub=a_ub, b_ub=b_ub, a_eq=a_eq, b_eq=b_eq, bounds=bounds)
    if sol.status != "optimal":
        return _failed(sol.status, sol.message, t_len, n, n_v, n_line)

    x = sol.x
    pair_kw = x[off_trade:off_abs].reshape(t_len, k_pairs)
    trade_kw = np.zeros((t_len, n, n))
    trade_kw[:, pi, pj] = pair_kw
    trade_kw[:, pj, pi] = -pair_kw
    p = trade_kw.sum(axis=2)  # exactly sum_j P_ij
    e = x[off_e:off_aux].reshape(t_len + 1, m)
    return WindowResult(
        status="optimal",
        message="",
        objective=sol.objective,
        trade_kw=trade_kw,
        injection_kw=p,
        battery_kw=res - p[:, 1:],
        energy_kwh=e,
        utility_import_kw=-p[:, 0],
        traded_kw=np.abs(pair_kw).sum(axis=1),
        v_sq_pu2=feeder.v_sq_base + p @ feeder.v_sq_sensitivity.T,
        flow_kw=p @ feeder.flow_sensitivity.T,
    )


def _vector(values: object, size: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (size,) or np.isnan(arr).any():
        raise ValueError(f"{name} must have {size} entries and no NaN, got shape {arr.shape}")
    return arr


# ---------------------------------------------------------------------- rolling


def roll(
    feeder: FeederModel,
    residual_kw: np.ndarray,
    battery: BatteryParams,
    targets: np.ndarray,
    priorities: np.ndarray,
    window: int,
    trade_penalty: float = 0.01,
    objective: Objective = "tracking",
    prices: np.ndarray | None = None,
    feed_in_prices: np.ndarray | None = None,
    terminal: Literal["window_start", "initial"] = "window_start",
) -> RollingResult:
    """Receding-horizon schedule: solve a window, commit its first step, move on one step.

    The window at step ``t`` covers ``t .. min(t + window, T_total) - 1`` (it shrinks at the
    end) and starts from the energy the committed steps left in the batteries.

    Parameters
    ----------
    feeder, battery, trade_penalty, objective
        As for :func:`solve_window` (``battery.e_init_kwh`` is the energy at step 0).
    residual_kw : numpy.ndarray, shape (T_total, n - 1)
        PV minus load forecast for every step [kW] (a perfect forecast here).
    targets, priorities : numpy.ndarray, shape (T_total,)
        Import targets [kW] and their weights.
    window : int
        Steps per window, >= 1.
    prices, feed_in_prices : numpy.ndarray, shape (T_total,), optional
        For ``objective="cost"`` [currency/kWh].
    terminal : {"window_start", "initial"}, default "window_start"
        Energy each window must end with: its own start energy (the reference case) or
        ``battery.e_init_kwh`` (the day ends where it began).

    Returns
    -------
    RollingResult
        Stops at the first window that does not solve (its status is returned).
    """
    res = np.asarray(residual_kw, dtype=np.float64)
    if res.ndim != 2:
        raise ValueError(f"residual_kw must have shape (T_total, n - 1), got {res.shape}")
    t_total = res.shape[0]
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window!r}")
    if terminal not in ("window_start", "initial"):
        raise ValueError(f"terminal must be 'window_start' or 'initial', got {terminal!r}")
    tgt = _vector(targets, t_total, "targets")
    pri = _vector(priorities, t_total, "priorities")
    buy = None if prices is None else _vector(prices, t_total, "prices")
    sell = None if feed_in_prices is None else _vector(feed_in_prices, t_total, "feed_in_prices")
    n = feeder.n_node
    # NaN arrays to fill step by step (the steps after a failed window stay NaN).
    out = _failed("", "", t_total, n, feeder.v_sq_base.size, feeder.flow_max_kw.size)
    energy_kwh = out.energy_kwh
    energy_kwh[0] = battery.e_init_kwh
    windows: list[WindowResult] = []
    status, failed = "optimal", None
    for t in range(t_total):
        end = min(t + window, t_total)
        win = solve_window(
            feeder,
            res[t:end],
            battery,
            tgt[t:end],
            pri[t:end],
            trade_penalty=trade_penalty,
            e_start_kwh=energy_kwh[t],
            objective=objective,
            prices=None if buy is None else buy[t:end],
            feed_in_prices=None if sell is None else sell[t:end],
            e_end_kwh=battery.e_init_kwh if terminal == "initial" else None,
        )
        windows.append(win)
        if win.status != "optimal":
            status, failed = win.status, t
            break
        for name in ("trade_kw", "injection_kw", "battery_kw", "utility_import_kw"):
            getattr(out, name)[t] = getattr(win, name)[0]
        out.traded_kw[t] = win.traded_kw[0]
        out.v_sq_pu2[t] = win.v_sq_pu2[0]
        out.flow_kw[t] = win.flow_kw[0]
        energy_kwh[t + 1] = energy_kwh[t] + win.battery_kw[0] * battery.step_hours
    return RollingResult(
        status=status,
        failed_step=failed,
        trade_kw=out.trade_kw,
        injection_kw=out.injection_kw,
        battery_kw=out.battery_kw,
        energy_kwh=energy_kwh,
        utility_import_kw=out.utility_import_kw,
        traded_kw=out.traded_kw,
        v_sq_pu2=out.v_sq_pu2,
        flow_kw=out.flow_kw,
        windows=tuple(windows),
    )
