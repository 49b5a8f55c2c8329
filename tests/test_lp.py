"""The LP toolkit: rows as built equal a dense LP handed to scipy directly; status mapping."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.optimize import linprog

import cosim.lp as lp
from cosim.lp import LinearProgram, solve_highs


def test_blocks_and_rows_equal_the_dense_lp() -> None:
    """Trailing axes of a term are summed within its row; rows keep the order they were added."""
    rng = np.random.default_rng(3)
    prog = LinearProgram()
    x = prog.block((3, 2), 0.0, 5.0, cost=rng.uniform(-1, 1, (3, 2)))
    y = prog.block((3,), -1.0, np.inf, cost=1.0)
    coef = rng.uniform(0.5, 2.0, (3, 2))
    prog.add("ub", [(x, coef), (y, -1.0)], np.full(3, 4.0))  # row t: coef[t] . x[t] - y[t] <= 4
    prog.add("eq", [(x[:, :1], 1.0), (x[:, 1:], 1.0)], np.array([1.0, 2.0, 3.0]))
    sol = prog.solve()

    a_ub = np.zeros((3, 9))
    for t in range(3):
        a_ub[t, 2 * t : 2 * t + 2] = coef[t]
        a_ub[t, 6 + t] = -1.0
    a_eq = np.zeros((3, 9))
    for t in range(3):
        a_eq[t, 2 * t : 2 * t + 2] = 1.0
    cost = np.concatenate([np.concatenate(prog.cost[:1]), np.ones(3)])
    bounds = [(0.0, 5.0)] * 6 + [(-1.0, None)] * 3
    ref = linprog(cost, A_ub=a_ub, b_ub=np.full(3, 4.0), A_eq=a_eq, b_eq=[1.0, 2.0, 3.0],
                  bounds=bounds, method="highs")  # fmt: skip
    assert sol.status == "optimal" and ref.status == 0
    assert sol.objective == pytest.approx(ref.fun, abs=1e-9)
    np.testing.assert_allclose(sol.x, ref.x, atol=1e-9)


def test_status_mapping() -> None:
    bounds = np.array([[0.0, np.inf]])
    infeasible = solve_highs(np.array([1.0]), a_ub=np.array([[1.0]]), b_ub=np.array([-1.0]),
                             bounds=bounds)  # fmt: skip
    assert infeasible.status == "infeasible" and infeasible.x.size == 0
    assert np.isnan(infeasible.objective) and infeasible.message
    unbounded = solve_highs(np.array([-1.0]), bounds=bounds)
    assert unbounded.status == "unbounded"


def test_solver_errors_do_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> None:
        raise RuntimeError("HiGHS internal error")

    monkeypatch.setattr(lp, "linprog", boom)
    sol = LinearProgram()
    sol.block((1,), 0.0, 1.0, 1.0)
    out = sol.solve()
    assert out.status == "solver_failed" and "internal" in out.message
