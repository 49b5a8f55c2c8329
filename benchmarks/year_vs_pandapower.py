"""A simulated year of the village against pandapower's own time series, in one run.

Usage::

    python benchmarks/year_vs_pandapower.py --backend lightsim2grid   # full year
    python benchmarks/year_vs_pandapower.py --slots 4380              # a quarter year
    python benchmarks/year_vs_pandapower.py --json out.json

What is compared, on the same machine in the same process, on the **same injections**:

* **cosim**: ``scenarios/village_year.yaml`` end to end (profiles, forecasts, auction, delivery,
  AC power flow, four billing models, every CSV), wall time. The per-participant active and
  reactive powers its grid stage solves are recorded on the way (a copy per batch).
* **pandapower run_timeseries**: what an informed pandapower user runs for the same network,
  horizon and injections: one load per participant at its bus, a ``ConstControl`` on ``p_mw``
  and one on ``q_mvar`` fed by a ``DFData`` of the recorded powers, and
  ``pandapower.timeseries.run_timeseries(net)`` with its defaults (its default output writer,
  its recycling of the admittance matrix, lightsim2grid's Newton-Raphson when installed) except
  ``verbose=False`` (no progress bar). Power flows only: no market, no settlement, no files.
  The largest voltage difference to cosim's flows is printed (same physics).
* **bare runpp loop** (the earlier baseline, kept for continuity): ``pandapower.runpp(net)`` with
  its defaults once per slot on the same injections, timed on ``--sample`` slots spread over the
  horizon and scaled to it.
* **lightsim2grid TimeSeriesCPP** against cosim's power-flow stage: the same injections
  solved by lightsim2grid's own time-series class (voltages, then branch flows), built from
  the same pandapower network; cosim's ``power_flow`` stage (``summary.json``) includes making
  its result rows.

Peak memory is the process's maximum resident set size after the cosim run. Timing numbers are
not asserted anywhere (machines are noisy); the ratios are measured in the same run.
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
from typing import Any

import numpy as np
import pandapower as pp
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cosim.engine.build import build_simulation, open_writer  # noqa: E402
from cosim.engine.run import run_simulation  # noqa: E402
from cosim.grid.networks import load_network, prepare_for_participants  # noqa: E402
from cosim.scenario import load_scenario  # noqa: E402


class Recorder:
    """Wraps the grid adapter's solve calls and keeps copies of the injections and voltages."""

    def __init__(self, flow: Any) -> None:
        self.p_kw: list[np.ndarray] = []
        self.q_kvar: list[np.ndarray] = []
        self.vm_pu: list[np.ndarray] = []
        if hasattr(flow, "solve_batch"):
            batch = flow.solve_batch

            def solve_batch(p: np.ndarray, q: np.ndarray, *args: Any, **kw: Any) -> Any:
                self.p_kw.append(np.array(p, copy=True))
                self.q_kvar.append(np.array(q, copy=True))
                flows = batch(p, q, *args, **kw)
                self.vm_pu.extend(f.vm_pu for f in flows)
                return flows

            flow.solve_batch = solve_batch
        solve = flow.solve

        def solve_one(p: np.ndarray, q: np.ndarray) -> Any:
            self.p_kw.append(np.array(p, copy=True)[None])
            self.q_kvar.append(np.array(q, copy=True)[None])
            result = solve(p, q)
            self.vm_pu.append(result.vm_pu)
            return result

        flow.solve = solve_one

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.concatenate(self.p_kw), np.concatenate(self.q_kvar), np.stack(self.vm_pu)


def participant_net(bus: np.ndarray) -> tuple[pp.pandapowerNet, np.ndarray]:
    """The village with its own loads and PV removed and one load per participant."""
    net = prepare_for_participants(load_network("village"))
    for table in ("load", "sgen"):
        net[table] = net[table].iloc[0:0]
    loads = pp.create_loads(net, buses=bus, p_mw=0.0, q_mvar=0.0)
    return net, np.asarray(loads)


