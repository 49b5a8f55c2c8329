"""Decentralized dispatch: ADMM iterations and time per case, plain vs encrypted, vs central.

Usage::

    python benchmarks/dispatch_admm.py                 # six_bus, village 2/4/8, yingkou60_8
    python benchmarks/dispatch_admm.py --cases six_bus village8
    python benchmarks/dispatch_admm.py --cases yingkou60_8    # scenarios/dispatch_yingkou60.yaml
    python benchmarks/dispatch_admm.py --cases yingkou60_2    # the same settings in 2 DES
    python benchmarks/dispatch_admm.py --cases yingkou60      # per bus, default settings (slow)
    python benchmarks/dispatch_admm.py --json out.json
    python benchmarks/dispatch_admm.py --cases six_bus --masking rmme   # masked cloud solves

For each case, in one process: the central LP (HiGHS) of the partitioned model; ADMM with
``dispatch.encryption: plain``; ADMM with ``ckks`` (the default). Printed per case: central
objective and time; per backend iterations (plus warm-start rounds), objective gap to the
central optimum (relative), largest central-constraint violation [kW] and [pu], wall time,
time per iteration, bytes exchanged, and the encrypted/plain time-per-iteration ratio (the
issue's target: <= 2 on the village with 8 DES). A ``--cold`` flag adds a plain run without
the price-taker warm start. Peak resident memory of the process is printed at the end.
Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cosim.dispatch.admm import AdmmSettings, run_admm
from cosim.dispatch.case import load_case, partition
from cosim.dispatch.model import build_des_problems, solve_central, violations
from cosim.dispatch.run import settings_from_scenario
from cosim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "six_bus": ("six_bus", "bus", 0),
    "village2": ("village", "balanced", 2),
    "village4": ("village", "balanced", 4),
    "village8": ("village", "balanced", 8),
    "yingkou60_8": ("yingkou60", "balanced", 8),
    "yingkou60_2": ("yingkou60", "balanced", 2),
    "yingkou60": ("yingkou60", "bus", 0),
}
DEFAULT_CASES = ["six_bus", "village2", "village4", "village8", "yingkou60_8"]
SCENARIO_SETTINGS = {
    "yingkou60_8": ROOT / "scenarios" / "dispatch_yingkou60.yaml",
    "yingkou60_2": ROOT / "scenarios" / "dispatch_yingkou60.yaml",
}
"""Cases run with the ADMM settings of a shipped scenario (the others: the defaults)."""


def base_settings(key: str) -> AdmmSettings:
    """The scenario's ``dispatch.admm`` settings for ``key``, else the defaults."""
    if key in SCENARIO_SETTINGS:
        return settings_from_scenario(load_scenario(SCENARIO_SETTINGS[key]))
    return AdmmSettings()


def run_case(key: str, cold: bool, masking: str = "none") -> dict:
    name, mode, parts = CASES[key]
    case = load_case(name)
    labels = partition(case, mode, parts)
    problems = build_des_problems(case, labels)
    central = solve_central(problems)
    row: dict = {
        "case": key,
        "des": len(problems),
        "central_objective": central.objective,
        "central_seconds": central.seconds,
    }
    base = base_settings(key)
    backends = [
        ("plain", replace(base, encryption="plain", masking=masking)),
        ("ckks", replace(base, encryption="ckks", masking=masking)),
    ]
    if cold:
        backends.append(("plain_cold", replace(base, encryption="plain", price_warm_start=False)))
    for label, settings in backends:
        tic = time.perf_counter()
        res = run_admm(case, labels, problems, settings)
        wall = time.perf_counter() - tic
        worst = violations(problems, res.x)
        row[label] = {
            "converged": res.converged,
            "iterations": res.iterations,
            "warm_start_rounds": res.warm_start_rounds,
            "gap": (res.objective - central.objective) / abs(central.objective),
            "violation_kw": worst["kw"],
            "violation_pu": worst["pu"],
            "seconds": wall,
            "peak_mb_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seconds_per_iteration": (wall - res.seconds.get("setup", 0.0))
            / max(res.iterations, 1),
            "phases": res.seconds,
            "bytes": res.bytes_exchanged,
            "key_bytes": res.key_bytes,
        }
    row["ckks_over_plain_per_iteration"] = (
        row["ckks"]["seconds_per_iteration"] / row["plain"]["seconds_per_iteration"]
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=DEFAULT_CASES, choices=list(CASES))
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--masking", default="none", choices=["none", "rmme"])
    args = parser.parse_args(argv)
    rows = []
    for key in args.cases:
        row = run_case(key, args.cold, args.masking)
        rows.append(row)
        print(
            f"{key}: {row['des']} DES, central {row['central_objective']:.6f} "
            f"in {row['central_seconds']:.2f} s"
        )
        for label in ("plain", "ckks", "plain_cold"):
            if label not in row:
                continue
            r = row[label]
            print(
                f"  {label:10s} converged={r['converged']} "
                f"it={r['iterations']}+{r['warm_start_rounds']} "
                f"gap={r['gap']:.2e} viol={r['violation_kw']:.1e} kW/{r['violation_pu']:.1e} pu "
                f"wall={r['seconds']:.1f} s per-it={1000 * r['seconds_per_iteration']:.1f} ms "
                f"bytes={r['bytes']:,} peak={r['peak_mb_so_far']:.0f} MB"
            )
        print(f"  ckks/plain per iteration: {row['ckks_over_plain_per_iteration']:.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mb:.0f} MB")
    if args.json:
        args.json.write_text(
            json.dumps({"cases": rows, "peak_mb": peak_mb}, indent=1, default=float)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
