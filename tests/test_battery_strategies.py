"""Battery strategies: the horizon LPs (participants.storage), the planner and runs with each."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from reference.rolling_lp import (
    REFERENCE_RESIDUAL_KW,
    REFERENCE_TARGET_KW,
    reference_battery,
    solve_window,
)

from cosim.cli import main
from cosim.engine.build import build_simulation, open_writer
from cosim.engine.run import run_simulation
from cosim.grid.feeder import FeederModel, reactive_terms
from cosim.grid.linear import LinearGridModel
from cosim.grid.networks import attach_participants, load_network
from cosim.participants.battery import BatteryFleet, dispatch_self_consumption, follow_setpoint
from cosim.participants.storage import plan_feeder, plan_price
from cosim.scenario import Scenario, scenario_from_mapping

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-6


def fleet_of(
    capacity_kwh: Any, power_kw: Any, eta: Any = 1.0, soc_min: Any = 0.0, soc_max: Any = None
) -> BatteryFleet:
    cap = np.atleast_1d(np.asarray(capacity_kwh, dtype=float))
    full = np.broadcast_to
    return BatteryFleet(
        capacity_kwh=cap,
        power_kw=full(np.asarray(power_kw, dtype=float), cap.shape).copy(),
        eta_charge=full(np.asarray(eta, dtype=float), cap.shape).copy(),
        eta_discharge=full(np.asarray(eta, dtype=float), cap.shape).copy(),
        soc_min_kwh=full(np.asarray(soc_min, dtype=float), cap.shape).copy(),
        soc_max_kwh=cap.copy() if soc_max is None else full(np.asarray(soc_max), cap.shape).copy(),
    )


def bill(residual: np.ndarray, battery: np.ndarray, buy: np.ndarray, sell: np.ndarray) -> float:
    net = residual + battery
    return float((buy[:, None] * np.maximum(net, 0) - sell[:, None] * np.maximum(-net, 0)).sum())


# ---------------------------------------------------------------------------- price LP


def test_price_charges_cheap_and_surplus_discharges_dear() -> None:
    """Known optimum: store the surplus, top up in the cheap slots, cover the dear deficits."""
    residual = np.array([[-1.0], [0.0], [1.5], [1.5]])  # kWh, > 0 deficit
    buy = np.array([0.1, 0.1, 0.5, 0.5])
    sell = np.full(4, 0.05)
    fleet = fleet_of(4.0, 2.0)
    plan = plan_price(residual, np.zeros(1), fleet, 1.0, buy, sell, 0.0, tie_break_per_kwh=0.0)
    assert plan.status == "optimal"
    b = plan.battery_kwh[:, 0]
    # 1 kWh of surplus + 2 kWh bought at 0.1 cover the 3 kWh at 0.5: bill 0.2 (lower bound:
    # every kWh of the dear deficit costs at least 0.1, the surplus is worth at most 0.05 sold)
    assert bill(residual, plan.battery_kwh, buy, sell) == pytest.approx(0.2, abs=1e-9)
    assert plan.objective == pytest.approx(0.2, abs=1e-9)
    np.testing.assert_allclose(b[2:], [-1.5, -1.5], atol=TOL)
    assert b[0] >= 1.0 - TOL and b[:2].sum() == pytest.approx(3.0, abs=TOL)
    np.testing.assert_allclose(plan.soc_kwh[:, 0], np.concatenate([[0.0], np.cumsum(b)]))
    # the default tie-break acts early: it charges the surplus and buys at once
    early = plan_price(residual, np.zeros(1), fleet, 1.0, buy, sell, 0.0)
    np.testing.assert_allclose(early.battery_kwh[:, 0], [2.0, 1.0, -1.5, -1.5], atol=1e-6)


def test_price_respects_limits_and_losses() -> None:
    rng = np.random.default_rng(4)
    t_len, m = 24, 5
    residual = rng.normal(0.0, 1.5, size=(t_len, m))
    buy = rng.uniform(0.1, 0.5, t_len)
    sell = buy * rng.uniform(0.0, 1.0, t_len)
    fleet = fleet_of(np.full(m, 5.0), 2.0, eta=0.9, soc_min=0.5, soc_max=4.75)
    soc0 = np.full(m, 2.5)
    plan = plan_price(residual, soc0, fleet, 0.5, buy, sell, 0.1)
    assert plan.status == "optimal"
    b, soc = plan.battery_kwh, plan.soc_kwh
    assert np.all(np.abs(b) <= 2.0 * 0.5 + TOL)
    assert np.all(soc >= 0.5 - TOL) and np.all(soc <= 4.75 + TOL)
    expect = soc[:-1] + np.where(b > 0, b * 0.9, b / 0.9)
    np.testing.assert_allclose(soc[1:], expect, atol=1e-6)
    # the optimum is never worse than self-consumption on the same forecast
    sc_b = np.zeros_like(b)
    s = soc0.copy()
    for t in range(t_len):
        sc_b[t], s = dispatch_self_consumption(residual[t], s, fleet, 0.5)
    value = 0.1 * (soc[-1].sum() - s.sum())
    assert bill(residual, b, buy, sell) - value <= bill(residual, sc_b, buy, sell) + 1e-6


def test_price_with_flat_tariff_keeps_self_consumption_value() -> None:
    """Flat tariff: charging from the grid never pays (losses); the surplus is stored."""
    residual = np.array([[-2.0], [1.0], [1.0], [-1.0]])
    plan = plan_price(
        residual, np.zeros(1), fleet_of(5.0, 3.0, eta=0.95), 1.0, np.full(4, 0.3),
        np.full(4, 0.05), 0.1,
    )  # fmt: skip
    b = plan.battery_kwh[:, 0]
    assert b[0] == pytest.approx(2.0, abs=TOL)  # stores the whole surplus
    assert np.all(residual[:, 0] + b >= -TOL)  # never exports
    assert b[1] < 0 and b[2] < 0  # and uses it


def test_follow_setpoint_clips_to_limits() -> None:
    fleet = fleet_of(  # the last participant has no battery: zeros, as the population has
        [5.0, 5.0, 5.0, 0.0], [2.0, 2.0, 2.0, 0.0], [0.9, 0.9, 0.9, 0.0], [0.5, 0.5, 0.5, 0.0],
        [4.5, 4.5, 4.5, 0.0],
    )  # fmt: skip
    soc = np.array([4.4, 0.6, 2.0, 0.0])
    setpoint = np.array([1.0, -1.0, 0.3, 0.7])
    battery, after = follow_setpoint(setpoint, soc, fleet, 0.5)
    np.testing.assert_allclose(battery, [0.1 / 0.9, -0.1 * 0.9, 0.3, 0.0])
    np.testing.assert_allclose(after, [4.5, 0.5, 2.0 + 0.3 * 0.9, 0.0])
    same = dispatch_self_consumption(-setpoint, soc, fleet, 0.5)
    np.testing.assert_array_equal(battery, same[0])


# ---------------------------------------------------------------------------- feeder LP


def test_injection_form_matches_pair_formulation() -> None:
    """Same optimum as the reference pair LP (lossless, same terminal and penalty)."""
    feeder = FeederModel.four_node_reference()
    bat = reference_battery()
    step_h = bat.step_hours
    pair = solve_window(
        feeder, REFERENCE_RESIDUAL_KW, bat, REFERENCE_TARGET_KW, np.full(6, step_h), 0.05
    )
    fleet = fleet_of(bat.e_max_kwh, bat.power_kw, 1.0, bat.e_min_kwh, bat.e_max_kwh)
    ours = plan_feeder(
        feeder, -REFERENCE_RESIDUAL_KW * step_h, np.arange(3), bat.e_init_kwh, fleet, step_h,
        objective="tracking", target_import_kw=-REFERENCE_TARGET_KW,
        trade_penalty_per_kwh=0.05 / step_h, tie_break_per_kwh=0.0,
    )  # fmt: skip
    assert pair.status == ours.status == "optimal"
    assert ours.objective == pytest.approx(pair.objective, rel=1e-9)
    np.testing.assert_allclose(ours.soc_kwh[-1], bat.e_init_kwh, atol=TOL)  # back to start


def weak_feeder(v_max: float, flow_max: float = 100.0) -> FeederModel:
    """4-node reference chain, 130x weaker: noon exports push the end voltage up."""
    z_base = 1.0e5
    r = 130.0 * np.array([0.0, 1.3509, 1.17024, 0.84111]) / z_base
    x = 130.0 * np.array([0.0, 1.32349, 1.14464, 0.82271]) / z_base
    return FeederModel.radial(
        np.array([-1, 0, 1, 2]), r, x, s_base_kw=1.0, q_kvar=np.array([0.0, 2.0, 2.0, 2.0]),
        p_max_kw=np.full(4, np.inf), flow_max_kw=np.full(4, flow_max), v_max_pu=v_max,
    )  # fmt: skip


def test_feeder_plan_keeps_voltage_and_flow_limits() -> None:
    step_h = 4.0
    residual = -REFERENCE_RESIDUAL_KW * step_h  # kWh, > 0 deficit
    owner = np.array([0, 2])  # node 2 has no battery
    fleet = fleet_of([12.0, 22.0], 7.5, eta=0.95, soc_min=[2.0, 4.0], soc_max=[12.0, 22.0])
    soc0 = np.array([6.0, 11.0])
    kwargs: dict[str, Any] = {
        "buy_price": np.full(6, 0.35), "sell_price": np.full(6, 0.05),
        "stored_energy_price": 0.2, "trade_penalty_per_kwh": 0.01,
    }  # fmt: skip
    loose = plan_feeder(weak_feeder(2.0), residual, owner, soc0, fleet, step_h, **kwargs)
    tight_feeder = weak_feeder(1.05, flow_max=8.0)
    tight = plan_feeder(tight_feeder, residual, owner, soc0, fleet, step_h, **kwargs)
    assert loose.status == tight.status == "optimal"
    assert loose.v_sq_pu2.max() > 1.05**2 + 1e-3 and np.abs(loose.flow_kw).max() > 8.0 + 1e-3
    # the LP's own constraints, recomputed from the schedule
    p = np.zeros((6, 4))
    p[:, 1:] = -residual / step_h
    p[:, owner + 1] -= tight.battery_kwh / step_h
    p[:, 0] = -p[:, 1:].sum(axis=1)
    np.testing.assert_allclose(tight.injection_kw, p, atol=1e-9)
    v_sq = tight_feeder.v_sq_base + p @ tight_feeder.v_sq_sensitivity.T
    flow = p @ tight_feeder.flow_sensitivity.T
    assert v_sq.max() <= 1.05**2 + 1e-7 and v_sq.min() >= 0.95**2 - 1e-7
    assert np.abs(flow).max() <= 8.0 + 1e-7
    soc = tight.soc_kwh
    assert np.all(soc >= fleet.soc_min_kwh - TOL) and np.all(soc <= fleet.soc_max_kwh + TOL)
    assert np.all(np.abs(tight.battery_kwh) <= 7.5 * step_h + TOL)


def test_feeder_plan_reports_infeasible_windows() -> None:
    step_h = 1.0
    residual = np.array([[-6.0, 0.0, 0.0], [-6.0, 0.0, 0.0]])  # node 1 exports 6 kW
    fleet = fleet_of([10.0], 5.0)
    prices = {"buy_price": np.full(2, 0.3), "sell_price": np.zeros(2)}
    # hard limits: a full battery cannot take the 1 kW the 5 kW line limit leaves over
    full = plan_feeder(
        weak_feeder(2.0, flow_max=5.0), residual, np.array([0]), np.array([10.0]), fleet,
        step_h, violation_penalty=None, **prices,
    )  # fmt: skip
    assert full.status == "infeasible" and np.isnan(full.battery_kwh).all()
    # hard limits: a limit no battery can reach is caught before solving, with the slot named
    hopeless = plan_feeder(
        weak_feeder(2.0, flow_max=0.5), residual, np.array([0]), np.array([0.0]), fleet,
        step_h, violation_penalty=None, **prices,
    )  # fmt: skip
    assert hopeless.status == "infeasible" and "slot 0" in hopeless.message
    # elastic limits (the default): both solve, say where a limit is still exceeded, and an
    # empty battery absorbs all it can (its 5 kW) against the unreachable limit
    full = plan_feeder(
        weak_feeder(2.0, flow_max=5.0), residual, np.array([0]), np.array([10.0]), fleet,
        step_h, **prices,
    )  # fmt: skip
    assert full.status == "optimal" and full.violated_slots == 2 and full.first_slot_violated
    hopeless = plan_feeder(
        weak_feeder(2.0, flow_max=0.5), residual, np.array([0]), np.array([0.0]), fleet,
        step_h, **prices,
    )  # fmt: skip
    assert hopeless.status == "optimal" and hopeless.violated_slots == 2
    np.testing.assert_allclose(hopeless.battery_kwh[:, 0], 5.0 * step_h, atol=1e-6)
    relaxed = plan_feeder(
        weak_feeder(2.0, flow_max=50.0), residual, np.array([0]), np.array([0.0]), fleet,
        step_h, **prices,
    )  # fmt: skip
    assert relaxed.violated_slots == 0 and not relaxed.first_slot_violated


def test_reactive_terms_equal_feeder_model_rows() -> None:
    net = load_network("village")
    model = LinearGridModel.from_pandapower(net, "lindistflow")
    bus = attach_participants(net, "village", 4.0).bus
    q = np.random.default_rng(0).uniform(-1.0, 0.0, size=(2, bus.size))
    v_base, f_max = reactive_terms(model, bus, q)
    for t in range(2):
        fm = FeederModel.from_linear_model(model, bus, q_kvar=q[t])
        np.testing.assert_allclose(v_base[t], fm.v_sq_base, rtol=0, atol=1e-12)
        np.testing.assert_allclose(f_max[t], fm.flow_max_kw, rtol=1e-12)


# ---------------------------------------------------------------------------- runs


def scenario(strategy: str, **sections: Any) -> Scenario:
    base: dict[str, Any] = {
        "name": "bat",
        "seed": 7,
        "time": {"start": "2016-06-01T08:00:00+00:00", "slots": 6, "slot_minutes": 60},
        "network": {"name": "example_feeder.json"},
        "participants": {
            "pv_penetration": 1.0, "pv_kwp": 6.0, "battery_penetration": 0.5,
            "battery_strategy": strategy,
        },
        "battery": {"horizon_slots": 4, "soc_initial_fraction": 0.9},
        "output": {"chunk_slots": 2, "buses": False, "lines": False},
    }  # fmt: skip
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    # the file need not exist: only its folder is used to find the network
    return scenario_from_mapping(base, file=ROOT / "networks" / "battery_test.yaml")


def run(sc: Scenario, out: Path) -> dict[str, Any]:
    sim = build_simulation(sc)
    return run_simulation(sim, open_writer(sim, out))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for strategy in ("self_consumption", "price", "rolling"):
        out[strategy] = tmp_path_factory.mktemp(strategy)
        run(scenario(strategy), out[strategy])
    return out


@pytest.mark.parametrize("strategy", ["price", "rolling"])
def test_runs_keep_battery_limits_and_energy_balance(runs: dict[str, Path], strategy: str) -> None:
    parts = pd.read_csv(runs[strategy] / "participants.csv")
    info = pd.read_csv(runs[strategy] / "participants_info.csv").set_index("participant")
    sc = scenario(strategy)
    b, dt = sc.battery, sc.time.slot_hours
    cap = info.loc[parts["participant"], "battery_capacity_kwh"].to_numpy()
    eta = np.sqrt(b.round_trip_efficiency)
    assert (cap > 0).any()
    assert np.all(np.abs(parts["battery_kwh"]) <= b.power_kw * dt + TOL)
    soc = parts["soc_kwh"].to_numpy()
    assert np.all(soc >= cap * b.soc_min_fraction - TOL)
    assert np.all(soc <= cap * b.soc_max_fraction + TOL)
    wide = parts.pivot(index="slot", columns="participant", values="soc_kwh").to_numpy()
    bat = parts.pivot(index="slot", columns="participant", values="battery_kwh").to_numpy()
    start = info["battery_capacity_kwh"].to_numpy() * b.soc_initial_fraction
    before = np.vstack([start, wide[:-1]])  # the metered SoC carries forward
    np.testing.assert_allclose(wide, before + np.where(bat > 0, bat * eta, bat / eta), atol=1e-9)
    net = parts["load_kwh"] - parts["pv_kwh"] + parts["battery_kwh"]
    np.testing.assert_allclose(parts["net_kwh"], net, atol=1e-9)
    slots = pd.read_csv(runs[strategy] / "slots.csv")
    per_slot = parts.groupby("slot")["net_kwh"].sum().to_numpy()
    np.testing.assert_allclose(slots["net_kwh"], per_slot, atol=1e-9)
    exchange = (slots["import_kwh"] - slots["export_kwh"]).to_numpy()
    np.testing.assert_allclose(per_slot + slots["losses_kwh"], exchange, atol=1e-4)
    has = parts["battery_setpoint_kwh"].notna()
    assert has.sum() == (cap > 0).sum()
    # with forecast errors the batteries hold the planned net import: they move away from the
    # set-point (absorbing the error) but never past their power limit
    assert not np.allclose(parts.loc[has, "battery_kwh"], parts.loc[has, "battery_setpoint_kwh"])
    assert (slots["battery_plan_status"] == "optimal").all()
    summary = json.loads((runs[strategy] / "summary.json").read_text())
    assert summary["battery"]["strategy"] == strategy
    assert summary["battery"]["fallback_slots"] == 0
    assert summary["battery"]["horizons_solved"] == 6


def test_strategies_change_the_dispatch_not_the_files(runs: dict[str, Path]) -> None:
    frames = {s: pd.read_csv(p / "participants.csv") for s, p in runs.items()}
    base = frames["self_consumption"]
    assert "battery_setpoint_kwh" not in base.columns  # the default's files are unchanged
    for s in ("price", "rolling"):
        assert list(frames[s].columns) == [*base.columns, "battery_setpoint_kwh"]
        np.testing.assert_array_equal(frames[s]["load_kwh"], base["load_kwh"])
    assert not np.allclose(frames["rolling"]["battery_kwh"], base["battery_kwh"])


def test_same_seed_same_bytes(runs: dict[str, Path], tmp_path: Path) -> None:
    run(scenario("rolling"), tmp_path)
    for name in ("slots.csv", "participants.csv", "trades.csv", "bills.csv"):
        assert (tmp_path / name).read_bytes() == (runs["rolling"] / name).read_bytes(), name


@pytest.mark.parametrize("strategy", ["price", "rolling"])
def test_perfect_forecasts_follow_the_setpoints(strategy: str, tmp_path: Path) -> None:
    """Without forecast error the planned net is the actual one: batteries run their set-points."""
    run(scenario(strategy, fulfilment={"forecast_error": 0.0}), tmp_path)
    parts = pd.read_csv(tmp_path / "participants.csv")
    has = parts["battery_setpoint_kwh"].notna()
    assert has.any()
    np.testing.assert_allclose(
        parts.loc[has, "battery_kwh"], parts.loc[has, "battery_setpoint_kwh"], atol=1e-6
    )


def test_unreachable_limits_are_elastic_and_counted(tmp_path: Path) -> None:
    """A voltage band below the no-load voltage: every horizon solves, every slot is counted."""
    summary = run(scenario("rolling", grid={"v_min_pu": 0.5, "v_max_pu": 0.9}), tmp_path)
    assert summary["status"] == "completed"
    assert summary["battery"]["fallback_slots"] == 0
    assert summary["battery"]["network_violation_slots"] == 6
    parts = pd.read_csv(tmp_path / "participants.csv")
    assert parts["battery_setpoint_kwh"].notna().any()


def test_failed_horizons_fall_back_to_self_consumption(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A horizon whose LP does not solve: that slot runs self-consumption, counted by status."""
    import cosim.participants.planner as planner

    def failing(*args: Any, **kwargs: Any) -> Any:
        plan = plan_feeder(*args, **kwargs)
        return dataclasses.replace(plan, status="solver_failed", message="forced by the test")

    monkeypatch.setattr(planner, "plan_feeder", failing)
    summary = run(scenario("rolling"), tmp_path)
    assert summary["status"] == "completed"
    assert summary["battery"]["fallback_slots"] == 6
    assert summary["battery"]["fallbacks_by_status"] == {"solver_failed": 6}
    parts = pd.read_csv(tmp_path / "participants.csv")
    assert parts["battery_setpoint_kwh"].isna().all()
    slots = pd.read_csv(tmp_path / "slots.csv")
    assert (slots["battery_plan_status"] == "solver_failed").all()
    # falling back means exactly the self-consumption run (the horizon stream is separate)
    base = pd.read_csv(runs["self_consumption"] / "participants.csv")
    pd.testing.assert_frame_equal(parts[base.columns], base)


