"""Consensus ADMM against the central optimum of the same model."""

from __future__ import annotations

import numpy as np
import pytest

from cosim.dispatch.admm import AdmmSettings, run_admm
from cosim.dispatch.case import load_case, partition
from cosim.dispatch.model import build_des_problems, solve_central, violations

SEED_ITERATIONS = 279
"""Iterations of the source framework's 6-bus demo (plaintext) to its tolerance."""


def _check(case_name: str, mode: str, parts: int, settings: AdmmSettings):
    case = load_case(case_name)
    labels = partition(case, mode, parts)
    problems = build_des_problems(case, labels)
    central = solve_central(problems)
    result = run_admm(case, labels, problems, settings)
    assert central.status == 0
    assert result.converged
    assert abs(result.objective - central.objective) <= 1e-4 * abs(central.objective)
    worst = violations(problems, result.x)
    assert worst["kw"] <= 1e-3
    assert worst["pu"] <= 1e-4
    return result


def test_six_bus_encrypted_reaches_the_central_optimum_faster_than_the_seed() -> None:
    result = _check("six_bus", "bus", 0, AdmmSettings())  # ckks by default
    assert result.iterations + result.warm_start_rounds < SEED_ITERATIONS
    assert result.bytes_exchanged > 0


def test_residuals_are_reported_per_quantity_and_fall() -> None:
    case = load_case("six_bus")
    labels = partition(case, "bus")
    problems = build_des_problems(case, labels)
    result = run_admm(
        case,
        labels,
        problems,
        AdmmSettings(encryption="plain", price_warm_start=False, max_iterations=60),
    )
    assert result.primal_residual.shape == (result.iterations, 3)
    assert result.rho.shape == (result.iterations, 3)
    assert result.primal_residual[-1, 0] < 0.2 * result.primal_residual[0, 0]


@pytest.mark.parametrize("parts", [2])
def test_village_split_reaches_the_central_optimum(parts: int) -> None:
    _check("village", "balanced", parts, AdmmSettings(encryption="plain"))


def test_single_des_needs_no_exchange() -> None:
    case = load_case("six_bus")
    labels = np.zeros(case.n, dtype=int)
    problems = build_des_problems(case, labels)
    result = run_admm(case, labels, problems, AdmmSettings())
    assert result.converged and result.bytes_exchanged == 0
    assert result.objective == pytest.approx(solve_central(problems).objective, rel=1e-7)
