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


def test_voltage_warm_start_follows_the_drop_rows_of_the_sweep_flows() -> None:
    """V copies from the sweep satisfy the model's drop rows with the sweep's own P and Q."""
    from cosim.dispatch.admm import price_taker_start, public_price

    case = load_case("yingkou60").with_steps(6)
    labels = partition(case, "bus")
    problems = build_des_problems(case, labels)
    steps = case.time.steps
    plain, levels = price_taker_start(case, labels, problems, public_price(case))
    z0, rounds = price_taker_start(case, labels, problems, public_price(case), voltages=True)
    assert rounds == 2 * levels  # the downward voltage sweep costs one round per level
    values: dict[int, np.ndarray] = {}  # line -> [P, Q, V_parent]
    for p, z, zp in zip(problems, z0, plain, strict=True):
        np.testing.assert_array_equal(z[p.quantity < 2], zp[p.quantity < 2])
        for k, line in enumerate(p.lines):
            values[line] = z[3 * steps * k : 3 * steps * (k + 1)].reshape(3, steps)
    for line, (_, _, v_parent) in values.items():
        u = int(case.parent[line])
        if case.parent[u] < 0:
            np.testing.assert_allclose(v_parent, case.v_root_pu)
            continue
        p_u, q_u, v_grand = values[u]
        drop = (case.r_ohm[u] * p_u + case.x_ohm[u] * q_u) / case.drop_scale
        np.testing.assert_allclose(v_parent, v_grand - drop, atol=1e-12)
    assert min(float(v[2].min()) for v in values.values()) < case.v_root_pu - 1e-3


def test_two_price_sweep_values_exports_at_the_feed_in_price() -> None:
    """With buy > sell the sweep never exports more than with one price (the tariff)."""
    from cosim.dispatch.admm import price_taker_start, public_price, public_sell_price

    case = load_case("yingkou60")
    labels = partition(case, "balanced", 8)
    problems = build_des_problems(case, labels)
    steps = case.time.steps
    one, _ = price_taker_start(case, labels, problems, public_price(case))
    two, _ = price_taker_start(
        case, labels, problems, public_price(case), sell_per_kwh=public_sell_price(case)
    )
    root_line = range(len(problems[0].lines))
    exp_one = sum(
        float(np.maximum(-one[0][3 * steps * k : 3 * steps * k + steps], 0).sum())
        for k in root_line
    )
    exp_two = sum(
        float(np.maximum(-two[0][3 * steps * k : 3 * steps * k + steps], 0).sum())
        for k in root_line
    )
    assert exp_two < exp_one


def test_yingkou_settings_close_the_gap_much_faster_than_the_defaults() -> None:
    """Yingkou (6 steps, 8 DES): the scenario's settings vs the defaults after 300 iterations.

    Neither reaches the tolerance in 300 iterations (the full case does not reach it at all,
    docs/dispatch.md); the ramped penalty with the warm starts is measured at a gap of 1.6e-4
    against 7.0e-3 for the defaults.
    """
    from dataclasses import replace
    from pathlib import Path

    from cosim.dispatch.run import settings_from_scenario
    from cosim.scenario import load_scenario

    path = Path(__file__).resolve().parents[1] / "scenarios" / "dispatch_yingkou60.yaml"
    scenario = load_scenario(path)
    assert scenario.dispatch.case == "yingkou60" and scenario.dispatch.encryption == "ckks"
    assert len(set(partition(load_case("yingkou60"), "balanced", scenario.dispatch.parts))) >= 4
    tuned = replace(settings_from_scenario(scenario), encryption="plain", max_iterations=300)
    case = load_case("yingkou60").with_steps(6)
    labels = partition(case, scenario.dispatch.partition, scenario.dispatch.parts)
    problems = build_des_problems(case, labels)
    central = solve_central(problems)
    gaps = {}
    for name, settings in (
        ("tuned", tuned),
        ("default", AdmmSettings(encryption="plain", max_iterations=300)),
    ):
        result = run_admm(case, labels, problems, settings)
        gaps[name] = abs(result.objective - central.objective) / abs(central.objective)
        if name == "tuned":
            assert violations(problems, result.x)["pu"] <= 1e-4
    assert gaps["tuned"] < 1e-3
    assert gaps["tuned"] < 0.1 * gaps["default"]
