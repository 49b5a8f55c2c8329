"""All benchmark ratios in one table: ``python -m benchmarks [--quick]``.

Runs each benchmark script in its own process (so one's memory and threads do not disturb
another's timing), collects the figures they write with ``--json`` and prints one table with
the targets of the speed issue. Nothing is asserted: this measures and reports.

* (a) a year of AC flows on the village: lightsim2grid batched vs a bare pandapower loop
  (``powerflow_backends.py``);
* (b) a full plaintext year of the village, all stages, vs the bare pandapower loop, and
  (d) its peak memory (``year_vs_pandapower.py --backend lightsim2grid``);
* (c) encrypted settlement per user-slot, Paillier 2048 and CKKS vs plain
  (``settlement_cost.py``); the naive-phe baseline the target names is not implemented yet,
  so the table reports the encrypted/plain ratio and says so.

``--quick`` shortens every run (a quarter year, fewer samples) for a look in a few minutes.
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


def main() -> int:
    parser = argparse.ArgumentParser(description="All benchmark ratios in one table.")
    parser.add_argument("--quick", action="store_true", help="shorter runs (a quarter year)")
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
        crypto = run_script("settlement_cost.py", [], t / "c.json")

    village = next(r for r in flows if "year" in r)["year"]
    a = village["bare_runpp_scaled_s"] / village["lightsim_batch_1t_year_s"]
    b = year["speedup_bare_over_cosim"]
    d = year["peak_rss_mb"]
    plain = next(r for r in crypto if r["backend"] == "plain")["ms_per_user_slot"]
    paillier = next(r for r in crypto if r["backend"] == "paillier")["ms_per_user_slot"]
    ckks = next(r for r in crypto if r["backend"] == "ckks")["ms_per_user_slot"]
    rows = [
        ("(a) year of village AC flows, lightsim batch vs bare runpp", f"{a:.0f}x", ">= 200x"),
        (f"(b) plaintext year ({slots} slots), all stages, vs bare runpp", f"{b:.1f}x", ">= 20x"),
        ("(c) encrypted settlement vs naive phe", "not measured", ">= 20x"),
        (
            "    Paillier 2048 / plain, per user-slot",
            f"{paillier / plain:.0f}x ({paillier:.1f} ms)",
            "",
        ),
        ("    CKKS / plain, per user-slot", f"{ckks / plain:.0f}x ({ckks:.2f} ms)", ""),
        ("(d) peak memory of the year run", f"{d:.0f} MB", "<= 1500 MB"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>22}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>22}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
