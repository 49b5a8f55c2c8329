"""Forecast, order and delivery of one slot for all participants (pure functions).

Before gate closure each participant forecasts its load and PV (with a relative error),
simulates its battery's self-consumption dispatch on that forecast (or takes its planned
set-point, :mod:`cosim.participants.strategies`) and submits one order for the forecast net
position. During the slot the actual load and PV happen, the battery dispatches on the actual
residual (or holds the net import its set-point planned), and the resulting net import is
what the meter reads.
``deviation_kwh = delivered_kwh - committed_kwh`` (docs/glossary.md conventions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.conventions import BUY, SELL
from cosim.participants.battery import BatteryFleet, dispatch_self_consumption, follow_setpoint

__all__ = [
    "BiddingPolicy",
    "Delivery",
    "Orders",
    "deliver",
    "forecast",
    "forecast_slot",
    "limit_prices",
    "order_sides",
    "orders_from_forecast",
    "plan_orders",
]

#: Fills below this are treated as not accepted [kWh].
FILL_TOL_KWH = 1e-12


@dataclass(frozen=True)
class BiddingPolicy:
    """How participants forecast and bid (``fulfilment:`` and ``market:`` of a scenario).

    Attributes
    ----------
    forecast_error : float
        Relative standard deviation of the load and PV forecasts [-].
    min_order_kwh : float
        Smaller forecast positions submit no order [kWh].
    feed_in_tariff, retail_price : float
        The suppliers' prices, bounds of every limit price [currency/kWh].
    bid_strategy : str
        ``uniform`` or ``midpoint`` (:func:`limit_prices`).
    """

    forecast_error: float
    min_order_kwh: float
    feed_in_tariff: float
    retail_price: float
    bid_strategy: str


@dataclass(frozen=True)
class Orders:
    """Orders of one slot, one entry per participant (``side`` 0: no order).

    Attributes
    ----------
    side : ndarray of int8
        +1 buy, -1 sell, 0 none.
    energy_kwh : ndarray
        Order volume [kWh] (0 where no order).
    limit_price : ndarray
        Limit price [currency/kWh] (NaN where no order).
    forecast_net_kwh : ndarray
        Forecast net import the order is based on [kWh].
    """

    side: np.ndarray
    energy_kwh: np.ndarray
    limit_price: np.ndarray
    forecast_net_kwh: np.ndarray


def plan_orders(
    load_kwh: np.ndarray,
    pv_kwh: np.ndarray,
    soc_kwh: np.ndarray,
    fleet: BatteryFleet,
    slot_hours: float,
    forecast_error: float,
    min_order_kwh: float,
    feed_in_tariff: float,
    retail_price: float,
    bid_strategy: str,
    forecast_rng: np.random.Generator,
    price_rng: np.random.Generator,
) -> Orders:
    """Forecast each participant's net position and form its order.

    Parameters
    ----------
    load_kwh, pv_kwh : ndarray
        Actual load and PV energy of the slot [kWh]; forecasts are drawn around them.
    soc_kwh : ndarray
        Battery state of charge at gate closure [kWh].
    fleet : BatteryFleet
        Battery parameters.
    slot_hours : float
        Slot length [h].
    forecast_error : float
        Relative standard deviation of the forecast errors [-].
    min_order_kwh : float
        Smaller forecast positions submit no order [kWh].
    feed_in_tariff, retail_price : float
        Bounds of the limit prices [currency/kWh].
    bid_strategy : str
        ``uniform`` or ``midpoint`` (:func:`cosim.participants.battery.limit_prices`).
    forecast_rng, price_rng : numpy.random.Generator
        Streams for forecast errors and limit prices.
    """
    load_f, pv_f = forecast_slot(load_kwh, pv_kwh, forecast_error, forecast_rng)
    return orders_from_forecast(
        load_f, pv_f, soc_kwh, fleet, slot_hours, None, min_order_kwh, feed_in_tariff,
        retail_price, bid_strategy, price_rng,
    )  # fmt: skip


def forecast_slot(
    load_kwh: np.ndarray, pv_kwh: np.ndarray, forecast_error: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast load and PV of one slot [kWh] (load first, then PV, from ``rng``)."""
    return forecast(load_kwh, forecast_error, rng), forecast(pv_kwh, forecast_error, rng)


