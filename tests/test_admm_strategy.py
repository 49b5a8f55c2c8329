"""The ``admm`` battery strategy: the decentralized dispatch inside ``cosim run``.

The dispatch's pieces (model, partition, ADMM, encryption) are tested in test_dispatch_*.py;
here: the strategy's set-points against a central solve of the same horizon, a run through
``cosim run`` (dispatch.csv, energy and money balance), message rounds taking simulated time,
the deadline rule, resume, and a bad key.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.cli import main

TINY = """\
name: admm_tiny
seed: 3
time: {start: "2016-06-01T01:00:00+00:00", slots: 4, slot_minutes: 60}
network: {name: cigre_lv}
participants: {pv_penetration: 0.5, battery_penetration: 0.3, battery_strategy: admm}
battery: {horizon_slots: 2}
market: {retail_price: 0.30, feed_in_tariff: 0.08}
settlement: {models: [retail, individual, social]}
output: {chunk_slots: 2}
dispatch:
  partition: balanced
  parts: 2
  encryption: plain
  round_delay_ms: 20
  admm: {rho: 1.0}
"""


def write(folder: Path, text: str, name: str = "admm.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def admm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("admm")
    out = folder / "run"
    assert main(["run", str(write(folder, TINY)), "--out", str(out), "--quiet"]) == 0
    return out


def _battery_setpoints(strategy, problems, x) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Energy into each battery in the first slot [kWh] from DES solutions ``x``."""
    dt = strategy._horizon.slot_hours
    out = np.zeros(strategy._pop.n)
    for p, xp in zip(problems, x, strict=True):
        for c, name in enumerate(p.lp.names):
            if name.startswith("bat") and name.endswith("_kw[0]"):
                i = int(name[3:].split(".")[0])
                out[i] += (1.0 if ".charge_kw" in name else -1.0) * xp[c] * dt
    return out


@pytest.mark.parametrize("encryption", ["plain", "ckks"])
def test_setpoints_equal_the_central_solve_of_the_same_horizon(
    tmp_path: Path, encryption: str
) -> None:
    """Perfect forecasts: the strategy's first-slot set-points are the central optimum's."""
    from cosim.dispatch.model import build_des_problems, solve_central
    from cosim.engine.build import build_simulation
    from cosim.scenario import load_scenario

    text = TINY.replace("encryption: plain", f"encryption: {encryption}").replace(
        "admm: {rho: 1.0}", "admm: {rho: 1.0, tol_kw: 2.0e-5, tol_pu: 2.0e-6}"
    )
    text += "fulfilment: {forecast_error: 0.0}\n"
    sim = build_simulation(load_scenario(write(tmp_path, text)))
    strategy = sim.strategy
    n_slots = sim.scenario.time.slots
    load, pv = sim.feed.window(0, 2, n_slots)
    soc = sim.population.soc_initial_kwh.copy()
    setpoint, status = strategy.setpoints(0, load[0], pv[0], soc)
    assert status == "optimal" and setpoint is not None
    # the reference: the same model of the same horizon, solved centrally
    case = strategy.case(load, pv, soc)
    problems = build_des_problems(case, strategy.labels)
    central = solve_central(problems)
    assert central.status == 0
    reference = _battery_setpoints(strategy, problems, central.x)
    owners = strategy.owner
    assert np.abs(reference[owners]).max() > 0.1  # the batteries do something
    np.testing.assert_allclose(setpoint[owners], reference[owners], atol=0.05)
    row = strategy.records[-1].row()
    assert abs(row["gap_relative"]) < 1e-5
    assert row["encryption"] == encryption and row["bytes_exchanged"] > 0


def test_run_writes_dispatch_csv_and_balances(admm_run: Path) -> None:
    dispatch = pd.read_csv(admm_run / "dispatch.csv")
    assert dispatch["slot"].tolist() == [0, 1, 2, 3]
    assert (dispatch["status"] == "optimal").all()
    assert dispatch["converged"].all()
    for column in (
        "iterations",
        "primal_residual_p_kw",
        "rho_p_final",
        "objective",
        "gap_relative",
        "bytes_exchanged",
        "seconds_local",
        "seconds_encrypt",
        "message_rounds",
        "dispatch_minutes",
    ):
        assert column in dispatch.columns, column
    assert (dispatch["gap_relative"].abs() < 1e-3).all()
    iters = pd.read_csv(admm_run / "dispatch_iterations.csv")
    assert len(iters) == dispatch["iterations"].sum()  # the rho path, per iteration
    parts = pd.read_csv(admm_run / "participants.csv")
    slots = pd.read_csv(admm_run / "slots.csv")
    assert (slots["battery_plan_status"] == "optimal").all()
    has = parts["battery_setpoint_kwh"].notna()
    assert has.any()
    net = parts["load_kwh"] - parts["pv_kwh"] + parts["battery_kwh"]
    np.testing.assert_allclose(parts["net_kwh"], net, atol=1e-9)
    per_slot = parts.groupby("slot")["net_kwh"].sum().to_numpy()
    exchange = (slots["import_kwh"] - slots["export_kwh"]).to_numpy()
    np.testing.assert_allclose(per_slot + slots["losses_kwh"], exchange, atol=1e-4)
    summary = json.loads((admm_run / "summary.json").read_text())
    for model, m in summary["settlement"]["models"].items():
        assert abs(m["pot"]) < 1e-6, model
        assert m["total_bills"] == pytest.approx(m["supplier_profit"], abs=1e-6)
    battery = summary["battery"]
    assert battery["strategy"] == "admm" and battery["horizons_solved"] == 4
    assert battery["dispatch"]["des"] == 2
    assert battery["dispatch"]["iterations_max"] == dispatch["iterations"].max()


