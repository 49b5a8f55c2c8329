"""All benchmark ratios in one table: ``python -m benchmarks [--quick] [--full]``.

Runs each benchmark script in its own process (so one's memory and threads do not disturb
another's timing), collects the figures they write with ``--json`` and prints one table with
the targets of the speed issues. Nothing is asserted: this measures and reports. Every ratio is
measured within one run of one script (both sides on the same machine at the same time).

* (a) a year of AC flows on the village: lightsim2grid batched vs a bare pandapower loop
  (``powerflow_backends.py``);
* (b) a full plaintext year of the village, all stages and all files, vs pandapower's own
  ``run_timeseries`` with its defaults on the same injections (flows only), and as a second
  line vs the bare ``runpp`` loop; cosim's power-flow stage vs lightsim2grid's
  ``TimeSeriesCPP`` on the same flows; (d) the run's peak memory
  (``year_vs_pandapower.py --backend lightsim2grid``);
* (c) encrypted settlement per user-slot, all four main models, Paillier 2048: cosim's
  ``paillier_djn`` (and the phe ``paillier`` reference) vs a naive per-operation phe
  implementation of the same protocol (``naive_ppbsp.py``), on the same synthetic slots, and
  the encrypted/plain ratio of a week of the village (``settlement_cost.py --week``);
* (e) the scale curve: K village feeders under one 20 kV bus, participants vs microseconds per
  participant-slot and peak memory at 500, 2,000 and 5,000 participants, 96 slots
  (``scale_curve.py``; ``--full`` adds 20,000);
* (f) encrypted settlement at district scale: about 4,000 users (85 village feeders),
  ``paillier_djn`` with 2 workers, the marginal seconds per slot and per user-slot
  (``(T(6 slots) - T(2 slots)) / 4``), the cores it keeps busy, and the ratio to the plain
  backend in the same run (``encrypted_scale.py``);
* ``--full`` also adds the encrypted year of the village end to end: ``cosim run
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
        sizes = ["500", "2000", "5000", *(["20000"] if args.full else [])]
        scale = run_script("scale_curve.py", ["--sizes", *sizes], t / "e.json")
        at_scale = run_script("encrypted_scale.py", [], t / "f.json")
        full = run_full_year(t) if args.full else None

    village = next(r for r in flows if "year" in r)["year"]
    a = village["bare_runpp_scaled_s"] / village["lightsim_batch_1t_year_s"]
    b = year["speedup_timeseries_over_cosim"]
    b_bare = year["speedup_bare_over_cosim"]
    flow_ratio = year["flow_stage_over_lightsim_timeseries"]
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
        (
            f"(b) plaintext year ({slots} slots), all stages, vs pandapower run_timeseries",
            f"{b:.1f}x",
            ">= 5x",
        ),
        ("    the same year vs a bare runpp loop (earlier baseline)", f"{b_bare:.1f}x", ""),
        (
            "    cosim flow stage / lightsim2grid TimeSeriesCPP, same flows",
            f"{flow_ratio:.2f} ({year['cosim_flow_stage_s']:.2f} s)",
            "",
        ),
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
    for p in scale:
        n = p["participants"]
        target = {5000: "<= 5 us", 20000: "<= 2000 MB"}.get(round(n, -3), "")
        rows.append(
            (
                f"(e) {n} participants x {p['slots']} slots: us/participant-slot, peak RSS",
                f"{p['us_per_participant_slot']:.1f} us, {p['peak_rss_mb']:.0f} MB",
                target,
            )
        )
    enc = at_scale["paillier_djn"]
    enc_over_plain = enc["s_per_slot"] / at_scale["plain"]["s_per_slot"]
    rows.append(
        (
            f"(f) encrypted, {enc['participants']} users, paillier_djn, 2 workers: per slot",
            f"{enc['s_per_slot']:.2f} s ({enc['ms_per_user_slot']:.2f} ms/user-slot)",
            "<= 2.5 s",
        )
    )
    rows.append(
        (
            "    the same, CPU cores busy; / plain per slot",
            f"{enc['cores_busy'] or 0.0:.2f}; {enc_over_plain:.0f}x",
            "",
        )
    )
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
