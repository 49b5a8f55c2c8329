"""All benchmark ratios in one table: ``python -m benchmarks [--quick]``.

Runs each benchmark script in its own process (so one's memory and threads do not disturb
another's timing), collects the figures they write with ``--json`` and prints one table with
the targets of the speed issue. Nothing is asserted: this measures and reports.

* (a) a year of AC flows on the village: lightsim2grid batched vs a bare pandapower loop
  (``powerflow_backends.py``);
* (b) a full plaintext year of the village, all stages, vs the bare pandapower loop, and
  (d) its peak memory (``year_vs_pandapower.py --backend lightsim2grid``);
* (c) encrypted settlement per user-slot, all four main models, Paillier 2048: cosim's
  ``paillier_djn`` (and the phe ``paillier`` reference) vs a naive per-operation phe
  implementation of the same protocol (``naive_ppbsp.py``), on the same synthetic slots, and
  the encrypted/plain ratio of a week of the village (``settlement_cost.py --week``);
* ``--full`` adds the encrypted year of the village end to end: ``cosim run
  scenarios/village_year.yaml`` with ``settlement.encryption=paillier_djn`` and the plain run
  of the same scenario, wall times and their ratio (about an hour and a quarter here).

``--quick`` shortens the power-flow runs (a quarter year, fewer samples) for a look in a few
minutes; the settlement figures are the same in both modes (about 2 min).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run_script(name: str, args: list[str], out: Path) -> Any:
    """Run ``benchmarks/<name>`` with ``--json out`` and return what it wrote."""
    t0 = time.perf_counter()
    cmd = [sys.executable, str(HERE / name), *args, "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    print(f"  {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return json.loads(out.read_text(encoding="utf-8"))


def run_full_year(tmp: Path) -> dict[str, float]:
    """Wall time [s] of ``cosim run`` on the village year, plain and paillier_djn."""
    out = {}
    for name, encryption in (("plain_s", "plain"), ("encrypted_s", "paillier_djn")):
        scenario = HERE.parent / "scenarios" / "village_year.yaml"
        cmd = [
            sys.executable, "-c", "import sys; from cosim.cli import main; sys.exit(main())",
            "run", str(scenario), "--out", str(tmp / name), "--quiet",
            "--set", f"settlement.encryption={encryption}", "--set", "grid.backend=lightsim2grid",
            "--set", "settlement.period=month", "--set", "settlement.workers=2",
        ]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        out[name] = time.perf_counter() - t0
        print(f"  cosim run ({encryption}) done in {out[name]:.0f} s", file=sys.stderr)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="All benchmark ratios in one table.")
    parser.add_argument("--quick", action="store_true", help="shorter runs (a quarter year)")
    parser.add_argument("--full", action="store_true", help="also the encrypted year end to end")
    args = parser.parse_args()
    slots = 4380 if args.quick else 17520
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        flows = run_script(
            "powerflow_backends.py",
            ["--sample", "100" if args.quick else "300", "--repeat", "1"],
            t / "a.json",
        )
        year = run_script(
            "year_vs_pandapower.py",
            [
                "--backend",
                "lightsim2grid",
                "--slots",
                str(slots),
                "--sample",
                "100" if args.quick else "300",
            ],
            t / "b.json",
        )
        crypto = run_script(
            "settlement_cost.py",
            ["--week", "--workers", "2"],
            t / "c.json",
        )
        full = run_full_year(t) if args.full else None

    village = next(r for r in flows if "year" in r)["year"]
    a = village["bare_runpp_scaled_s"] / village["lightsim_batch_1t_year_s"]
    b = year["speedup_bare_over_cosim"]
    d = year["peak_rss_mb"]
    by_name = {r["backend"]: r for r in crypto}
    plain = by_name["plain"]["ms_per_user_slot"]
    naive = by_name["naive phe"]["ms_per_user_slot"]
    djn = by_name["paillier_djn"]["ms_per_user_slot"]
    paillier = by_name["paillier"]["ms_per_user_slot"]
    ckks = by_name["ckks"]["ms_per_user_slot"]
    week = by_name["paillier_djn (week)"]["ms_per_user_slot"]
    week_plain = by_name["plain (week)"]["ms_per_user_slot"]
    rows = [
        ("(a) year of village AC flows, lightsim batch vs bare runpp", f"{a:.0f}x", ">= 200x"),
        (f"(b) plaintext year ({slots} slots), all stages, vs bare runpp", f"{b:.1f}x", ">= 20x"),
        (
            "(c) naive phe / paillier_djn (a week), per user-slot",
            f"{naive / week:.1f}x ({week:.2f} ms)",
            ">= 20x",
        ),
        ("    naive phe / paillier_djn (48 slots, with start-up)", f"{naive / djn:.1f}x", ""),
        ("    naive phe / paillier (phe reference)", f"{naive / paillier:.1f}x", ""),
        ("    naive phe per user-slot", f"{naive:.1f} ms", ""),
        ("    week, paillier_djn / plain, per user-slot", f"{week / week_plain:.0f}x", ""),
        ("    CKKS / plain, per user-slot", f"{ckks / plain:.0f}x ({ckks:.2f} ms)", ""),
        ("(d) peak memory of the year run", f"{d:.0f} MB", "<= 1500 MB"),
    ]
    if full is not None:
        rows.append(
            (
                "--full: encrypted year (paillier_djn), end to end",
                f"{full['encrypted_s'] / 60:.1f} min "
                f"({full['encrypted_s'] / full['plain_s']:.0f}x plain)",
                "reported",
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>22}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>22}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
