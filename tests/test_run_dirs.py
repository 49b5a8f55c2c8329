"""Output folders: refused when not empty, --force, unwritable places, and plotting a run
that did not finish. Each user mistake is one line on stderr and exit code 2."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from cosim.cli import main


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("cosim: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _run(scenario: Path, out: str, *extra: str) -> int:
    return main(["run", str(scenario), "--out", out, "--quiet", "--set", "time.slots=2", *extra])


def test_a_non_empty_out_is_refused_without_force(
    tiny_scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    assert _run(tiny_scenario, str(out)) == 2
    err = _one_line_error(capsys)
    assert str(out) in err and "--force" in err and "--resume" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # nothing touched


def test_force_replaces_cosims_files_and_keeps_the_users(
    tiny_scenario: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert _run(tiny_scenario, str(out)) == 0
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    (out / "plots").mkdir()
    (out / "plots" / "old.png").write_bytes(b"x")
    (out / "rejected_payloads.csv").write_text("stale", encoding="utf-8")
    assert _run(tiny_scenario, str(out), "--force") == 0
    names = {p.name for p in out.iterdir()}
    assert "notes.txt" in names
    assert "plots" not in names and "rejected_payloads.csv" not in names  # stale ones gone
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: "", "--out: expected a directory, got an empty string"),
        (lambda tmp: _file(tmp / "f"), "is a file; expected a directory"),
        (lambda tmp: str(Path(_file(tmp / "g")) / "sub"), "cannot write the results"),
        (lambda tmp: "/proc/cosim-run", "cannot write the results"),
    ],
    ids=["empty", "a-file", "under-a-file", "unwritable"],
)
def test_unusable_out_is_one_line_exit_2(
    make, expected: str, tiny_scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tiny_scenario, make(tmp_path)) == 2
    assert expected in _one_line_error(capsys)


def _file(path: Path) -> str:
    path.write_text("x", encoding="utf-8")
    return str(path)


def test_a_missing_parent_is_created(tiny_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "run"
    assert _run(tiny_scenario, str(out)) == 0
    assert (out / "slots.csv").is_file()


def test_a_full_disk_during_the_run_is_exit_2_with_consistent_files(
    tiny_scenario: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import cosim.results.writer as results

    real = results._append_blocks
    calls = {"n": 0}

    def full_disk(blocks):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", blocks[0][0])
        real(blocks)

    monkeypatch.setattr(results, "_append_blocks", full_disk)
    out = tmp_path / "run"
    code = main(
        ["run", str(tiny_scenario), "--out", str(out), "--quiet",
         "--set", "output.chunk_slots=2", "--set", "output.background_writes=false"]
    )  # fmt: skip
    assert code == 2
    assert "No space left on device" in _one_line_error(capsys)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["slots_completed"] == 2  # cut back to the checkpoint after the first chunk


def test_plot_refuses_a_run_that_did_not_finish(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    summary = json.loads((tiny_run / "summary.json").read_text())
    (broken / "summary.json").write_text(json.dumps({**summary, "status": "failed"}))
    assert main(["plot", str(broken)]) == 2
    assert "the run is failed" in _one_line_error(capsys)
    (broken / "summary.json").write_text("{not json")
    assert main(["plot", str(broken)]) == 2
    assert "unreadable" in _one_line_error(capsys)
    assert main(["plot", str(tmp_path / "absent")]) == 2
    _one_line_error(capsys)


def test_plot_of_a_damaged_run_is_exit_2(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_run, damaged)
    (damaged / "slots.csv").write_text("slot,nonsense\n0,1\n", encoding="utf-8")
    assert main(["plot", str(damaged)]) == 2
    assert "damaged" in _one_line_error(capsys)


def test_failed_flows_above_the_stated_share_warn(
    tiny_scenario: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import cosim.grid.powerflow as powerflow

    real = powerflow.PandapowerFlow.solve
    calls = {"n": 0}

    def fail_every_other(self, p_kw, q_kvar):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return self._not_converged() if calls["n"] % 2 else real(self, p_kw, q_kvar)

    monkeypatch.setattr(powerflow.PandapowerFlow, "solve", fail_every_other)
    out = tmp_path / "run"
    assert main(["run", str(tiny_scenario), "--out", str(out), "--set", "time.slots=4"]) == 0
    err = capsys.readouterr().err
    assert "warning: the power flow failed in 2 of 4 slots (50.0%)" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grid"]["failed_power_flow_share"] == 0.5
    assert len(summary["warnings"]) == 1
