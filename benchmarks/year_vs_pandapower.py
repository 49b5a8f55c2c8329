"""A simulated year of the village against a bare pandapower ``runpp`` loop, in one run.

Usage::

    python benchmarks/year_vs_pandapower.py                 # full year (17,520 slots), ~8 min here
    python benchmarks/year_vs_pandapower.py --slots 480     # a quick look
    python benchmarks/year_vs_pandapower.py --json out.json
    python benchmarks/year_vs_pandapower.py --backend lightsim2grid   # the fast backend

What is compared, on the same machine in the same process:

* **cosim**: ``scenarios/village_year.yaml`` end to end (profiles, forecasts, auction, delivery,
  AC power flow, four billing models, CSV writing), wall time and slots per second.
* **bare pandapower loop**: what a pandapower user writes for the same network and horizon:
  set every load's ``p_mw`` from a household profile, call ``pandapower.runpp(net)`` with its
  defaults, once per slot. It is timed on ``--sample`` slots spread over the year and scaled to
  the horizon (the per-flow cost does not depend on the slot).

The printed ratio is cosim's time over the bare loop's time for the same number of slots (< 1
means cosim's whole simulation is faster than pandapower's flows alone). Peak memory is the
process's maximum resident set size. Timing numbers are not asserted anywhere (machines are
noisy); this script only measures and prints.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cosim.engine import build_simulation, open_writer, run_simulation  # noqa: E402
from cosim.profiles import builtin_profiles  # noqa: E402
from cosim.scenario import load_scenario  # noqa: E402


def bare_pandapower_loop(slots: int, sample: int) -> tuple[float, int]:
    """Seconds per slot of a plain pandapower time-series loop on the village."""
    net = pn.create_synthetic_voltage_control_lv_network("village_1")
    net.sgen["in_service"] = False
    base_mw = net.load["p_mw"].to_numpy().copy()
    table = builtin_profiles("household")
    per_slot = table.values.reshape(-1, 2, table.values.shape[1]).mean(axis=1)  # 30-min means
    factors = per_slot / per_slot.max(axis=0)
    steps = np.linspace(0, min(slots, len(factors)) - 1, num=min(sample, slots)).astype(int)
    cols = np.arange(len(base_mw)) % factors.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net)  # first call compiles numba; not counted
        t0 = time.perf_counter()
        for k in steps:
            net.load["p_mw"] = base_mw * factors[k, cols]
            pp.runpp(net)
        elapsed = time.perf_counter() - t0
    return elapsed / len(steps), len(steps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--slots", type=int, default=17520, help="slots simulated (default: a year)"
    )
    parser.add_argument("--sample", type=int, default=500, help="slots timed in the bare loop")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--backend",
        choices=("pandapower", "lightsim2grid"),
        default="pandapower",
        help="cosim's grid.backend (the bare loop is always pandapower's runpp)",
    )
    args = parser.parse_args()

    scenario = load_scenario(
        ROOT / "scenarios" / "village_year.yaml",
        [f"time.slots={args.slots}", f"grid.backend={args.backend}"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sim = build_simulation(scenario)
        summary = run_simulation(sim, open_writer(sim, Path(tmp)))
        cosim_s = time.perf_counter() - t0
        written_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_flow_s, sampled = bare_pandapower_loop(args.slots, args.sample)
    bare_s = per_flow_s * args.slots

    figures = {
        "slots": args.slots,
        "backend": args.backend,
        "cosim_wall_s": cosim_s,
        "cosim_slots_per_s": args.slots / cosim_s,
        "cosim_stage_s": summary["timings_s"],
        "cosim_failed_power_flows": summary["grid"]["failed_power_flows"],
        "results_written_mb": written_mb,
        "peak_rss_mb": peak_mb,
        "bare_runpp_ms_per_slot": per_flow_s * 1e3,
        "bare_runpp_sampled_slots": sampled,
        "bare_runpp_wall_s_scaled": bare_s,
        "bare_runpp_slots_per_s": 1.0 / per_flow_s,
        "cosim_over_bare_ratio": cosim_s / bare_s,
        "speedup_bare_over_cosim": bare_s / cosim_s,
    }
    rows = [
        ("slots simulated", f"{args.slots}"),
        ("cosim wall time (all stages)", f"{cosim_s:.1f} s"),
        ("cosim slots/s", f"{args.slots / cosim_s:.1f}"),
        ("  of which power flow", f"{summary['timings_s'].get('power_flow', 0):.1f} s"),
        ("bare pandapower runpp loop", f"{per_flow_s * 1e3:.1f} ms/slot ({sampled} slots timed)"),
        ("bare loop scaled to the horizon", f"{bare_s:.1f} s ({1 / per_flow_s:.1f} slots/s)"),
        ("ratio cosim / bare loop", f"{cosim_s / bare_s:.3f}"),
        ("speed-up (bare loop / cosim)", f"{bare_s / cosim_s:.1f}x"),
        ("peak memory (max RSS)", f"{peak_mb:.0f} MB"),
        ("result files written", f"{written_mb:.0f} MB"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"village, 30-min slots, cosim grid.backend={args.backend}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