def test_cli_rolling_run_and_bad_keys(
    tiny_scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rolling"
    sets = ["--set", "participants.battery_strategy=rolling", "--set", "time.slots=3"]
    assert main(["run", str(tiny_scenario), "--out", str(out), "--quiet", *sets]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["battery"]["strategy"] == "rolling"
    assert summary["battery"]["horizons_solved"] == 3
    assert summary["timings_s"]["battery_plan"] > 0
    parts = pd.read_csv(out / "participants.csv")
    assert parts["battery_setpoint_kwh"].notna().any()
    capsys.readouterr()
    bad = ["--set", "battery.rolling_objective=price"]
    assert main(["validate", str(tiny_scenario), *bad]) == 2
    err = capsys.readouterr().err.strip()
    assert "battery.rolling_objective" in err and "'cost' or 'tracking'" in err
    assert "tiny.yaml" in err and len(err.splitlines()) == 1
    assert main(["validate", str(tiny_scenario), "--set", "battery.horizon_slots=0"]) == 2


def test_profile_window_equals_slots() -> None:
    sc = scenario("price", output={"chunk_slots": 2})
    sim = build_simulation(sc)
    window = sim.feed.window(1, 4, 6)
    for i, k in enumerate(range(1, 5)):
        load, pv = sim.feed.slot(k, 6)
        np.testing.assert_array_equal(window[0][i], load)
        np.testing.assert_array_equal(window[1][i], pv)
    with pytest.raises(ValueError, match="outside"):
        sim.feed.window(4, 3, 6)
