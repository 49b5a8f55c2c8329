"""Devices in runs: the EV's energy reaches orders, delivery, the flow and the files; resume.

The device modules are tested alone in test_devices.py and test_ev.py; here the engine's use
of the device interface is checked through ``cosim run``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.cli import main

EV = """\
name: ev_tiny
seed: 5
time: {start: "2016-06-01T14:00:00+00:00", slots: 24, slot_minutes: 30}
network: {name: cigre_lv}
participants: {pv_penetration: 0.6, battery_penetration: 0.3}
settlement: {models: [retail, individual]}
output: {chunk_slots: 5}
devices:
  ev: {share: 0.8, charger_kw: 7.0, battery_kwh: 40.0, strategy: self_consumption}
"""


@pytest.fixture(scope="module")
def ev_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ev")
    (folder / "ev.yaml").write_text(EV, encoding="utf-8")
    out = folder / "run"
    assert main(["run", str(folder / "ev.yaml"), "--out", str(out), "--quiet"]) == 0
    return out


def test_ev_energy_is_in_the_meter_reading_and_the_files(ev_run: Path) -> None:
    parts = pd.read_csv(ev_run / "participants.csv")
    assert parts["ev_kwh"].sum() > 0
    # the meter reads base load + EV - PV + battery; load_kwh stays the base load
    balance = parts.load_kwh + parts.ev_kwh - parts.pv_kwh + parts.battery_kwh - parts.net_kwh
    assert np.abs(balance).max() < 1e-9
    slots = pd.read_csv(ev_run / "slots.csv")
    per_slot = parts.groupby("slot")["ev_kwh"].sum().to_numpy()
    np.testing.assert_allclose(slots["device_kwh"].to_numpy(), per_slot, rtol=0, atol=1e-9)
    summary = json.loads((ev_run / "summary.json").read_text())
    ev = summary["devices"]["ev"]
    assert ev["charged_kwh"] == pytest.approx(parts["ev_kwh"].sum(), abs=1e-9)
    assert summary["totals"]["device_kwh"] == pytest.approx(parts["ev_kwh"].sum(), abs=1e-9)
    # the grid carries the EVs: net imports equal to the flow's import minus losses
    flow_import = slots["import_kwh"] - slots["export_kwh"] - slots["losses_kwh"]
    net = parts.groupby("slot")["net_kwh"].sum().to_numpy()
    np.testing.assert_allclose(flow_import.to_numpy(), net, atol=1e-6)


def test_ev_charging_changes_orders_not_the_base_profiles(ev_run: Path, tmp_path: Path) -> None:
    """Without the device section: same base load and PV, no EV columns, fewer bids."""
    scenario = tmp_path / "no_ev.yaml"
    scenario.write_text(EV.split("devices:")[0], encoding="utf-8")
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    base = pd.read_csv(out / "participants.csv")
    with_ev = pd.read_csv(ev_run / "participants.csv")
    assert "ev_kwh" not in base.columns
    pd.testing.assert_series_equal(base["load_kwh"], with_ev["load_kwh"])
    pd.testing.assert_series_equal(base["pv_kwh"], with_ev["pv_kwh"])
    ev_bid = pd.read_csv(ev_run / "slots.csv")["bid_kwh"].sum()
    assert ev_bid > pd.read_csv(out / "slots.csv")["bid_kwh"].sum()
    assert "devices" not in json.loads((out / "summary.json").read_text())


def test_interrupted_ev_run_resumes_to_the_same_files(ev_run: Path, tmp_path: Path) -> None:
    """The EVs' sessions and energy travel with the checkpoint."""
    from cosim.engine.build import build_simulation, open_writer
    from cosim.engine.run import run_simulation
    from cosim.scenario import load_scenario

    scenario = ev_run.parent / "ev.yaml"
    out = tmp_path / "run"
    sim = build_simulation(load_scenario(scenario))

    def progress(done: int) -> None:
        if done == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_simulation(sim, open_writer(sim, out), progress)
    assert json.loads((out / "summary.json").read_text())["slots_completed"] == 10
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    for name in ("participants.csv", "slots.csv", "bills.csv"):
        assert (out / name).read_bytes() == (ev_run / name).read_bytes(), name


def test_bad_device_settings_stop_validate_with_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(EV.replace("charger_kw: 7.0", "charger_kw: -1"), encoding="utf-8")
    assert main(["validate", str(scenario)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "devices.ev.charger_kw" in err and "bad.yaml" in err


def test_cut_off_ev_owners_draw_nothing_and_their_sessions_still_need_it(tmp_path: Path) -> None:
    """An outage (anti-islanding) during charging hours: the meters of the cut-off
    participants read 0, their chargers' energy is taken back, the balance holds per row."""
    scenario = tmp_path / "ev_outage.yaml"
    outage = (
        "faults:\n  outage:\n    events:\n"
        "      - {element: line, index: 3, start_slot: 8, end_slot: 16}\n"
    )
    scenario.write_text(EV + outage, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    parts = pd.read_csv(out / "participants.csv")
    faults = pd.read_csv(out / "faults.csv")
    cut = faults[faults["handling"] == "disconnected_anti_islanding"]
    assert len(cut) > 0
    cut_rows = parts.merge(cut[["slot", "participant"]], on=["slot", "participant"])
    assert (cut_rows["ev_kwh"] == 0).all() and (cut_rows["net_kwh"] == 0).all()
    balance = parts.load_kwh + parts.ev_kwh - parts.pv_kwh + parts.battery_kwh - parts.net_kwh
    assert np.abs(balance).max() < 1e-9
    ev = json.loads((out / "summary.json").read_text())["devices"]["ev"]
    assert ev["charged_kwh"] == pytest.approx(parts["ev_kwh"].sum(), abs=1e-9)
    # some cut-off vehicle was plugged in and wanted energy during the outage
    plugged = cut_rows[cut_rows["ev_connected"] == 1]
    assert len(plugged) > 0
