"""Reading results: one reader for run directories, their role views and sweep directories.

The figures (:mod:`cosim.plots`) and the dashboard (:mod:`cosim.dashboard`) read results only
through :class:`RunDir`, so a table is found the same way everywhere: ``<name>.csv``, else
``<name>.parquet`` (``output.format: parquet``: one file, or a folder of part files for the
tables written in chunks), as :func:`cosim.results.formats.read_table` does.

Three kinds of directory:

- a **run directory** (``slots.csv`` and/or ``summary.json``), possibly with ``views/<role>/``
  sub-directories: what each actor learned (``grid_operator``, ``supplier_<j>``,
  ``consumer_<i>``). A view is a *partial* run directory (same file and column names, fewer rows
  and columns, plus role-specific files such as ``aggregates.csv`` and a ``view.json``), so
  :meth:`RunDir.view` returns another :class:`RunDir`. The run directory itself is the
  researcher's view.
- a **sweep directory** (``sweep.csv``, one row per run, ``run_dir`` relative to it);
- a **folder of runs** (sub-directories that are run directories).

Example (after ``cosim run scenarios/quickstart.yaml --out results/quickstart``)::

    from cosim.results.rundir import RunDir

    run = RunDir("results/quickstart")
    run.table("slots", ["time", "clearing_price"]).shape  # (48, 2)
    run.views()  # ['grid_operator', 'supplier_0', ...] with privacy.views set
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cosim.errors import InputError

__all__ = ["MAX_POINTS", "ROLE_PATTERN", "RunDir", "bucket_rule", "bucket_starts", "naive_times"]

#: Most time buckets a figure or a dashboard series shows (a year of 30-min slots: 365 days).
MAX_POINTS = 1000

#: Names of role views: ``grid_operator``, ``supplier_<j>``, ``consumer_<i>`` (j, i integers).
ROLE_PATTERN = re.compile(r"^(grid_operator|supplier_\d+|consumer_\d+)$")

#: Files whose presence marks a run directory.
_RUN_MARKERS = ("slots.csv", "slots.parquet", "summary.json")  # a file or a folder


class RunDir:
    """A run directory, a role view of one, a sweep directory or a folder of runs.

    Parameters
    ----------
    path : str or Path
        The directory.

    Raises
    ------
    InputError
        If ``path`` is not a directory.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise InputError(self.path, "(directory)", "directory not found")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- kind -----------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``sweep`` (has ``sweep.csv``), ``run``, ``runs`` (a folder of runs) or ``empty``."""
        if (self.path / "sweep.csv").is_file():
            return "sweep"
        if any((self.path / m).exists() for m in _RUN_MARKERS):
            return "run"
        if self._child_runs():
            return "runs"
        return "empty"

    # -- files of a run -------------------------------------------------------------------------

    def file(self, name: str) -> Path | None:
        """Path of table ``name`` (``.csv`` preferred over ``.parquet``), or None if absent."""
        if "/" in name or "\\" in name or name.startswith("."):
            raise InputError(self.path, name, "a table name without a path")
        for ext in (".csv", ".parquet"):
            p = self.path / f"{name}{ext}"
            if p.is_file() or (ext == ".parquet" and p.is_dir()):
                return p
        return None

    def has(self, table: str) -> bool:
        """Whether table ``table`` (``slots``, ``buses``, ...) exists here."""
        return self.file(table) is not None

    def columns(self, table: str) -> list[str]:
        """Column names of a table (read from its header only); empty if it is absent."""
        path = self.file(table)
        if path is None:
            return []
        if path.suffix == ".parquet":
            return _parquet_columns(path)
        try:
            return list(pd.read_csv(path, nrows=0).columns)
        except (OSError, ValueError) as exc:
            raise InputError(path, "(file)", f"cannot read the CSV: {exc}") from None

    def table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Table ``name`` as a DataFrame, optionally only some columns.

        Parameters
        ----------
        name : str
            Table name without extension (``slots``, ``buses``, ``bills``, ``aggregates``...).
        columns : sequence of str, optional
            Columns to read (in this order); all when None.

        Returns
        -------
        pandas.DataFrame
            ``true``/``false`` columns as bool, everything else as pandas infers it.

        Raises
        ------
        InputError
            If the table or a requested column is missing, or the file cannot be read.
        """
        path = self.file(name)
        if path is None:
            raise InputError(self.path / f"{name}.csv", "(file)", "file not found")
        if columns is not None:
            missing = [c for c in columns if c not in self.columns(name)]
            if missing:
                raise InputError(path, missing[0], "required column is missing")
        if path.suffix == ".parquet":
            frame = _read_parquet(path, columns)
        else:
            try:
                frame = pd.read_csv(path, usecols=list(columns) if columns is not None else None)
            except (OSError, ValueError) as exc:
                raise InputError(path, "(file)", f"cannot read the CSV: {exc}") from None
        return frame[list(columns)] if columns is not None else frame

    def summary(self) -> dict[str, Any]:
        """``summary.json`` as a mapping (empty if missing or unreadable)."""
        return _read_json(self.path / "summary.json")

    def scenario(self) -> dict[str, Any]:
        """The resolved ``scenario.yaml`` as a mapping (empty if missing or unreadable)."""
        try:
            data = yaml.safe_load((self.path / "scenario.yaml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return {}
        return data if isinstance(data, dict) else {}

    def network(self) -> Any | None:
        """The run's pandapower network (named in its ``scenario.yaml``), or None.

        A role view without a scenario may name its network in ``view.json`` (``network``).
        None when nothing names a network, or the network cannot be loaded (for example a JSON
        file given relative to a scenario file that moved). Built-in networks are built once
        per process.
        """
        name = (self.scenario().get("network") or {}).get("name") or self.view_info().get("network")
        if not isinstance(name, str):
            return None
        return _load_network(name, str(self.path / "scenario.yaml"))

    def bus_names(self) -> dict[int, str]:
        """Bus index -> name (the network's ``name``, else ``bus <index>``); empty if unknown."""
        net = self.network()
        if net is None:
            return {}
        return {
            int(i): str(n) if isinstance(n, str) and n else f"bus {i}"
            for i, n in net.bus["name"].items()
        }

    def view_info(self) -> dict[str, Any]:
        """``view.json`` of a role view (``role``, ``built_from``, ``files``); empty otherwise."""
        return _read_json(self.path / "view.json")

    @property
    def name(self) -> str:
        """The scenario name, else the directory name."""
        name = self.scenario().get("name") or self.summary().get("name")
        return str(name) if name else self.path.resolve().name

    # -- role views -----------------------------------------------------------------------------

    def views(self) -> list[str]:
        """Role names with a view directory under ``views/``, sorted (numbers numerically)."""
        base = self.path / "views"
        if not base.is_dir():
            return []
        names = [p.name for p in base.iterdir() if p.is_dir() and ROLE_PATTERN.fullmatch(p.name)]
        return sorted(names, key=_role_sort_key)

    def view(self, role: str) -> RunDir:
        """The view directory of ``role`` as a :class:`RunDir`.

        Raises
        ------
        InputError
            If ``role`` is not a role name or this run has no view for it.
        """
        if not ROLE_PATTERN.fullmatch(role):
            raise InputError(
                self.path / "views", role, "a role: grid_operator, supplier_<j> or consumer_<i>"
            )
        path = self.path / "views" / role
        if not path.is_dir():
            raise InputError(self.path / "views", role, "no view directory for this role")
        return RunDir(path)

    # -- sweeps and folders of runs -------------------------------------------------------------

    def sweep(self) -> pd.DataFrame:
        """``sweep.csv`` of a sweep directory.

        Raises
        ------
        InputError
            If there is no ``sweep.csv`` or it has no ``run_dir``/``status`` column.
        """
        table = self.table("sweep")
        if "run_dir" not in table or "status" not in table:
            raise InputError(
                self.path / "sweep.csv", "run_dir", "not a sweep.csv (no run_dir/status column)"
            )
        return table

    def sweep_keys(self) -> list[str]:
        """The varied keys of a sweep: the columns of ``sweep.csv`` before ``run_dir``."""
        cols = self.columns("sweep")
        return cols[: cols.index("run_dir")] if "run_dir" in cols else []

    def runs(self) -> dict[str, RunDir]:
        """Runs under this directory, by name (relative path); ``{name: self}`` for a run.

        A sweep lists the completed rows of ``sweep.csv`` whose directory exists; a folder of
        runs lists its sub-directories that are run directories.
        """
        kind = self.kind
        if kind == "run":
            return {self.path.resolve().name: self}
        if kind == "sweep":
            table = self.sweep()
            out: dict[str, RunDir] = {}
            for rel, status in zip(table["run_dir"].astype(str), table["status"], strict=True):
                p = (self.path / rel).resolve()
                if status == "completed" and p.is_dir() and p.is_relative_to(self.path.resolve()):
                    out[rel] = RunDir(p)
            return out
        return {p.name: RunDir(p) for p in self._child_runs()}

    def _child_runs(self) -> list[Path]:
        return sorted(
            p
            for p in self.path.iterdir()
            if p.is_dir() and any((p / m).exists() for m in _RUN_MARKERS)
        )


def naive_times(values: pd.Series) -> pd.Series:
    """ISO 8601 times with a UTC offset -> local wall-clock times without one."""
    return pd.to_datetime(values.astype(str).str.slice(0, 19))


def bucket_rule(n_slots: int, slot_minutes: float, freq: str = "auto") -> str:
    """``slot``, ``day`` or ``week``: ``freq`` itself, or for ``auto`` the finest that keeps a
    series of ``n_slots`` slots of ``slot_minutes`` [min] within :data:`MAX_POINTS` points.

    >>> bucket_rule(48, 30), bucket_rule(17_520, 30), bucket_rule(10 * 17_520, 30)
    ('slot', 'day', 'week')
    """
    if freq in ("slot", "day", "week"):
        return freq
    if freq != "auto":
        raise ValueError(f"freq: expected auto, slot, day or week, got {freq!r}")
    if n_slots <= MAX_POINTS:
        return "slot"
    days = n_slots * slot_minutes / 1440.0
    return "day" if days <= MAX_POINTS else "week"


def bucket_starts(times: pd.Series, rule: str) -> pd.Series:
    """Start of each (naive) time's bucket under ``rule`` (weeks start on Monday)."""
    if rule == "slot":
        return times
    day = times.dt.floor("D")
    if rule == "day":
        return day
    return day - pd.to_timedelta(day.dt.weekday, unit="D")


_NETWORKS: dict[tuple[str, str], Any] = {}


def _load_network(name: str, scenario_file: str) -> Any | None:
    key = (name, "" if name in ("cigre_lv", "village") else scenario_file)
    if key not in _NETWORKS:
        from cosim.grid.networks import load_network

        try:
            _NETWORKS[key] = load_network(name, scenario_file)
        except InputError:
            _NETWORKS[key] = None
    return _NETWORKS[key]


def _role_sort_key(role: str) -> tuple[str, int]:
    head, _, tail = role.rpartition("_")
    return (head, int(tail)) if tail.isdigit() else (role, -1)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _parquet_columns(path: Path) -> list[str]:
    """Column names of a Parquet table (a file, or a folder of part files)."""
    import pyarrow.parquet as pq

    try:
        if path.is_file():
            return list(pq.read_schema(path).names)
        parts = sorted(path.glob("part-*.parquet"))
        if parts:
            return list(pq.read_schema(parts[0]).names)
        names = (path / "_columns").read_text(encoding="utf-8").strip().split(",")
        return [n for n in names if n]
    except (OSError, ValueError) as exc:
        raise InputError(path, "(file)", f"cannot read the Parquet table: {exc}") from None


def _read_parquet(path: Path, columns: Sequence[str] | None) -> pd.DataFrame:
    """A Parquet table (a file, or a folder of part files in order), optionally some columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(columns) if columns is not None else None
    try:
        if path.is_file():
            return pq.read_table(path, columns=cols).to_pandas()
        parts = sorted(path.glob("part-*.parquet"))
        if not parts:
            return pd.DataFrame(columns=cols if cols is not None else _parquet_columns(path))
        return pa.concat_tables([pq.read_table(p, columns=cols) for p in parts]).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InputError(path, "(file)", f"cannot read the Parquet table: {exc}") from None
