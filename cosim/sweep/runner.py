"""Running a planned sweep: one task per run on a process pool or a Dask cluster.

Each task (:func:`execute_run`) writes an ordinary run directory plus ``run.json``; the
client (:func:`run_sweep`) reuses complete runs, collects the finished ones as they come and
rewrites ``sweep.csv`` atomically after each.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cosim.errors import InputError
from cosim.jsonio import read_json, write_json
from cosim.scenario import Scenario
from cosim.subprocesses import init_child
from cosim.sweep.metrics import RUN_JSON, run_metrics, sweep_columns
from cosim.sweep.plan import PlannedRun, SweepPlan, value_text

__all__ = ["SweepOutcome", "SweepProgress", "execute_run", "is_complete", "run_sweep"]

_SWEEP_CSV = "sweep.csv"

# --------------------------------------------------------------------------- one run


def is_complete(run_dir: Path, expected_hash: str) -> bool:
    """Whether ``run_dir`` holds a completed run of the scenario with this hash."""
    info = read_json(Path(run_dir) / RUN_JSON)
    if info is None or info.get("hash") != expected_hash or info.get("status") != "completed":
        return False
    summary = read_json(Path(run_dir) / "summary.json")
    return summary is not None and summary.get("status") == "completed"


def execute_run(scenario: Scenario, run_dir: str, expected_hash: str) -> dict[str, Any]:
    """Run one scenario of a sweep into a fresh ``run_dir``; the task sent to workers.

    Deletes whatever ``run_dir`` holds, writes ``run.json`` (status ``running``), runs the
    scenario without per-slot progress and rewrites ``run.json`` with the outcome. Exceptions
    of the run are caught and recorded; the function itself only raises if the directory
    cannot be written.

    Returns
    -------
    dict
        The final content of ``run.json``: ``hash``, ``status`` (``completed`` or
        ``failed``), ``error``, ``wall_s`` [s], ``host``, ``pid``.
    """
    from cosim.engine.run import run_scenario

    path = Path(run_dir)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    info: dict[str, Any] = {
        "hash": expected_hash,
        "status": "running",
        "error": None,
        "wall_s": None,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    write_json(path / RUN_JSON, info, atomic=True)
    t0 = time.perf_counter()
    try:
        run_scenario(scenario, path)
    except Exception as exc:
        info["status"], info["error"] = "failed", " ".join(f"{type(exc).__name__}: {exc}".split())
    else:
        info["status"] = "completed"
    info["wall_s"] = time.perf_counter() - t0
    write_json(path / RUN_JSON, info, atomic=True)
    return info


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class SweepProgress:
    """State of a running sweep, passed to the progress callback after every run.

    Attributes
    ----------
    total : int
        Runs in the sweep.
    done : int
        Runs finished (completed, failed or reused).
    failed : int
        Runs that failed.
    reused : int
        Runs found complete from an earlier invocation (not rerun).
    elapsed_s : float
        Seconds since the sweep started [s].
    eta_s : float or None
        Estimated seconds to the end [s]; None before the first run finishes.
    last : str or None
        Name of the run that just finished.
    last_status : str or None
        Its status.
    """

    total: int
    done: int
    failed: int
    reused: int
    elapsed_s: float
    eta_s: float | None
    last: str | None = None
    last_status: str | None = None


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    table : pandas.DataFrame
        The content of sweep.csv.
    path : Path
        sweep.csv.
    completed, failed, reused : int
        Counts of runs (``reused`` are among ``completed``).
    wall_s : float
        Wall time of the sweep [s].
    """

    table: pd.DataFrame
    path: Path
    completed: int = 0
    failed: int = 0
    reused: int = 0
    wall_s: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)


def _row(run: PlannedRun, status: str, error: str | None, reused: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        key: value if isinstance(value, (bool, int, float, str)) else value_text(value)
        for key, value in run.values.items()
    }
    row.update(run_dir=run.name, status=status, error=error, reused=reused, hash=run.scenario_hash)
    return row


def _write_sweep_csv(
    path: Path, rows: Iterable[dict[str, Any]], columns: Sequence[str]
) -> pd.DataFrame:
    from cosim.results.writer import write_table

    frame = pd.DataFrame(list(rows))
    frame = frame.reindex(columns=[*columns, *(c for c in frame.columns if c not in columns)])
    tmp = path.with_name(f".{path.name}.tmp")
    write_table(tmp, frame)
    os.replace(tmp, path)
    return frame