def pandapower_timeseries(
    bus: np.ndarray, p_kw: np.ndarray, q_kvar: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Wall time of ``run_timeseries`` with its defaults; its bus voltages and bus order."""
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    net, loads = participant_net(bus)
    columns = [str(i) for i in range(bus.size)]
    p_data = DFData(pd.DataFrame(p_kw / 1000.0, columns=columns))
    q_data = DFData(pd.DataFrame(q_kvar / 1000.0, columns=columns))
    ConstControl(net, "load", "p_mw", element_index=loads, data_source=p_data, profile_name=columns)
    ConstControl(
        net, "load", "q_mvar", element_index=loads, data_source=q_data, profile_name=columns
    )
    writer = OutputWriter(net)  # what run_timeseries creates by default: res_bus.vm_pu, res_line
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net)  # numba compiles pandapower's solver on the first call: not counted
        t0 = time.perf_counter()
        run_timeseries(net, time_steps=range(p_kw.shape[0]), verbose=False)
        wall = time.perf_counter() - t0
    vm = writer.output["res_bus.vm_pu"]
    return wall, vm.to_numpy(), vm.columns.to_numpy()


def bare_runpp(bus: np.ndarray, p_kw: np.ndarray, q_kvar: np.ndarray, sample: int) -> float:
    """Seconds per ``pandapower.runpp(net)`` (defaults) with the participant loads set."""
    net, loads = participant_net(bus)
    steps = np.linspace(0, p_kw.shape[0] - 1, num=min(sample, p_kw.shape[0])).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net)  # first call compiles numba; not counted
        t0 = time.perf_counter()
        for k in steps:
            net.load.loc[loads, "p_mw"] = p_kw[k] / 1000.0
            net.load.loc[loads, "q_mvar"] = q_kvar[k] / 1000.0
            pp.runpp(net)
        return (time.perf_counter() - t0) / len(steps)


def lightsim_timeseries(bus: np.ndarray, p_kw: np.ndarray, q_kvar: np.ndarray) -> float:
    """Wall time of lightsim2grid's ``TimeSeriesCPP``: voltages and branch flows of every slot."""
    from lightsim2grid.lightsim2grid_cpp import TimeSeriesCPP
    from lightsim2grid.network import init_from_pandapower

    net, _ = participant_net(bus)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = init_from_pandapower(net)
    n_bus = model.total_bus()
    v0 = np.ones(n_bus, dtype=np.complex128)
    v0 = np.array(model.dc_pf(v0, 10, 1e-8), dtype=np.complex128)
    tol = 1e-9 / float(net.sn_mva)
    t0 = time.perf_counter()
    ts = TimeSeriesCPP(model)
    ts.modify_load_p(np.ascontiguousarray(p_kw / 1000.0))
    ts.modify_load_q(np.ascontiguousarray(q_kvar / 1000.0))
    ts.compute(v0, 10, tol)
    ts.compute_flows()
    wall = time.perf_counter() - t0
    if not np.all(ts.converged_mask()):
        raise RuntimeError("TimeSeriesCPP did not converge on every slot")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=17520, help="slots (default: a year)")
    parser.add_argument("--sample", type=int, default=300, help="slots timed in the bare loop")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--backend",
        choices=("pandapower", "lightsim2grid"),
        default="lightsim2grid",
        help="cosim's grid.backend",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario override, e.g. privacy.aggregation=none (repeatable)",
    )
    args = parser.parse_args()

    scenario = load_scenario(
        ROOT / "scenarios" / "village_year.yaml",
        [f"time.slots={args.slots}", f"grid.backend={args.backend}", *args.overrides],
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sim = build_simulation(scenario)
        recorder = Recorder(sim.flow)
        summary = run_simulation(sim, open_writer(sim, Path(tmp)))
        cosim_s = time.perf_counter() - t0
        written_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    p_kw, q_kvar, cosim_vm = recorder.arrays()
    bus = sim.population.bus
    ts_s, ts_vm, ts_buses = pandapower_timeseries(bus, p_kw, q_kvar)
    order = {int(b): i for i, b in enumerate(sim.flow.bus_ids)}
    cols = [order[int(b)] for b in ts_buses]
    dvm = float(np.nanmax(np.abs(ts_vm - cosim_vm[:, cols])))
    per_flow_s = bare_runpp(bus, p_kw, q_kvar, args.sample)
    bare_s = per_flow_s * args.slots
    lightsim_s = lightsim_timeseries(bus, p_kw, q_kvar)
    flow_stage_s = summary["timings_s"].get("power_flow", float("nan"))

    figures = {
        "slots": args.slots,
        "backend": args.backend,
        "participants": int(bus.size),
        "cosim_wall_s": cosim_s,
        "cosim_stage_s": summary["timings_s"],
        "cosim_failed_power_flows": summary["grid"]["failed_power_flows"],
        "results_written_mb": written_mb,
        "peak_rss_mb": peak_mb,
        "pandapower_timeseries_s": ts_s,
        "pandapower_timeseries_max_dvm_pu": dvm,
        "speedup_timeseries_over_cosim": ts_s / cosim_s,
        "bare_runpp_ms_per_slot": per_flow_s * 1e3,
        "bare_runpp_wall_s_scaled": bare_s,
        "speedup_bare_over_cosim": bare_s / cosim_s,
        "lightsim_timeseries_s": lightsim_s,
        "cosim_flow_stage_s": flow_stage_s,
        "flow_stage_over_lightsim_timeseries": flow_stage_s / lightsim_s,
    }
    rows = [
        ("slots simulated", f"{args.slots} ({bus.size} participants)"),
        ("cosim wall time (all stages, all files)", f"{cosim_s:.1f} s"),
        ("pandapower run_timeseries, defaults, flows only", f"{ts_s:.1f} s"),
        ("  ratio (run_timeseries / cosim)", f"{ts_s / cosim_s:.1f}x"),
        ("  largest |vm| difference to cosim", f"{dvm:.1e} pu"),
        ("bare runpp loop, scaled", f"{bare_s:.1f} s ({per_flow_s * 1e3:.1f} ms/slot)"),
        ("  ratio (bare loop / cosim)", f"{bare_s / cosim_s:.1f}x"),
        ("cosim power-flow stage", f"{flow_stage_s:.2f} s"),
        ("lightsim2grid TimeSeriesCPP, same flows", f"{lightsim_s:.2f} s"),
        ("  ratio (cosim flow stage / TimeSeriesCPP)", f"{flow_stage_s / lightsim_s:.2f}"),
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
