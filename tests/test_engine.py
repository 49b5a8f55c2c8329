"""Engine behaviour: phases, faults, partial results, slot lengths, networks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cosim.engine.build import build_simulation, open_writer
from cosim.engine.run import run_simulation
from cosim.grid.powerflow import FlowResult, PandapowerFlow
from cosim.scenario import Scenario, scenario_from_mapping


def scenario(**sections: Any) -> Scenario:
    base: dict[str, Any] = {
        "name": "t",
        "seed": 3,
        "time": {"start": "2016-06-01T10:00:00+00:00", "slots": 6, "slot_minutes": 30},
        "output": {"chunk_slots": 2},
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return scenario_from_mapping(base)


def run(sc: Scenario, out: Path) -> dict[str, Any]:
    sim = build_simulation(sc)
    return run_simulation(sim, open_writer(sim, out))


def test_failure_halfway_keeps_completed_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = PandapowerFlow.solve
    calls = {"n": 0}

    def failing(self: PandapowerFlow, p_kw: np.ndarray, q_kvar: np.ndarray) -> FlowResult:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("grid adapter crashed")
        return real(self, p_kw, q_kvar)

    monkeypatch.setattr(PandapowerFlow, "solve", failing)
    with pytest.raises(RuntimeError, match="grid adapter crashed"):
        run(scenario(), tmp_path)
    slots = pd.read_csv(tmp_path / "slots.csv")
    assert slots["slot"].tolist() == [0, 1, 2, 3]  # every completed slot was kept
    parts = pd.read_csv(tmp_path / "participants.csv")
    assert sorted(parts["slot"].unique()) == [0, 1, 2, 3]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "grid adapter crashed" in summary["error"]
    assert summary["slots_completed"] == 4


def test_non_converging_flow_is_recorded_and_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slot 2's injections are scaled up until pandapower really fails to converge."""
    real = PandapowerFlow.solve
    calls = {"n": 0}

    def overloaded(self: PandapowerFlow, p_kw: np.ndarray, q_kvar: np.ndarray) -> FlowResult:
        calls["n"] += 1
        scale = 1e4 if calls["n"] == 3 else 1.0
        return real(self, p_kw * scale + (5e3 if scale > 1 else 0.0), q_kvar * scale)

    monkeypatch.setattr(PandapowerFlow, "solve", overloaded)
    summary = run(scenario(), tmp_path)
    slots = pd.read_csv(tmp_path / "slots.csv")
    assert slots["pf_converged"].tolist() == [True, True, False, True, True, True]
    assert slots.loc[2, ["vm_min_pu", "vm_max_pu", "losses_kwh", "import_kwh"]].isna().all()
    assert slots.drop(index=2)["vm_min_pu"].notna().all()
    buses = pd.read_csv(tmp_path / "buses.csv")
    assert buses.loc[buses["slot"] == 2, "vm_pu"].isna().all()
    assert summary["grid"]["failed_power_flows"] == 1
    assert summary["status"] == "completed"


