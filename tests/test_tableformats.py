"""Result table formats: CSV values exact, Parquet equal to CSV, chunks bounded in rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosim.cli import main
from cosim.results.formats import FORMATS, has_table, read_table

TABLES = ("slots", "participants", "buses", "lines", "trafos", "trades", "bills", "suppliers",
          "settlement_slots", "participants_info")  # fmt: skip


def _csv_roundtrip(tmp_path: Path, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    path = tmp_path / "t.csv"
    fmt = FORMATS["csv"]
    fmt.start(path, list(columns))
    fmt.append(path, columns)
    return pd.read_csv(path, float_precision="round_trip", keep_default_na=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=False), min_size=1, max_size=50))
def test_csv_floats_parse_back_exactly(tmp_path_factory: pytest.TempPathFactory, values) -> None:
    x = np.asarray(values, dtype=float)
    columns = {"k": np.arange(x.size), "x": x}  # a lone empty field would be a blank line
    back = _csv_roundtrip(tmp_path_factory.mktemp("f"), columns)["x"].to_numpy(dtype=float)
    assert np.array_equal(back, x, equal_nan=True)


def test_csv_text_looks_like_pythons(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    fmt = FORMATS["csv"]
    fmt.start(path, ["k", "x", "flag", "side"])
    fmt.append(
        path,
        {
            "k": np.array([1, 2, 3]),
            "x": np.array([3.0, np.nan, 0.1]),
            "flag": np.array([True, False, True]),
            "side": np.array(["buy", "sell", "none"]),
        },
    )
    assert path.read_text() == "k,x,flag,side\n1,3.0,true,buy\n2,,false,sell\n3,0.1,true,none\n"
    frame = pd.read_csv(path)
    assert frame["x"].dtype == np.float64  # a whole float stays a float column


def test_parquet_table_in_parts_reads_back_in_order_and_cuts(tmp_path: Path) -> None:
    fmt = FORMATS["parquet"]
    path = fmt.path(tmp_path, "slots")
    fmt.start(path, ["slot", "x"])
    assert read_table(tmp_path, "slots").columns.tolist() == ["slot", "x"]
    for k in range(12):  # more than 10 parts: the order must not be lexicographic by accident
        fmt.append(path, {"slot": np.array([k]), "x": np.array([k / 3])})
    frame = read_table(tmp_path, "slots")
    assert frame["slot"].tolist() == list(range(12))
    fmt.cut(path, 5)
    assert read_table(tmp_path, "slots")["slot"].tolist() == list(range(5))
    with pytest.raises(ValueError):
        fmt.cut(path, 6)


def _run(scenario: Path, out: Path, setting: str) -> int:
    return main(["run", str(scenario), "--out", str(out), "--quiet", "--set", setting])


def _values_equal(a: Path, b: Path, tables=TABLES) -> None:
    for table in tables:
        left = read_table(a, table, float_precision="round_trip")
        right = read_table(b, table, float_precision="round_trip")
        pd.testing.assert_frame_equal(left, right, check_exact=True, check_dtype=False)


def test_parquet_run_holds_the_csv_runs_values(
    tiny_scenario: Path, tiny_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pq"
    assert _run(tiny_scenario, out, "output.format=parquet") == 0
    assert not any(out.glob("*.csv"))
    assert (out / "slots.parquet").is_dir() and (out / "bills.parquet").is_file()
    _values_equal(out, tiny_run)


def test_parquet_run_stops_and_resumes(tiny_scenario: Path, tiny_run: Path, tmp_path: Path) -> None:
    from cosim.engine.build import build_simulation, open_writer
    from cosim.engine.run import run_simulation
    from cosim.scenario import load_scenario

    out = tmp_path / "pq"
    sc = load_scenario(tiny_scenario, ["output.format=parquet", "output.chunk_slots=2"])
    sim = build_simulation(sc)

    def progress(done: int) -> None:
        if done == 5:
            raise RuntimeError("a bug in slot 5")

    with pytest.raises(RuntimeError):
        run_simulation(sim, open_writer(sim, out), progress)
    assert json.loads((out / "summary.json").read_text())["slots_completed"] == 4
    assert read_table(out, "slots")["slot"].tolist() == [0, 1, 2, 3]
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    _values_equal(out, tiny_run)


def test_chunks_bounded_in_rows_leave_the_values_unchanged(
    tiny_scenario: Path, tiny_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rows"
    # CIGRE LV: about 400 rows a slot, so 1000 rows make chunks of 2 slots
    assert _run(tiny_scenario, out, "output.chunk_rows=1000") == 0
    for table in ("slots", "participants", "buses", "trades", "bills"):
        assert (out / f"{table}.csv").read_bytes() == (tiny_run / f"{table}.csv").read_bytes()


def test_participants_table_can_be_left_out(
    tiny_scenario: Path, tiny_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "lean"
    assert _run(tiny_scenario, out, "output.participants=false") == 0
    assert not has_table(out, "participants")
    _values_equal(out, tiny_run, tuple(t for t in TABLES if t != "participants"))
