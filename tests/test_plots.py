"""Plots: PNGs for a run directory and a sweep directory; bad directories exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.cli import main
from cosim.errors import InputError
from cosim.plots import plot_dir, plot_sweep
from cosim.results import write_table
from cosim.sweep import METRIC_COLUMNS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_pngs(paths: list[Path]) -> None:
    assert paths
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, p


def test_run_dir_figures(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["plot", str(run)]) == 0
    written = sorted((run / "plots").glob("*.png"))
    assert {p.name for p in written} == {
        "voltage_heatmap.png",
        "grid_over_time.png",
        "market_over_time.png",
        "daily_profile.png",
        "bills.png",
    }
    _check_pngs(written)


def test_run_dir_without_buses_skips_heatmap(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "buses.csv").unlink()
    names = {p.name for p in plot_dir(run)}
    assert "voltage_heatmap.png" not in names and "grid_over_time.png" in names


def _fake_sweep(path: Path, keys: dict[str, list[object]]) -> None:
    """A sweep.csv with plausible metrics (the plots read nothing else)."""
    rng = np.random.default_rng(0)
    grid = pd.MultiIndex.from_product(list(keys.values()), names=list(keys)).to_frame(index=False)
    n = len(grid)
    frame = grid.assign(run_dir=[f"run{i}" for i in range(n)], status="completed", error="")
    for col in METRIC_COLUMNS:
        frame[col] = rng.uniform(0.9, 1.1, n)
    for model in ("retail", "individual", "social"):
        frame[f"supplier_profit_{model}"] = rng.uniform(100, 200, n)
        frame[f"mean_bill_{model}"] = rng.uniform(1, 5, n)
    frame.loc[0, "status"] = "failed"  # ignored by the plots
    path.mkdir()
    write_table(path / "sweep.csv", frame)


def test_sweep_dir_figures(tmp_path: Path) -> None:
    d = tmp_path / "sweep"
    _fake_sweep(d, {"seed": [1, 2, 3], "participants.pv_penetration": [0.0, 0.5, 1.0]})
    written = plot_sweep(d)
    names = {p.name for p in written}
    assert "sweep_billing.png" in names
    assert {
        f"sweep_{m}.png" for m in ("self_sufficiency", "vm_min_pu", "slots_overloaded")
    } <= names
    assert len(written) == len(set(written)) >= 15
    _check_pngs(written)


def test_sweep_dir_categorical_first_key(tmp_path: Path) -> None:
    d = tmp_path / "sweep"
    _fake_sweep(d, {"market.mechanism": ["pay_as_clear", "pay_as_bid"], "seed": [1, 2]})
    assert main(["plot", str(d)]) == 0
    _check_pngs(sorted((d / "plots").glob("*.png")))


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_bad_dir_exit_2(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x"
    if kind == "empty":
        target.mkdir()
    elif kind == "file":
        target.write_text("not a directory")
    assert main(["plot", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cosim: ") and "\n" not in err


def test_sweep_without_completed_runs_is_input_error(tmp_path: Path) -> None:
    d = tmp_path / "sweep"
    d.mkdir()
    write_table(
        d / "sweep.csv",
        pd.DataFrame({"seed": [1], "run_dir": ["seed=1"], "status": ["failed"], "error": ["x"]}),
    )
    with pytest.raises(InputError, match="no completed run"):
        plot_dir(d)
