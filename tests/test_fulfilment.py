"""Order planning and delivery conventions (docs/glossary.md)."""

from __future__ import annotations

import numpy as np
import pytest

from cosim.participants.battery import BatteryFleet
from cosim.participants.fulfilment import deliver, plan_orders


def no_batteries(n: int) -> BatteryFleet:
    z = np.zeros(n)
    return BatteryFleet(z, z, z, z, z, z)


def test_perfect_forecast_orders_the_actual_net() -> None:
    load = np.array([1.0, 0.2, 0.5, 0.3])
    pv = np.array([0.0, 1.0, 0.5, 0.0])
    o = plan_orders(
        load,
        pv,
        np.zeros(4),
        no_batteries(4),
        0.5,
        0.0,
        0.001,
        0.05,
        0.35,
        "uniform",
        np.random.default_rng(0),
        np.random.default_rng(1),
    )
    assert o.side.tolist() == [1, -1, 0, 1]
    assert o.energy_kwh == pytest.approx([1.0, 0.8, 0.0, 0.3])
    assert np.isnan(o.limit_price[2])
    assert ((o.limit_price[[0, 1, 3]] >= 0.05) & (o.limit_price[[0, 1, 3]] <= 0.35)).all()


def test_delivery_conventions() -> None:
    # buyer committed 1.0 but drew 1.2; seller committed 0.8 but exported 0.5;
    # buyer that ended up exporting; participant without an order; unmatched buyer
    load = np.array([1.2, 0.5, 0.1, 0.4, 0.7])
    pv = np.array([0.0, 1.0, 0.3, 0.0, 0.0])
    side = np.array([1, -1, 1, 0, 1], dtype=np.int8)
    filled = np.array([1.0, 0.8, 0.2, 0.0, 0.0])
    d = deliver(load, pv, np.zeros(5), no_batteries(5), 0.5, side, filled)
    assert d.net_kwh == pytest.approx([1.2, -0.5, -0.2, 0.4, 0.7])
    assert d.accepted.tolist() == [True, True, True, False, False]
    assert d.committed_kwh == pytest.approx([1.0, 0.8, 0.2, 0.0, 0.0])
    assert d.delivered_kwh == pytest.approx([1.2, 0.5, -0.2, 0.4, 0.7])
    assert d.deviation_kwh == pytest.approx(d.delivered_kwh - d.committed_kwh)
    assert d.deviation_kwh == pytest.approx([0.2, -0.3, -0.4, 0.4, 0.7])


def test_battery_absorbs_surplus_in_delivery() -> None:
    f = BatteryFleet(*(np.array([v]) for v in (5.0, 2.0, 1.0, 1.0, 0.0, 5.0)))
    d = deliver(
        np.array([0.2]),
        np.array([1.0]),
        np.array([1.0]),
        f,
        0.5,
        np.array([-1], dtype=np.int8),
        np.array([0.0]),
    )
    assert d.battery_kwh[0] == pytest.approx(0.8)
    assert d.net_kwh[0] == pytest.approx(0.0)
    assert d.soc_kwh[0] == pytest.approx(1.8)