@pytest.mark.parametrize("minutes", [15, 60])
def test_slot_lengths_conserve_daily_energy(tmp_path: Path, minutes: int) -> None:
    """A day in 15- or 60-min slots has the same load energy as in 30-min slots."""
    per_day = {m: 24 * 60 // m for m in (minutes, 30)}
    totals = {}
    for m, n in per_day.items():
        sc = scenario(
            time={"start": "2016-06-01T00:00:00+00:00", "slots": n, "slot_minutes": m},
            participants={"pv_penetration": 0.0, "battery_penetration": 0.0},
            output={"buses": False, "lines": False, "chunk_slots": 100},
        )
        out = tmp_path / str(m)
        summary = run(sc, out)
        totals[m] = summary["totals"]["load_kwh"]
        assert len(pd.read_csv(out / "slots.csv")) == n
        assert not (out / "buses.csv").exists()
    assert totals[minutes] == pytest.approx(totals[30], rel=1e-12)


def test_village_network(tmp_path: Path) -> None:
    summary = run(scenario(network={"name": "village"}, time={"slots": 2}), tmp_path)
    assert summary["participants"] == 47 and summary["buses"] == 80
    assert summary["grid"]["failed_power_flows"] == 0


def test_json_network_relative_to_scenario(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    sc_file = root / "networks" / "tiny_scenario_for_test.yaml"
    data = {"name": "j", "network": {"name": "example_feeder.json"}, "time": {"slots": 2}}
    sc = scenario_from_mapping(data, file=sc_file)  # file need not exist: only its folder is used
    summary = run(sc, tmp_path)
    assert summary["participants"] == 12


def test_pv_and_battery_penetration_counts_and_nesting(tmp_path: Path) -> None:
    owners = {}
    for p in (0.3, 0.6):
        sc = scenario(
            participants={"pv_penetration": p, "battery_penetration": p / 2}, time={"slots": 1}
        )
        sim = build_simulation(sc)
        n = sim.population.n
        assert int((sim.population.pv_kwp > 0).sum()) == round(p * n)
        assert int((sim.population.battery.capacity_kwh > 0).sum()) == round(p / 2 * n)
        owners[p] = set(np.flatnonzero(sim.population.pv_kwp > 0))
    assert owners[0.3] <= owners[0.6]  # a higher penetration adds to a lower one's set


def test_participants_have_distinct_profiles() -> None:
    sim = build_simulation(scenario(time={"slots": 48}))
    loads = np.array([sim.feed.slot(k, 48)[0] for k in range(48)])  # (slots, participants)
    assert len({tuple(np.round(col, 12)) for col in loads.T}) == loads.shape[1]


def test_lightsim_backend_matches_pandapower_end_to_end(tmp_path: Path) -> None:
    """Same scenario on both backends: market and bills identical, grid within solver tolerance."""
    frames = {}
    for backend in ("pandapower", "lightsim2grid"):
        run(scenario(grid={"backend": backend}), tmp_path / backend)
        frames[backend] = {
            name: pd.read_csv(tmp_path / backend / f"{name}.csv")
            for name in ("slots", "buses", "lines", "trafos", "participants", "bills")
        }
    ref, fast = frames["pandapower"], frames["lightsim2grid"]
    for name in ("participants", "bills"):
        pd.testing.assert_frame_equal(ref[name], fast[name], check_exact=True)
    assert np.allclose(ref["buses"]["vm_pu"], fast["buses"]["vm_pu"], atol=1e-6, rtol=0)
    for name in ("lines", "trafos"):
        assert np.allclose(
            ref[name]["loading_percent"], fast[name]["loading_percent"], atol=1e-4, rtol=0
        )
    for col in ("import_kwh", "export_kwh", "losses_kwh"):
        assert np.allclose(ref["slots"][col], fast["slots"][col], atol=1e-6, rtol=0)


def test_background_writer_gives_identical_bytes(tmp_path: Path) -> None:
    """Chunks written by the second process equal chunks written in place, byte for byte."""
    base = {
        "time": {"slots": 6},
        "output": {"chunk_slots": 2},
        "grid": {"backend": "lightsim2grid"},
    }
    for mode in (True, False):
        sc = scenario(**{**base, "output": {"chunk_slots": 2, "background_writes": mode}})
        sim = build_simulation(sc)
        writer = open_writer(sim, tmp_path / str(mode))
        assert (writer._background is not None) is mode
        run_simulation(sim, writer)
    for name in ("slots", "participants", "buses", "lines", "trafos", "trades"):
        a = (tmp_path / "True" / f"{name}.csv").read_bytes()
        b = (tmp_path / "False" / f"{name}.csv").read_bytes()
        assert a == b, name
    assert len(pd.read_csv(tmp_path / "True" / "slots.csv")) == 6


def test_background_writer_failure_is_reported(tmp_path: Path) -> None:
    from cosim.results.writer import OutputError, ResultWriter

    writer = ResultWriter(tmp_path / "w", ["trades"], chunk_slots=1, background=True)
    writer.add(
        "trades", {"slot": 0, "buyer": [1], "seller": [2], "energy_kwh": [0.5], "price": [0.2]}
    )
    (tmp_path / "w" / "trades.csv").unlink()
    (tmp_path / "w" / "trades.csv").mkdir()  # appending to a directory fails in the writer process
    writer.end_slot()
    with pytest.raises(OutputError, match="cannot write the results: Is a directory"):
        writer.close()
