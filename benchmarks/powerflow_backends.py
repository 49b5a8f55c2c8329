"""Power-flow backends: pandapower (reference) vs lightsim2grid, per flow and for a year.

Usage::

    python benchmarks/powerflow_backends.py                # ~2 min here
    python benchmarks/powerflow_backends.py --sample 100   # a quicker look
    python benchmarks/powerflow_backends.py --json out.json

What is measured, on both built-in networks, in one process:

* **bare runpp**: what a pandapower user writes: set every load's ``p_mw`` from the household
  profile and call ``pandapower.runpp(net)`` with its defaults, once per slot;
* **PandapowerFlow.solve**: cosim's reference adapter (``RUNPP_OPTIONS``: Newton-Raphson from
  a DC start, 1e-9 MVA);
* **LightsimFlow.solve**: the lightsim2grid backend, one slot per call (the path for slots
  whose control depends on the flow);
* **LightsimFlow.solve_batch**: the same flows, all slots in one call (1 and 2 threads).

The slow ones are timed on ``--sample`` slots spread over the year; the per-flow times are
medians of single calls (batch: total / slots, best of ``--repeat``). The **year** figure
(village, 17,520 half-hourly slots): the bare runpp loop's per-flow time scaled to the year
against a full year of the fast backend, timed end to end (kW in, ``FlowResult`` objects out).
The injections are the profile's half-hour means times each participant's rating, as in
``year_vs_pandapower.py``. The largest differences to ``PandapowerFlow`` over the sampled slots
are printed too. Nothing is asserted: machines are noisy; this script only measures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cosim.grid.lightsim import LightsimFlow  # noqa: E402
from cosim.grid.networks import attach_participants, load_network  # noqa: E402
from cosim.grid.powerflow import PandapowerFlow  # noqa: E402
from cosim.participants.profiles import builtin_profiles  # noqa: E402

YEAR_SLOTS = 17_520


def year_injections(rating_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p_kw, q_kvar) for every half-hour of the year: household profile x rating."""
    table = builtin_profiles("household")
    per_slot = table.values.reshape(-1, 2, table.values.shape[1]).mean(axis=1)[:YEAR_SLOTS]
    factors = per_slot / per_slot.max(axis=0)
    cols = np.arange(rating_kw.size) % factors.shape[1]
    p_kw = np.ascontiguousarray(factors[:, cols] * rating_kw)
    return p_kw, 0.2 * p_kw


def median_call_s(call: Callable[[int], Any], steps: np.ndarray) -> float:
    """Median wall time of ``call(k)`` over ``steps`` [s] (after one untimed warm-up call)."""
    call(int(steps[0]))
    times = []
    for k in steps:
        t0 = time.perf_counter()
        call(int(k))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bare_runpp(name: str, p_kw: np.ndarray, steps: np.ndarray) -> float:
    """Median seconds per ``pandapower.runpp(net)`` (defaults) with the loads set per slot."""
    net = load_network(name)
    net.sgen["in_service"] = False
    att = attach_participants(net, name)
    n_load = int(net.load.index.max()) + 1
    rows = net.load.index.to_numpy()

    def one(k: int) -> None:
        per_load = np.bincount(att.source_load, weights=p_kw[k], minlength=n_load)
        net.load["p_mw"] = per_load[rows] / 1000.0
        pp.runpp(net)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandapower's own deprecation chatter
        return median_call_s(one, steps)