def orders_from_forecast(
    load_f_kwh: np.ndarray,
    pv_f_kwh: np.ndarray,
    soc_kwh: np.ndarray,
    fleet: BatteryFleet,
    slot_hours: float,
    setpoint_kwh: np.ndarray | None,
    min_order_kwh: float,
    feed_in_tariff: float,
    retail_price: float,
    bid_strategy: str,
    price_rng: np.random.Generator,
) -> Orders:
    """Orders for forecast load and PV: the battery's planned energy is part of the position.

    Parameters
    ----------
    load_f_kwh, pv_f_kwh : ndarray
        Forecast load and PV energy of the slot [kWh].
    setpoint_kwh : ndarray or None
        Planned energy into each battery [kWh]
        (:func:`cosim.participants.battery.follow_setpoint`); None:
        self-consumption dispatch on the forecast.

    Other parameters are those of :func:`plan_orders`.
    """
    residual_f = load_f_kwh - pv_f_kwh
    if setpoint_kwh is None:
        battery_f, _ = dispatch_self_consumption(residual_f, soc_kwh, fleet, slot_hours)
    else:
        battery_f, _ = follow_setpoint(setpoint_kwh, soc_kwh, fleet, slot_hours)
    net_f = residual_f + battery_f
    side = order_sides(net_f, min_order_kwh)
    prices = limit_prices(side.size, feed_in_tariff, retail_price, bid_strategy, price_rng)
    has = side != 0
    return Orders(
        side=side,
        energy_kwh=np.where(has, np.abs(net_f), 0.0),
        limit_price=np.where(has, prices, np.nan),
        forecast_net_kwh=net_f,
    )


@dataclass(frozen=True)
class Delivery:
    """What actually happened in a slot, one entry per participant.

    Attributes
    ----------
    battery_kwh : ndarray
        Energy into the battery [kWh] (> 0 charging).
    soc_kwh : ndarray
        State of charge at the end of the slot [kWh].
    net_kwh : ndarray
        Net import read by the meter [kWh] (> 0 drew energy).
    accepted : ndarray of bool
        Any of the order matched.
    committed_kwh : ndarray
        Matched volume [kWh] (>= 0).
    delivered_kwh : ndarray
        Actual volume on the order's side [kWh]: ``net_kwh`` for a buyer or no order,
        ``-net_kwh`` for a seller.
    deviation_kwh : ndarray
        ``delivered_kwh - committed_kwh`` [kWh].
    pv_curtailed_kwh : ndarray
        PV energy the inverter curtailed to respect an export cap [kWh].
    """

    battery_kwh: np.ndarray
    soc_kwh: np.ndarray
    net_kwh: np.ndarray
    accepted: np.ndarray
    committed_kwh: np.ndarray
    delivered_kwh: np.ndarray
    deviation_kwh: np.ndarray
    pv_curtailed_kwh: np.ndarray


