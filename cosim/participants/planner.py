"""Battery set-points of the ``price`` and ``rolling`` strategies, slot by slot.

:class:`BatteryPlanner` is the battery strategy (:mod:`cosim.participants.strategies`) of
``participants.battery_strategy: price`` and ``rolling``, called at each gate closure. It forecasts
load and PV over ``battery.horizon_slots`` (the slot itself from the forecast the orders use,
the slots after it from the ``horizon`` random stream with the same relative error), solves
the horizon with :func:`cosim.participants.storage.plan_price` or
:func:`cosim.participants.storage.plan_feeder`
starting from the metered state of charge, and returns the first slot's set-points. A horizon
that does not solve gives ``None``: that slot falls back to self-consumption, and the planner
counts it by status. docs/rolling.md ("Battery strategies in runs") has the design.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cosim.grid.feeder import FeederModel, reactive_terms
from cosim.grid.limits import NetworkLimits
from cosim.grid.linear import LinearGridModel
from cosim.participants.battery import BatteryFleet
from cosim.participants.fulfilment import BiddingPolicy, Orders, forecast_slot, orders_from_forecast
from cosim.participants.population import Population, ProfileFeed
from cosim.participants.storage import BatteryPlan, plan_feeder, plan_price

if TYPE_CHECKING:
    import simpy

    from cosim.participants.strategies import StrategyContext

__all__ = ["BatteryPlanner", "HorizonSettings", "build_planner", "stored_energy_price"]


def stored_energy_price(
    stored_energy_price_per_kwh: float | None, feed_in_tariff: float, retail_price: float
) -> float:
    """Value of energy left in a battery at the horizon end [currency/kWh].

    ``battery.stored_energy_price_per_kwh``, by default the mean of the feed-in tariff and the
    retail price: more than exported surplus earns, less than the import it will replace.

    >>> stored_energy_price(None, 0.08, 0.30)
    0.19
    """
    if stored_energy_price_per_kwh is not None:
        return float(stored_energy_price_per_kwh)
    return 0.5 * (feed_in_tariff + retail_price)


@dataclass(frozen=True)
class HorizonSettings:
    """The horizon LP's settings (``battery:`` section of a scenario).

    Attributes
    ----------
    horizon_slots : int
        Slots planned ahead, the current one included.
    n_slots : int
        Slots of the run (a horizon ends with the run).
    slot_hours : float
        Slot length [h].
    stored_energy_price : float
        Value of energy left in a battery at the horizon end [currency/kWh].
    rolling_objective : str
        ``cost`` or ``tracking`` (``rolling`` only).
    trade_penalty_per_kwh : float
        ``rolling``: penalty on P2P trades [currency/kWh].
    target_import_kw : float
        ``rolling`` with ``tracking``: the feeder import to track [kW].
    """

    horizon_slots: int
    n_slots: int
    slot_hours: float
    stored_energy_price: float
    rolling_objective: str = "cost"
    trade_penalty_per_kwh: float = 0.0
    target_import_kw: float = 0.0


class BatteryPlanner:
    """Receding-horizon set-points for every battery of a run.

    Parameters
    ----------
    strategy : {"price", "rolling"}
        ``rolling`` keeps the feeder's limits (LinDistFlow), ``price`` does not.
    population : Population
        The participants (batteries, buses, reactive-load ratio).
    feed : ProfileFeed
        Actual load and PV, around which the look-ahead forecasts are drawn.
    rng : numpy.random.Generator
        The ``horizon`` stream (:func:`cosim.participants.population.random_streams`).
    policy : BiddingPolicy
        Forecast error and bidding rules of the orders.
    horizon : HorizonSettings
        The horizon LP's settings.
    linear : LinearGridModel, optional
        ``"lindistflow"`` model of the (derated) network; required for ``rolling``.
    limits : NetworkLimits, optional
        ``rolling``: the voltage band and branch ratings are tightened by these margins (those
        of the ``lindistflow`` network check: ``market.network_margin``, default 0.04, and
        ``market.network_voltage_margin_pu``).

    Attributes
    ----------
    status_counts : collections.Counter
        Horizons solved per status (``optimal``, ``infeasible``, ``solver_failed`` ...).
    solve_seconds : float
        Wall-clock time spent building and solving the LPs [s].
    """

    plans_setpoints: ClassVar[bool] = True

    def __init__(
        self,
        strategy: str,
        population: Population,
        feed: ProfileFeed,
        rng: np.random.Generator,
        policy: BiddingPolicy,
        horizon: HorizonSettings,
        linear: LinearGridModel | None = None,
        limits: NetworkLimits | None = None,
    ) -> None:
        self.strategy = strategy
        if self.strategy not in ("price", "rolling"):
            raise ValueError(f"no planner for battery_strategy {self.strategy!r}")
        self._policy = policy
        self._horizon = horizon
        self._pop = population
        self._feed = feed
        self._rng = rng
        fleet = population.battery
        self.owner = np.flatnonzero(fleet.capacity_kwh > 0)
        self._fleet = BatteryFleet(*(getattr(fleet, f)[self.owner] for f in _FLEET_FIELDS))
        self._linear = linear
        self._feeder: FeederModel | None = None
        self._thermal_margin = 0.0
        if self.strategy == "rolling":
            if linear is None or linear.kind != "lindistflow":
                raise ValueError("the rolling strategy needs a 'lindistflow' LinearGridModel")
            if limits is None:
                raise ValueError("the rolling strategy needs the network limits")
            # the safety margins of the lindistflow network check (docs/network_check.md)
            self._thermal_margin = limits.thermal_margin
            v_margin = limits.voltage_margin_pu
            self._feeder = FeederModel.from_linear_model(
                linear,
                population.bus,
                v_min_pu=limits.v_min_pu + v_margin,
                v_max_pu=limits.v_max_pu - v_margin,
            )
        self._stored_price = horizon.stored_energy_price
        self.status_counts: Counter[str] = Counter()
        self.violation_slots = 0
        self.solve_seconds = 0.0
        self.rows_kept = 0
        self.last: BatteryPlan | None = None

    def plan_orders(
        self,
        k: int,
        load_kwh: np.ndarray,
        pv_kwh: np.ndarray,
        soc_kwh: np.ndarray,
        forecast_rng: np.random.Generator,
        price_rng: np.random.Generator,
    ) -> tuple[Orders, np.ndarray | None, str]:
        """Forecast slot ``k``, plan the batteries and form the orders (the engine's call).

        The same draws from ``forecast_rng`` and ``price_rng`` as
        :func:`cosim.participants.fulfilment.plan_orders`, so the orders' forecasts and limit
        prices do not
        depend on the strategy.

        Returns
        -------
        orders : Orders
        setpoint_kwh : numpy.ndarray or None
            From :meth:`setpoints` (None: this slot falls back to self-consumption).
        status : str
            Status of the horizon's LP (``optimal`` if there was no battery to plan).
        """
        policy = self._policy
        load_f, pv_f = forecast_slot(load_kwh, pv_kwh, policy.forecast_error, forecast_rng)
        setpoint = self.setpoints(k, load_f, pv_f, soc_kwh)
        status = "optimal" if self.owner.size == 0 or self.last is None else self.last.status
        orders = orders_from_forecast(
            load_f, pv_f, soc_kwh, self._pop.battery, self._horizon.slot_hours, setpoint,
            policy.min_order_kwh, policy.feed_in_tariff, policy.retail_price,
            policy.bid_strategy, price_rng,
        )  # fmt: skip
        return orders, setpoint, status

    def setpoints(
        self, k: int, load_f_kwh: np.ndarray, pv_f_kwh: np.ndarray, soc_kwh: np.ndarray
    ) -> np.ndarray | None:
        """Set-points of slot ``k``: energy into each battery [kWh], 0 without a battery.

        Parameters
        ----------
        k : int
            Slot index.
        load_f_kwh, pv_f_kwh : numpy.ndarray, shape (n,)
            Forecast load and PV of slot ``k`` (the ones the orders are built from) [kWh].
        soc_kwh : numpy.ndarray, shape (n,)
            Metered state of charge at the start of slot ``k`` [kWh].

        Returns
        -------
        numpy.ndarray or None
            None when the horizon did not solve (the slot falls back to self-consumption).
        """
        hz = self._horizon
        n_slots, n = hz.n_slots, self._pop.n
        dt = hz.slot_hours
        h = hz.horizon_slots
        err = self._policy.forecast_error
        # the same number of draws every slot, whatever the horizon left in the run
        z_load = self._rng.standard_normal((h - 1, n))
        z_pv = self._rng.standard_normal((h - 1, n))
        t_len = min(h, n_slots - k)
        load_f = np.empty((t_len, n))
        pv_f = np.empty((t_len, n))
        load_f[0], pv_f[0] = load_f_kwh, pv_f_kwh
        if t_len > 1:
            load, pv = self._feed.window(k + 1, t_len - 1, n_slots)
            load_f[1:] = np.maximum(load * (1.0 + err * z_load[: t_len - 1]), 0.0)
            pv_f[1:] = np.maximum(pv * (1.0 + err * z_pv[: t_len - 1]), 0.0)
        out = np.zeros(n)
        if self.owner.size == 0:
            return out
        t0 = time.perf_counter()
        plan = self._solve(load_f - pv_f, load_f, np.asarray(soc_kwh)[self.owner], dt)
        self.solve_seconds += time.perf_counter() - t0
        self.status_counts[plan.status] += 1
        self.rows_kept += plan.rows
        self.violation_slots += plan.first_slot_violated
        self.last = plan
        if plan.status != "optimal":
            return None
        out[self.owner] = plan.battery_kwh[0]
        return out

    def _solve(
        self, residual: np.ndarray, load_f: np.ndarray, soc: np.ndarray, dt: float
    ) -> BatteryPlan:
        t_len = residual.shape[0]
        buy = np.full(t_len, self._policy.retail_price)
        sell = np.full(t_len, self._policy.feed_in_tariff)
        if self._feeder is None:
            return plan_price(
                residual[:, self.owner], soc, self._fleet, dt, buy, sell, self._stored_price
            )
        assert self._linear is not None  # for mypy: set with the feeder
        q_kvar = -load_f / dt * self._pop.tan_phi  # loads draw reactive power
        v_base, f_max = reactive_terms(self._linear, self._pop.bus, q_kvar)
        b = self._horizon
        return plan_feeder(
            self._feeder,
            residual,
            self.owner,
            soc,
            self._fleet,
            dt,
            objective=b.rolling_objective,
            buy_price=buy,
            sell_price=sell,
            stored_energy_price=self._stored_price,
            trade_penalty_per_kwh=b.trade_penalty_per_kwh,
            target_import_kw=np.full(t_len, b.target_import_kw),
            v_sq_base_pu2=v_base,
            flow_max_kw=f_max * (1.0 - self._thermal_margin),
        )

    def message_rounds(self, env: simpy.Environment, k: int) -> Iterable[simpy.Event]:
        """No communication: the plan takes no simulated time."""
        return ()

    def finish(self, out_dir: Path) -> list[Path]:
        """No files of its own."""
        return []

    def state(self) -> dict[str, Any]:
        """The planner's running state, for a checkpoint (its random stream is the run's)."""
        return {name: getattr(self, name) for name in _STATE}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a :meth:`state` (resuming a run)."""
        for name in _STATE:
            setattr(self, name, state[name])

    def summary(self) -> dict[str, Any]:
        """The planner's part of ``summary.json`` (``battery``)."""
        solved = sum(self.status_counts.values())
        fallbacks = solved - self.status_counts.get("optimal", 0)
        return {
            "horizon_slots": self._horizon.horizon_slots,
            "horizons_solved": solved,
            "fallback_slots": fallbacks,
            "fallbacks_by_status": {
                s: c for s, c in sorted(self.status_counts.items()) if s != "optimal"
            },
            "solve_seconds": self.solve_seconds,
            "network_rows_per_horizon": self.rows_kept / solved if solved else None,
            # committed slots whose forecast still exceeds a (margined) network limit after
            # the batteries did what they could (rolling; limits are elastic, not a fallback)
            "network_violation_slots": self.violation_slots,
        }


#: Attributes that change as the planner runs (see :meth:`BatteryPlanner.state`).
_STATE = ("status_counts", "violation_slots", "solve_seconds", "rows_kept", "last")

_FLEET_FIELDS = (
    "capacity_kwh",
    "power_kw",
    "eta_charge",
    "eta_discharge",
    "soc_min_kwh",
    "soc_max_kwh",
)


def build_planner(context: StrategyContext) -> BatteryPlanner:
    """The ``price`` or ``rolling`` strategy of a run (factory of the strategy registry).

    ``rolling`` gets the LinDistFlow model of the network and the limits of the ``lindistflow``
    network check; ``price`` needs neither.
    """
    rolling = context.name == "rolling"
    return BatteryPlanner(
        context.name,
        context.population,
        context.feed,
        context.horizon_rng,
        context.policy,
        context.horizon,
        context.feeder_model() if rolling else None,
        context.feeder_limits if rolling else None,
    )
