"""The ``admm`` battery strategy: the decentralized dispatch inside a market run.

``participants.battery_strategy: admm`` plans the run's batteries with the decentralized
dispatch of :mod:`cosim.dispatch` at each gate closure (every ``dispatch.replan_slots``
slots). The model is built from the run, not from a shipped case:

* the network: the run's (derated) pandapower network as a radial tree (:func:`feeder_tree`),
  per-unit impedances on the network's power base, the external grid's bus as the root;
* the devices: per node the forecast load of its participants (with their reactive power),
  their forecast PV (curtailable, no reactive power), one battery per owner (from the metered
  state of charge, the end of the horizon free and valued at ``battery.stored_energy_price``),
  and at the root the upstream grid (buy at the retail price, sell at the feed-in tariff);
* the horizon and forecasts of the ``price`` and ``rolling`` planners
  (:mod:`cosim.participants.planner`: the slot's own forecast, then the ``horizon`` stream);
* the partition ``dispatch.partition`` / ``dispatch.parts`` / ``dispatch.mapping``.

The DES solve it by consensus ADMM over the configured encryption (:func:`run_admm`), warm
started from the previous solve shifted by the slots in between; the central reference of the
same model gives the gap (every ``dispatch.central_every`` solves). The first slot's battery
energies become the set-points and the orders are formed as the planners form them.

Message rounds take simulated time: each round (warm-start sweep levels and iterations) lasts
``dispatch.round_delay_ms``; :meth:`AdmmDispatch.message_rounds` yields them as SimPy
timeouts before the orders go to the market. A dispatch that would end later than
``dispatch.deadline_minutes`` after the slot start is cut at the deadline: the slot falls back
to self-consumption with status ``dispatch_late``. docs/dispatch.md ("In a run") has the design.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cosim.dispatch.admm import AdmmResult, AdmmSettings, layouts, run_admm
from cosim.dispatch.case import DispatchCase, partition
from cosim.dispatch.devices import (
    Battery,
    DispatchDevice,
    FixedLoad,
    GridInterface,
    Injection,
    Renewable,
    TimeAxis,
)
from cosim.dispatch.local import LocalSolves
from cosim.dispatch.lp import LpBlock
from cosim.dispatch.model import build_des_problems, solve_central, violations
from cosim.dispatch.run import DispatchRecord, write_dispatch_csv
from cosim.errors import InputError
from cosim.participants.fulfilment import BiddingPolicy, Orders, forecast_slot, orders_from_forecast

if TYPE_CHECKING:
    import simpy

    from cosim.dispatch.privacy import SecureExchange
    from cosim.grid.limits import NetworkLimits
    from cosim.participants.planner import HorizonSettings
    from cosim.participants.population import Population, ProfileFeed
    from cosim.participants.strategies import StrategyContext
    from cosim.scenario import DispatchConfig

__all__ = [
    "SETPOINT_RESOLUTION_KWH",
    "WEAR_PER_KW2H",
    "AdmmDispatch",
    "DispatchRunSettings",
    "FeederTree",
    "UpstreamGrid",
    "build_strategy",
    "feeder_tree",
    "run_settings",
]

WEAR_PER_KW2H = 1e-2
"""Quadratic battery use cost ``WEAR_PER_KW2H (c^2 + d^2) dt`` [currency/(kW^2 h)]: small
against energy prices, it makes interchangeable batteries share the work, so the dispatch is
unique and the ADMM set-points can be compared with the central ones."""

SETPOINT_RESOLUTION_KWH = 1e-4
"""Set-points are rounded to this step [kWh]: far below the ADMM tolerance, far above the
CKKS error (about 1e-9), so CKKS noise reaches the meters only when it straddles a step
(measured: 14 of 336 set-points of a village day; docs/dispatch.md)."""


@dataclass(frozen=True)
class DispatchRunSettings:
    """The ``dispatch:`` section as the ``admm`` strategy uses it.

    Attributes
    ----------
    admm : AdmmSettings
    partition : str
    parts : int
    mapping : tuple of int or None
    round_delay_ms : float
        Simulated time of one message round [ms].
    deadline_minutes : float
        Latest end of a dispatch after the slot start [min].
    replan_slots : int
        Solve every this many slots.
    central_every : int
        Solve the central reference every this many solves (0: never).
    voltage_penalty_per_pu_h : float
        Elastic voltage band: cost per pu outside it and hour (0: hard band).
    """

    admm: AdmmSettings
    partition: str = "balanced"
    parts: int = 4
    mapping: tuple[int, ...] | None = None
    round_delay_ms: float = 50.0
    deadline_minutes: float = 5.0
    replan_slots: int = 1
    central_every: int = 1
    voltage_penalty_per_pu_h: float = 1e3


def run_settings(config: DispatchConfig, slot_minutes: float) -> DispatchRunSettings:
    """The run settings from the ``dispatch:`` section (the deadline capped at the slot)."""
    from cosim.dispatch.run import settings_from_config

    return DispatchRunSettings(
        admm=settings_from_config(config),
        partition=config.partition,
        parts=config.parts,
        mapping=config.mapping,
        round_delay_ms=config.round_delay_ms,
        deadline_minutes=min(config.deadline_minutes, slot_minutes),
        replan_slots=config.replan_slots,
        central_every=config.central_every,
        voltage_penalty_per_pu_h=config.voltage_penalty_per_pu_h,
    )


@dataclass(frozen=True, eq=False)
class FeederTree:
    """A radial network as the dispatch model's tree (node 0: the external grid's bus).

    Attributes
    ----------
    parent : numpy.ndarray of int
        Parent of each node (-1 at the root).
    r_pu, x_pu : numpy.ndarray
        Impedance of the branch into each node [pu on ``s_base_kw``].
    rating_kva : numpy.ndarray
        Rating of the branch into each node [kVA] (``inf``: none).
    node_of_bus : dict of int -> int
        pandapower bus index -> node (fused buses share one).
    s_base_kw : float
    v_slack_pu : float
    """

    parent: np.ndarray
    r_pu: np.ndarray
    x_pu: np.ndarray
    rating_kva: np.ndarray
    node_of_bus: dict[int, int]
    s_base_kw: float
    v_slack_pu: float


def feeder_tree(net: Any) -> FeederTree:
    """The supplied part of a radial pandapower network as a tree (branches in per unit).

    Transformers are branches with their per-unit impedance; off-nominal tap ratios are taken
    as 1 (the run's AC flow keeps them).

    Raises
    ------
    ValueError
        A meshed network (after fusing closed bus-bus switches), or one the linear models
        cannot read.
    """
    from cosim.grid.sensitivities import BranchTopology

    topo = BranchTopology(net)
    nodes = np.flatnonzero(topo.node_supplied)
    act = np.flatnonzero(topo.active)
    if act.size != nodes.size - 1:
        raise ValueError(
            f"the supplied part has {nodes.size} nodes and {act.size} branches (not radial)"
        )
    order = [topo.slack]
    new = {topo.slack: 0}
    par, branch = [-1], [-1]
    for u in order:
        for k in topo.adjacency[u]:
            v = int(topo.to_node[k] if topo.from_node[k] == u else topo.from_node[k])
            if v not in new:
                new[v] = len(order)
                order.append(v)
                par.append(new[u])
                branch.append(k)
    b = np.array(branch[1:], dtype=int)
    r = np.concatenate([[0.0], topo.r_pu[b]])
    x = np.concatenate([[0.0], topo.x_pu[b]])
    rating = np.concatenate([[np.inf], topo.rating_kva[b]])
    rating = np.where(np.isfinite(rating) & (rating > 0), rating, np.inf)
    node_of_bus = {
        int(bus): new[int(topo.bus_node[i])]
        for i, bus in enumerate(topo.bus_ids.tolist())
        if topo.bus_supplied[i] and int(topo.bus_node[i]) in new
    }
    return FeederTree(
        np.array(par), r, x, rating, node_of_bus, 1000.0 * topo.s_base_mva, topo.v_slack
    )


@dataclass(frozen=True)
class UpstreamGrid(GridInterface):
    """The grid at the root: buys and sells at the tariff, reactive power unlimited.

    (The run's external grid supplies whatever reactive power the loads draw.)
    """

    def build(self, lp: LpBlock, time: TimeAxis) -> Injection:
        dt = time.step_hours
        buy_price = np.broadcast_to(np.asarray(self.buy_price_per_kwh, float), (time.steps,))
        sell_price = np.broadcast_to(np.asarray(self.sell_price_per_kwh, float), (time.steps,))
        buy = lp.add_var(f"{self.name}.buy_kw", time.steps, 0.0, np.inf, buy_price * dt)
        sell = lp.add_var(f"{self.name}.sell_kw", time.steps, 0.0, np.inf, -sell_price * dt)
        q = lp.add_var(f"{self.name}.q_kvar", time.steps, -np.inf, np.inf)
        return Injection(p=[(buy, 1.0), (sell, -1.0)], q=[(q, 1.0)])


class AdmmDispatch:
    """Receding-horizon battery set-points from the decentralized (ADMM) dispatch.

    Parameters
    ----------
    population : Population
    feed : ProfileFeed
    rng : numpy.random.Generator
        The ``horizon`` stream (the same draws as the ``price`` and ``rolling`` planners).
    policy : BiddingPolicy
    horizon : HorizonSettings
    tree : FeederTree
    limits : NetworkLimits
        Voltage band, voltage and thermal margins (those of the ``lindistflow`` check).
    settings : DispatchRunSettings
    slot_minutes : float
    """

    plans_setpoints: ClassVar[bool] = True

    def __init__(
        self,
        population: Population,
        feed: ProfileFeed,
        rng: np.random.Generator,
        policy: BiddingPolicy,
        horizon: HorizonSettings,
        tree: FeederTree,
        limits: NetworkLimits,
        settings: DispatchRunSettings,
        slot_minutes: float,
    ) -> None:
        self._pop, self._feed, self._rng = population, feed, rng
        self._policy, self._horizon, self._tree = policy, horizon, tree
        self._limits, self.settings, self._slot_minutes = limits, settings, slot_minutes
        fleet = population.battery
        self.owner = np.flatnonzero(fleet.capacity_kwh > 0)
        missing = sorted({int(b) for b in population.bus} - set(tree.node_of_bus))
        if missing:
            raise ValueError(f"participant buses {missing[:5]} are not supplied")
        self._node = np.array([tree.node_of_bus[int(b)] for b in population.bus], dtype=int)
        shape = _shape_case(tree, limits, settings, TimeAxis(1, horizon.slot_hours))
        self.labels = partition(shape, settings.partition, settings.parts, settings.mapping)
        self._exchange: SecureExchange | None = None
        self._local: LocalSolves | None = None  # the DES's processes, kept across solves
        # RMME masks: a child of the horizon stream (spawning does not move its draws)
        self._mask_rng = rng.spawn(1)[0] if settings.admm.masking == "rmme" else None
        # running state (checkpointed, see state())
        self.records: list[DispatchRecord] = []
        self.status_counts: Counter[str] = Counter()
        self.solve_seconds = 0.0
        self._warm: tuple[int, list[np.ndarray], list[np.ndarray]] | None = None
        self._plan: tuple[int, np.ndarray | None, str] | None = None
        self._rounds_min: list[float] = []
        self._key_seconds = 0.0

    @classmethod
    def build(cls, context: StrategyContext) -> AdmmDispatch:
        """The strategy of a run (registry factory)."""
        if context.network is None or context.dispatch is None:
            raise ValueError("the admm strategy needs the run's network and dispatch settings")
        try:
            tree = feeder_tree(context.network)
        except ValueError as exc:
            raise InputError(
                None, "participants.battery_strategy", f"admm needs a radial network ({exc})"
            ) from None
        return cls(
            context.population,
            context.feed,
            context.horizon_rng,
            context.policy,
            context.horizon,
            tree,
            context.feeder_limits,
            run_settings(context.dispatch, context.horizon.slot_hours * 60.0),
            context.horizon.slot_hours * 60.0,
        )

    # ------------------------------------------------------------------ the engine's calls
    def plan_orders(
        self,
        k: int,
        load_kwh: np.ndarray,
        pv_kwh: np.ndarray,
        soc_kwh: np.ndarray,
        forecast_rng: np.random.Generator,
        price_rng: np.random.Generator,
    ) -> tuple[Orders, np.ndarray | None, str]:
        """Forecast slot ``k``, dispatch the batteries and form the orders.

        The same draws from ``forecast_rng``, ``price_rng`` and the ``horizon`` stream as the
        ``price`` and ``rolling`` planners.
        """
        p = self._policy
        load_f, pv_f = forecast_slot(load_kwh, pv_kwh, p.forecast_error, forecast_rng)
        setpoint, status = self.setpoints(k, load_f, pv_f, soc_kwh)
        orders = orders_from_forecast(
            load_f, pv_f, soc_kwh, self._pop.battery, self._horizon.slot_hours, setpoint,
            p.min_order_kwh, p.feed_in_tariff, p.retail_price, p.bid_strategy, price_rng,
        )  # fmt: skip
        return orders, setpoint, status

    def message_rounds(self, env: simpy.Environment, k: int) -> Generator[simpy.Event, Any, None]:
        """The message rounds of slot ``k``'s dispatch as SimPy timeouts [min each]."""
        start = env.now
        for minutes in self._rounds_min:
            yield env.timeout(minutes)
        self._rounds_min = []
        if self.records and self.records[-1].extra["slot"] == k:
            self.records[-1].extra["orders_after_minutes"] = float(env.now - start)

    def finish(self, out_dir: Path) -> list[Path]:
        """Write ``dispatch.csv`` and ``dispatch_iterations.csv`` (one row per solve); stop the
        DES's processes."""
        if self._local is not None:
            self._local.close()
            self._local = None
        if not self.records:
            return []
        return write_dispatch_csv(out_dir, self.records)

    # ------------------------------------------------------------------ planning
    def setpoints(
        self, k: int, load_f_kwh: np.ndarray, pv_f_kwh: np.ndarray, soc_kwh: np.ndarray
    ) -> tuple[np.ndarray | None, str]:
        """Set-points of slot ``k`` [kWh into each battery] and the slot's status."""
        hz = self._horizon
        n_slots, n, h = hz.n_slots, self._pop.n, hz.horizon_slots
        err = self._policy.forecast_error
        z_load = self._rng.standard_normal((h - 1, n))
        z_pv = self._rng.standard_normal((h - 1, n))
        self._rounds_min = []
        if self.owner.size == 0:
            return np.zeros(n), "optimal"
        if self._plan is not None and k - self._plan[0] < self.settings.replan_slots:
            k0, plan, status = self._plan
            if plan is None or k - k0 >= plan.shape[0]:
                return None, status
            return plan[k - k0].copy(), status
        t_len = min(h, n_slots - k)
        load_f = np.empty((t_len, n))
        pv_f = np.empty((t_len, n))
        load_f[0], pv_f[0] = load_f_kwh, pv_f_kwh
        if t_len > 1:
            load, pv = self._feed.window(k + 1, t_len - 1, n_slots)
            load_f[1:] = np.maximum(load * (1.0 + err * z_load[: t_len - 1]), 0.0)
            pv_f[1:] = np.maximum(pv * (1.0 + err * z_pv[: t_len - 1]), 0.0)
        tic = time.perf_counter()
        plan, status = self._solve(k, load_f, pv_f, np.asarray(soc_kwh, dtype=float))
        self.solve_seconds += time.perf_counter() - tic
        self.status_counts[status] += 1
        self._plan = (k, plan, status)
        if plan is None:
            return None, status
        return plan[0].copy(), status

    def case(self, load_f: np.ndarray, pv_f: np.ndarray, soc_kwh: np.ndarray) -> DispatchCase:
        """The dispatch model of one horizon.

        Parameters
        ----------
        load_f, pv_f : numpy.ndarray, shape (T, n)
            Forecast load and PV per slot and participant [kWh].
        soc_kwh : numpy.ndarray, shape (n,)
            Metered state of charge [kWh].
        """
        tree, dt = self._tree, self._horizon.slot_hours
        t_len = load_f.shape[0]
        n_node = tree.parent.size
        node_load = np.zeros((t_len, n_node))
        node_q = np.zeros((t_len, n_node))
        node_pv = np.zeros((t_len, n_node))
        np.add.at(node_load.T, self._node, (load_f / dt).T)
        np.add.at(node_q.T, self._node, (load_f / dt * self._pop.tan_phi).T)
        np.add.at(node_pv.T, self._node, (pv_f / dt).T)
        per_node: list[list[DispatchDevice]] = [[] for _ in range(n_node)]
        has = np.zeros(n_node, dtype=bool)
        has[self._node] = True
        for v in np.flatnonzero(has):
            per_node[v].append(FixedLoad(f"load{v}", node_load[:, v], node_q[:, v]))
            if node_pv[:, v].any():
                per_node[v].append(Renewable(f"pv{v}", node_pv[:, v], pf_min=1.0))
        fleet = self._pop.battery
        for i in self.owner.tolist():
            soc = float(soc_kwh[i])
            per_node[self._node[i]].append(
                Battery(
                    name=f"bat{i}",
                    e_max_kwh=max(float(fleet.soc_max_kwh[i]), soc),
                    p_max_kw=float(fleet.power_kw[i]),
                    e_start_kwh=soc,
                    e_end_kwh=None,
                    eta_charge=float(fleet.eta_charge[i]),
                    eta_discharge=float(fleet.eta_discharge[i]),
                    pf_min=1.0,
                    e_min_kwh=min(float(fleet.soc_min_kwh[i]), soc),
                    end_value_per_kwh=self._horizon.stored_energy_price,
                    wear_per_kw2h=WEAR_PER_KW2H,
                )
            )
        p = self._policy
        per_node[0].append(UpstreamGrid("grid", p.retail_price, p.feed_in_tariff))
        shape = _shape_case(self._tree, self._limits, self.settings, TimeAxis(t_len, dt))
        return replace(shape, devices=tuple(tuple(d) for d in per_node))

    def _solve(
        self, k: int, load_f: np.ndarray, pv_f: np.ndarray, soc_kwh: np.ndarray
    ) -> tuple[np.ndarray | None, str]:
        """Build, solve (central and ADMM), record; the plan (T, n) or None and a status."""
        s = self.settings
        t_len = load_f.shape[0]
        self._key_seconds = 0.0
        case = self.case(load_f, pv_f, soc_kwh)
        problems = build_des_problems(case, self.labels)
        solve_no = len(self.records)
        central = None
        if s.central_every and solve_no % s.central_every == 0:
            central = solve_central(problems)
        delay_min = s.round_delay_ms / 60000.0
        allowed = math.floor(s.deadline_minutes / delay_min + 1e-9) if delay_min > 0 else None
        admm = s.admm
        if allowed is not None:
            admm = replace(admm, max_iterations=max(1, min(admm.max_iterations, allowed)))
        if central is not None and central.status != 0:
            return self._record(k, t_len, problems, None, central, "infeasible", 0, allowed)
        lay = layouts(problems, self.labels, case.parent)
        if self._exchange is None and len(problems) > 1:
            from cosim.dispatch.privacy import SecureExchange

            self._exchange = SecureExchange(lay, admm.encryption, admm.key_bits)
            self._key_seconds = self._exchange.stats.key_setup_seconds
        elif self._exchange is not None:
            self._exchange.relayout(lay)
        start = self._shifted_start(k, t_len, problems)
        try:
            if self._local is None:
                self._local = LocalSolves(admm.workers)
            result = run_admm(
                case,
                self.labels,
                problems,
                admm,
                rng=self._mask_rng,
                start=start,
                exchange=self._exchange,
                local=self._local,
            )
        except RuntimeError:  # a local QP the solver could not finish
            return self._record(k, t_len, problems, None, central, "solver_failed", 0, allowed)
        rounds = result.warm_start_rounds + result.iterations
        if result.z is not None and result.u is not None and result.iterations:
            scale = result.rho[-1] / np.array([admm.rho, admm.rho, admm.rho])
            scale[2] /= admm.voltage_rho_factor
            u = [ui * scale[p.quantity] for ui, p in zip(result.u, problems, strict=True)]
            self._warm = (k, result.z, u)
        cut = allowed is not None and allowed < s.admm.max_iterations and not result.converged
        if allowed is not None and (rounds > allowed or cut):
            status = "dispatch_late"
            rounds = min(rounds, allowed)
        elif not result.converged:
            status = "not_converged"
        else:
            status = "optimal"
        return self._record(k, t_len, problems, result, central, status, rounds, allowed)

    def _shifted_start(
        self, k: int, t_len: int, problems: Sequence[Any]
    ) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        """The previous solve's consensus values and duals, moved on by the slots since."""
        if self._warm is None:
            return None
        k_prev, z_prev, u_prev = self._warm
        shift = k - k_prev
        out_z, out_u = [], []
        for p, z, u in zip(problems, z_prev, u_prev, strict=True):
            lines = len(p.lines)
            if lines == 0:
                out_z.append(np.zeros(0))
                out_u.append(np.zeros(0))
                continue
            t_prev = z.size // (3 * lines)
            idx = np.minimum(np.arange(shift, shift + t_len), t_prev - 1)
            out_z.append(z.reshape(lines, 3, t_prev)[:, :, idx].reshape(-1))
            out_u.append(u.reshape(lines, 3, t_prev)[:, :, idx].reshape(-1))
        return out_z, out_u

    def _record(
        self,
        k: int,
        t_len: int,
        problems: Sequence[Any],
        result: AdmmResult | None,
        central: Any,
        status: str,
        rounds: int,
        allowed: int | None,
    ) -> tuple[np.ndarray | None, str]:
        """Keep the solve's ``dispatch.csv`` row; the set-points (T, n) or None."""
        s = self.settings
        delay_min = s.round_delay_ms / 60000.0
        late = status == "dispatch_late"
        minutes = s.deadline_minutes if late else rounds * delay_min
        if late:
            assert allowed is not None
            spent = [delay_min] * allowed
            rest = s.deadline_minutes - allowed * delay_min
            self._rounds_min = spent + ([rest] if rest > 1e-12 else [])
        else:
            self._rounds_min = [delay_min] * rounds if delay_min > 0 else []
        if result is None:
            result = AdmmResult(
                False, 0, np.nan, [], np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3))
            )
        plan = None
        worst = {"kw": np.nan, "pu": np.nan}
        central_x = None
        if central is not None and central.status == 0:
            central_x = central.x
        slack = np.nan
        if result.x:
            worst = violations(list(problems), result.x)
            slack = _voltage_slack(problems, result.x)
            if status == "optimal":
                plan = self._plan_from(problems, result.x, t_len)
        setpoint_gap = np.nan
        if central_x is not None and plan is not None:
            ref = self._plan_from(problems, central_x, t_len)
            setpoint_gap = float(np.abs(plan[0] - ref[0]).max())
        slim = AdmmResult(
            result.converged, result.iterations, result.objective, [], result.primal_residual,
            result.dual_residual, result.rho, dict(result.seconds), result.bytes_exchanged,
            result.key_bytes, None, result.warm_start_rounds,
        )  # fmt: skip
        extra: dict[str, Any] = {
            "slot": k,
            "horizon_slots": t_len,
            "status": status,
            "message_rounds": rounds,
            "dispatch_minutes": float(minutes),
            "orders_after_minutes": float(minutes),
            "setpoint_gap_kwh": setpoint_gap,
            "voltage_slack_pu": slack,
            "seconds_key_setup": self._key_seconds,
        }
        self.records.append(
            DispatchRecord(
                solve=len(self.records),
                case="run",
                des=len(problems),
                encryption=s.admm.encryption,
                masking=s.admm.masking,
                result=slim,
                objective_central=np.nan if central_x is None else float(central.objective),
                seconds_central=np.nan if central is None else float(central.seconds),
                violation_kw=worst["kw"],
                violation_pu=worst["pu"],
                extra=extra,
            )
        )
        return plan, status

    def _plan_from(
        self, problems: Sequence[Any], x: Sequence[np.ndarray], t_len: int
    ) -> np.ndarray:
        """Energy into each battery per slot [kWh, AC side], rounded to the resolution."""
        dt = self._horizon.slot_hours
        out = np.zeros((t_len, self._pop.n))
        where = {}
        for p, xp in zip(problems, x, strict=True):
            names = p.lp.names
            index = {name: c for c, name in enumerate(names) if name.startswith("bat")}
            for i in self.owner.tolist():
                if f"bat{i}.charge_kw[0]" in index:
                    where[i] = (xp, index)
        for i, (xp, index) in where.items():
            c = xp[[index[f"bat{i}.charge_kw[{t}]"] for t in range(t_len)]]
            d = xp[[index[f"bat{i}.discharge_kw[{t}]"] for t in range(t_len)]]
            out[:, i] = (c - d) * dt
        return np.round(out / SETPOINT_RESOLUTION_KWH) * SETPOINT_RESOLUTION_KWH

    # ------------------------------------------------------------------ checkpoint, summary
    def state(self) -> dict[str, Any]:
        """The running state, for a checkpoint (the exchange's keys are made anew)."""
        return {
            "records": list(self.records),
            "status_counts": Counter(self.status_counts),
            "solve_seconds": self.solve_seconds,
            "warm": self._warm,
            "plan": self._plan,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a :meth:`state` (resuming a run)."""
        self.records = list(state["records"])
        self.status_counts = Counter(state["status_counts"])
        self.solve_seconds = state["solve_seconds"]
        self._warm = state["warm"]
        self._plan = state["plan"]
        self._exchange = None
        self._rounds_min = []

    def summary(self) -> dict[str, Any]:
        """The strategy's part of ``summary.json`` (``battery``)."""
        solved = sum(self.status_counts.values())
        rows = [r.extra for r in self.records]
        its = [r.result.iterations for r in self.records if r.result.iterations]
        gaps = [
            abs(r.result.objective - r.objective_central) / abs(r.objective_central)
            for r in self.records
            if np.isfinite(r.objective_central) and r.extra["status"] == "optimal"
        ]
        s = self.settings
        return {
            "horizon_slots": self._horizon.horizon_slots,
            "horizons_solved": solved,
            "fallback_slots": solved - self.status_counts.get("optimal", 0),
            "fallbacks_by_status": {
                k: c for k, c in sorted(self.status_counts.items()) if k != "optimal"
            },
            "solve_seconds": self.solve_seconds,
            "dispatch": {
                "des": int(self.labels.max()) + 1,
                "encryption": s.admm.encryption,
                "round_delay_ms": s.round_delay_ms,
                "deadline_minutes": s.deadline_minutes,
                "iterations_mean": float(np.mean(its)) if its else None,
                "iterations_max": int(max(its)) if its else None,
                "gap_relative_max": float(max(gaps)) if gaps else None,
                "dispatch_minutes_max": max((r["dispatch_minutes"] for r in rows), default=None),
                "bytes_exchanged": int(sum(r.result.bytes_exchanged for r in self.records)),
            },
        }


def _voltage_slack(problems: Sequence[Any], x: Sequence[np.ndarray]) -> float:
    """Largest voltage excursion outside the band in a solution [pu]."""
    worst = 0.0
    for p, xp in zip(problems, x, strict=True):
        sel = [
            c for c, name in enumerate(p.lp.names) if ".under_pu[" in name or ".over_pu[" in name
        ]
        if sel:
            worst = max(worst, float(xp[sel].max()))
    return worst


def _shape_case(
    tree: FeederTree, limits: NetworkLimits, settings: DispatchRunSettings, axis: TimeAxis
) -> DispatchCase:
    """The network part of the dispatch model (no devices yet).

    Impedances are per unit on the network's base and ``vn_kv`` is chosen so that the model's
    drop scale ``1000 vn_kv^2`` equals the base power [kW]: ``dV = (r P + x Q) / S_base``.
    """
    n = tree.parent.size
    margin = limits.voltage_margin_pu
    return DispatchCase(
        name="run",
        parent=tree.parent,
        r_ohm=tree.r_pu,
        x_ohm=tree.x_pu,
        vn_kv=math.sqrt(tree.s_base_kw / 1000.0),
        time=axis,
        devices=tuple(() for _ in range(n)),
        v_min_pu=limits.v_min_pu + margin,
        v_max_pu=limits.v_max_pu - margin,
        v_root_pu=tree.v_slack_pu,
        line_max_kw=tree.rating_kva * (1.0 - limits.thermal_margin),
        voltage_penalty_per_pu_h=settings.voltage_penalty_per_pu_h,
    )


def build_strategy(context: StrategyContext) -> AdmmDispatch:
    """Registry factory of ``participants.battery_strategy: admm``."""
    return AdmmDispatch.build(context)