def deliver(
    load_kwh: np.ndarray,
    pv_kwh: np.ndarray,
    soc_kwh: np.ndarray,
    fleet: BatteryFleet,
    slot_hours: float,
    side: np.ndarray,
    filled_kwh: np.ndarray,
    export_cap_kwh: np.ndarray | None = None,
    setpoint_kwh: np.ndarray | None = None,
    planned_net_kwh: np.ndarray | None = None,
) -> Delivery:
    """Actual delivery: the battery (self-consumption or set-point), then metering.

    Parameters
    ----------
    load_kwh, pv_kwh : ndarray
        Actual load and PV energy [kWh].
    soc_kwh : ndarray
        State of charge at the start of the slot [kWh].
    fleet : BatteryFleet
        Battery parameters.
    slot_hours : float
        Slot length [h].
    side : ndarray of int8
        Order side (+1, -1, 0).
    filled_kwh : ndarray
        Matched volume of each participant's order [kWh].
    export_cap_kwh : ndarray, optional
        Most each participant may export [kWh] (``inf``: no cap), from the network check; PV
        beyond it is curtailed by the inverter after the battery has charged.
    setpoint_kwh : ndarray, optional
        Planned energy into each battery [kWh]; default: self-consumption on the actual
        residual.
    planned_net_kwh : ndarray, optional
        With ``setpoint_kwh``: the net import the plan expects (forecast residual plus the
        set-point, :attr:`Orders.forecast_net_kwh`) [kWh]. The battery then holds that net
        position: it runs ``setpoint + forecast residual - actual residual``, so it absorbs the
        forecast error within its limits, as self-consumption would. Without it the battery
        follows the set-point and the whole forecast error shows as a deviation.
    """
    residual = load_kwh - pv_kwh
    if setpoint_kwh is None:
        battery, soc_after = dispatch_self_consumption(residual, soc_kwh, fleet, slot_hours)
    else:
        target = setpoint_kwh if planned_net_kwh is None else planned_net_kwh - residual
        battery, soc_after = follow_setpoint(target, soc_kwh, fleet, slot_hours)
    net = residual + battery
    curtailed = np.zeros_like(net)
    if export_cap_kwh is not None:
        curtailed = np.minimum(np.maximum(-net - export_cap_kwh, 0.0), pv_kwh)
        net = net + curtailed
    accepted = filled_kwh > FILL_TOL_KWH
    committed = np.where(accepted, filled_kwh, 0.0)
    delivered = np.where(side == SELL, -net, net)
    return Delivery(
        battery_kwh=battery,
        soc_kwh=soc_after,
        net_kwh=net,
        accepted=accepted,
        committed_kwh=committed,
        delivered_kwh=delivered,
        deviation_kwh=delivered - committed,
        pv_curtailed_kwh=curtailed,
    )


def forecast(actual_kwh: np.ndarray, relative_error: float, rng: np.random.Generator) -> np.ndarray:
    """Forecast of a non-negative energy with a Gaussian relative error.

    ``forecast = actual * (1 + relative_error * z)``, ``z ~ N(0, 1)``, clipped at zero.
    One draw per entry, always (also when the error is 0), so the random stream does not
    depend on the error level.

    Parameters
    ----------
    actual_kwh : ndarray
        What will actually happen [kWh] (>= 0).
    relative_error : float
        Standard deviation of the relative error [-].
    rng : numpy.random.Generator
        Source of randomness.
    """
    z = rng.standard_normal(actual_kwh.shape)
    return np.maximum(actual_kwh * (1.0 + relative_error * z), 0.0)


def order_sides(net_forecast_kwh: np.ndarray, min_order_kwh: float) -> np.ndarray:
    """Order side per participant from its forecast net import [kWh].

    Returns int8: ``BUY`` (+1) above ``min_order_kwh``, ``SELL`` (-1) below its negative,
    0 (no order) in between.
    """
    side = np.zeros(net_forecast_kwh.shape, dtype=np.int8)
    side[net_forecast_kwh > min_order_kwh] = BUY
    side[net_forecast_kwh < -min_order_kwh] = SELL
    return side


def limit_prices(
    n: int, feed_in_tariff: float, retail_price: float, strategy: str, rng: np.random.Generator
) -> np.ndarray:
    """Limit price of each order [currency/kWh], within [feed-in tariff, retail price].

    ``uniform`` draws each limit uniformly from the interval (zero-intelligence traders);
    ``midpoint`` gives everyone the interval's midpoint. Always ``n`` uniform draws are
    consumed so the stream does not depend on the strategy.
    """
    u = rng.random(n)
    if strategy == "uniform":
        return feed_in_tariff + u * (retail_price - feed_in_tariff)
    if strategy == "midpoint":
        return np.full(n, 0.5 * (feed_in_tariff + retail_price))
    raise ValueError(f"unknown bid strategy {strategy!r}")
