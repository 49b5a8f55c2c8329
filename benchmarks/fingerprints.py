"""Value fingerprints of every shipped scenario and its variants, and their comparison.

A refactoring that must not change results (vectorised settlement, a new CSV writer, a new
engine) is checked by running the same scenarios before and after and comparing the parsed
values of every result file::

    python benchmarks/fingerprints.py record before.json          # with the old code
    python benchmarks/fingerprints.py record after.json           # with the new code
    python benchmarks/fingerprints.py compare before.json after.json

``record`` runs each case with ``cosim run`` (or ``cosim sweep``) in a subprocess that imports
the ``cosim`` found first on ``PYTHONPATH``, parses every CSV of the run directory with pandas
and stores per file its columns, row count and a SHA-256 of each column's parsed values
(floats as IEEE-754 bit patterns, NaN and -0.0 canonical, so "same value" means bit-equal),
and ``summary.json``; measured times (``timings_s``, ``*_seconds``, ``wall_s``) are left out.
``bills.csv`` and ``suppliers.csv`` also keep their values, and so do the decrypted columns of
the encrypted cases, which are compared within a tolerance (Paillier values are decoded from
fixed point: 1e-9; CKKS is approximate and its encryption noise is not seeded: 1e-6).
``--only NAME`` runs a subset, ``--skip-year`` leaves out the plaintext village year (about
20-30 s on lightsim2grid). ``record`` adds to an existing document (a case run again replaces
its entry).

Nothing here is a test: the comparison prints the files and columns that differ and exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
VALUE_FILES = ("bills.csv", "suppliers.csv")
#: Encrypted cases: values decoded from fixed point (Paillier) or approximate (CKKS, whose
#: encryption noise is not seeded) are compared within these tolerances.
TOLERANT = {"paillier_djn": 1e-9, "paillier": 1e-9, "ckks": 1e-6}
#: Their files and columns (prefixes) that carry decrypted values, kept in full.
DECRYPTED = {
    "settlement_slots.csv": ("supplier_energy_kwh",),
    "slots.csv": ("supplier_energy",),
    # the role views of the metering privacy hold decrypted settlement aggregates too
    "pots.csv": ("pot",),
    "settlement_aggregates.csv": ("value_kwh",),
    "balances.csv": ("energy_kwh", "money"),
}
#: Measured times, not results: left out of the comparison.
VOLATILE = ("timings_s", "slots_per_second", "wall_s")

LS = "grid.backend=lightsim2grid"
QUICK = "quickstart.yaml"
WEEK = "cigre_lv_week.yaml"

#: name -> (command, scenario file, overrides, extra CLI arguments)
CASES: dict[str, tuple[str, str, list[str], list[str]]] = {
    "quickstart": ("run", QUICK, [], []),
    "cigre_lv_week": ("run", WEEK, [], []),
    "stress_village": ("run", "stress_village.yaml", [], []),
    "stress_village_lindistflow": (
        "run", "stress_village.yaml", [LS, "market.network_check=lindistflow", "time.slots=192"], []
    ),
    "village_year": ("run", "village_year.yaml", [LS], []),
    "pay_as_bid": ("run", WEEK, ["market.mechanism=pay_as_bid", "time.slots=96"], []),
    "forecast_error_0.3": ("run", WEEK, ["fulfilment.forecast_error=0.3", "time.slots=96"], []),
    "slots_60min": ("run", WEEK, ["time.slot_minutes=60", "time.slots=96"], []),
    "network_check_dc": ("run", WEEK, [LS, "market.network_check=dc", "time.slots=96"], []),
    "network_check_lindistflow": (
        "run", WEEK, [LS, "market.network_check=lindistflow", "time.slots=96"], []
    ),
    "battery_price": (
        "run", WEEK, [LS, "participants.battery_strategy=price", "time.slots=96"], []
    ),
    "battery_rolling": (
        "run", WEEK, [LS, "participants.battery_strategy=rolling", "time.slots=96"], []
    ),
    "baseline_models_day": (
        "run", WEEK,
        ["settlement.models=[retail,individual,social,universal,social_equal,universal_equal]",
         "settlement.period=day", "time.slots=96"],
        [],
    ),
    "paillier_djn": (
        "run", QUICK,
        ["settlement.encryption=paillier_djn", "settlement.period=day", "settlement.workers=2"],
        [],
    ),
    "ckks": ("run", QUICK, ["settlement.encryption=ckks", "settlement.period=day"], []),
    "sweep": (
        "sweep", "pv_sweep_village.yaml", [LS, "time.slots=48"],
        ["--vary", "participants.pv_penetration=0.2,0.8", "--vary", "seed=1", "--workers", "1"],
    ),
}  # fmt: skip


def _canonical(values: pd.Series) -> bytes:
    """Bytes that are equal exactly when the parsed values are equal."""
    if values.dtype.kind == "f":
        arr = values.to_numpy(dtype=np.float64) + 0.0  # -0.0 -> 0.0
        arr[np.isnan(arr)] = np.nan  # one NaN bit pattern
        return arr.tobytes()
    if values.dtype.kind in "iub":
        return values.to_numpy(dtype=np.int64).tobytes()
    return "\x1f".join("" if pd.isna(v) else str(v) for v in values).encode()


def _volatile(name: str) -> bool:
    return name in VOLATILE or name.endswith("_seconds")


def file_fingerprint(path: Path, tolerant: bool = False) -> dict[str, Any]:
    """Columns, rows and per-column hashes of one CSV; values of bills, suppliers and, for an
    encrypted case, of the decrypted columns."""
    frame = pd.read_csv(path)
    frame = frame[[c for c in frame.columns if not _volatile(c)]]
    out: dict[str, Any] = {
        "rows": len(frame),
        "columns": list(frame.columns),
        "hashes": {c: hashlib.sha256(_canonical(frame[c])).hexdigest()[:16] for c in frame},
    }
    keep = list(frame.columns) if path.name in VALUE_FILES else []
    if tolerant and path.name in DECRYPTED:
        keep = [c for c in frame.columns if c.startswith(DECRYPTED[path.name])]
    if keep:
        out["values"] = {c: [None if pd.isna(v) else v for v in frame[c].tolist()] for c in keep}
    return out


def _drop_volatile(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _drop_volatile(v) for k, v in data.items() if not _volatile(k)}
    return data


def summary_fingerprint(path: Path) -> dict[str, Any]:
    """``summary.json`` without measured times."""
    return _drop_volatile(json.loads(path.read_text(encoding="utf-8")))


def dir_fingerprint(run_dir: Path, tolerant: bool = False) -> dict[str, Any]:
    """Fingerprints of every CSV below ``run_dir`` (relative paths) and of each summary."""
    files: dict[str, Any] = {}
    for path in sorted(run_dir.rglob("*.csv")):
        files[str(path.relative_to(run_dir))] = file_fingerprint(path, tolerant)
    for path in sorted(run_dir.rglob("summary.json")):
        files[str(path.relative_to(run_dir))] = {"summary": summary_fingerprint(path)}
    return files


def run_case(name: str, tmp: Path) -> tuple[dict[str, Any], float]:
    command, scenario, overrides, extra = CASES[name]
    out = tmp / name
    cmd = [sys.executable, "-m", "cosim.cli", command, str(SCENARIOS / scenario), "--out", str(out)]
    cmd += ["--quiet", *extra]
    for o in overrides:
        cmd += ["--set", o]
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{name}: {' '.join(cmd)} failed: {done.stderr.strip()[-800:]}")
    return dir_fingerprint(out, any(key in name for key in TOLERANT)), wall


def record(path: Path, only: list[str], skip_year: bool) -> None:
    """Run the cases and write their fingerprints to ``path`` (added to what it holds)."""
    names = only or [n for n in CASES if not (skip_year and n == "village_year")]
    result: dict[str, Any] = {}
    if path.exists():
        result = json.loads(path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            result[name], wall = run_case(name, Path(tmp))
            print(f"{name}: {len(result[name])} files, {wall:.1f} s", file=sys.stderr)
            text = json.dumps(result, indent=1, sort_keys=True) + "\n"
            path.write_text(text, encoding="utf-8")  # after each case: a failure keeps the rest


def _values_close(a: dict[str, Any], b: dict[str, Any], tol: float) -> str | None:
    for col, va in a["values"].items():
        vb = b["values"].get(col)
        if vb is None or len(va) != len(vb):
            return f"column {col} missing or of another length"
        for x, y in zip(va, vb, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not abs(x - y) <= tol:
                    return f"{col}: {x!r} vs {y!r} (tolerance {tol})"
            elif x != y:
                return f"{col}: {x!r} vs {y!r}"
    return None


def _summary_diff(a: Any, b: Any, tol: float | None, path: str = "") -> str | None:
    """First difference between two summaries (floats within ``tol`` for encrypted cases)."""
    a, b = _drop_volatile(a), _drop_volatile(b)
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            why = _summary_diff(a.get(key), b.get(key), tol, f"{path}/{key}")
            if why is not None:
                return why
        return None
    if isinstance(a, float) and isinstance(b, float) and tol is not None:
        return None if abs(a - b) <= tol * max(1.0, abs(a)) else f"{path}: {a!r} vs {b!r}"
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Differences between two fingerprint documents (empty when every value is equal)."""
    problems = []
    for case in sorted(set(before) & set(after)):
        tol = next((t for key, t in TOLERANT.items() if key in case), None)
        fa, fb = before[case], after[case]
        for f in sorted(set(fa) | set(fb)):
            if f not in fa or f not in fb:
                problems.append(f"{case}/{f}: only in {'after' if f in fb else 'before'}")
                continue
            a, b = fa[f], fb[f]
            if "summary" in a:
                why = _summary_diff(a["summary"], b["summary"], tol)
                if why is not None:
                    problems.append(f"{case}/{f}: summary {why}")
                continue
            if a["columns"] != b["columns"] or a["rows"] != b["rows"]:
                problems.append(f"{case}/{f}: columns or rows differ")
                continue
            diff = [c for c in a["hashes"] if a["hashes"][c] != b["hashes"][c]]
            if not diff:
                continue
            if tol is not None and "values" in a and set(diff) <= set(a["values"]):
                why = _values_close(a, b, tol)
                if why is not None:
                    problems.append(f"{case}/{f}: {why}")
            else:
                problems.append(f"{case}/{f}: columns differ: {', '.join(diff)}")
    for case in sorted(set(before) ^ set(after)):
        problems.append(f"{case}: only in one document")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run the cases and write their fingerprints")
    rec.add_argument("out", type=Path)
    rec.add_argument("--only", action="append", default=[], choices=sorted(CASES))
    rec.add_argument("--skip-year", action="store_true")
    cmp_ = sub.add_parser("compare", help="compare two fingerprint documents")
    cmp_.add_argument("before", type=Path)
    cmp_.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        record(args.out, args.only, args.skip_year)
        return 0
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in (args.before, args.after)]
    problems = compare(*docs)
    for p in problems:
        print(p)
    common = len(set(docs[0]) & set(docs[1]))
    print(f"{common} cases compared, {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
