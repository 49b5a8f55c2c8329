"""Sweeps: grid expansion, run-dir names, executors giving identical files, resume, failures."""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from cosim.cli import main
from cosim.errors import InputError
from cosim.sweep import (
    SweepProgress,
    expand_grid,
    is_complete,
    parse_range,
    parse_vary,
    plan_sweep,
    run_dir_name,
    run_sweep,
)

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
#: A 2x2 sweep of a tiny scenario: four half-hour slots of the quickstart day.
VARY = ["participants.pv_penetration=0.2,0.8", "seed=1,2"]
SETS = ["time.slots=4", "output.buses=false", "time.start=2016-06-01T10:00:00+00:00"]
VOLATILE = {"run.json"}  # host, pid and wall time of the worker


# --------------------------------------------------------------------------- parsing


def test_range_inclusive_and_rounded() -> None:
    values = parse_range("0:1:0.1")
    assert values is not None and len(values) == 11
    assert values[3] == 0.3 and values[-1] == 1.0
    assert parse_range("1:5:2") == [1, 3, 5] and isinstance(parse_range("1:5:2")[0], int)  # type: ignore[index]
    assert parse_range("0:1:0.3") == [0.0, 0.3, 0.6, 0.9]
    assert parse_range("1:0:-0.5") == [1.0, 0.5, 0.0]
    assert parse_range("0.5:0.5:0.1") == [0.5]
    assert parse_range("a:b:c") is None and parse_range("1,2") is None


@pytest.mark.parametrize("text", ["0:1:0", "0:1:-0.1", "0:1000000:1"])
def test_range_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_range(text)


def test_parse_vary_yaml_scalars() -> None:
    assert parse_vary("seed=1,2,3") == ("seed", [1, 2, 3])
    assert parse_vary("market.mechanism=pay_as_clear, pay_as_bid") == (
        "market.mechanism",
        ["pay_as_clear", "pay_as_bid"],
    )
    assert parse_vary("output.buses=true,false") == ("output.buses", [True, False])
    assert parse_vary("settlement.models=[retail],[retail, social]")[1] == [
        ["retail"],
        ["retail", "social"],
    ]
    assert parse_vary("participants.pv_penetration=0:0.2:0.1")[1] == [0.0, 0.1, 0.2]
    for bad in ("seed", "seed=", "=1,2", "a..b=1"):
        with pytest.raises(InputError):
            parse_vary(bad)


def test_expand_grid_is_cartesian_last_key_fastest() -> None:
    grid = expand_grid({"a": [1, 2, 3], "b": ["x", "y"]})
    assert len(grid) == 6
    assert grid[0] == {"a": 1, "b": "x"} and grid[1] == {"a": 1, "b": "y"}
    assert grid[-1] == {"a": 3, "b": "y"}


def test_run_dir_names_safe_stable_distinct() -> None:
    name = run_dir_name({"participants.pv_penetration": 0.3, "seed": 2})
    assert name == "participants.pv_penetration=0.3__seed=2"
    assert run_dir_name({"participants.pv_penetration": 0.3, "seed": 2}) == name
    odd = run_dir_name({"network.name": "../nets/my net.json"})
    assert "/" not in odd and " " not in odd and "~" in odd
    assert odd != run_dir_name({"network.name": "__nets_my_net.json"})
    listed = run_dir_name({"settlement.models": ["retail", "social"]})
    assert listed.startswith("settlement.models=") and "/" not in listed
    assert len(run_dir_name({"name": "x" * 500})) <= 200


# --------------------------------------------------------------------------- planning


def test_plan_merges_file_section_and_cli(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        QUICKSTART.read_text()
        + "sweep:\n  vary:\n    participants.pv_penetration: '0:1:0.5'\n    seed: [1, 2]\n",
        encoding="utf-8",
    )
    plan = plan_sweep(path, ["seed=7,8,9", "market.mechanism=pay_as_bid"], ["time.slots=4"])
    assert plan.vary == {
        "participants.pv_penetration": [0.0, 0.5, 1.0],
        "seed": [7, 8, 9],
        "market.mechanism": ["pay_as_bid"],
    }
    assert len(plan.runs) == 9
    run = plan.runs[4]
    assert run.scenario.participants.pv_penetration == 0.5 and run.scenario.seed == 8
    assert run.scenario.time.slots == 4 and run.scenario.sweep.vary == {}
    assert len({r.scenario_hash for r in plan.runs}) == 9


