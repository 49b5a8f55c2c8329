"""Derive cosim's built-in profiles (``cosim/data/profiles/*.csv``) from the SimBench data set.

What it does
------------
Reads the complete SimBench 2016 time series shipped inside the ``simbench`` Python package,
``<simbench>/networks/1-complete_data-mixed-all-0-sw/{LoadProfile,RESProfile}.csv``
(``;``-separated, 35,136 rows = 366 days x 96 quarter hours), and writes three
comma-separated files next to this repository's ``cosim/`` package:

``cosim/data/profiles/household_load.csv``
    ``time`` and ``H0-A_p_kw, H0-B_p_kw, H0-C_p_kw, H0-G_p_kw, H0-L_p_kw`` (SimBench's
    ``*_pload`` columns), each rescaled so that its energy over the year is exactly 1,000 kWh:
    the value is the mean power [kW] over each 15-minute step of a household that consumes
    1,000 kWh a year. ``H0-H`` is left out: its mean is 66 % of its peak all year round (the
    other H0 profiles: 6-14 %) and its base load is 29 % of its peak, so it is not a typical
    household.
``cosim/data/profiles/commercial_load.csv``
    ``time`` and ``G0-A_p_kw, G1-A_p_kw, G3-A_p_kw`` (commerce in general, weekday daytime,
    continuous operation), normalised the same way (1,000 kWh a year).
``cosim/data/profiles/pv.csv``
    ``time`` and ``PV1_p_kw_per_kwp .. PV8_p_kw_per_kwp``: SimBench's PV feed-in relative to
    rated power, unchanged apart from clipping at >= 0 [kW/kWp].

Time base
---------
SimBench labels its rows in German legal time (``27.03.2016 01:45`` is followed by ``03:00``
and ``30.10.2016 02:00-02:45`` occurs twice), but the file has exactly one row per quarter
hour of a 366-day year, so the row sequence is a regular grid. The labels are dropped and
row ``k`` is stamped ``2016-01-01T00:00:00+00:00 + 15 min * k``: SimBench's time base is taken
as UTC-like standard time without daylight-saving changes.

Determinism
-----------
No randomness; the output depends only on the SimBench files. Values are written with
``%.9g`` (relative rounding error <= 5e-10), which keeps the annual sums within ~1e-7 kWh of
1,000 kWh and each file at a few MB.

Usage
-----
``pip install simbench && python scripts/derive_profiles.py [--out DIR]``. SimBench is needed
only here; cosim reads the generated CSV files at run time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

STEP_MINUTES = 15
ROWS = 366 * 24 * 60 // STEP_MINUTES  # 2016 is a leap year
START = pd.Timestamp("2016-01-01T00:00:00", tz="UTC")
ANNUAL_KWH = 1000.0
HOUSEHOLD = ("H0-A", "H0-B", "H0-C", "H0-G", "H0-L")
COMMERCIAL = ("G0-A", "G1-A", "G3-A")
PV = tuple(f"PV{i}" for i in range(1, 9))
FLOAT_FORMAT = "%.9g"
DATA_DIR = "networks/1-complete_data-mixed-all-0-sw"


def simbench_data_dir() -> Path:
    """Return the directory of SimBench's complete data set inside the installed package."""
    import simbench  # imported here: only this script depends on simbench

    path = Path(simbench.__file__).resolve().parent / DATA_DIR
    if not path.is_dir():
        raise FileNotFoundError(f"SimBench data directory not found: {path}")
    return path


def read_simbench(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read ``columns`` of a SimBench profile file and check its row count and first label.

    Parameters
    ----------
    path : Path
        ``LoadProfile.csv`` or ``RESProfile.csv``.
    columns : list of str
        Data columns to read (besides ``time``).

    Returns
    -------
    pandas.DataFrame
        The requested columns as float64, one row per 15-minute step, labels dropped.
    """
    frame = pd.read_csv(path, sep=";", usecols=["time", *columns])
    if len(frame) != ROWS:
        raise ValueError(f"{path}: expected {ROWS} rows, found {len(frame)}")
    first = pd.to_datetime(frame["time"].iloc[0], format="%d.%m.%Y %H:%M")
    if first != START.tz_localize(None):
        raise ValueError(f"{path}: expected the first row at 01.01.2016 00:00, found {first}")
    data = frame[columns].astype("float64")
    if data.isna().to_numpy().any():
        raise ValueError(f"{path}: missing values in {columns}")
    return data.reset_index(drop=True)


def time_column() -> list[str]:
    """Return the ISO 8601 timestamps (explicit ``+00:00``) of the 15-minute grid."""
    times = pd.date_range(START, periods=ROWS, freq=f"{STEP_MINUTES}min")
    return [t.isoformat() for t in times]


def normalise_annual(power: pd.Series) -> np.ndarray:
    """Rescale a power series so that its energy over the year is ``ANNUAL_KWH``.

    Parameters
    ----------
    power : pandas.Series
        Mean power over each 15-minute step [any unit].

    Returns
    -------
    numpy.ndarray
        Mean power over each step [kW] of a consumer using ``ANNUAL_KWH`` [kWh] a year.
    """
    values = power.to_numpy(dtype="float64")
    energy = values.sum() * STEP_MINUTES / 60.0
    return values * (ANNUAL_KWH / energy)


def write(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Write ``time`` plus ``columns`` as a comma-separated file with ``\\n`` line ends."""
    frame = pd.DataFrame({"time": time_column(), **columns})
    frame.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def derive(out_dir: Path) -> list[Path]:
    """Derive the three profile files into ``out_dir`` and return their paths."""
    src = simbench_data_dir()
    out_dir.mkdir(parents=True, exist_ok=True)

    loads = read_simbench(
        src / "LoadProfile.csv", [f"{n}_pload" for n in (*HOUSEHOLD, *COMMERCIAL)]
    )
    res = read_simbench(src / "RESProfile.csv", list(PV))

    written = []
    for filename, names in (
        ("household_load.csv", HOUSEHOLD),
        ("commercial_load.csv", COMMERCIAL),
    ):
        path = out_dir / filename
        write(path, {f"{n}_p_kw": normalise_annual(loads[f"{n}_pload"]) for n in names})
        written.append(path)

    path = out_dir / "pv.csv"
    write(path, {f"{n}_p_kw_per_kwp": np.clip(res[n].to_numpy(), 0.0, None) for n in PV})
    written.append(path)
    return written


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / "cosim" / "data" / "profiles"
    parser.add_argument("--out", type=Path, default=default, help=f"default: {default}")
    args = parser.parse_args()
    for path in derive(args.out):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
