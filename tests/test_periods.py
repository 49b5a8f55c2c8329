"""``output.aggregate``: per-period participant and bus tables equal the per-slot ones summed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cosim.cli import main
from cosim.results.periods import period_ids


@pytest.fixture(scope="module")
def hourly(tiny_scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("agg") / "run"
    args = [
        "run",
        str(tiny_scenario),
        "--out",
        str(out),
        "--quiet",
        "--set",
        "output.aggregate=hour",
    ]
    assert main(args) == 0
    return out


def test_hourly_participants_are_the_slots_summed(hourly: Path) -> None:
    slots = pd.read_csv(hourly / "participants.csv")
    hours = pd.read_csv(hourly / "participants_hour.csv")
    assert len(hours) == len(slots) // 2  # 30-min slots, 6 slots from 09:00: three hours
    slots["hour"] = slots["slot"] // 2
    summed = slots.groupby(["hour", "participant"], sort=True)
    for column in ("load_kwh", "pv_kwh", "battery_kwh", "net_kwh", "deviation_kwh"):
        np.testing.assert_allclose(hours[column], summed[column].sum().to_numpy(), atol=1e-12)
    np.testing.assert_allclose(
        hours["import_kwh"], summed["net_kwh"].apply(lambda x: x.clip(lower=0).sum()), atol=1e-12
    )
    assert (hours["accepted_slots"] == summed["accepted"].sum().to_numpy()).all()
    np.testing.assert_array_equal(hours["soc_kwh"], summed["soc_kwh"].last().to_numpy())
    assert hours["period"].iloc[0] == "2016-06-01T09:00:00+00:00"
    assert (hours["slots"] == 2).all()


def test_hourly_buses_summarise_the_voltages(hourly: Path) -> None:
    slots = pd.read_csv(hourly / "buses.csv")
    hours = pd.read_csv(hourly / "buses_hour.csv")
    slots["hour"] = slots["slot"] // 2
    grouped = slots.groupby(["hour", "bus"], sort=True)["vm_pu"]
    np.testing.assert_allclose(hours["vm_min_pu"], grouped.min().to_numpy(), atol=0)
    np.testing.assert_allclose(hours["vm_max_pu"], grouped.max().to_numpy(), atol=0)
    np.testing.assert_allclose(hours["vm_mean_pu"], grouped.mean().to_numpy(), atol=1e-12)


def test_the_other_files_do_not_change(hourly: Path, tiny_run: Path) -> None:
    for name in ("participants.csv", "slots.csv", "bills.csv", "buses.csv"):
        assert (hourly / name).read_bytes() == (tiny_run / name).read_bytes(), name
    assert json.loads((hourly / "summary.json").read_text())["status"] == "completed"


def test_an_interrupted_daily_run_resumes_to_the_same_rows(tmp_path: Path) -> None:
    from cosim.engine.build import build_simulation, open_writer
    from cosim.engine.run import run_simulation
    from cosim.scenario import load_scenario

    data = {
        "name": "days",
        "time": {"start": "2016-06-01T20:00:00+00:00", "slots": 60, "slot_minutes": 30},
        "network": {"name": "cigre_lv"},
        "output": {"aggregate": "day", "participants": False, "chunk_slots": 7},
    }
    scenario = tmp_path / "days.yaml"
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    whole = tmp_path / "whole"
    assert main(["run", str(scenario), "--quiet", "--out", str(whole)]) == 0
    sim = build_simulation(load_scenario(scenario))
    out = tmp_path / "stopped"

    def progress(done: int) -> None:
        if done == 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_simulation(sim, open_writer(sim, out), progress)
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    for name in ("participants_day.csv", "buses_day.csv"):
        assert (out / name).read_bytes() == (whole / name).read_bytes()
    days = pd.read_csv(whole / "participants_day.csv")
    assert days.groupby("period")["slots"].first().tolist() == [8, 48, 4]  # 20-24 h, a day, 0-2 h
    assert not (whole / "participants.csv").exists()


def test_period_ids_follow_the_calendar_of_the_slots() -> None:
    times = pd.date_range("2016-01-31 23:00", periods=4, freq="1h", tz="Europe/Berlin")
    ids, starts = period_ids(times, "month")
    assert ids.tolist() == [0, 1, 1, 1]
    assert starts == ["2016-01-01T00:00:00+01:00", "2016-02-01T00:00:00+01:00"]
