"""Parameter sweeps: the cartesian product of varied keys, run on a local pool or Dask.

A sweep is planned first (:func:`plan_sweep`): every combination of the varied values is
applied to the scenario and validated, so a bad key or value fails with an
:class:`~cosim.errors.InputError` before any run starts. :func:`run_sweep` then runs the
planned scenarios on an executor -- a local :class:`~concurrent.futures.ProcessPoolExecutor`
by default, or a Dask ``distributed`` cluster given a scheduler address -- and writes:

* ``DIR/<run name>/``: one ordinary run directory per combination (``cosim run``'s files) plus
  ``run.json`` (scenario hash, status, error, wall time). The name is built from the varied
  values, e.g. ``participants.pv_penetration=0.3__seed=2`` (:func:`run_dir_name`).
* ``DIR/sweep.csv``: one row per run (varied keys, run directory, status, error, metrics),
  rewritten atomically each time a run finishes.

Metrics (:func:`run_metrics`) are computed from each run directory's files, so they do not
depend on the executor. A run directory is *complete* when its ``run.json`` holds the sha256
of the resolved scenario (:func:`scenario_hash`) with status ``completed`` and its
``summary.json`` says ``completed``; re-running a sweep reuses complete runs and deletes and
redoes every other one. A failing run is recorded with its error and the sweep goes on.

Example
-------
>>> from cosim.sweep import parse_vary
>>> parse_vary("participants.pv_penetration=0:0.4:0.2")
('participants.pv_penetration', [0.0, 0.2, 0.4])
>>> parse_vary("seed=1,2")
('seed', [1, 2])
"""

from cosim.sweep.metrics import METRIC_COLUMNS, MODEL_METRICS, run_metrics, sweep_columns
from cosim.sweep.plan import (
    PlannedRun,
    SweepPlan,
    expand_grid,
    parse_range,
    parse_vary,
    plan_sweep,
    run_dir_name,
    scenario_hash,
)
from cosim.sweep.runner import (
    SweepOutcome,
    SweepProgress,
    execute_run,
    is_complete,
    run_sweep,
)

__all__ = [
    "METRIC_COLUMNS",
    "MODEL_METRICS",
    "PlannedRun",
    "SweepOutcome",
    "SweepPlan",
    "SweepProgress",
    "execute_run",
    "expand_grid",
    "is_complete",
    "parse_range",
    "parse_vary",
    "plan_sweep",
    "run_dir_name",
    "run_metrics",
    "run_sweep",
    "scenario_hash",
    "sweep_columns",
]
