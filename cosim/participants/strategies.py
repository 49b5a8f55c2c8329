"""Battery strategies: how participants plan their batteries and form their orders.

One interface (:class:`BatteryStrategy`) and one registry (:data:`BATTERY_STRATEGIES`,
``participants.battery_strategy``). ``self_consumption`` (:class:`SelfConsumption`) dispatches
each battery on its own forecast residual; ``price`` and ``rolling`` plan a horizon LP
(:class:`cosim.participants.planner.BatteryPlanner`); ``admm`` plans by the decentralized
dispatch (:class:`cosim.dispatch.strategy.AdmmDispatch`). A strategy is built from a
:class:`StrategyContext`; the engine calls :meth:`BatteryStrategy.plan_orders` at each gate
closure and never asks which strategy it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from cosim.participants.fulfilment import BiddingPolicy, Orders, plan_orders
from cosim.registry import Registry

if TYPE_CHECKING:
    import simpy

    from cosim.grid.limits import NetworkLimits
    from cosim.grid.linear import LinearGridModel
    from cosim.participants.planner import HorizonSettings
    from cosim.participants.population import Population, ProfileFeed
    from cosim.scenario import DispatchConfig

__all__ = [
    "BATTERY_STRATEGIES",
    "BatteryStrategy",
    "SelfConsumption",
    "StrategyContext",
    "StrategyFactory",
]


class BatteryStrategy(Protocol):
    """The battery strategy of a run (all participants at once).

    Attributes
    ----------
    plans_setpoints : bool
        Whether the strategy plans battery set-points (then participants.csv gets
        ``battery_setpoint_kwh`` and slots.csv ``battery_plan_status``).
    """

    plans_setpoints: ClassVar[bool]

    def plan_orders(
        self,
        k: int,
        load_kwh: np.ndarray,
        pv_kwh: np.ndarray,
        soc_kwh: np.ndarray,
        forecast_rng: np.random.Generator,
        price_rng: np.random.Generator,
    ) -> tuple[Orders, np.ndarray | None, str]:
        """Forecast slot ``k``, plan the batteries and form the orders.

        Parameters
        ----------
        k : int
            Slot index.
        load_kwh, pv_kwh : numpy.ndarray
            Actual demand and PV energy of the slot per participant [kWh]; the strategy
            forecasts around them with ``forecast_rng``.
        soc_kwh : numpy.ndarray
            Metered state of charge at gate closure [kWh].
        forecast_rng, price_rng : numpy.random.Generator
            The ``forecast`` and ``prices`` streams: every strategy draws the same numbers
            from them, so forecasts and limit prices do not depend on the strategy.

        Returns
        -------
        orders : Orders
        setpoint_kwh : numpy.ndarray or None
            Planned energy into each battery [kWh] (None: self-consumption dispatch).
        status : str
            How the slot was planned (``self_consumption``, or the horizon LP's status).
        """
        ...

    def message_rounds(self, env: simpy.Environment, k: int) -> Iterable[simpy.Event]:
        """Simulated time the plan of slot ``k`` took to agree (e.g. ADMM message rounds).

        The participants process yields these events after :meth:`plan_orders` and before the
        orders go to the market; a strategy without communication returns ``()``.
        """
        ...

    def finish(self, out_dir: Path) -> list[Path]:
        """Write the strategy's own result files at the end of a run (most write none)."""
        ...

    def state(self) -> Any:
        """The strategy's running state, for a checkpoint."""
        ...

    def restore(self, state: Any) -> None:
        """Take back a :meth:`state` (resuming a run)."""
        ...

    def summary(self) -> dict[str, Any]:
        """The strategy's part of ``summary.json`` (``battery``)."""
        ...


@dataclass(frozen=True)
class StrategyContext:
    """What a battery strategy may be built from.

    Attributes
    ----------
    name : str
        The registered name (``participants.battery_strategy``).
    population : Population
    feed : ProfileFeed
        Actual load and PV of every slot (horizon forecasts are drawn around them).
    policy : BiddingPolicy
    horizon : HorizonSettings
    horizon_rng : numpy.random.Generator
        The ``horizon`` stream.
    feeder_model : callable
        Returns the ``lindistflow`` model of the (derated) network (built on first call;
        raises ``cosim.errors.InputError`` for a network it cannot model).
    feeder_limits : NetworkLimits
        Voltage band and margins of the ``lindistflow`` network check.
    network : pandapowerNet, optional
        The run's (derated) network.
    dispatch : DispatchConfig, optional
        The ``dispatch:`` section (read by the ``admm`` strategy).
    """

    name: str
    population: Population
    feed: ProfileFeed
    policy: BiddingPolicy
    horizon: HorizonSettings
    horizon_rng: np.random.Generator
    feeder_model: Callable[[], LinearGridModel]
    feeder_limits: NetworkLimits
    network: Any = None
    dispatch: DispatchConfig | None = None


StrategyFactory = Callable[[StrategyContext], BatteryStrategy]


class SelfConsumption:
    """Each battery charges from its own surplus and discharges into its own load.

    :func:`cosim.participants.fulfilment.plan_orders` on the slot's forecast: it draws the
    forecasts from ``forecast_rng`` and the limit prices from ``price_rng``.
    """

    plans_setpoints: ClassVar[bool] = False

    def __init__(self, population: Population, slot_hours: float, policy: BiddingPolicy) -> None:
        self._fleet = population.battery
        self._slot_hours = slot_hours
        self._policy = policy

    @classmethod
    def build(cls, context: StrategyContext) -> SelfConsumption:
        """The strategy of a run (registry factory)."""
        return cls(context.population, context.horizon.slot_hours, context.policy)

    def plan_orders(
        self,
        k: int,
        load_kwh: np.ndarray,
        pv_kwh: np.ndarray,
        soc_kwh: np.ndarray,
        forecast_rng: np.random.Generator,
        price_rng: np.random.Generator,
    ) -> tuple[Orders, np.ndarray | None, str]:
        """Orders of slot ``k`` (see :meth:`BatteryStrategy.plan_orders`)."""
        p = self._policy
        orders = plan_orders(
            load_kwh, pv_kwh, soc_kwh, self._fleet, self._slot_hours, p.forecast_error,
            p.min_order_kwh, p.feed_in_tariff, p.retail_price, p.bid_strategy,
            forecast_rng, price_rng,
        )  # fmt: skip
        return orders, None, "self_consumption"

    def message_rounds(self, env: simpy.Environment, k: int) -> Iterable[simpy.Event]:
        """No communication."""
        return ()

    def finish(self, out_dir: Path) -> list[Path]:
        """No files of its own."""
        return []

    def state(self) -> None:
        """Nothing changes as it runs."""
        return None

    def restore(self, state: Any) -> None:
        """Nothing to restore."""

    def summary(self) -> dict[str, Any]:
        """No horizon."""
        return {"horizon_slots": None}


def _self_consumption(context: StrategyContext) -> BatteryStrategy:
    return SelfConsumption.build(context)


#: ``participants.battery_strategy``: name -> factory building the strategy of a run.
BATTERY_STRATEGIES: Registry[StrategyFactory] = Registry(
    "participants.battery_strategy",
    {
        "self_consumption": _self_consumption,
        "price": "cosim.participants.planner:build_planner",
        "rolling": "cosim.participants.planner:build_planner",
        "admm": "cosim.dispatch.strategy:build_strategy",
    },
)
