"""Scale curve: participants vs microseconds per participant-slot and peak memory.

Usage::

    python benchmarks/scale_curve.py                       # 500, 2,000, 5,000 participants
    python benchmarks/scale_curve.py --sizes 500 2000 5000 20000
    python benchmarks/scale_curve.py --json out.json
    python benchmarks/scale_curve.py --set privacy.aggregation=none --set privacy.views=none

Each point is K copies of the village feeder (pandapower's ``village_1``, 47 households) under
one 20 kV busbar, K = round(participants / 47), built with ``scripts/derive_district.py
--classes village_1 --groups K`` into a temporary JSON file. cosim then runs
``scenarios/district.yaml`` on that network for ``--slots`` half-hour slots (default 96: two
summer days) on lightsim2grid with every result table written (buses and lines included), in
a fresh process per point so that its peak memory is its own.

Reported per point: participants, the run's wall time (``run_simulation``, build excluded),
microseconds per participant-slot (run wall / (participants x slots)), the build time, the
stage times cosim measures (``summary.json``) and the peak resident set size of the process
(``ru_maxrss``; a background CSV writer, used only for runs longer than one output chunk, is
reported separately). All points are measured in one invocation on the same machine, so their
ratios are comparable; absolute times depend on the machine's load. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VILLAGE_HOUSEHOLDS = 47

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from cosim.engine.build import build_simulation, open_writer
from cosim.engine.run import run_simulation
from cosim.scenario import load_scenario
network, slots, out = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
scenario = load_scenario(
    Path(sys.argv[1]) / "scenarios" / "district.yaml",
    [f"network.name={network}", f"time.slots={slots}", "output.buses=true", "output.lines=true",
     *sys.argv[5:]],
)
t0 = time.perf_counter()
sim = build_simulation(scenario)
t1 = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    summary = run_simulation(sim, open_writer(sim, Path(tmp)))
    written = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
t2 = time.perf_counter()
out.write_text(json.dumps({
    "participants": sim.population.n,
    "buses": summary["buses"],
    "build_s": t1 - t0,
    "run_s": t2 - t1,
    "stages_s": summary["timings_s"],
    "written_mb": written,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "writer_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def village_feeders(participants: int, tmp: Path) -> tuple[int, Path]:
    """K = round(participants / 47) village feeders under one bus: K and the network JSON."""
    groups = max(1, round(participants / VILLAGE_HOUSEHOLDS))
    network = tmp / f"village_x{groups}.json"
    if not network.exists():
        subprocess.run(
            [
                sys.executable, str(ROOT / "scripts" / "derive_district.py"),
                "--classes", "village_1", "--groups", str(groups), "--out", str(network),
            ],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    return groups, network


def point(
    participants: int, slots: int, tmp: Path, overrides: list[str] | None = None
) -> dict[str, Any]:
    """Build the network of ``participants`` and measure one run in a fresh process."""
    groups, network = village_feeders(participants, tmp)
    out = tmp / f"point_{groups}.json"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(network), str(slots), str(out),
         *(overrides or [])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{participants} participants failed: {done.stderr[-800:]}")
    figures = json.loads(out.read_text(encoding="utf-8"))
    figures["village_feeders"] = groups
    figures["slots"] = slots
    figures["us_per_participant_slot"] = figures["run_s"] / (figures["participants"] * slots) * 1e6
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 5000])
    parser.add_argument("--slots", type=int, default=96)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario override for every point, e.g. privacy.aggregation=none (repeatable)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        points = []
        for size in args.sizes:
            points.append(point(size, args.slots, Path(tmp), args.overrides))
            print(f"  {size} participants done", file=sys.stderr)
    print(f"scale curve: K village feeders under one 20 kV bus, {args.slots} slots, lightsim2grid")
    print(
        f"  {'participants':>12} {'us/participant-slot':>20} {'run':>8} {'build':>7} "
        f"{'recording':>9} {'settlement':>10} {'peak RSS':>9} {'CSV':>8}"
    )
    for p in points:
        st = p["stages_s"]
        print(
            f"  {p['participants']:>12} {p['us_per_participant_slot']:>20.1f} "
            f"{p['run_s']:>7.1f}s {p['build_s']:>6.1f}s {st.get('recording', 0):>8.1f}s "
            f"{st.get('settlement', 0):>9.2f}s {p['peak_rss_mb']:>6.0f} MB "
            f"{p['written_mb']:>5.0f} MB"
        )
    if args.json:
        args.json.write_text(json.dumps(points, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
