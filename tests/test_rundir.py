"""RunDir: one reader for run directories, role views, sweeps and folders of runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cosim.errors import InputError
from cosim.results.formats import FORMATS
from cosim.results.rundir import RunDir, bucket_rule, bucket_starts, naive_times
from cosim.results.writer import write_table


def test_run_directory(tiny_run: Path) -> None:
    run = RunDir(tiny_run)
    assert run.kind == "run" and run.name == "tiny"
    assert run.summary()["slots"] == 6 and run.scenario()["seed"] == 11
    assert run.has("slots") and not run.has("aggregates")
    assert run.views() == ["grid_operator", "supplier_0", "supplier_1", "supplier_2"]  # defaults
    want = pd.read_csv(tiny_run / "slots.csv")
    assert run.columns("slots") == list(want.columns)
    got = run.table("slots", ["vm_max_pu", "slot"])
    assert list(got.columns) == ["vm_max_pu", "slot"]
    pd.testing.assert_series_equal(got["vm_max_pu"], want["vm_max_pu"])
    assert run.table("slots")["pf_converged"].dtype == bool  # true/false read as booleans
    assert run.bus_names()[0] == "Bus 0"  # CIGRE LV's own bus names
    assert run.runs() == {tiny_run.name: run}


def test_missing_tables_and_columns_are_input_errors(tiny_run: Path, tmp_path: Path) -> None:
    run = RunDir(tiny_run)
    with pytest.raises(InputError, match="file not found"):
        run.table("aggregates")
    with pytest.raises(InputError, match="required column is missing"):
        run.table("slots", ["slot", "no_such_column"])
    with pytest.raises(InputError, match="without a path"):
        run.table("../slots")
    with pytest.raises(InputError, match="directory not found"):
        RunDir(tmp_path / "nothing")
    assert RunDir(tmp_path).kind == "empty"
    assert RunDir(tmp_path).summary() == {} and RunDir(tmp_path).scenario() == {}


def test_parquet_tables(tiny_run: Path, tmp_path: Path) -> None:
    """CSV first, else Parquet: one file, or a folder of part files (chunked tables)."""
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    slots = pd.read_csv(run_dir / "slots.csv")
    parquet = FORMATS["parquet"]
    parquet.write(run_dir / "bills.parquet", pd.read_csv(run_dir / "bills.csv").assign(amount=1.0))
    run = RunDir(run_dir)
    assert (run.table("bills")["amount"] != 1.0).any()  # the CSV is read while it exists
    (run_dir / "bills.csv").unlink()
    assert (run.table("bills", ["amount"])["amount"] == 1.0).all()
    (run_dir / "slots.csv").unlink()
    folder = run_dir / "slots.parquet"
    parquet.start(folder, list(slots.columns))
    assert run.has("slots") and run.table("slots").empty
    assert run.columns("slots") == list(slots.columns)
    for chunk in (slots.iloc[:4], slots.iloc[4:]):
        parquet.append(folder, {c: chunk[c].to_numpy() for c in chunk.columns})
    got = run.table("slots", ["slot", "vm_max_pu"])
    pd.testing.assert_frame_equal(got, slots[["slot", "vm_max_pu"]])
    assert run.kind == "run" and run.columns("slots") == list(slots.columns)


def test_views(tiny_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    shutil.rmtree(run_dir / "views")  # the ones the run wrote; these are made by hand
    for role in ("consumer_10", "consumer_2", "grid_operator", "supplier_1", "not_a_role"):
        (run_dir / "views" / role).mkdir(parents=True)
    view = run_dir / "views" / "consumer_2"
    bills = pd.read_csv(run_dir / "bills.csv")
    write_table(view / "bills.csv", bills[bills["participant"] == 2])
    (view / "view.json").write_text(json.dumps({"role": "consumer_2", "files": {}}))
    run = RunDir(run_dir)
    assert run.views() == ["consumer_2", "consumer_10", "grid_operator", "supplier_1"]
    mine = run.view("consumer_2")
    assert mine.path == view and mine.view_info()["role"] == "consumer_2"
    assert set(mine.table("bills")["participant"]) == {2}
    assert not mine.has("slots") and mine.columns("slots") == []
    for bad in ("../..", "researcher", "consumer_2/../../x", "not_a_role"):
        with pytest.raises(InputError):
            run.view(bad)
    with pytest.raises(InputError, match="no view directory"):
        run.view("consumer_3")


def test_sweep_and_folder_of_runs(tiny_run: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    for name in ("a=1", "a=2", "a=3"):
        shutil.copytree(tiny_run, sweep / name)
    table = pd.DataFrame(
        {"a": [1, 2, 3, 4], "run_dir": ["a=1", "a=2", "a=3", "../escape"],
         "status": ["completed", "completed", "failed", "completed"], "error": ["", "", "x", ""]}
    )  # fmt: skip
    write_table(sweep / "sweep.csv", table)
    run = RunDir(sweep)
    assert run.kind == "sweep" and run.sweep_keys() == ["a"]
    assert list(run.runs()) == ["a=1", "a=2"]  # completed, present, inside the sweep
    assert run.runs()["a=2"].summary()["slots"] == 6
    folder = RunDir(tmp_path)
    shutil.copytree(tiny_run, tmp_path / "other")
    assert folder.kind == "runs" and list(folder.runs()) == ["other"]
    write_table(sweep / "sweep.csv", table.drop(columns="run_dir"))
    with pytest.raises(InputError, match=r"not a sweep\.csv"):
        run.sweep()


def test_time_buckets() -> None:
    times = naive_times(pd.Series(["2017-01-01T23:30:00+01:00", "2017-01-02T00:00:00+01:00"]))
    assert times.iloc[0] == pd.Timestamp("2017-01-01 23:30")  # local wall-clock time
    assert list(bucket_starts(times, "day")) == [
        pd.Timestamp("2017-01-01"),
        pd.Timestamp("2017-01-02"),
    ]
    # 2017-01-01 was a Sunday: its week starts on Monday 2016-12-26
    assert list(bucket_starts(times, "week")) == [
        pd.Timestamp("2016-12-26"),
        pd.Timestamp("2017-01-02"),
    ]
    assert bucket_rule(1000, 30) == "slot" and bucket_rule(1001, 30) == "day"
    assert bucket_rule(48 * 1001, 30) == "week" and bucket_rule(5, 30, "week") == "week"
    with pytest.raises(ValueError):
        bucket_rule(5, 30, "month")


def test_a_view_may_name_its_network(tmp_path: Path) -> None:
    view = tmp_path / "grid_operator"
    view.mkdir()
    assert RunDir(view).network() is None and RunDir(view).bus_names() == {}
    (view / "view.json").write_text(json.dumps({"role": "grid_operator", "network": "cigre_lv"}))
    assert RunDir(view).bus_names()[2] == "Bus R1"
