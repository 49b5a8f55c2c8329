"""Multi-energy devices in runs: heat pump, electric heater, CHP and wind through ``cosim run``.

Rows balance with the devices' signed energy (generation negative), the heat columns balance
per tank, summary totals match the columns, a resumed run gives the same files, a bad key
stops with one line, and an outage stops every device of the cut-off participants.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.cli import main

ROOT = Path(__file__).resolve().parents[1]

HEAT = """\
name: heat_tiny
seed: 5
time: {start: "2016-02-01T06:00:00+00:00", slots: 24, slot_minutes: 30}
network: {name: cigre_lv}
participants: {pv_penetration: 0.6, battery_penetration: 0.3}
settlement: {models: [retail, individual]}
output: {chunk_slots: 5}
devices:
  heat_pump: {share: 0.5, storage_kwh_th: 8.0, p_max_kw: 2.0}
  electric_heater: {share: 0.2, strategy: follow_demand, storage_kwh_th: 4.0}
  chp: {share: 0.3}
  wind: {share: 0.2, p_rated_kw: 10.0}
"""
DEVICES = ("heat_pump_kwh", "electric_heater_kwh", "chp_kwh", "wind_kwh")


@pytest.fixture(scope="module")
def heat_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("heat")
    (folder / "heat.yaml").write_text(HEAT, encoding="utf-8")
    out = folder / "run"
    assert main(["run", str(folder / "heat.yaml"), "--out", str(out), "--quiet"]) == 0
    return out


def test_rows_balance_with_consumption_and_generation(heat_run: Path) -> None:
    parts = pd.read_csv(heat_run / "participants.csv")
    device = parts[list(DEVICES)].sum(axis=1)
    assert (parts["chp_kwh"] <= 0).all() and parts["chp_kwh"].min() < 0
    assert (parts["wind_kwh"] <= 0).all() and parts["wind_kwh"].min() < 0
    assert (parts["heat_pump_kwh"] >= 0).all() and parts["heat_pump_kwh"].max() > 0
    # the meter reads base load + devices - PV + battery (+ curtailment, none here)
    assert (parts["pv_curtailed_kwh"] == 0).all()
    balance = parts.load_kwh + device - parts.pv_kwh + parts.battery_kwh - parts.net_kwh
    assert np.abs(balance).max() < 1e-9
    slots = pd.read_csv(heat_run / "slots.csv")
    per_slot = device.groupby(parts["slot"]).sum().to_numpy()
    np.testing.assert_allclose(slots["device_kwh"].to_numpy(), per_slot, atol=1e-9)
    # the grid carries it: net imports equal the flow's import minus losses
    flow = slots["import_kwh"] - slots["export_kwh"] - slots["losses_kwh"]
    net = parts.groupby("slot")["net_kwh"].sum().to_numpy()
    np.testing.assert_allclose(flow.to_numpy(), net, atol=1e-6)


def test_heat_columns_balance_per_tank_and_match_the_summary(heat_run: Path) -> None:
    parts = pd.read_csv(heat_run / "participants.csv").sort_values(["participant", "slot"])
    summary = json.loads((heat_run / "summary.json").read_text())["devices"]
    dt = 0.5
    for name, loss in (("heat_pump", 0.01), ("electric_heater", 0.01), ("chp", 0.01)):
        served = f"{name}_unmet_kwh_th" if name != "chp" else "chp_boiler_kwh_th"
        g = parts.groupby("participant")
        start = g[f"{name}_stored_kwh_th"].shift(1)
        first = parts["slot"] == parts["slot"].min()
        cap = {"heat_pump": 8.0, "electric_heater": 4.0, "chp": 15.0}[name]
        owners = parts[f"{name}_demand_kwh_th"].groupby(parts["participant"]).transform("sum") > 0
        start = start.where(~first, 0.5 * cap * owners)
        # stored_end = stored_start (1 - loss dt) + heat - (demand - unmet or boiler)
        expect = (
            start * (1 - loss * dt)
            + parts[f"{name}_heat_kwh_th"]
            - parts[f"{name}_demand_kwh_th"]
            + parts[served]
        )
        np.testing.assert_allclose(
            parts.loc[owners, f"{name}_stored_kwh_th"], expect[owners], atol=1e-9, err_msg=name
        )
        assert summary[name]["demand_kwh_th"] == pytest.approx(
            parts[f"{name}_demand_kwh_th"].sum(), abs=1e-7
        )
    assert summary["heat_pump"]["electricity_kwh"] == pytest.approx(parts["heat_pump_kwh"].sum())
    assert summary["chp"]["generated_kwh"] == pytest.approx(-parts["chp_kwh"].sum())
    assert summary["wind"]["generated_kwh"] == pytest.approx(-parts["wind_kwh"].sum())
    totals = json.loads((heat_run / "summary.json").read_text())["totals"]
    assert totals["device_kwh"] == pytest.approx(parts[list(DEVICES)].to_numpy().sum(), abs=1e-7)


def test_generation_lowers_the_bids_against_the_same_run_without_it(
    heat_run: Path, tmp_path: Path
) -> None:
    """Without chp and wind: same base load and PV, more bought; generation reaches the
    orders as supply (it is not clipped away as a negative load)."""
    text = HEAT.replace("  chp: {share: 0.3}\n", "").replace(
        "  wind: {share: 0.2, p_rated_kw: 10.0}\n", ""
    )
    scenario = tmp_path / "no_gen.yaml"
    scenario.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    base = pd.read_csv(out / "participants.csv")
    gen = pd.read_csv(heat_run / "participants.csv")
    pd.testing.assert_series_equal(base["load_kwh"], gen["load_kwh"])
    pd.testing.assert_series_equal(base["heat_pump_kwh"], gen["heat_pump_kwh"])
    s_base, s_gen = pd.read_csv(out / "slots.csv"), pd.read_csv(heat_run / "slots.csv")
    assert s_gen["offer_kwh"].sum() > s_base["offer_kwh"].sum()
    assert s_gen["bid_kwh"].sum() < s_base["bid_kwh"].sum()
    assert gen["net_kwh"].sum() < base["net_kwh"].sum()


def test_interrupted_heat_run_resumes_to_the_same_files(heat_run: Path, tmp_path: Path) -> None:
    from cosim.engine.build import build_simulation, open_writer
    from cosim.engine.run import run_simulation
    from cosim.scenario import load_scenario

    out = tmp_path / "run"
    sim = build_simulation(load_scenario(heat_run.parent / "heat.yaml"))

    def progress(done: int) -> None:
        if done == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_simulation(sim, open_writer(sim, out), progress)
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    for name in ("participants.csv", "slots.csv", "bills.csv", "summary.json"):
        if name == "summary.json":
            a = json.loads((out / name).read_text())["devices"]
            b = json.loads((heat_run / name).read_text())["devices"]
            assert a == b
            continue
        assert (out / name).read_bytes() == (heat_run / name).read_bytes(), name


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("p_max_kw: 2.0", "p_max_kw: -2.0", "devices.heat_pump.p_max_kw"),
        ("chp: {share: 0.3}", "chp: {share: 0.3, gas: 1}", "devices.chp.gas"),
        ("wind: {share", "battery: {}\n  wind: {share", "devices.battery"),
    ],
)
def test_bad_device_settings_stop_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, key: str
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(HEAT.replace(old, new), encoding="utf-8")
    assert main(["run", str(scenario), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert key in err and "bad.yaml" in err


def test_cut_off_participants_neither_draw_nor_generate(tmp_path: Path) -> None:
    scenario = tmp_path / "outage.yaml"
    outage = (
        "faults:\n  outage:\n    events:\n"
        "      - {element: line, index: 3, start_slot: 8, end_slot: 16}\n"
    )
    scenario.write_text(HEAT + outage, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    parts = pd.read_csv(out / "participants.csv")
    faults = pd.read_csv(out / "faults.csv")
    cut = faults[faults["handling"] == "disconnected_anti_islanding"]
    rows = parts.merge(cut[["slot", "participant"]], on=["slot", "participant"])
    assert len(rows) > 0
    for col in DEVICES:
        assert (rows[col] == 0).all(), col
    assert (rows["net_kwh"] == 0).all()
    assert (rows["chp_demand_kwh_th"] > 0).any()  # a CHP owner was cut off in winter
    device = parts[list(DEVICES)].sum(axis=1)
    balance = parts.load_kwh + device - parts.pv_kwh + parts.battery_kwh - parts.net_kwh
    assert np.abs(balance).max() < 1e-9


def test_shipped_heat_scenario_validates() -> None:
    assert main(["validate", str(ROOT / "scenarios" / "heat_village.yaml")]) == 0


def test_export_caps_curtail_pv_only_with_generating_devices(tmp_path: Path) -> None:
    """The network check's export caps act on PV; wind and CHP are not curtailed by the PV
    inverter, so pv_kwh stays the PV used and every row still balances."""
    text = (ROOT / "scenarios" / "stress_village.yaml").read_text(encoding="utf-8")
    text += "devices:\n  wind: {share: 0.3, p_rated_kw: 10.0}\n  chp: {share: 0.2}\n"
    scenario = tmp_path / "stress_wind.yaml"
    scenario.write_text(text, encoding="utf-8")
    sets = [
        "time.start=2016-06-22T08:00:00+00:00",
        "time.slots=8",
        "grid.backend=lightsim2grid",
        "market.network_check=lindistflow",
    ]
    out = tmp_path / "run"
    args = ["run", str(scenario), "--out", str(out), "--quiet"]
    assert main([*args, *[x for s in sets for x in ("--set", s)]]) == 0
    parts = pd.read_csv(out / "participants.csv")
    assert parts["pv_curtailed_kwh"].sum() > 0 and parts["wind_kwh"].min() < 0
    assert (parts["pv_kwh"] >= 0).all()
    device = parts["wind_kwh"] + parts["chp_kwh"]
    balance = parts.load_kwh + device - parts.pv_kwh + parts.battery_kwh - parts.net_kwh
    assert np.abs(balance).max() < 1e-9
