"""Encrypted settlement at district scale: marginal seconds per slot and per user-slot.

Usage::

    python benchmarks/encrypted_scale.py                      # ~4,000 users, 2 and 6 slots
    python benchmarks/encrypted_scale.py --participants 4000 --slots 2 6 --json out.json
    python benchmarks/encrypted_scale.py --before /work/main  # also another checkout's code

The network is K = round(participants / 47) copies of the village feeder under one 20 kV bus
(as ``scale_curve.py``). cosim runs ``scenarios/district.yaml`` on it with
``privacy.aggregation=none`` and ``privacy.views=none`` (to isolate the settlement), twice per
backend: ``n1`` and ``n2`` half-hour slots. The marginal cost of a slot is

    (T(n2) - T(n1)) / (n2 - n1)

with T the run's wall time (``run_simulation``). The build, including the encrypted backend's
set-up (key generation, worker start, warm randomizer pools: ``settlement_setup`` of
``summary.json``), is reported apart, and so is the fixed part of the run (``T(n1)`` less the
set-up and ``n1`` marginal slots: mostly the suppliers' bill opening at the end). Per user-slot it
is divided by the participants. The same is computed for the CPU time of the run's process and
its worker processes (``getrusage`` of the process and of its reaped children; the workers'
share is printed apart), which shows how many cores the encrypted slots keep busy (CPU / wall;
on a machine shared with other jobs this is capped by what the scheduler gives). Every backend
runs in the same invocation, so the encrypted / plain ratio of the marginal costs comes from one
run.

``--before PATH`` runs the encrypted points a second time with the ``cosim`` package of another
checkout (e.g. the code before a change), in the same invocation, and prints the after/before
ratio.

The slots start at midnight of the scenario's summer day: night slots, where no one trades, so
each meter encrypts one value per slot (its deviation); a slot with trades costs up to four
encryptions per trading meter. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scale_curve import ROOT, village_feeders  # the sibling script (run as a script)

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])


def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def main():
    from cosim.engine.build import build_simulation, open_writer
    from cosim.engine.run import run_simulation
    from cosim.scenario import load_scenario

    network, slots, out = sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
    scenario = load_scenario(
        Path(sys.argv[2]) / "scenarios" / "district.yaml",
        [f"network.name={network}", f"time.slots={slots}", *sys.argv[6:]],
    )
    t0 = time.perf_counter()
    sim = build_simulation(scenario)
    t1 = time.perf_counter()
    s1, w1 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        summary = run_simulation(sim, open_writer(sim, Path(tmp)))
    t2 = time.perf_counter()
    s2, w2 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    out.write_text(json.dumps({
        "participants": sim.population.n,
        "build_s": t1 - t0,
        "run_s": t2 - t1,
        "run_cpu_s": s2 + w2 - s1 - w1,
        "run_cpu_main_s": s2 - s1,
        "run_cpu_workers_s": w2 - w1,
        "stages_s": summary["timings_s"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bills": summary["settlement"]["models"],
    }))


if __name__ == "__main__":
    main()
"""


def run_point(
    code: Path, network: Path, slots: int, overrides: list[str], out: Path
) -> dict[str, Any]:
    """One run in a fresh process with the ``cosim`` package of ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)}  # the spawned workers import it too
    script = out.with_suffix(".py")
    script.write_text(CHILD, encoding="utf-8")
    cmd = [sys.executable, str(script), str(code), str(ROOT), str(network), str(slots), str(out)]
    done = subprocess.run([*cmd, *overrides], capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{slots} slots with {overrides} failed: {done.stderr[-800:]}")
    return json.loads(out.read_text(encoding="utf-8"))


def marginal(first: dict[str, Any], second: dict[str, Any], slots: tuple[int, int]) -> dict:
    """Marginal wall and CPU seconds per slot and per user-slot between two runs."""
    extra = slots[1] - slots[0]
    n = first["participants"]
    wall = (second["run_s"] - first["run_s"]) / extra
    cpu = (second["run_cpu_s"] - first["run_cpu_s"]) / extra
    cpu_workers = (second["run_cpu_workers_s"] - first["run_cpu_workers_s"]) / extra
    setup = first["stages_s"].get("settlement_setup", 0.0)  # inside run_simulation
    return {
        "participants": n,
        "s_per_slot": wall,
        "ms_per_user_slot": wall / n * 1e3,
        "cpu_s_per_slot": cpu,
        "worker_cpu_s_per_slot": cpu_workers,
        "cores_busy": cpu / wall if wall > 0 else None,
        "fixed_s": first["run_s"] - setup - slots[0] * wall,
        "build_s": first["build_s"] + setup,
        "settlement_setup_s": setup,
        "runs": [first, second],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=4000)
    parser.add_argument("--slots", type=int, nargs=2, default=[2, 6], metavar=("N1", "N2"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--encryption", default="paillier_djn")
    parser.add_argument(
        "--before", type=Path, default=None, help="another checkout: its cosim runs too"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario override for every run (repeatable)",
    )
    args = parser.parse_args()
    n1, n2 = args.slots
    base = ["privacy.aggregation=none", "privacy.views=none", *args.overrides]
    encrypted = [
        f"settlement.encryption={args.encryption}",
        f"settlement.workers={args.workers}",
    ]
    cases = [("plain", ROOT, base), (args.encryption, ROOT, [*base, *encrypted])]
    if args.before is not None:
        cases.append((f"{args.encryption} (before)", args.before.resolve(), [*base, *encrypted]))
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        groups, network = village_feeders(args.participants, Path(tmp))
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in cases}
        for n in (n1, n2):  # the cases interleaved, so that a drift of the machine hits all
            for k, (name, code, overrides) in enumerate(cases):
                out = Path(tmp) / f"case{k}_{n}.json"
                runs[name].append(run_point(code, network, n, overrides, out))
                print(f"  {name}, {n} slots done", file=sys.stderr)
        figures = {name: marginal(r[0], r[1], (n1, n2)) for name, r in runs.items()}
    plain = figures["plain"]
    enc = figures[args.encryption]
    print(
        f"encrypted settlement at scale: {plain['participants']} participants "
        f"({groups} village feeders), marginal slot = (T({n2}) - T({n1})) / {n2 - n1}, "
        f"{args.workers} workers"
    )
    print(
        f"  {'backend':<26} {'s/slot':>8} {'ms/user-slot':>13} {'CPU s/slot':>11} "
        f"{'workers':>8} {'cores':>6} {'fixed':>7} {'build':>7}"
    )
    for name, f in figures.items():
        cores = f"{f['cores_busy']:.2f}" if f["cores_busy"] is not None else "-"
        print(
            f"  {name:<26} {f['s_per_slot']:>8.3f} {f['ms_per_user_slot']:>13.4f} "
            f"{f['cpu_s_per_slot']:>11.3f} {f['worker_cpu_s_per_slot']:>8.3f} {cores:>6} "
            f"{f['fixed_s']:>6.1f}s "
            f"{f['build_s']:>6.1f}s"
        )
    print(f"  {args.encryption} / plain per slot: {enc['s_per_slot'] / plain['s_per_slot']:.0f}x")
    if args.before is not None:
        before = figures[f"{args.encryption} (before)"]
        print(f"  before / after per slot: {before['s_per_slot'] / enc['s_per_slot']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
