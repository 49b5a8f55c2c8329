"""Kill a run at random points, resume it, and compare its files with an uninterrupted run.

The acceptance check of resumable runs on real sizes (the test suite does the same on small
scenarios, ``tests/test_interruption.py``). Each cycle starts the run, SIGKILLs it after a
random delay (the kill can land anywhere: mid-slot, mid-write, mid-checkpoint), then resumes it
with ``cosim run --resume``, possibly several times in a row, and finally compares every result
file byte for byte with a reference run of the same scenario.

Examples
--------
A year of the village (lightsim2grid), three kills::

    python scripts/check_resume.py scenarios/village_year.yaml --kills 3 \\
        --set grid.backend=lightsim2grid

An encrypted week::

    python scripts/check_resume.py scenarios/village_year.yaml --kills 2 \\
        --set time.slots=336 --set settlement.encryption=paillier_djn \\
        --set settlement.workers=2 --set output.chunk_slots=48 --set grid.backend=lightsim2grid
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COMPARED = (
    "slots.csv",
    "participants.csv",
    "buses.csv",
    "lines.csv",
    "trafos.csv",
    "trades.csv",
    "bills.csv",
    "suppliers.csv",
    "settlement_slots.csv",
    "participants_info.csv",
    "scenario.yaml",
)


def _cosim(*args: str) -> list[str]:
    return [sys.executable, "-m", "cosim.cli", *args]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs before the run completes")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill times")
    parser.add_argument("--work", default=None, help="folder for the runs (default: a temp dir)")
    args = parser.parse_args()
    sets = [x for item in args.overrides for x in ("--set", item)]
    work = Path(args.work or tempfile.mkdtemp(prefix="cosim-resume-"))
    ref, run = work / "reference", work / "killed"

    t0 = time.perf_counter()
    subprocess.run(_cosim("run", args.scenario, "--out", str(ref), "--quiet", *sets), check=True)
    full_s = time.perf_counter() - t0
    print(f"reference run: {full_s:.1f} s -> {ref}")

    rng = np.random.default_rng(args.seed)
    first = True
    for i in range(args.kills):
        cmd = (
            _cosim("run", args.scenario, "--out", str(run), "--quiet", *sets)
            if first
            else _cosim("run", "--resume", str(run), "--quiet")
        )
        done = 0
        if not first:
            done = json.loads((run / "summary.json").read_text())["slots_completed"]
        total = json.loads((ref / "summary.json").read_text())["slots"]
        # a random point of what is left of the run (start-up included)
        delay = float(rng.uniform(0.1, 0.8)) * full_s * (1.0 - done / total) + 2.0
        proc = subprocess.Popen(cmd)
        try:
            proc.wait(timeout=delay)
            print(f"cycle {i + 1}: the run finished before the kill at {delay:.1f} s")
            break
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        first = False
        summary = json.loads((run / "summary.json").read_text())
        print(
            f"cycle {i + 1}: SIGKILL after {delay:.1f} s; summary says {summary['status']} at "
            f"slot {summary['slots_completed']}"
        )
    else:
        t1 = time.perf_counter()
        subprocess.run(_cosim("run", "--resume", str(run), "--quiet"), check=True)
        print(f"final resume: {time.perf_counter() - t1:.1f} s")

    different = [
        name for name in COMPARED
        if (ref / name).exists() and (ref / name).read_bytes() != (run / name).read_bytes()
    ]  # fmt: skip
    compared = [name for name in COMPARED if (ref / name).exists()]
    if different:
        print(f"DIFFERENT: {different}")
        return 1
    print(f"byte-identical: {len(compared)} files ({', '.join(compared)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