def best_of(repeat: int, call: Callable[[], Any]) -> float:
    """Best wall time of ``repeat`` runs of ``call()`` [s]."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def agreement(fast: list[Any], ref: list[Any]) -> dict[str, float]:
    """Largest absolute differences fast - reference over the given slots."""

    def worst(field: str) -> float:
        return max(
            float(np.nanmax(np.abs(getattr(a, field) - getattr(b, field))))
            for a, b in zip(fast, ref, strict=True)
        )

    return {
        "max_dvm_pu": worst("vm_pu"),
        "max_dline_loading_percent": worst("line_loading_percent"),
        "max_dtrafo_loading_percent": worst("trafo_loading_percent"),
        "max_dlosses_kw": worst("losses_kw"),
        "max_dgrid_import_kw": worst("grid_import_kw"),
    }


def network_figures(name: str, sample: int, repeat: int) -> dict[str, Any]:
    """Per-flow times and agreement on one network."""
    net = load_network(name)
    att = attach_participants(net, name)
    p_kw, q_kvar = year_injections(att.rating_kw)
    steps = np.linspace(0, YEAR_SLOTS - 1, num=sample).astype(int)
    ref = PandapowerFlow(net, att.bus)
    fast = LightsimFlow(net, att.bus)
    figures: dict[str, Any] = {"network": name, "sampled_slots": sample}
    figures["bare_runpp_s"] = bare_runpp(name, p_kw, steps)
    figures["pandapowerflow_s"] = median_call_s(lambda k: ref.solve(p_kw[k], q_kvar[k]), steps)
    figures["lightsim_solve_s"] = median_call_s(lambda k: fast.solve(p_kw[k], q_kvar[k]), steps)
    for threads in (1, 2):
        wall = best_of(repeat, lambda t=threads: fast.solve_batch(p_kw, q_kvar, threads=t))
        figures[f"lightsim_batch_{threads}t_s"] = wall / YEAR_SLOTS
    figures.update(
        agreement(
            fast.solve_batch(p_kw[steps], q_kvar[steps]),
            [ref.solve(p_kw[k], q_kvar[k]) for k in steps],
        )
    )
    if name == "village":
        bare_year = figures["bare_runpp_s"] * YEAR_SLOTS
        ref_year = figures["pandapowerflow_s"] * YEAR_SLOTS
        solve_year = best_of(1, lambda: [fast.solve(p_kw[k], q_kvar[k]) for k in range(YEAR_SLOTS)])
        figures["year"] = {
            "bare_runpp_scaled_s": bare_year,
            "pandapowerflow_scaled_s": ref_year,
            "lightsim_solve_year_s": solve_year,
            "lightsim_batch_1t_year_s": figures["lightsim_batch_1t_s"] * YEAR_SLOTS,
            "lightsim_batch_2t_year_s": figures["lightsim_batch_2t_s"] * YEAR_SLOTS,
        }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=300, help="slots timed one by one")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each full-year batch")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    results = [network_figures(name, args.sample, args.repeat) for name in ("cigre_lv", "village")]
    print(
        f"per AC power flow (median of {args.sample} slots; batch: best of {args.repeat} "
        f"full years / {YEAR_SLOTS})"
    )
    header = f"  {'':<34}" + "".join(f"{r['network']:>12}" for r in results)
    print(header)
    for key, label in (
        ("bare_runpp_s", "pandapower.runpp, defaults"),
        ("pandapowerflow_s", "PandapowerFlow.solve (reference)"),
        ("lightsim_solve_s", "LightsimFlow.solve"),
        ("lightsim_batch_1t_s", "LightsimFlow.solve_batch, 1 thread"),
        ("lightsim_batch_2t_s", "LightsimFlow.solve_batch, 2 threads"),
    ):
        cells = "".join(f"{r[key] * 1e6:>9.0f} us" for r in results)
        print(f"  {label:<34}{cells}")
    print("largest difference to PandapowerFlow over the sampled slots")
    for key in (
        "max_dvm_pu",
        "max_dline_loading_percent",
        "max_dtrafo_loading_percent",
        "max_dlosses_kw",
        "max_dgrid_import_kw",
    ):
        cells = "".join(f"{r[key]:>12.1e}" for r in results)
        print(f"  {key:<34}{cells}")
    year = results[1]["year"]
    bare = year["bare_runpp_scaled_s"]
    print(f"a year of AC flows on the village ({YEAR_SLOTS} slots)")
    for key, label in (
        ("bare_runpp_scaled_s", "bare runpp loop (sampled, scaled)"),
        ("pandapowerflow_scaled_s", "PandapowerFlow (sampled, scaled)"),
        ("lightsim_solve_year_s", "LightsimFlow.solve, slot by slot"),
        ("lightsim_batch_1t_year_s", "LightsimFlow.solve_batch, 1 thread"),
        ("lightsim_batch_2t_year_s", "LightsimFlow.solve_batch, 2 threads"),
    ):
        print(f"  {label:<38}{year[key]:>9.2f} s   bare/this = {bare / year[key]:>6.0f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