def test_message_rounds_take_simulated_time(admm_run: Path) -> None:
    """Each round lasts round_delay_ms on the SimPy clock before the orders leave."""
    dispatch = pd.read_csv(admm_run / "dispatch.csv")
    rounds = dispatch["warm_start_rounds"] + dispatch["iterations"]
    assert (dispatch["message_rounds"] == rounds).all()
    expected = rounds * 20.0 / 60000.0
    np.testing.assert_allclose(dispatch["orders_after_minutes"], expected, rtol=1e-9)
    np.testing.assert_allclose(dispatch["dispatch_minutes"], expected, rtol=1e-9)
    assert (dispatch["orders_after_minutes"] > 0).all()


def test_a_dispatch_past_the_deadline_falls_back(tmp_path: Path) -> None:
    """Rounds that would end after the deadline: self-consumption, status dispatch_late."""
    # 20 ms rounds, a deadline of 0.05 s: at most 2 rounds, never enough to converge
    text = TINY.replace("round_delay_ms: 20", "round_delay_ms: 20\n  deadline_minutes: 0.0007")
    out = tmp_path / "late"
    assert main(["run", str(write(tmp_path, text)), "--out", str(out), "--quiet"]) == 0
    dispatch = pd.read_csv(out / "dispatch.csv")
    assert (dispatch["status"] == "dispatch_late").all()
    np.testing.assert_allclose(dispatch["orders_after_minutes"], 0.0007, rtol=1e-9)
    assert (dispatch["message_rounds"] <= 2).all()
    slots = pd.read_csv(out / "slots.csv")
    assert (slots["battery_plan_status"] == "dispatch_late").all()
    assert pd.read_csv(out / "participants.csv")["battery_setpoint_kwh"].isna().all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["battery"]["fallbacks_by_status"] == {"dispatch_late": 4}


def test_interrupted_admm_run_resumes_to_the_same_files(admm_run: Path, tmp_path: Path) -> None:
    """Warm starts and dispatch rows travel with the checkpoint."""
    from cosim.engine.build import build_simulation, open_writer
    from cosim.engine.run import run_simulation
    from cosim.scenario import load_scenario

    scenario = admm_run.parent / "admm.yaml"
    out = tmp_path / "run"
    sim = build_simulation(load_scenario(scenario))

    def progress(done: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_simulation(sim, open_writer(sim, out), progress)
    assert json.loads((out / "summary.json").read_text())["slots_completed"] == 2
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    for name in ("participants.csv", "slots.csv", "bills.csv", "trades.csv"):
        assert (out / name).read_bytes() == (admm_run / name).read_bytes(), name
    timing = [c for c in pd.read_csv(out / "dispatch.csv").columns if c.startswith("seconds_")]
    resumed = pd.read_csv(out / "dispatch.csv").drop(columns=timing)
    pd.testing.assert_frame_equal(
        resumed, pd.read_csv(admm_run / "dispatch.csv").drop(columns=timing)
    )
    iters = pd.read_csv(out / "dispatch_iterations.csv")
    pd.testing.assert_frame_equal(iters, pd.read_csv(admm_run / "dispatch_iterations.csv"))


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("round_delay_ms: -5", "dispatch.round_delay_ms"),
        ("replan_slots: 0", "dispatch.replan_slots"),
    ],
)
def test_bad_dispatch_key_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, key: str
) -> None:
    text = TINY.replace("round_delay_ms: 20", setting)
    assert main(["run", str(write(tmp_path, text)), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert key in err and "admm.yaml" in err


def test_dispatch_enabled_without_admm_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = TINY.replace("battery_strategy: admm", "battery_strategy: price").replace(
        "dispatch:\n", "dispatch:\n  enabled: true\n"
    )
    assert main(["run", str(write(tmp_path, text)), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dispatch.enabled" in err
