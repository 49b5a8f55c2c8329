"""Result table writing: Arrow CSV and Parquet against the pandas CSV writer, in one run.

The pandas writer (``DataFrame.to_csv`` at full precision, booleans as ``true``/``false``) is
what cosim used before :mod:`cosim.results.formats`. The table is shaped like ``participants.csv``
of a village year (47 participants x 17,520 slots by default, 19 columns of the same types:
slot and ids as integers, energies as floats with empty NaN, side as text, accepted as
booleans). Every writer's file is read back and compared value by value with the data.

    python benchmarks/table_writer.py [--rows 823440]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cosim.results.formats import FORMATS, read_table


def _table(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 47
    cols: dict[str, np.ndarray] = {
        "slot": np.arange(rows) // n,
        "participant": np.arange(rows) % n,
        "bus": rng.integers(0, 80, rows),
        "supplier": rng.integers(0, 3, rows),
    }
    for name in ("load_kwh", "pv_kwh", "battery_kwh", "soc_kwh", "net_kwh", "committed_kwh",
                 "delivered_kwh", "deviation_kwh", "order_kwh", "limit_price", "p2p_price",
                 "pv_curtailed_kwh"):  # fmt: skip
        values = rng.standard_normal(rows) * rng.choice([1e-3, 1.0, 10.0], rows)
        values[rng.random(rows) < 0.2] = np.nan
        values[rng.random(rows) < 0.2] = 0.0
        cols[name] = values
    cols["side"] = np.array(["sell", "none", "buy"])[rng.integers(0, 3, rows)]
    cols["accepted"] = rng.random(rows) < 0.5
    return cols


def _pandas_csv(path: Path, cols: dict[str, np.ndarray]) -> None:
    frame = pd.DataFrame(cols)
    frame["accepted"] = np.where(frame["accepted"].to_numpy(), "true", "false")
    frame.to_csv(path, index=False, lineterminator="\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=47 * 17_520)
    args = parser.parse_args()
    cols = _table(args.rows)
    expected = pd.DataFrame(cols)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        _pandas_csv(d / "pandas.csv", cols)
        times["pandas to_csv (before)"] = time.perf_counter() - t0
        for name, fmt in FORMATS.items():
            folder = d / name
            folder.mkdir()
            path = fmt.path(folder, "participants")
            t0 = time.perf_counter()
            fmt.start(path, list(cols))
            fmt.append(path, cols)
            times[f"cosim {name}"] = time.perf_counter() - t0
            back = read_table(folder, "participants", float_precision="round_trip")
            if name == "csv":
                back["accepted"] = back["accepted"].astype(bool)
            pd.testing.assert_frame_equal(back, expected, check_exact=True, check_dtype=False)
        sizes = {
            "pandas to_csv (before)": (d / "pandas.csv").stat().st_size,
            "cosim csv": (d / "csv" / "participants.csv").stat().st_size,
            "cosim parquet": sum(p.stat().st_size for p in (d / "parquet").rglob("*.parquet")),
        }
    base = times["pandas to_csv (before)"]
    print(f"{args.rows:,} rows x {len(cols)} columns (participants.csv of a village year)")
    print(f"{'writer':<24} {'seconds':>8} {'speed-up':>9} {'MB':>7}")
    for name, seconds in times.items():
        print(f"{name:<24} {seconds:8.2f} {base / seconds:8.1f}x {sizes[name] / 1e6:7.1f}")
    print("every file read back equals the data exactly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
