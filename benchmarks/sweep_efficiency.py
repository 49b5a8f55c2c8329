"""Parallel efficiency of a sweep on 2 local workers, and the Dask executor's per-run overhead.

Usage::

    python benchmarks/sweep_efficiency.py                # ~1-2 min on 2 cores
    python benchmarks/sweep_efficiency.py --slots 48 --repeat 1 --json out.json

What is measured (the quickstart scenario, ``--slots`` half-hour slots, buses.csv off):

* **T1**: ``--runs`` runs (seeds 1..N) on a local pool of 1 worker; **T2**: the same on a pool
  of 2 workers. Parallel efficiency = T1 / (2 * T2) (1.0 is perfect; the target is >= 0.8).
* **Dask**: the same runs on a ``LocalCluster(n_workers=2, processes=True,
  threads_per_worker=1)`` through ``cosim.sweep.run_sweep(scheduler=...)``, and a batch of
  ``--tiny`` one-slot runs on both executors: the per-run overhead of Dask against the pool is
  (T_dask - T_pool) / runs for those short runs (connection of the client included).

Workers are warmed up first (each compiles pandapower's numba kernels once, ~4-9 s here; this
is a per-worker start-up cost, printed separately, not a per-run one). Each timing is the best
of ``--repeat`` sweeps into fresh directories. Nothing is asserted: machines are noisy.

The workers' CPU seconds (Linux ``/proc``) are printed with each timing: ``worker CPU / (wall x
workers)`` near 1 means every worker had a core to itself; lower means other processes took
cores away and the wall-clock efficiency says more about the machine than about cosim. The
CPU-time efficiency (worker CPU of the serial sweep over that of the parallel one) is the
part of the efficiency that cosim controls: 1.0 means running side by side costs nothing
extra.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cosim.sweep import SweepPlan, execute_run, plan_sweep, run_sweep  # noqa: E402

SCENARIO = ROOT / "scenarios" / "quickstart.yaml"


def _plan(slots: int, runs: int) -> SweepPlan:
    return plan_sweep(
        SCENARIO,
        [f"seed=1:{runs}:1"],
        [f"time.slots={slots}", "output.buses=false", "output.lines=false"],
    )


def _warm_pool(pool: cf.Executor, workers: int, tmp: Path) -> tuple[float, set[int]]:
    """Run a 1-slot scenario on every worker (compiles numba there); seconds, worker pids."""
    plan = _plan(1, workers)
    t0 = time.perf_counter()
    futures = [
        pool.submit(execute_run, r.scenario, str(tmp / f"warm-{r.index}"), r.scenario_hash)
        for r in plan.runs
    ]
    pids = {f.result()["pid"] for f in futures}
    for attempt in range(5):  # a fast worker may have taken both; repeat until all are warm
        if len(pids) >= workers:
            break
        extra = [
            pool.submit(execute_run, r.scenario, str(tmp / f"warm-{attempt}-{r.index}"), "x")
            for r in plan.runs
        ]
        pids |= {f.result()["pid"] for f in extra}
    return time.perf_counter() - t0, pids


def _cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc; else NaN)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _time_sweep(
    plan: SweepPlan, tmp: Path, pids: set[int] | None = None, **kwargs: Any
) -> tuple[float, float]:
    """Wall time of one sweep into a fresh directory [s], and the workers' CPU seconds."""
    out = Path(tempfile.mkdtemp(dir=tmp, prefix="sweep-"))
    cpu0 = _cpu_seconds(pids or set())
    t0 = time.perf_counter()
    outcome = run_sweep(plan, out, **kwargs)
    wall = time.perf_counter() - t0
    if outcome.failed:
        raise SystemExit(f"benchmark run failed: {outcome.errors}")
    return wall, _cpu_seconds(pids or set()) - cpu0


def _pool(workers: int) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slots", type=int, default=96, help="slots per run (default 96)")
    parser.add_argument("--runs", type=int, default=4, help="runs in the sweep (default 4)")
    parser.add_argument("--tiny", type=int, default=8, help="one-slot runs for the overhead")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many sweeps")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask measurements")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    plan = _plan(args.slots, args.runs)
    tiny = _plan(1, args.tiny)
    rows: dict[str, float] = {"load average before [1 min]": os.getloadavg()[0]}
    best: dict[str, tuple[float, float]] = {}

    def measure(label: str, sweep: SweepPlan, pids: set[int] | None, **kwargs: Any) -> None:
        wall, cpu = _time_sweep(sweep, tmp, pids, **kwargs)
        if label not in best or wall < best[label][0]:
            best[label] = (wall, cpu)

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        pool1 = stack.enter_context(_pool(1))
        pool2 = stack.enter_context(_pool(2))
        rows["warm-up, 1 worker [s]"], pids1 = _warm_pool(pool1, 1, tmp)
        rows["warm-up, 2 workers [s]"], pids2 = _warm_pool(pool2, 2, tmp)
        address: str | None = None
        pids_dask: set[int] = set()
        if not args.no_dask:
            from distributed import Client, LocalCluster

            t0 = time.perf_counter()
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
                )
            )
            rows["LocalCluster start [s]"] = time.perf_counter() - t0
            address = cluster.scheduler_address
            with Client(address) as client:
                rows["warm-up, Dask workers [s]"], pids_dask = _warm_pool(
                    client.get_executor(pure=False), 2, tmp
                )
        # interleaved, so that load from other processes hits every variant alike
        for _ in range(args.repeat):
            measure("T1: 1 worker", plan, pids1, executor=pool1)
            measure("T2: 2 workers", plan, pids2, executor=pool2)
            measure("tiny runs, pool", tiny, pids2, executor=pool2)
            if address is not None:
                measure("T2: Dask, 2 workers", plan, pids_dask, scheduler=address)
                measure("tiny runs, Dask", tiny, pids_dask, scheduler=address)

    for label, (wall, cpu) in best.items():
        workers = 1 if label.startswith("T1") else 2
        rows[f"{label} [s]"] = wall
        if not label.startswith("tiny"):
            rows[f"{label}: worker CPU [s]"] = cpu
            # near 1 when every worker had a core to itself; lower on a busy machine
            rows[f"{label}: worker CPU / (wall x workers)"] = cpu / (wall * workers)
    t1, t2 = best["T1: 1 worker"], best["T2: 2 workers"]
    rows["parallel efficiency T1/(2 T2)"] = t1[0] / (2 * t2[0])
    # the same from CPU time: unaffected by other processes taking cores away
    rows["CPU-time efficiency CPU1/CPU2"] = t1[1] / t2[1]
    if address is not None:
        rows["Dask efficiency T1/(2 T2_dask)"] = t1[0] / (2 * best["T2: Dask, 2 workers"][0])
        rows["Dask overhead per run [s]"] = (
            best["tiny runs, Dask"][0] - best["tiny runs, pool"][0]
        ) / args.tiny

    print(
        f"sweep of {args.runs} quickstart runs x {args.slots} slots; {args.tiny} one-slot runs "
        f"for the overhead; best of {args.repeat}"
    )
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value:8.3f}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
