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
of ``--repeat`` sweeps into fresh directories. Nothing is asserted: machines are noisy, and on
a shared 2-core machine other processes lower the efficiency.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing
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


def _warm_pool(pool: cf.Executor, workers: int, tmp: Path) -> float:
    """Run a 1-slot scenario on every worker (compiles numba there); seconds taken."""
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
    return time.perf_counter() - t0


def _time_sweep(plan: SweepPlan, tmp: Path, repeat: int, **kwargs: Any) -> float:
    best = float("inf")
    for i in range(repeat):
        out = Path(tempfile.mkdtemp(dir=tmp, prefix=f"sweep{i}-"))
        t0 = time.perf_counter()
        outcome = run_sweep(plan, out, **kwargs)
        best = min(best, time.perf_counter() - t0)
        if outcome.failed:
            raise SystemExit(f"benchmark run failed: {outcome.errors}")
    return best


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
    rows: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with _pool(1) as pool1:
            rows["warm-up, 1 worker [s]"] = _warm_pool(pool1, 1, tmp)
            rows["T1: 1 worker [s]"] = _time_sweep(plan, tmp, args.repeat, executor=pool1)
        with _pool(2) as pool2:
            rows["warm-up, 2 workers [s]"] = _warm_pool(pool2, 2, tmp)
            rows["T2: 2 workers [s]"] = _time_sweep(plan, tmp, args.repeat, executor=pool2)
            rows["tiny runs, pool [s]"] = _time_sweep(tiny, tmp, args.repeat, executor=pool2)
        rows["parallel efficiency T1/(2 T2)"] = rows["T1: 1 worker [s]"] / (
            2 * rows["T2: 2 workers [s]"]
        )
        if not args.no_dask:
            from distributed import LocalCluster

            t0 = time.perf_counter()
            with LocalCluster(
                n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
            ) as cluster:
                rows["LocalCluster start [s]"] = time.perf_counter() - t0
                from distributed import Client

                with Client(cluster.scheduler_address) as client:
                    rows["warm-up, Dask workers [s]"] = _warm_pool(
                        client.get_executor(pure=False), 2, tmp
                    )
                address = cluster.scheduler_address
                rows["T2: Dask, 2 workers [s]"] = _time_sweep(
                    plan, tmp, args.repeat, scheduler=address
                )
                rows["tiny runs, Dask [s]"] = _time_sweep(tiny, tmp, args.repeat, scheduler=address)
            rows["Dask overhead per run [s]"] = (
                rows["tiny runs, Dask [s]"] - rows["tiny runs, pool [s]"]
            ) / args.tiny
            rows["Dask efficiency T1/(2 T2_dask)"] = rows["T1: 1 worker [s]"] / (
                2 * rows["T2: Dask, 2 workers [s]"]
            )

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
