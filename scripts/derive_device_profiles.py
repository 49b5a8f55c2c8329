"""Derive the device profiles (``cosim/data/profiles/{heat,wind}.csv``) from the SimBench data set.

What it does
------------
Reads the same SimBench 2016 time series as ``scripts/derive_profiles.py`` (the complete data
set ``1-complete_data-mixed-all-0-sw`` shipped in the ``simbench`` Python package, 35,136
quarter hours, the same time base: row ``k`` is ``2016-01-01T00:00:00+00:00 + 15 min * k``)
and writes two comma-separated files:

``cosim/data/profiles/heat.csv``
    ``time`` and ``Soil_Alternative_1_p_kw_th, Soil_Alternative_2_p_kw_th``: heat demand of a
    building that needs 1,000 kWh_th a year [kW_th, mean over each step]. Source: SimBench's
    two ground-source heat-pump profiles (``LoadProfile.csv``, columns
    ``Soil_Alternative_1_pload`` and ``Soil_Alternative_2_pload``, the electric power of a
    ground-source heat pump heating a German household in 2016, space heating and hot water).
    A ground-source heat pump draws from soil whose temperature varies little over the year,
    so its coefficient of performance is taken as constant and its heat output, hence the
    building's heat demand, as proportional to its electric power: each column is rescaled to
    1,000 kWh_th a year. The shape keeps the heat pump's on/off cycling within the hour (the
    quarter-hour values switch between 0 and about 0.9 of the peak); over a day it follows the
    heating season (January 15-17 times July). The air-source profiles are not used: their
    coefficient of performance falls with the outdoor temperature, which SimBench does not
    give, so their electric power is not proportional to heat.
``cosim/data/profiles/wind.csv``
    ``time`` and ``WP1_p_kw_per_kw, WP4_p_kw_per_kw, WP5_p_kw_per_kw, WP6_p_kw_per_kw``: four
    of SimBench's twelve wind-power profiles (``RESProfile.csv``, columns ``WP1``..``WP12``),
    output relative to rated power [kW/kW], unchanged apart from clipping to [0, 1]. The twelve
    fall into groups of strongly correlated profiles (correlation 0.8-0.95 within a group); one
    of each is kept to keep the package small: WP1 (annual capacity factor 0.55), WP4 (0.29,
    the group of WP3, WP7, WP10), WP5 (0.29, the group of WP8, WP11, WP12) and WP6 (0.29).

Why not the dispatch cases' data: the Yingkou case's heat loads (``cosim/dispatch/data/
yingkou60``) cover one day and are 0.194 times each node's electric load in every hour, so
they carry no heat-specific information; the six-bus case's wind is a constant 5 kW.

Determinism and licence
-----------------------
No randomness; the output depends only on the SimBench files (``%.9g``, as the other built-in
profiles). SimBench is licensed under ODbL 1.0 (``cosim/data/profiles/README.md``); these files
are a derived database under the same terms.

Usage
-----
``pip install simbench && python scripts/derive_device_profiles.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive_profiles import (  # the shared SimBench reader of the other profiles
    normalise_annual,
    read_simbench,
    simbench_data_dir,
    write,
)

HEAT = ("Soil_Alternative_1", "Soil_Alternative_2")
WIND = ("WP1", "WP4", "WP5", "WP6")


def derive(out_dir: Path) -> list[Path]:
    """Derive ``heat.csv`` and ``wind.csv`` into ``out_dir`` and return their paths."""
    src = simbench_data_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    loads = read_simbench(src / "LoadProfile.csv", [f"{n}_pload" for n in HEAT])
    res = read_simbench(src / "RESProfile.csv", list(WIND))
    heat = out_dir / "heat.csv"
    write(
        heat, {f"{n}_p_kw_th": normalise_annual(loads[f"{n}_pload"].clip(lower=0.0)) for n in HEAT}
    )
    wind = out_dir / "wind.csv"
    write(wind, {f"{n}_p_kw_per_kw": np.clip(res[n].to_numpy(), 0.0, 1.0) for n in WIND})
    return [heat, wind]


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