def _open_executor(
    workers: int | None, scheduler: str | None, n_tasks: int
) -> tuple[cf.Executor, Callable[[bool], None]]:
    """An executor and the function that closes it (and its Dask client).

    The closer's argument says whether to wait for running tasks (False after an error or an
    interrupt: running runs then finish or die on their own and are redone next time).
    """
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise InputError(
                None, "--scheduler", "needs dask distributed (pip install 'dask[distributed]')"
            ) from None
        try:
            client = Client(scheduler, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(
                None, "--scheduler", f"cannot connect to a Dask scheduler at {scheduler}: {exc}"
            ) from None
        executor = client.get_executor(pure=False)

        def close_dask(wait: bool) -> None:
            executor.shutdown(wait=wait)
            client.close()

        return executor, close_dask
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 1:
        raise InputError(None, "--workers", f"expected at least 1, got {n}")
    pool = cf.ProcessPoolExecutor(
        max_workers=max(1, min(n, n_tasks)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_child,
        initargs=(os.getpid(), False),
    )
    return pool, lambda wait: pool.shutdown(wait=wait, cancel_futures=True)


def run_sweep(
    plan: SweepPlan,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: cf.Executor | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepOutcome:
    """Run a planned sweep into ``out_dir``, reusing complete runs; write sweep.csv.

    Parameters
    ----------
    plan : SweepPlan
        From :func:`plan_sweep`.
    out_dir : str or Path
        Sweep directory: run directories and sweep.csv go here. With a Dask cluster it must
        be on a filesystem the workers share, at the same path.
    workers : int, optional
        Local worker processes (default: the file's ``sweep.workers``, else the CPU count).
        Ignored with a scheduler.
    scheduler : str, optional
        Address of a running Dask scheduler (default: the file's ``sweep.scheduler``). When
        set, runs are Dask tasks instead of local processes.
    executor : concurrent.futures.Executor, optional
        Use this executor (left open) instead of creating one; for tests and embedding.
    progress : callable, optional
        Called with a :class:`SweepProgress` once after the reuse check and after every run.

    Returns
    -------
    SweepOutcome
    """
    t0 = time.perf_counter()
    out = Path(out_dir).resolve()
    csv_path = out / _SWEEP_CSV
    columns = sweep_columns(plan)
    rows = {run.index: _row(run, "pending", None, False) for run in plan.runs}
    outcome = SweepOutcome(pd.DataFrame(), csv_path)
    todo: list[PlannedRun] = []
    for run in plan.runs:
        if is_complete(out / run.name, run.scenario_hash):
            rows[run.index] = {**_row(run, "completed", None, True), **run_metrics(out / run.name)}
            outcome.completed += 1
            outcome.reused += 1
        else:
            todo.append(run)
    close: Callable[[bool], None] = lambda wait: None  # noqa: E731
    if todo and executor is None:  # connect (or fail) before writing anything
        executor, close = _open_executor(
            workers if workers is not None else plan.base.sweep.workers,
            scheduler if scheduler is not None else plan.base.sweep.scheduler,
            len(todo),
        )
    out.mkdir(parents=True, exist_ok=True)
    outcome.table = _write_sweep_csv(csv_path, rows.values(), columns)

    def report(last: PlannedRun | None, status: str | None) -> None:
        if progress is None:
            return
        elapsed = time.perf_counter() - t0
        executed = outcome.completed + outcome.failed - outcome.reused
        remaining = len(todo) - executed
        eta = elapsed / executed * remaining if executed else None
        done = outcome.completed + outcome.failed
        progress(
            SweepProgress(
                len(plan.runs),
                done,
                outcome.failed,
                outcome.reused,
                elapsed,
                eta,
                last.name if last else None,
                status,
            )
        )

    report(None, None)
    if todo:
        assert executor is not None
        futures: dict[cf.Future[dict[str, Any]], PlannedRun] = {}
        finished = False
        try:
            for run in todo:
                fut = executor.submit(
                    execute_run, run.scenario, str(out / run.name), run.scenario_hash
                )
                futures[fut] = run
            for fut in cf.as_completed(futures):
                run = futures[fut]
                try:
                    info = fut.result()
                    status, error = str(info["status"]), info.get("error")
                except Exception as exc:  # the worker died, or the task could not run
                    text = f"task failed: {type(exc).__name__}: {exc}"
                    status, error = "failed", " ".join(text.split())
                if status == "completed":
                    outcome.completed += 1
                else:
                    outcome.failed += 1
                    outcome.errors[run.name] = str(error)
                rows[run.index] = {
                    **_row(run, status, error, False),
                    **run_metrics(out / run.name),
                }
                outcome.table = _write_sweep_csv(csv_path, rows.values(), columns)
                report(run, status)
            finished = True
        finally:
            for fut in futures:
                fut.cancel()
            close(finished)
    outcome.wall_s = time.perf_counter() - t0
    return outcome
