"""Tests of the reference LP (tests/reference/rolling_lp.py): the 4-node case, constraints,
objective, rolling."""

from __future__ import annotations

import itertools

import numpy as np
import pandapower as pp
import pytest
from reference.rolling_lp import (
    REFERENCE_PRIORITY,
    REFERENCE_RESIDUAL_KW,
    REFERENCE_TARGET_KW,
    BatteryParams,
    WindowResult,
    reference_battery,
    roll,
    solve_window,
)

from cosim.grid.feeder import FeederModel
from cosim.grid.linear import LinearGridModel

TOL = 1e-6

# The 4-node reference case, restated here so the checks do not reuse the module's matrices.
Z_BASE_OHM = 10.0e3**2 / 1.0e3  # V_b = 10 kV, S_b = 1 kW
R_OHM = np.array([1.3509, 1.17024, 0.84111])  # lines 0-1, 1-2, 2-3
X_OHM = np.array([1.32349, 1.14464, 0.82271])
Q_PU = 2.0


def chain_lindistflow(
    p_kw: np.ndarray, r_pu: np.ndarray, x_pu: np.ndarray, q_pu: float
) -> tuple[np.ndarray, np.ndarray]:
    """Squared voltages [pu^2] and line flows [kW] of a chain, by backward/forward sweep.

    ``p_kw`` has shape (T, 4) (injections, node 0 the slack at 1 pu, S_b = 1 kW); the flow of
    line k -> k+1 is the consumption below it and ``v_{k+1} = v_k - 2 (r P + x Q)``.
    """
    t_len, n = p_kw.shape
    v = np.ones((t_len, n))
    flow = np.zeros((t_len, n - 1))
    for k in range(n - 1):
        p_line = -p_kw[:, k + 1 :].sum(axis=1)
        q_line = -q_pu * (n - 1 - k)
        flow[:, k] = p_line
        v[:, k + 1] = v[:, k] - 2.0 * (r_pu[k] * p_line + x_pu[k] * q_line)
    return v, flow


