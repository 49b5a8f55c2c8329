"""One dispatch solve from a scenario's ``dispatch`` section, and its result rows.

:func:`solve_scenario_dispatch` builds the case and partition, solves the central reference and
the decentralized ADMM, and returns a :class:`DispatchRecord`; :func:`write_dispatch_csv` writes
``dispatch.csv`` (one row per solve) and ``dispatch_iterations.csv`` (one row per solve and
iteration: residuals per quantity and the rho path). I/O only in the writer.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cosim.dispatch.admm import AdmmResult, AdmmSettings, run_admm
from cosim.dispatch.case import load_case, partition
from cosim.dispatch.model import QUANTITIES, build_des_problems, solve_central, violations
from cosim.scenario import DispatchConfig, Scenario

__all__ = [
    "DispatchRecord",
    "settings_from_config",
    "settings_from_scenario",
    "solve_scenario_dispatch",
    "write_dispatch_csv",
]

PHASES: tuple[str, ...] = (
    "setup",
    "warm_start",
    "local",
    "encrypt",
    "aggregate",
    "decrypt",
    "total",
)


def settings_from_scenario(scenario: Scenario) -> AdmmSettings:
    """:class:`AdmmSettings` from ``dispatch`` and ``dispatch.admm``."""
    return settings_from_config(scenario.dispatch)


def settings_from_config(d: DispatchConfig) -> AdmmSettings:
    """:class:`AdmmSettings` from a ``dispatch`` section."""
    a = d.admm
    return AdmmSettings(
        rho=a.rho,
        voltage_rho_factor=a.voltage_rho_factor,
        over_relaxation=a.over_relaxation,
        tol_kw=a.tol_kw,
        tol_pu=a.tol_pu,
        max_iterations=a.max_iterations,
        balance_iterations=a.balance_iterations,
        price_warm_start=a.price_warm_start,
        acceleration=a.acceleration,
        voltage_warm_start=a.voltage_warm_start,
        two_price_warm_start=a.two_price_warm_start,
        rho_final=a.rho_final,
        rho_ramp_iterations=a.rho_ramp_iterations,
        encryption=d.encryption,
        masking=d.masking,
        key_bits=d.key_bits,
        workers=d.workers,
    )


@dataclass(frozen=True, eq=False)
class DispatchRecord:
    """One solve: the ADMM result, the central optimum, violations, identifying fields."""

    solve: int
    case: str
    des: int
    encryption: str
    masking: str
    result: AdmmResult
    objective_central: float
    seconds_central: float
    violation_kw: float
    violation_pu: float
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The ``dispatch.csv`` row (``extra`` columns after ``solve``)."""
        r = self.result
        last_p = r.primal_residual[-1] if r.iterations else np.full(3, np.nan)
        last_d = r.dual_residual[-1] if r.iterations else np.full(3, np.nan)
        units = ("kw", "kvar", "pu")
        row: dict[str, Any] = {
            "solve": self.solve,
            **self.extra,
            "case": self.case,
            "des": self.des,
            "encryption": self.encryption,
            "masking": self.masking,
            "converged": r.converged,
            "iterations": r.iterations,
            "warm_start_rounds": r.warm_start_rounds,
            "objective": r.objective,
            "objective_central": self.objective_central,
            "gap_relative": (r.objective - self.objective_central) / abs(self.objective_central)
            if self.objective_central != 0
            else np.nan,
        }
        for q, unit in enumerate(units):
            name = QUANTITIES[q].split("_")[0]
            row[f"primal_residual_{name}_{unit}"] = float(last_p[q])
            row[f"dual_residual_{name}_{unit}"] = float(last_d[q])
            row[f"rho_{name}_final"] = float(r.rho[-1, q]) if r.iterations else np.nan
        row["violation_kw"] = self.violation_kw
        row["violation_pu"] = self.violation_pu
        row["bytes_exchanged"] = r.bytes_exchanged
        row["key_bytes"] = r.key_bytes
        for phase in PHASES:
            row[f"seconds_{phase}"] = float(r.seconds.get(phase, 0.0))
        row["seconds_central"] = self.seconds_central
        return row


def solve_scenario_dispatch(
    scenario: Scenario, rng: np.random.Generator, solve: int = 0
) -> DispatchRecord:
    """Solve ``scenario.dispatch`` once (day-ahead, the case's horizon)."""
    d = scenario.dispatch
    case = load_case(d.case)
    labels = partition(case, d.partition, d.parts, d.mapping)
    problems = build_des_problems(case, labels)
    central = solve_central(problems)
    result = run_admm(case, labels, problems, settings_from_scenario(scenario), rng)
    worst = violations(problems, result.x)
    return DispatchRecord(
        solve=solve,
        case=d.case,
        des=len(problems),
        encryption=d.encryption,
        masking=d.masking,
        result=result,
        objective_central=central.objective,
        seconds_central=central.seconds,
        violation_kw=worst["kw"],
        violation_pu=worst["pu"],
    )


def write_dispatch_csv(directory: Path, records: list[DispatchRecord]) -> list[Path]:
    """Write ``dispatch.csv`` and ``dispatch_iterations.csv`` (full float precision)."""
    directory.mkdir(parents=True, exist_ok=True)
    main = directory / "dispatch.csv"
    rows = [rec.row() for rec in records]
    with main.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows
        )
    iters = directory / "dispatch_iterations.csv"
    names = [q.split("_")[0] for q in QUANTITIES]
    units = ("kw", "kvar", "pu")
    header = (
        ["solve", "iteration"]
        + [f"primal_residual_{n}_{u}" for n, u in zip(names, units, strict=True)]
        + [f"dual_residual_{n}_{u}" for n, u in zip(names, units, strict=True)]
        + [f"rho_{n}" for n in names]
    )
    with iters.open("w", newline="") as fh:
        writer2 = csv.writer(fh)
        writer2.writerow(header)
        for rec in records:
            r = rec.result
            for k in range(r.iterations):
                writer2.writerow(
                    [rec.solve, k + 1]
                    + [repr(float(v)) for v in r.primal_residual[k]]
                    + [repr(float(v)) for v in r.dual_residual[k]]
                    + [repr(float(v)) for v in r.rho[k]]
                )
    return [main, iters]
