"""Load, household, commercial and PV profiles: reading, validation and slot energies.

A profile table is a regular time series of *mean power over each step*: [kW] for loads,
[kW/kWp] for PV. :func:`read_profile_csv` reads and validates one from a CSV file,
:func:`builtin_profiles` returns the tables shipped in the package, ``cosim/data/profiles/``
(derived from SimBench by ``scripts/derive_profiles.py``), :func:`slot_energy` turns a table
into energy per market slot for any slot length, and :func:`assign_profiles` spreads
participants evenly over the columns.

Alignment of a table with the scenario's clock (see ``docs/profiles.md``):

* A table spanning at least 365 days is a **typical year**. A time ``t`` maps to the offset
  ``t - (Jan 1 00:00 of t's year)``, measured in the table's time zone, counted from the
  table's first Jan 1 00:00 (its start if it starts then), and wraps cyclically past the
  table's end. Any scenario year can therefore use the table.
* A shorter table is used by **absolute** timestamp and must cover the simulated period.

Example
-------
>>> import numpy as np, pandas as pd
>>> from cosim.participants.profiles import builtin_profiles, slot_energy
>>> table = builtin_profiles("household")
>>> e_kwh = slot_energy(table, np.array([0, 1]), np.array([0.0, 60.0]),
...                     pd.Timestamp("2023-01-01", tz="UTC"), slots=48, slot_minutes=30)
>>> e_kwh.shape
(48, 2)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from cosim.errors import InputError

__all__ = [
    "BUILTIN_ANNUAL_KWH",
    "BUILTIN_FILES",
    "PROFILE_DIR",
    "ProfileTable",
    "annual_energy_kwh",
    "assign_profiles",
    "builtin_profiles",
    "check_coverage",
    "read_profile_csv",
    "slot_energy",
]

ProfileKind = Literal["household", "commercial", "pv"]

#: Built-in profile files: kind -> (file name in ``cosim/data/profiles/``, unit suffix).
BUILTIN_FILES: dict[str, tuple[str, str]] = {
    "household": ("household_load.csv", "_p_kw"),
    "commercial": ("commercial_load.csv", "_p_kw"),
    "pv": ("pv.csv", "_p_kw_per_kwp"),
}

#: Folder of the built-in profile files, inside the installed package.
PROFILE_DIR = Path(__file__).resolve().parent.parent / "data" / "profiles"
#: Annual energy of every column of the built-in load tables [kWh/a] (their normalisation).
BUILTIN_ANNUAL_KWH = 1000.0
_HOURS_PER_YEAR = 8760.0
#: Largest value a profile table may hold [kW] or [kW/kWp]: beyond it sums lose all precision.
MAX_PROFILE_VALUE = 1e6
_NS_PER_MINUTE = 60_000_000_000
_TYPICAL_YEAR_MINUTES = 365 * 24 * 60
_LEAP_YEAR_MINUTES = 366 * 24 * 60
# Upper bound on the number of (sub-interval x column) cells evaluated at once in slot_energy.
_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True, eq=False)
class ProfileTable:
    """A regular time series of mean power per step for several named profiles.

    Parameters
    ----------
    source : str
        Where the table came from (a file path or ``builtin:<kind>``); used in error messages.
    start : pandas.Timestamp
        Start of the first step; time-zone aware.
    step_minutes : int
        Length of each step [min].
    names : tuple of str
        Profile names, the column names without the unit suffix (e.g. ``"H0-A"``).
    values : numpy.ndarray
        Shape ``(T, len(names))``, float64, finite and >= 0: mean power over each step [kW]
        (loads) or [kW/kWp] (PV).
    annual_kwh : float or None
        The annual energy every column is normalised to [kWh/a], for tables that are shapes
        (the built-in load tables: 1,000); None for tables of actual values (user files).
    """

    source: str
    start: pd.Timestamp
    step_minutes: int
    names: tuple[str, ...]
    values: np.ndarray
    annual_kwh: float | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("ProfileTable.start must be time-zone aware")
        if self.step_minutes <= 0:
            raise ValueError("ProfileTable.step_minutes must be positive")
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(
                f"ProfileTable.values must have shape (T, {len(self.names)}), "
                f"got {self.values.shape}"
            )

    @property
    def steps(self) -> int:
        """Number of time steps ``T``."""
        return int(self.values.shape[0])

    @property
    def end(self) -> pd.Timestamp:
        """End of the last step (exclusive)."""
        return self.start + pd.Timedelta(minutes=self.step_minutes * self.steps)

    @property
    def is_builtin(self) -> bool:
        """Whether the table is one of the built-in tables."""
        return self.source.startswith("builtin:")

    @property
    def is_typical_year(self) -> bool:
        """Whether the table spans at least 365 days and is aligned by day of year."""
        return self.step_minutes * self.steps >= _TYPICAL_YEAR_MINUTES

    def column(self, name: str) -> int:
        """Return the column index of profile ``name``.

        Raises
        ------
        InputError
            If there is no such profile (the message lists the available ones).
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(
                self.source, name, f"unknown profile; available: {', '.join(self.names)}"
            ) from None


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _read_frame(path: Path) -> pd.DataFrame:
    """Read a CSV file into a DataFrame, turning any read failure into an InputError."""
    if not path.is_file():
        raise InputError(path, "file", "profile file not found (expected a CSV file)")
    try:
        return pd.read_csv(path, skipinitialspace=True)
    except UnicodeDecodeError:
        raise InputError(path, "file", "cannot decode the file as UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise InputError(path, "file", "the file is empty; expected a CSV header") from None
    except (pd.errors.ParserError, OSError) as exc:
        message = " ".join(str(exc).split())
        raise InputError(path, "file", f"cannot read the CSV file ({message})") from None


def _parse_times(path: Path, raw: pd.Series) -> pd.DatetimeIndex:
    """Parse the ``time`` column (ISO 8601; naive stamps are UTC) keeping the first offset."""
    text = raw.astype("string").str.strip()
    missing = text.isna() | (text == "")
    if missing.any():
        row = int(np.argmax(missing.to_numpy()))
        raise InputError(path, "time", f"empty timestamp in data row {row + 1}")
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(
            path,
            "time",
            f"cannot parse timestamp {str(text.iloc[row])!r} in data row {row + 1}; expected "
            "ISO 8601 such as 2016-01-01T00:00:00+00:00",
        )
    times = pd.DatetimeIndex(parsed)
    first = pd.Timestamp(str(text.iloc[0]))
    if first.tzinfo is not None:
        times = times.tz_convert(first.tzinfo)
    return times


def _minutes_text(ns: int) -> str:
    """Format a duration given in nanoseconds as minutes, e.g. ``15 min`` or ``0.5 min``."""
    return f"{ns / _NS_PER_MINUTE:g} min"


def _check_grid(path: Path, times: pd.DatetimeIndex) -> int:
    """Check that ``times`` is strictly increasing and regular; return the step [min]."""
    ns = times.asi8
    diffs = np.diff(ns)
    bad = np.flatnonzero(diffs <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise InputError(
            path,
            "time",
            f"timestamps must be strictly increasing; {times[i].isoformat()} follows "
            f"{times[i - 1].isoformat()}",
        )
    step_ns = int(diffs[0])
    bad = np.flatnonzero(diffs != step_ns)
    if bad.size:
        i = int(bad[0]) + 1
        raise InputError(
            path,
            "time",
            f"timestamps must be evenly spaced (gap or irregular step at {times[i].isoformat()}:"
            f" {_minutes_text(int(diffs[i - 1]))} after the previous row, expected "
            f"{_minutes_text(step_ns)})",
        )
    if step_ns % _NS_PER_MINUTE:
        raise InputError(
            path,
            "time",
            f"the time step must be a whole number of minutes, found {_minutes_text(step_ns)}",
        )
    return step_ns // _NS_PER_MINUTE


def _column_values(path: Path, column: str, raw: pd.Series, times: pd.DatetimeIndex) -> np.ndarray:
    """Convert one data column to finite, non-negative float64 values."""
    numeric = pd.to_numeric(raw, errors="coerce")
    missing = raw.isna().to_numpy()
    if missing.any():
        i = int(np.argmax(missing))
        raise InputError(
            path, column, f"missing value at {times[i].isoformat()}; expected a number"
        )
    non_numeric = numeric.isna().to_numpy()
    if non_numeric.any():
        i = int(np.argmax(non_numeric))
        raise InputError(
            path,
            column,
            f"non-numeric value {str(raw.iloc[i])!r} at {times[i].isoformat()}; expected a number",
        )
    values = numeric.to_numpy(dtype="float64")
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            path, column, f"value {values[i]} at {times[i].isoformat()}; expected a finite number"
        )
    negative = values < 0
    if negative.any():
        i = int(np.argmax(negative))
        raise InputError(
            path,
            column,
            f"negative value {values[i]:g} at {times[i].isoformat()}; expected >= 0",
        )
    huge = values > MAX_PROFILE_VALUE
    if huge.any():
        i = int(np.argmax(huge))
        raise InputError(
            path,
            column,
            f"value {values[i]:g} at {times[i].isoformat()}; expected at most "
            f"{MAX_PROFILE_VALUE:g} (1 GW per profile)",
        )
    return values


def read_profile_csv(path: str | Path, unit_suffix: str) -> ProfileTable:
    """Read and validate a profile CSV file.

    The file is comma-separated with a header: a ``time`` column of ISO 8601 timestamps (the
    start of each step; naive timestamps are taken as UTC) and one column per profile named
    ``<name><unit_suffix>``, holding the mean power over each step.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    unit_suffix : str
        Required ending of every data column, e.g. ``"_p_kw"`` [kW] or ``"_p_kw_per_kwp"``
        [kW/kWp].

    Returns
    -------
    ProfileTable
        ``source`` is ``str(path)``; ``names`` are the column names without the suffix.

    Raises
    ------
    InputError
        If the file is missing or unreadable, has no ``time`` column or no data columns, has
        unparseable, non-increasing or irregular timestamps, a step that is not a whole number
        of minutes, a data column without ``unit_suffix``, or an empty, non-numeric, infinite
        or negative value. The message names the file, the column and the first bad row.

    Examples
    --------
    >>> from cosim.participants.profiles import read_profile_csv
    >>> table = read_profile_csv("my_pv.csv", "_p_kw_per_kwp")  # doctest: +SKIP
    >>> table.names[:2], table.step_minutes  # doctest: +SKIP
    (('PV1', 'PV2'), 15)
    """
    path = Path(path)
    frame = _read_frame(path)
    frame.columns = [str(c).strip() for c in frame.columns]
    if "time" not in frame.columns:
        found = ", ".join(frame.columns[:5])
        hint = " (the file must be comma-separated)" if ";" in found else ""
        raise InputError(path, "time", f"no 'time' column; found: {found}{hint}")
    data_columns = [c for c in frame.columns if c != "time"]
    if not data_columns:
        raise InputError(
            path, "columns", f"no data columns; expected columns named <name>{unit_suffix}"
        )
    for column in data_columns:
        if not column.endswith(unit_suffix) or len(column) == len(unit_suffix):
            raise InputError(
                path,
                column,
                f"column name must be <profile name>{unit_suffix}; found {column!r} "
                f"(the unit suffix states what the values mean)",
            )

    if len(frame) < 2:
        raise InputError(
            path, "time", f"expected at least 2 rows of data below the header, found {len(frame)}"
        )
    times = _parse_times(path, frame["time"])
    step_minutes = _check_grid(path, times)
    values = np.empty((len(frame), len(data_columns)), dtype="float64")
    for j, column in enumerate(data_columns):
        values[:, j] = _column_values(path, column, frame[column], times)

    names = tuple(c[: -len(unit_suffix)] for c in data_columns)
    return ProfileTable(
        source=str(path),
        start=pd.Timestamp(times[0]),
        step_minutes=int(step_minutes),
        names=names,
        values=values,
    )


@functools.cache
def builtin_profiles(kind: ProfileKind) -> ProfileTable:
    """Return one of the built-in profile tables (cached; its array is read-only).

    Parameters
    ----------
    kind : {"household", "commercial", "pv"}
        ``household``: SimBench H0-A, H0-B, H0-C, H0-G, H0-L, each 1,000 kWh a year [kW].
        ``commercial``: SimBench G0-A, G1-A, G3-A, each 1,000 kWh a year [kW].
        ``pv``: SimBench PV1..PV8, relative to rated power [kW/kWp].

    Returns
    -------
    ProfileTable
        A typical year (2016, 366 days, 15-minute steps, UTC); ``source`` is
        ``builtin:<kind>``.

    Raises
    ------
    InputError
        For an unknown ``kind``, or if the file in ``cosim/data/profiles/`` is missing or
        invalid.
    """
    if kind not in BUILTIN_FILES:
        raise InputError(
            None,
            "profiles",
            f"unknown built-in profile kind {kind!r}; expected one of {', '.join(BUILTIN_FILES)}",
        )
    filename, suffix = BUILTIN_FILES[kind]
    table = read_profile_csv(PROFILE_DIR / filename, suffix)
    table.values.setflags(write=False)
    return ProfileTable(
        source=f"builtin:{kind}",
        start=table.start,
        step_minutes=table.step_minutes,
        names=table.names,
        values=table.values,
        annual_kwh=None if kind == "pv" else BUILTIN_ANNUAL_KWH,
    )


def annual_energy_kwh(table: ProfileTable) -> np.ndarray:
    """Annual energy of each column [kWh/a] ([kWh/kWp/a] for PV).

    The table's declared normalisation (``annual_kwh``) if it has one; otherwise measured: the
    energy over the whole table for a table of one year (365 or 366 days), the mean power x
    8,760 h for a shorter or longer one.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> start = pd.Timestamp("2024-06-01", tz="UTC")
    >>> t = ProfileTable("x", start, 60, ("a",), np.array([[0.5], [0.5]]))
    >>> annual_energy_kwh(t).tolist()
    [4380.0]
    """
    if table.annual_kwh is not None:
        return np.full(len(table.names), float(table.annual_kwh))
    step_hours = table.step_minutes / 60.0
    if _TYPICAL_YEAR_MINUTES <= table.step_minutes * table.steps <= _LEAP_YEAR_MINUTES:
        return table.values.sum(axis=0) * step_hours
    return table.values.mean(axis=0) * _HOURS_PER_YEAR


# --------------------------------------------------------------------------------------------
# Slot energies
# --------------------------------------------------------------------------------------------


def _minutes_between(a: pd.Timestamp, b: pd.Timestamp) -> float:
    """Return ``b - a`` [min] (exact for whole minutes)."""
    return (b - a).value / _NS_PER_MINUTE


def _year_start(t: pd.Timestamp) -> pd.Timestamp:
    """Return Jan 1 00:00 of ``t``'s year in ``t``'s time zone."""
    return pd.Timestamp(year=t.year, month=1, day=1, tz=t.tzinfo)


def _typical_year_positions(
    table: ProfileTable, start: pd.Timestamp, boundaries: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``[start + b0, start + b_last)`` at new years; return table positions.

    Returns the start and end positions [min] of each piece in the (unwrapped) table and, for
    each piece, the index of the slot it belongs to.
    """
    local_start = start.tz_convert(table.start.tzinfo)
    local_end = local_start + pd.Timedelta(minutes=float(boundaries[-1]))
    # The table's own first Jan 1 00:00 (its start if it starts then).
    anchor = _year_start(table.start)
    if anchor < table.start:
        anchor = pd.Timestamp(year=table.start.year + 1, month=1, day=1, tz=table.start.tzinfo)
    anchor_minutes = _minutes_between(table.start, anchor)

    # Year starts at or before the scenario start and strictly inside the simulated period.
    year_starts = [_year_start(local_start)]
    for year in range(local_start.year + 1, local_end.year + 1):
        new_year = pd.Timestamp(year=year, month=1, day=1, tz=local_start.tzinfo)
        if new_year < local_end:
            year_starts.append(new_year)
    year_offsets = np.array([_minutes_between(local_start, y) for y in year_starts])

    cuts = np.union1d(boundaries, year_offsets[1:])
    piece_start, piece_end = cuts[:-1], cuts[1:]
    year_index = np.searchsorted(year_offsets, piece_start, side="right") - 1
    pos_start = anchor_minutes + piece_start - year_offsets[year_index]
    pos_end = pos_start + (piece_end - piece_start)
    slot_of_piece = np.searchsorted(boundaries, piece_start, side="right") - 1
    return pos_start, pos_end, slot_of_piece


def check_coverage(
    table: ProfileTable,
    shift_minutes: np.ndarray,
    start: pd.Timestamp,
    slots: int,
    slot_minutes: int,
) -> None:
    """Check that ``table`` covers ``slots`` slots from ``start`` with the given shifts.

    A typical year (>= 365 days) covers any period. A shorter table is used by absolute time
    and must cover ``[start - max shift, start + slots x slot_minutes - min shift)``.

    Raises
    ------
    InputError
        (key ``time.start``) naming the period the table covers and the period needed.
    """
    shifts = np.asarray(shift_minutes, dtype="float64")
    if table.is_typical_year or slots <= 0:
        return
    start = pd.Timestamp(start)
    if start.tzinfo is None:
        start = start.tz_localize("UTC")
    offset = _minutes_between(table.start, start)
    max_shift = float(shifts.max()) if shifts.size else 0.0
    min_shift = float(shifts.min()) if shifts.size else 0.0
    need_from = offset - max_shift
    need_to = offset + float(slots * slot_minutes) - min_shift
    if need_from < 0 or need_to > float(table.step_minutes * table.steps):
        shifted = (
            f" (including time shifts of {min_shift:g} to {max_shift:g} min)"
            if np.any(shifts != 0)
            else ""
        )
        scenario_from = table.start + pd.Timedelta(minutes=need_from)
        scenario_to = table.start + pd.Timedelta(minutes=need_to)
        raise InputError(
            table.source,
            "time.start",
            f"the profile table covers {table.start.isoformat()} to "
            f"{table.end.isoformat()}, the scenario needs {scenario_from.isoformat()} to "
            f"{scenario_to.isoformat()}{shifted}",
        )


def slot_energy(
    table: ProfileTable,
    columns: np.ndarray,
    shift_minutes: np.ndarray,
    start: pd.Timestamp,
    slots: int,
    slot_minutes: int,
) -> np.ndarray:
    """Energy of selected profile columns in each market slot.

    Each table step is taken as constant power; the energy in a slot is the integral of that
    piecewise-constant power over the slot, so energy is conserved exactly for any slot
    length and any alignment (15/30/60-minute slots from 15-minute data, 15-minute slots from
    hourly data, slots that straddle steps).

    Parameters
    ----------
    table : ProfileTable
        Mean power over each step [kW] (or [kW/kWp]).
    columns : numpy.ndarray
        Integer column indices into ``table``, one per output column (repeats allowed).
    shift_minutes : numpy.ndarray
        Time shift per output column [min]: the value at time ``t`` is taken from the table at
        ``t - shift``. For a typical year the shift is applied to the table position and wraps
        cyclically; for an absolute table the shifted period must be covered.
    start : pandas.Timestamp
        Start of the first slot. Naive timestamps are taken as UTC.
    slots : int
        Number of slots (>= 0).
    slot_minutes : int
        Slot length [min] (> 0).

    Returns
    -------
    numpy.ndarray
        Shape ``(slots, len(columns))``: energy per slot [kWh] (or [kWh/kWp]).

    Raises
    ------
    InputError
        (key ``time.start``) if ``table`` is shorter than 365 days and does not cover the
        simulated period, shifts included.
    ValueError
        For inconsistent arguments (shapes, column indices, non-positive slot length).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from cosim.participants.profiles import ProfileTable, slot_energy
    >>> table = ProfileTable("example", pd.Timestamp("2024-06-01", tz="UTC"), 60, ("a",),
    ...                      np.array([[1.0], [3.0]]))
    >>> slot_energy(table, np.array([0]), np.array([0.0]), table.start, 4, 30)[:, 0]
    array([0.5, 0.5, 1.5, 1.5])
    """
    columns = np.asarray(columns)
    shifts = np.asarray(shift_minutes, dtype="float64")
    if columns.ndim != 1 or shifts.shape != columns.shape:
        raise ValueError(
            f"columns and shift_minutes must be 1-d of equal length, got shapes "
            f"{columns.shape} and {shifts.shape}"
        )
    if columns.size and not np.issubdtype(columns.dtype, np.integer):
        raise ValueError(f"columns must be integer indices, got dtype {columns.dtype}")
    columns = columns.astype(np.intp)
    n_table = len(table.names)
    if columns.size and (columns.min() < 0 or columns.max() >= n_table):
        raise ValueError(f"column indices must be in [0, {n_table}), got {columns}")
    if not np.all(np.isfinite(shifts)):
        raise ValueError("shift_minutes must be finite")
    if slot_minutes <= 0 or slots < 0:
        raise ValueError(f"need slot_minutes > 0 and slots >= 0, got {slot_minutes}, {slots}")
    if slots == 0 or columns.size == 0:
        return np.zeros((slots, columns.size), dtype="float64")

    start = pd.Timestamp(start)
    if start.tzinfo is None:
        start = start.tz_localize("UTC")
    boundaries = np.arange(slots + 1, dtype="float64") * float(slot_minutes)
    length = float(table.step_minutes * table.steps)

    if table.is_typical_year:
        pos_start, pos_end, slot_of_piece = _typical_year_positions(table, start, boundaries)
    else:
        check_coverage(table, shifts, start, slots, slot_minutes)
        offset = _minutes_between(table.start, start)
        pos_start = offset + boundaries[:-1]
        pos_end = offset + boundaries[1:]
        slot_of_piece = np.arange(slots)

    step = float(table.step_minutes)
    step_hours = step / 60.0
    # cumulative[k, c]: energy of table column c from the table start to step k [kWh].
    cumulative = np.zeros((table.steps + 1, n_table), dtype="float64")
    np.cumsum(table.values * step_hours, axis=0, out=cumulative[1:])
    total = cumulative[-1]
    first_piece = np.flatnonzero(np.r_[True, slot_of_piece[1:] != slot_of_piece[:-1]])

    cumulative_flat = cumulative.ravel()
    power_flat = np.ascontiguousarray(table.values, dtype="float64").ravel()

    def cumulative_energy(position: np.ndarray, cols: np.ndarray) -> np.ndarray:
        # Energy from the table start to ``position`` [min] on the periodic extension of the
        # table: whole periods plus the piecewise-linear cumulative curve within a period.
        periods = np.floor(position / length)
        within = position - periods * length
        k = np.clip(np.floor(within / step).astype(np.intp), 0, table.steps - 1)
        flat = k * n_table + cols  # row-major index of (k, col)
        energy = np.take(power_flat, flat)
        energy *= (within - k * step) / 60.0
        energy += np.take(cumulative_flat[: table.steps * n_table], flat)
        energy += periods * total[cols]
        return energy

    out = np.empty((slots, columns.size), dtype="float64")
    chunk = max(1, _CHUNK_CELLS // max(1, pos_start.size))
    for lo in range(0, columns.size, chunk):
        cols = columns[lo : lo + chunk]
        shift = shifts[lo : lo + chunk]
        pieces = cumulative_energy(pos_end[:, None] - shift, cols) - cumulative_energy(
            pos_start[:, None] - shift, cols
        )
        out[:, lo : lo + chunk] = np.add.reduceat(pieces, first_piece, axis=0)
    return out


# --------------------------------------------------------------------------------------------
# Assignment
# --------------------------------------------------------------------------------------------


def assign_profiles(n: int, n_profiles: int, rng: np.random.Generator) -> np.ndarray:
    """Assign ``n`` participants to ``n_profiles`` profiles as evenly as possible.

    Every profile is used ``floor(n / n_profiles)`` or ``ceil(n / n_profiles)`` times; which
    profiles get the extra participant, and the order, are drawn from ``rng``.

    Parameters
    ----------
    n : int
        Number of participants (>= 0).
    n_profiles : int
        Number of available profiles (>= 1).
    rng : numpy.random.Generator
        Source of randomness (the same seed gives the same assignment).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, dtype int64: profile index of each participant.

    Examples
    --------
    >>> import numpy as np
    >>> from cosim.participants.profiles import assign_profiles
    >>> np.bincount(assign_profiles(7, 3, np.random.default_rng(1)), minlength=3).tolist()
    ... # doctest: +SKIP
    [2, 3, 2]
    """
    if n < 0 or n_profiles < 1:
        raise ValueError(f"need n >= 0 and n_profiles >= 1, got {n}, {n_profiles}")
    full, rest = divmod(n, n_profiles)
    extra = rng.choice(n_profiles, size=rest, replace=False)
    indices = np.concatenate([np.tile(np.arange(n_profiles), full), extra])
    return rng.permutation(indices).astype(np.int64)