def check_constraints(
    res: WindowResult,
    residual: np.ndarray,
    battery: BatteryParams,
    e_start: np.ndarray,
    p_max: float = 38.4,
) -> None:
    """Every constraint of the window, checked from the returned schedule."""
    assert res.status == "optimal"
    trades = res.trade_kw
    # Reciprocity is exact, and the injections are the trade sums.
    assert np.array_equal(trades, -np.swapaxes(trades, 1, 2))
    np.testing.assert_allclose(res.injection_kw, trades.sum(axis=2), atol=1e-12)
    np.testing.assert_allclose(res.injection_kw.sum(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(res.utility_import_kw, res.injection_kw[:, 1:].sum(axis=1))
    # Battery power = residual - injection, within its rating; energy dynamics and bounds.
    np.testing.assert_allclose(res.battery_kw, residual - res.injection_kw[:, 1:], atol=1e-12)
    assert np.all(np.abs(res.battery_kw) <= battery.power_kw + TOL)
    e = res.energy_kwh
    np.testing.assert_allclose(e[0], e_start, atol=1e-9)
    np.testing.assert_allclose(np.diff(e, axis=0), res.battery_kw * battery.step_hours, atol=1e-6)
    assert np.all(e >= battery.e_min_kwh - TOL) and np.all(e <= battery.e_max_kwh + TOL)
    np.testing.assert_allclose(e[-1], e_start, atol=1e-6)
    assert np.all(np.abs(res.injection_kw) <= p_max + TOL)


@pytest.fixture(scope="module")
def feeder() -> FeederModel:
    return FeederModel.four_node_reference()


@pytest.fixture(scope="module")
def battery() -> BatteryParams:
    return reference_battery()


def test_reference_feeder_matches_background(feeder: FeederModel) -> None:
    # R_ij = 2 * resistance of the shared path, in pu of Z_b = 1e5 ohm.
    cum = np.concatenate([[0.0], np.cumsum(R_OHM)]) / Z_BASE_OHM
    expected = 2.0 * cum[np.minimum.outer(np.arange(4), np.arange(4))]
    expected[:, 0] = 0.0
    np.testing.assert_allclose(feeder.v_sq_sensitivity, expected, rtol=1e-12)
    v_noq, _ = chain_lindistflow(np.zeros((1, 4)), R_OHM / Z_BASE_OHM, X_OHM / Z_BASE_OHM, Q_PU)
    np.testing.assert_allclose(feeder.v_sq_base, v_noq[0], rtol=1e-12)
    np.testing.assert_array_equal(feeder.p_max_kw, 38.4)
    np.testing.assert_array_equal(feeder.flow_max_kw, 100.0)
    np.testing.assert_allclose(feeder.v_sq_min, 0.95**2)
    np.testing.assert_allclose(feeder.v_sq_max, 1.05**2)


@pytest.mark.parametrize("steps", [4, 6])
def test_reference_case_solves_within_every_constraint(
    feeder: FeederModel, battery: BatteryParams, steps: int
) -> None:
    residual = REFERENCE_RESIDUAL_KW[:steps]
    res = solve_window(
        feeder, residual, battery, REFERENCE_TARGET_KW[:steps], REFERENCE_PRIORITY[:steps]
    )
    check_constraints(res, residual, battery, battery.e_init_kwh)
    v, flow = chain_lindistflow(res.injection_kw, R_OHM / Z_BASE_OHM, X_OHM / Z_BASE_OHM, Q_PU)
    np.testing.assert_allclose(res.v_sq_pu2, v, atol=1e-12)
    np.testing.assert_allclose(res.flow_kw, flow, atol=1e-9)
    assert np.all((v >= 0.95**2) & (v <= 1.05**2))
    assert np.all(np.abs(flow) <= 100.0 + TOL)
    # With a positive penalty no energy is traded around in circles: the volume is the least
    # that realises the injections (every seller sells straight to buyers).
    np.testing.assert_allclose(res.traded_kw, np.clip(res.injection_kw, 0, None).sum(axis=1))


def test_reference_case_values(feeder: FeederModel, battery: BatteryParams) -> None:
    # The 6-step day: the 04-08 target (10 kW) is limited by the energy the batteries hold,
    # the 40 kW target at 16-20 by their full charge; docs/rolling.md tabulates it.
    res = solve_window(
        feeder, REFERENCE_RESIDUAL_KW, battery, REFERENCE_TARGET_KW, REFERENCE_PRIORITY
    )
    np.testing.assert_allclose(res.utility_import_kw[[1, 4]], [4.0, 3.0], atol=1e-6)
    np.testing.assert_allclose(res.energy_kwh[2], battery.e_min_kwh, atol=1e-6)
    np.testing.assert_allclose(res.energy_kwh[4], battery.e_max_kwh, atol=1e-6)
    assert res.objective == pytest.approx(1.0 * 6.0 + 10.0 * 37.0 + 0.01 * 35.4, abs=1e-6)


def test_voltage_limit_binds_on_a_weak_feeder(battery: BatteryParams) -> None:
    # The reference impedances are tiny in pu; on a 130x weaker copy the noon export would
    # raise the end voltage above 1.05 pu, and the schedule keeps it within.
    scale = 130.0
    r_pu, x_pu = scale * R_OHM / Z_BASE_OHM, scale * X_OHM / Z_BASE_OHM

    def weak(v_max: float) -> FeederModel:
        return FeederModel.radial(
            np.array([-1, 0, 1, 2]),
            np.concatenate([[0.0], r_pu]),
            np.concatenate([[0.0], x_pu]),
            s_base_kw=1.0,
            q_kvar=np.array([0.0, Q_PU, Q_PU, Q_PU]),
            p_max_kw=np.full(4, 38.4),
            flow_max_kw=np.full(4, 100.0),
            v_max_pu=v_max,
        )

    args = (REFERENCE_RESIDUAL_KW, battery, REFERENCE_TARGET_KW, REFERENCE_PRIORITY)
    loose = solve_window(weak(2.0), *args)
    tight = solve_window(weak(1.05), *args)
    v_loose, _ = chain_lindistflow(loose.injection_kw, r_pu, x_pu, Q_PU)
    assert v_loose.max() > 1.05**2 + 1e-3  # the limit matters
    check_constraints(tight, REFERENCE_RESIDUAL_KW, battery, battery.e_init_kwh)
    v, _ = chain_lindistflow(tight.injection_kw, r_pu, x_pu, Q_PU)
    np.testing.assert_allclose(tight.v_sq_pu2, v, atol=1e-12)
    assert v.max() <= 1.05**2 + 1e-7


def test_line_limit_binds(battery: BatteryParams) -> None:
    base = FeederModel.four_node_reference()
    limited = FeederModel(
        v_sq_sensitivity=base.v_sq_sensitivity,
        v_sq_base=base.v_sq_base,
        v_sq_min=base.v_sq_min,
        v_sq_max=base.v_sq_max,
        flow_sensitivity=base.flow_sensitivity,
        flow_max_kw=np.array([8.5, 100.0, 100.0]),
        p_max_kw=base.p_max_kw,
    )
    args = (REFERENCE_RESIDUAL_KW, battery, REFERENCE_TARGET_KW, REFERENCE_PRIORITY)
    free = solve_window(base, *args)
    res = solve_window(limited, *args)
    assert np.abs(free.flow_kw[:, 0]).max() > 8.5 + 1e-3
    check_constraints(res, REFERENCE_RESIDUAL_KW, battery, battery.e_init_kwh)
    _, flow = chain_lindistflow(res.injection_kw, R_OHM / Z_BASE_OHM, X_OHM / Z_BASE_OHM, Q_PU)
    np.testing.assert_allclose(res.flow_kw, flow, atol=1e-9)
    assert np.abs(flow[:, 0]).max() <= 8.5 + 1e-7


def test_raising_a_priority_moves_that_import_to_its_target(
    feeder: FeederModel, battery: BatteryParams
) -> None:
    deviation = []
    for weight in (0.0, 0.005, 1.0, 100.0):
        priority = REFERENCE_PRIORITY.copy()
        priority[1] = weight
        res = solve_window(feeder, REFERENCE_RESIDUAL_KW, battery, REFERENCE_TARGET_KW, priority)
        deviation.append(abs(res.utility_import_kw[1] - REFERENCE_TARGET_KW[1]))
    assert all(b <= a + TOL for a, b in itertools.pairwise(deviation))
    assert deviation[-1] < deviation[0] - 1.0


def test_trade_penalty_trades_volume_against_tracking(
    feeder: FeederModel, battery: BatteryParams
) -> None:
    args = (REFERENCE_RESIDUAL_KW, battery, REFERENCE_TARGET_KW, REFERENCE_PRIORITY)
    results = [solve_window(feeder, *args, trade_penalty=w) for w in (0.0, 0.01, 1.0, 100.0)]
    volume = [r.traded_kw.sum() for r in results]
    tracking = [
        float(np.sum(REFERENCE_PRIORITY * np.abs(r.utility_import_kw - REFERENCE_TARGET_KW)))
        for r in results
    ]
    # Larger penalty: never more volume, never better tracking.
    assert all(b <= a + TOL for a, b in itertools.pairwise(volume))
    assert all(b >= a - TOL for a, b in itertools.pairwise(tracking))
    # 0.01 is small: same tracking as no penalty, but the least volume for its injections.
    assert tracking[1] == pytest.approx(tracking[0], abs=1e-6)
    least = np.clip(results[1].injection_kw, 0, None).sum()
    assert volume[1] == pytest.approx(least, abs=1e-6)
    assert volume[3] < volume[1] - 1.0 and tracking[3] > tracking[1] + 1.0


def test_cost_objective(feeder: FeederModel, battery: BatteryParams) -> None:
    price = np.array([0.20, 0.30, 0.25, 0.20, 0.40, 0.30])
    feed_in = 0.5 * price
    res = solve_window(
        feeder,
        REFERENCE_RESIDUAL_KW,
        battery,
        REFERENCE_TARGET_KW,
        REFERENCE_PRIORITY,
        trade_penalty=0.0,
        objective="cost",
        prices=price,
        feed_in_prices=feed_in,
    )
    check_constraints(res, REFERENCE_RESIDUAL_KW, battery, battery.e_init_kwh)
    bought = np.clip(-res.utility_import_kw, 0, None)
    sold = np.clip(res.utility_import_kw, 0, None)
    bill = float(np.sum(4.0 * (price * bought - feed_in * sold)))
    assert res.objective == pytest.approx(bill, abs=1e-6)
    # No battery at all is a feasible schedule; the optimum is at least as cheap.
    net = REFERENCE_RESIDUAL_KW.sum(axis=1)
    idle = float(np.sum(4.0 * (price * np.clip(-net, 0, None) - feed_in * np.clip(net, 0, None))))
    assert bill < idle - 0.1
    with pytest.raises(ValueError, match="prices"):
        solve_window(
            feeder,
            REFERENCE_RESIDUAL_KW,
            battery,
            REFERENCE_TARGET_KW,
            REFERENCE_PRIORITY,
            objective="cost",
        )


def test_roll_commits_first_step_and_carries_energy(
    feeder: FeederModel, battery: BatteryParams
) -> None:
    window = 4
    out = roll(
        feeder, REFERENCE_RESIDUAL_KW, battery, REFERENCE_TARGET_KW, REFERENCE_PRIORITY, window
    )
    assert out.status == "optimal" and out.failed_step is None
    t_total = REFERENCE_RESIDUAL_KW.shape[0]
    assert len(out.windows) == t_total
    np.testing.assert_allclose(out.energy_kwh[0], battery.e_init_kwh)
    for t, win in enumerate(out.windows):
        assert win.battery_kw.shape[0] == min(window, t_total - t)  # shrinks at the end
        # It starts from the carried energy and ends back there; only step 0 is committed.
        np.testing.assert_allclose(win.energy_kwh[0], out.energy_kwh[t], atol=1e-9)
        np.testing.assert_allclose(win.energy_kwh[-1], out.energy_kwh[t], atol=1e-6)
        np.testing.assert_array_equal(out.battery_kw[t], win.battery_kw[0])
        np.testing.assert_array_equal(out.trade_kw[t], win.trade_kw[0])
        np.testing.assert_array_equal(out.utility_import_kw[t], win.utility_import_kw[0])
    np.testing.assert_allclose(
        np.diff(out.energy_kwh, axis=0), out.battery_kw * battery.step_hours, atol=1e-9
    )
    assert np.all(out.energy_kwh >= battery.e_min_kwh - TOL)
    assert np.all(out.energy_kwh <= battery.e_max_kwh + TOL)
    # The first window is exactly solve_window on the first four steps.
    first = solve_window(
        feeder, REFERENCE_RESIDUAL_KW[:4], battery, REFERENCE_TARGET_KW[:4], REFERENCE_PRIORITY[:4]
    )
    np.testing.assert_array_equal(out.windows[0].battery_kw, first.battery_kw)
    # A one-step window must return to its own start: the batteries never move.
    idle = roll(feeder, REFERENCE_RESIDUAL_KW, battery, REFERENCE_TARGET_KW, REFERENCE_PRIORITY, 1)
    np.testing.assert_allclose(idle.battery_kw, 0.0, atol=1e-9)
    # With terminal="initial" the day ends at the initial energy.
    day = roll(
        feeder,
        REFERENCE_RESIDUAL_KW,
        battery,
        REFERENCE_TARGET_KW,
        REFERENCE_PRIORITY,
        window,
        terminal="initial",
    )
    np.testing.assert_allclose(day.energy_kwh[-1], battery.e_init_kwh, atol=1e-6)


def test_infeasible_inputs_give_a_status(feeder: FeederModel, battery: BatteryParams) -> None:
    args = (REFERENCE_TARGET_KW[:4], REFERENCE_PRIORITY[:4])
    # A load the battery and the injection limit cannot both cover (caught before solving).
    heavy = REFERENCE_RESIDUAL_KW[:4].copy()
    heavy[2, 0] = -50.0
    res = solve_window(feeder, heavy, battery, *args)
    assert res.status == "infeasible" and "step 2, node 1" in res.message
    assert np.isnan(res.battery_kw).all() and np.isnan(res.objective)
    # A start energy outside the bounds cannot be returned to.
    res = solve_window(
        feeder, REFERENCE_RESIDUAL_KW[:4], battery, *args, e_start_kwh=np.array([1.0, 12.0, 11.0])
    )
    assert res.status == "infeasible" and "node 1" in res.message
    # A steady 3 kW load per node with a 5 kW feeder line: the batteries cannot carry it
    # over a window that must end where it started (the LP itself is infeasible).
    weak = FeederModel(
        v_sq_sensitivity=feeder.v_sq_sensitivity,
        v_sq_base=feeder.v_sq_base,
        v_sq_min=feeder.v_sq_min,
        v_sq_max=feeder.v_sq_max,
        flow_sensitivity=feeder.flow_sensitivity,
        flow_max_kw=np.array([5.0, 100.0, 100.0]),
        p_max_kw=feeder.p_max_kw,
    )
    steady = np.full((4, 3), -3.0)
    res = solve_window(weak, steady, battery, *args)
    assert res.status == "infeasible" and res.message
    assert np.isnan(res.trade_kw).all()
    out = roll(
        weak,
        np.vstack([REFERENCE_RESIDUAL_KW[:2], steady]),
        battery,
        np.zeros(6),
        np.ones(6),
        window=3,
    )
    assert out.status == "infeasible" and out.failed_step is not None
    t = out.failed_step
    assert np.isfinite(out.battery_kw[:t]).all() and np.isnan(out.battery_kw[t:]).all()
    assert len(out.windows) == t + 1


def test_bad_inputs_raise(feeder: FeederModel, battery: BatteryParams) -> None:
    with pytest.raises(ValueError, match="residual_kw"):
        solve_window(feeder, np.zeros((4, 2)), battery, np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="priority"):
        solve_window(feeder, np.zeros((4, 3)), battery, np.zeros(4), -np.ones(4))
    with pytest.raises(ValueError, match="feed_in_prices"):
        solve_window(
            feeder,
            np.zeros((4, 3)),
            battery,
            np.zeros(4),
            np.ones(4),
            objective="cost",
            prices=np.ones(4),
            feed_in_prices=2 * np.ones(4),
        )
    with pytest.raises(ValueError, match="e_min_kwh"):
        BatteryParams(np.ones(2), np.array([3.0, 0.0]), np.array([2.0, 1.0]), np.ones(2), 1.0)
    with pytest.raises(ValueError, match="window"):
        roll(feeder, np.zeros((4, 3)), battery, np.zeros(4), np.ones(4), window=0)


def test_from_linear_model_agrees_with_lindistflow() -> None:
    net = pp.create_empty_network()
    b = [pp.create_bus(net, vn_kv=0.4) for _ in range(3)]
    pp.create_ext_grid(net, b[0], vm_pu=1.0)
    for f, t in ((0, 1), (1, 2)):
        pp.create_line_from_parameters(
            net, b[f], b[t], 0.2, 0.32, 0.08, c_nf_per_km=0.0, max_i_ka=0.05
        )
    model = LinearGridModel.from_pandapower(net, "lindistflow")
    participants = np.array([1, 2, 2])
    q = np.array([1.0, 0.0, 0.5])
    fm = FeederModel.from_linear_model(model, participants, q_kvar=q)
    assert fm.n_node == 4
    p = np.array([0.0, 4.0, -6.0, 1.0])  # injections of slack and participants [kW]
    p_bus = model.bus_vector(participants, -p[1:])
    q_bus = model.bus_vector(participants, -q)
    v_lin = model.voltages_pu(p_bus, q_bus)
    np.testing.assert_allclose(fm.v_sq_base + fm.v_sq_sensitivity @ p, 2.0 * v_lin - 1.0)
    np.testing.assert_allclose(fm.flow_sensitivity @ p, model.flows_kw(p_bus))
    # A small window on it solves and keeps the thermal limit.
    bat = BatteryParams(np.full(3, 5.0), np.zeros(3), np.full(3, 10.0), np.full(3, 5.0), 1.0)
    residual = np.array([[-20.0, -15.0, -10.0], [20.0, 10.0, 5.0], [-5.0, -5.0, -5.0]])
    res = solve_window(fm, residual, bat, np.zeros(3), np.ones(3))
    assert res.status == "optimal"
    assert np.all(np.abs(res.flow_kw) <= fm.flow_max_kw + TOL)
