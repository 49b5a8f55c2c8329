"""``cosim dispatch`` (and ``python -m cosim.dispatch``): scenario section -> dispatch.csv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cosim.scenario import scenario_from_mapping

ROOT = Path(__file__).resolve().parents[1]


def test_dispatch_section_defaults_and_validation() -> None:
    sc = scenario_from_mapping({"name": "d"})
    assert sc.dispatch.encryption == "ckks" and sc.dispatch.masking == "none"
    with pytest.raises(ValueError):
        scenario_from_mapping({"name": "d", "dispatch": {"encryption": "rot13"}})


def test_dispatch_entry_writes_dispatch_csv(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "cosim.dispatch",
        str(ROOT / "scenarios" / "dispatch_six_bus.yaml"),
        "--out",
        str(tmp_path),
        "--set",
        "dispatch.encryption=plain",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "dispatch.csv")
    assert len(table) == 1
    for col in ("objective", "objective_central", "iterations", "bytes_exchanged"):
        assert col in table.columns
    assert any(c.startswith("primal_residual_") for c in table.columns)
    assert any(c.startswith("seconds_") for c in table.columns)
    row = table.iloc[0]
    assert bool(row.converged)
    assert abs(row.objective - row.objective_central) <= 1e-4 * abs(row.objective_central)
    iters = pd.read_csv(tmp_path / "dispatch_iterations.csv")
    assert len(iters) == row.iterations


def test_dispatch_entry_rejects_bad_input(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndispatch:\n  partition: diagonal\n")
    done = subprocess.run(
        [sys.executable, "-m", "cosim.dispatch", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "dispatch.partition" in done.stderr


def test_run_and_dispatch_refuse_each_others_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cosim.cli import main

    six_bus = ROOT / "scenarios" / "dispatch_six_bus.yaml"
    assert main(["run", str(six_bus), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "dispatch.enabled" in err and f"cosim dispatch {six_bus}" in err
    assert not (tmp_path / "r").exists()
    quick = ROOT / "scenarios" / "quickstart.yaml"
    assert main(["dispatch", str(quick), "--out", str(tmp_path / "d")]) == 2
    assert "the scenario has no dispatch to solve" in capsys.readouterr().err
