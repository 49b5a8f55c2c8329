"""Runs that stop halfway: SIGINT/SIGTERM, a second Ctrl-C, SIGKILL, and ``--resume``.

Every test runs ``cosim`` in a child process, stops it at a slot read from its heartbeat lines,
checks the files it left, resumes it and compares the files byte for byte with an
uninterrupted run of the same scenario.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.cli import main
from cosim.results.checkpoint import CHECKPOINT_FILE, read_checkpoint

SCENARIO = """\
name: stoppable
seed: 5
time: {start: "2016-06-01T06:00:00+00:00", slots: 40, slot_minutes: 30}
network: {name: cigre_lv}
participants: {pv_penetration: 0.6, battery_penetration: 0.3}
fulfilment: {forecast_error: 0.2}
settlement: {models: [retail, individual, social, universal], suppliers: 3, period: day}
grid: {backend: lightsim2grid}
output: {chunk_slots: 4}
"""

TABLES = ("slots", "participants", "buses", "lines", "trafos", "trades")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stop") / "stoppable.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    return out


def _start(scenario: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cosim.cli", "run", str(scenario), "--out", str(out),
         "--heartbeat", "0.0001", *extra],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip


def _wait_for_slot(proc: subprocess.Popen[str], slot: int) -> list[str]:
    """Read heartbeat lines until the run has done ``slot`` slots."""
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if f"slot {slot}/" in line:
            return lines
    raise AssertionError(f"the run ended before slot {slot}: {''.join(lines)}")


pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and uses pgrep (Linux)"
)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            return any(line.startswith("State:\tZ") for line in f)  # a zombie is dead
    except FileNotFoundError:
        return True


def _kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the run; assert that none of its child processes outlives it."""
    children = _children(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    assert proc.stderr is not None
    proc.stderr.close()
    deadline = time.monotonic() + 10
    while not all(_gone(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(c) for c in children), "a child process outlived the killed run"


def _last_slots(run: Path) -> dict[str, int]:
    """The last slot of each per-slot table (-1 if empty)."""
    out = {}
    for table in ("slots", "participants", "buses", "lines", "trafos"):
        frame = pd.read_csv(run / f"{table}.csv")
        out[table] = int(frame["slot"].max()) if len(frame) else -1
    return out


def _assert_same_files(run: Path, reference: Path, same_scenario: bool = True) -> None:
    names = [*(f"{t}.csv" for t in TABLES), "bills.csv", "suppliers.csv",
             "settlement_slots.csv", "participants_info.csv"]  # fmt: skip
    for name in names + (["scenario.yaml"] if same_scenario else []):
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert not (run / CHECKPOINT_FILE).exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_at_a_slot_boundary_and_resume_completes_the_same_files(
    sig: int, scenario: Path, reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    proc = _start(scenario, out)
    _wait_for_slot(proc, 13)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig
    assert "Traceback" not in err
    assert "cosim run --resume" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    done = summary["slots_completed"]
    assert 13 <= done < 40
    assert set(_last_slots(out).values()) == {done - 1}  # every table ends at the same slot
    settled = pd.read_csv(out / "settlement_slots.csv")
    assert settled["slot"].max() == done - 1
    # the bills are those of exactly the completed slots: retail bills = net import x price
    parts = pd.read_csv(out / "participants.csv")
    bills = pd.read_csv(out / "bills.csv")
    retail = bills[bills["model"] == "retail"].set_index("participant")["amount"]
    scenario_prices = (0.35, 0.05)  # schema defaults of retail_price and feed_in_tariff
    net = parts["net_kwh"].to_numpy()
    expected = (
        pd.Series(np.where(net > 0, net * scenario_prices[0], net * scenario_prices[1]))
        .groupby(parts["participant"].to_numpy())
        .sum()
    )
    np.testing.assert_allclose(retail.sort_index().to_numpy(), expected.to_numpy(), atol=1e-9)
    assert read_checkpoint(out / CHECKPOINT_FILE).slot == done

    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    _assert_same_files(out, reference)


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_abrupt_stop_cuts_back_to_the_last_checkpoint(
    error: type[BaseException], scenario: Path, reference: Path, tmp_path: Path
) -> None:
    """A second Ctrl-C (KeyboardInterrupt anywhere) or a bug in the middle of a slot."""
    from cosim.engine.build import build_simulation, open_writer
    from cosim.engine.run import run_simulation
    from cosim.scenario import load_scenario

    out = tmp_path / "run"
    sc = load_scenario(scenario, ["output.chunk_slots=8"])

    def progress(done: int) -> None:
        if done == 11:
            raise error("stop here")

    with pytest.raises(error):
        sim = build_simulation(sc)
        run_simulation(sim, open_writer(sim, out), progress)
    summary = json.loads((out / "summary.json").read_text())
    expected = "interrupted" if error is KeyboardInterrupt else "failed"
    assert summary["status"] == expected
    done = summary["slots_completed"]
    assert done == 8  # the last checkpoint
    assert set(_last_slots(out).values()) == {done - 1}
    assert not (out / "bills.csv").exists()
    assert "not written" in summary["settlement"]["files"]
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    _assert_same_files(out, reference, same_scenario=False)  # chunks of 8, not 4


def test_sigkill_at_random_points_then_resume_is_byte_identical(
    scenario: Path, reference: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(2024)
    for i, slot in enumerate(sorted(rng.choice(np.arange(2, 38), size=3, replace=False))):
        out = tmp_path / f"run{i}"
        proc = _start(scenario, out)
        _wait_for_slot(proc, int(slot))
        time.sleep(float(rng.uniform(0, 0.05)))
        _kill(proc)
        running = json.loads((out / "summary.json").read_text())
        assert running["status"] == "running"  # a killed run's folder says what it is
        assert running["slots_completed"] <= read_checkpoint(out / CHECKPOINT_FILE).slot
        assert main(["run", "--resume", str(out), "--quiet"]) == 0
        _assert_same_files(out, reference)


def test_background_writer_dies_with_a_killed_run(scenario: Path, tmp_path: Path) -> None:
    proc = _start(scenario, tmp_path / "run")
    _wait_for_slot(proc, 5)
    assert _children(proc.pid), "expected the background CSV writer"
    _kill(proc)


def test_resume_refuses_what_it_cannot_continue(
    scenario: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--resume", str(reference)]) == 2
    assert "already completed" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path / "absent")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert main(["run", str(scenario), "--resume", str(reference)]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize("encryption", ["paillier_djn", "ckks"])
def test_encrypted_run_resumes_with_the_same_bills(encryption: str, tmp_path: Path) -> None:
    """Paillier decrypts exactly: the same bytes. CKKS is approximate (its noise differs from
    run to run, resumed or not): the same values within 1e-6."""
    text = SCENARIO.replace("slots: 40", "slots: 12").replace(
        "period: day}", f"period: day, encryption: {encryption}, workers: 2}}"
    )
    path = tmp_path / "enc.yaml"
    path.write_text(text, encoding="utf-8")
    ref = tmp_path / "ref"
    assert main(["run", str(path), "--out", str(ref), "--quiet"]) == 0
    out = tmp_path / "run"
    proc = _start(path, out)
    _wait_for_slot(proc, 6)
    if encryption == "paillier_djn":
        assert len(_children(proc.pid)) >= 2, "expected the CSV writer and a randomizer worker"
    _kill(proc)
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    for name in (*(f"{t}.csv" for t in TABLES), "bills.csv", "suppliers.csv",
                 "settlement_slots.csv"):  # fmt: skip
        if encryption == "paillier_djn":
            assert (out / name).read_bytes() == (ref / name).read_bytes(), name
        else:
            pd.testing.assert_frame_equal(
                pd.read_csv(out / name), pd.read_csv(ref / name), rtol=0, atol=1e-6
            )