@pytest.mark.parametrize(
    ("vary", "fragment"),
    [
        (["participants.pv_penetraton=0.1,0.2"], "unknown key"),
        (["participants.pv_penetration=0.5,1.5"], "participants.pv_penetration"),
        (["seed=1,1"], "repeated"),
        (["time.slots=4:0:1"], "STEP"),
        (["sweep.workers=1,2"], "cannot be varied"),
        (["seed.x=1,2"], "not a section"),
        ([], "nothing to vary"),
    ],
)
def test_bad_vary_fails_fast_with_exit_2(
    vary: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", str(QUICKSTART), "--out", str(out), "--quiet"]
    for item in vary:
        args += ["--vary", item]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and fragment in err, err
    assert not out.exists()  # nothing ran


# --------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SweepProgress]]:
    """The 2x2 sweep on the local process pool with 2 workers."""
    out = tmp_path_factory.mktemp("local") / "sweep"
    reports: list[SweepProgress] = []
    plan = plan_sweep(QUICKSTART, VARY, SETS)
    outcome = run_sweep(plan, out, workers=2, progress=reports.append)
    assert outcome.completed == 4 and outcome.failed == 0, outcome.errors
    return out, reports


def test_local_sweep_writes_runs_and_sweep_csv(
    local_sweep: tuple[Path, list[SweepProgress]],
) -> None:
    out, reports = local_sweep
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 4 and (table["status"] == "completed").all()
    assert list(table.columns[:3]) == ["participants.pv_penetration", "seed", "run_dir"]
    for col in (
        "self_sufficiency",
        "p2p_share_of_load",
        "clearing_price_vwap",
        "import_kwh",
        "losses_kwh",
        "vm_min_pu",
        "slots_outside_5pct",
        "slots_outside_10pct",
        "trafo_loading_max_percent",
        "slots_overloaded",
        "supplier_profit_universal",
        "total_bills_retail",
        "failed_power_flows",
        "wall_s",
    ):
        assert col in table.columns, col
    assert table["slots_completed"].eq(4).all()
    for _, row in table.iterrows():
        run = out / row["run_dir"]
        summary = json.loads((run / "summary.json").read_text())
        assert summary["seed"] == row["seed"]
        assert row["self_sufficiency"] == pytest.approx(summary["totals"]["self_sufficiency"])
        assert row["import_kwh"] == pytest.approx(summary["totals"]["import_kwh"])
    assert [r.done for r in reports] == [0, 1, 2, 3, 4]
    assert reports[-1].total == 4 and reports[-1].eta_s == 0.0


def _comparable(run: Path) -> dict[str, bytes]:
    files = {}
    for f in sorted(run.iterdir()):
        if f.name in VOLATILE or f.is_dir():
            continue
        if f.name == "summary.json":
            data = json.loads(f.read_text())
            data.pop("timings_s")
            data.pop("slots_per_second")
            files[f.name] = json.dumps(data, sort_keys=True).encode()
        else:
            files[f.name] = f.read_bytes()
    return files


def test_dask_executor_gives_identical_files(
    local_sweep: tuple[Path, list[SweepProgress]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    distributed = pytest.importorskip("distributed")
    local, _ = local_sweep
    out = tmp_path / "dask"
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        args = ["sweep", str(QUICKSTART), "--out", str(out)]
        args += [a for v in VARY for a in ("--vary", v)] + [a for s in SETS for a in ("--set", s)]
        assert main([*args, "--scheduler", cluster.scheduler_address]) == 0
    captured = capsys.readouterr()
    assert "4 runs (0 reused, 0 failed)" in captured.out
    assert captured.err.count("/4] ") == 4 and "[4/4] " in captured.err  # not a TTY: lines
    a, b = pd.read_csv(local / "sweep.csv"), pd.read_csv(out / "sweep.csv")
    pd.testing.assert_frame_equal(a.drop(columns="wall_s"), b.drop(columns="wall_s"))
    for name in a["run_dir"]:
        left, right = _comparable(local / name), _comparable(out / name)
        assert set(left) == set(right) and "slots.csv" in left
        for f in left:
            assert left[f] == right[f], f"{name}/{f} differs between executors"


@pytest.fixture(scope="module")
def pool() -> Iterator[cf.ProcessPoolExecutor]:
    """One warm worker shared by the resume and failure tests (numba compiles once)."""
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor


def test_resume_recomputes_only_incomplete_runs(
    local_sweep: tuple[Path, list[SweepProgress]], tmp_path: Path, pool: cf.Executor
) -> None:
    out = tmp_path / "resume"
    shutil.copytree(local_sweep[0], out)  # copy2 keeps the mtimes
    table = pd.read_csv(out / "sweep.csv")
    killed = table["run_dir"][1]
    (out / killed / "summary.json").unlink()  # as if the worker was killed mid-run
    before = {
        name: (out / name / "run.json").read_bytes() for name in table["run_dir"] if name != killed
    }
    mtimes = {name: (out / name / "slots.csv").stat().st_mtime_ns for name in before}
    reports: list[SweepProgress] = []
    outcome = run_sweep(
        plan_sweep(QUICKSTART, VARY, SETS), out, executor=pool, progress=reports.append
    )
    assert (outcome.completed, outcome.reused, outcome.failed) == (4, 3, 0)
    assert [(r.done, r.last) for r in reports] == [(3, None), (4, killed)]
    after = pd.read_csv(out / "sweep.csv")
    assert (after["status"] == "completed").all()
    assert after.set_index("run_dir")["reused"].to_dict() == {
        name: name != killed for name in table["run_dir"]
    }
    for name in before:
        assert (out / name / "run.json").read_bytes() == before[name]
        assert (out / name / "slots.csv").stat().st_mtime_ns == mtimes[name]
    assert (out / killed / "summary.json").is_file()
    for col in ("self_sufficiency", "import_kwh", "supplier_profit_retail"):
        assert after[col].tolist() == table[col].tolist()


def test_is_complete_needs_matching_hash_and_status(
    local_sweep: tuple[Path, list[SweepProgress]],
) -> None:
    out, _ = local_sweep
    plan = plan_sweep(QUICKSTART, VARY, SETS)
    run = plan.runs[0]
    assert is_complete(out / run.name, run.scenario_hash)
    assert not is_complete(out / run.name, plan.runs[1].scenario_hash)
    assert not is_complete(out / "missing", run.scenario_hash)


def test_failing_run_is_recorded_and_others_complete(tmp_path: Path, pool: cf.Executor) -> None:
    out = tmp_path / "failing"
    vary = ["network.name=no_such_network.json,cigre_lv"]
    plan = plan_sweep(QUICKSTART, vary, ["time.slots=2", "output.buses=false"])
    outcome = run_sweep(plan, out, executor=pool)  # valid scenarios; one fails at run time
    assert (outcome.completed, outcome.failed) == (1, 1)
    table = pd.read_csv(out / "sweep.csv").set_index("network.name")
    assert table.loc["cigre_lv", "status"] == "completed"
    assert table.loc["no_such_network.json", "status"] == "failed"
    assert "no_such_network.json" in table.loc["no_such_network.json", "error"]
    info = json.loads((out / "network.name=no_such_network.json" / "run.json").read_text())
    assert info["status"] == "failed" and info["error"]


def test_cli_exit_1_when_runs_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "failing"
    args = ["sweep", str(QUICKSTART), "--out", str(out), "--quiet", "--workers", "2"]
    args += ["--vary", "network.name=missing_a.json,missing_b.json"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "2 of 2 runs failed" in err and err.count("\n") == 1
    assert (pd.read_csv(out / "sweep.csv")["status"] == "failed").all()


def test_plot_of_sweep_dir(local_sweep: tuple[Path, list[SweepProgress]]) -> None:
    out, _ = local_sweep
    assert main(["plot", str(out)]) == 0
    pngs = sorted((out / "plots").glob("*.png"))
    names = {p.name for p in pngs}
    assert {"sweep_self_sufficiency.png", "sweep_billing.png", "sweep_vm_min_pu.png"} <= names
    assert all(p.stat().st_size > 10_000 for p in pngs)
