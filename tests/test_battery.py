"""Battery dispatch, forecasts, order sides and limit prices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosim.participants.battery import BatteryFleet, dispatch_self_consumption
from cosim.participants.fulfilment import forecast, limit_prices, order_sides


def fleet(
    cap: float, power: float, rte: float = 0.81, lo: float = 0.1, hi: float = 0.9, n: int = 1
) -> BatteryFleet:
    eta = np.sqrt(rte)
    full = np.full(n, 1.0)
    return BatteryFleet(
        cap * full, power * full, eta * full, eta * full, lo * cap * full, hi * cap * full
    )


def test_hand_example_charge_discharge() -> None:
    f = fleet(10.0, 4.0, rte=0.81)  # eta 0.9 each way; soc in [1, 9] kWh
    # surplus 3 kWh in half an hour: power limit 2 kWh, headroom (9-5)/0.9 = 4.44 -> charge 2
    b, soc = dispatch_self_consumption(np.array([-3.0]), np.array([5.0]), f, 0.5)
    assert b[0] == pytest.approx(2.0)
    assert soc[0] == pytest.approx(5.0 + 2.0 * 0.9)
    # deficit 1 kWh: discharge 1 kWh delivered, draws 1/0.9 from storage
    b, soc = dispatch_self_consumption(np.array([1.0]), np.array([5.0]), f, 0.5)
    assert b[0] == pytest.approx(-1.0)
    assert soc[0] == pytest.approx(5.0 - 1.0 / 0.9)
    # deficit when nearly empty: only (1.5-1)*0.9 = 0.45 kWh can be delivered
    b, soc = dispatch_self_consumption(np.array([1.0]), np.array([1.5]), f, 0.5)
    assert b[0] == pytest.approx(-0.45)
    assert soc[0] == pytest.approx(1.0)


def test_no_battery_does_nothing() -> None:
    z = np.zeros(3)
    f = BatteryFleet(z, z, z, z, z, z)
    b, soc = dispatch_self_consumption(np.array([-2.0, 0.0, 3.0]), z, f, 0.5)
    assert np.all(b == 0) and np.all(soc == 0)


@settings(max_examples=200, deadline=None)
@given(
    residual=st.floats(-20, 20),
    soc_frac=st.floats(0.1, 0.9),
    cap=st.floats(0.5, 20),
    power=st.floats(0.1, 10),
    rte=st.floats(0.5, 1.0),
    hours=st.sampled_from([0.25, 0.5, 1.0]),
)
def test_battery_invariants(
    residual: float, soc_frac: float, cap: float, power: float, rte: float, hours: float
) -> None:
    f = fleet(cap, power, rte)
    soc0 = np.array([soc_frac * cap])
    b, soc = dispatch_self_consumption(np.array([residual]), soc0, f, hours)
    eta = np.sqrt(rte)
    tol = 1e-9 * max(1.0, cap)
    assert abs(b[0]) <= power * hours + tol  # power limit
    assert f.soc_min_kwh[0] - tol <= soc[0] <= f.soc_max_kwh[0] + tol  # SoC bounds
    assert b[0] * residual <= tol  # never works against the residual
    assert abs(b[0]) <= abs(residual) + tol  # never over-serves the residual
    stored = soc[0] - soc0[0]  # energy balance with losses
    expected = b[0] * eta if b[0] >= 0 else b[0] / eta
    assert stored == pytest.approx(expected, abs=1e-9)


def test_forecast_zero_error_is_exact_and_stream_independent_of_error() -> None:
    actual = np.array([0.0, 1.0, 2.5])
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    assert np.array_equal(forecast(actual, 0.0, r1), actual)
    forecast(actual, 0.3, r2)
    assert r1.random() == r2.random()  # same number of draws whatever the error


def test_forecast_is_seeded_and_nonnegative() -> None:
    actual = np.linspace(0, 3, 1000)
    a = forecast(actual, 2.0, np.random.default_rng(1))
    b = forecast(actual, 2.0, np.random.default_rng(1))
    assert np.array_equal(a, b)
    assert (a >= 0).all()
    rel = forecast(np.ones(200_000), 0.1, np.random.default_rng(2)) - 1.0
    assert rel.std() == pytest.approx(0.1, rel=0.02)


def test_order_sides_threshold() -> None:
    side = order_sides(np.array([-1.0, -0.001, 0.0, 0.0005, 0.002]), 0.001)
    assert side.tolist() == [-1, 0, 0, 0, 1]


def test_limit_prices_bounds_and_strategies() -> None:
    p = limit_prices(1000, 0.05, 0.35, "uniform", np.random.default_rng(0))
    assert p.min() >= 0.05 and p.max() <= 0.35
    assert np.all(
        limit_prices(4, 0.05, 0.35, "midpoint", np.random.default_rng(0)) == pytest.approx(0.2)
    )
    with pytest.raises(ValueError, match="unknown bid strategy"):
        limit_prices(1, 0.0, 1.0, "greedy", np.random.default_rng(0))
