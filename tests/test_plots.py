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
from cosim.results.writer import write_table
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


@pytest.mark.parametrize(("fmt", "magic"), [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_formats_and_currency(fmt: str, magic: bytes, tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["plot", str(run), "--format", fmt, "--currency", "EUR"]) == 0
    written = sorted((run / "plots").glob(f"*.{fmt}"))
    assert len(written) == 5 and not list((run / "plots").glob("*.png"))
    for p in written:
        assert p.read_bytes().startswith(magic), p
    if fmt == "svg":  # text is kept as text: labels can be checked
        market = (run / "plots" / "market_over_time.svg").read_text()
        assert "Price [EUR/kWh]" in market and "[currency" not in market
        heat = (run / "plots" / "voltage_heatmap.svg").read_text()
        assert "Bus R1" in heat and "pandapower index" not in heat  # network bus names
        bills = (run / "plots" / "bills.svg").read_text()
        assert "Bill [EUR]" in bills and "box: quartiles" in bills  # 105 participants: boxes


def test_bad_format_is_refused(tiny_run: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["plot", str(tiny_run), "--format", "jpg"])
    assert exc.value.code == 2


def _year_run(path: Path) -> Path:
    """A completed year of half-hour slots (slots.csv and the summary's status only), prices
    missing where nothing traded."""
    n = 17_520
    rng = np.random.default_rng(3)
    times = pd.date_range("2017-01-01", periods=n, freq="30min", tz="UTC")
    traded = np.where(rng.uniform(size=n) < 0.4, 0.0, rng.uniform(0, 5, n))
    path.mkdir()
    (path / "summary.json").write_text('{"status": "completed"}', encoding="utf-8")
    write_table(
        path / "slots.csv",
        pd.DataFrame(
            {
                "slot": np.arange(n),
                "time": [t.isoformat() for t in times],
                "clearing_price": np.where(traded > 0, rng.uniform(0.05, 0.35, n), np.nan),
                "traded_kwh": traded,
                "vm_min_pu": rng.uniform(0.95, 1.0, n),
                "vm_max_pu": rng.uniform(1.0, 1.04, n),
                "loading_max_percent": rng.uniform(0, 80, n),
            }
        ),
    )
    return path


def test_long_runs_are_aggregated(tmp_path: Path) -> None:
    run = _year_run(tmp_path / "year")
    assert main(["plot", str(run), "--format", "svg"]) == 0
    market = (run / "plots" / "market_over_time.svg").read_text()
    assert "local market per day" in market and "volume-weighted price" in market
    assert "Energy per day [kWh]" in market
    grid = (run / "plots" / "grid_over_time.svg").read_text()
    assert "per day (extremes over its slots)" in grid
    assert main(["plot", str(run), "--format", "svg", "--aggregate", "week"]) == 0
    assert "local market per week" in (run / "plots" / "market_over_time.svg").read_text()


def test_same_results_same_pdf(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    files = []
    for _ in range(2):  # no creation date inside: byte-identical files
        assert main(["plot", str(run), "--format", "pdf"]) == 0
        files.append((run / "plots" / "market_over_time.pdf").read_bytes())
    assert files[0] == files[1]
