"""The DES's local solves on worker processes: the same iterates as in the main process."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from cosim.dispatch.admm import AdmmSettings, run_admm
from cosim.dispatch.case import load_case, partition
from cosim.dispatch.local import LocalSolves, assign
from cosim.dispatch.model import build_des_problems
from cosim.dispatch.qp import LocalQP


def _children() -> set[int]:
    """Process ids of this process's children (Linux)."""
    path = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def test_workers_give_the_same_iterates_bit_for_bit() -> None:
    case = load_case("village")
    labels = partition(case, "balanced", 4)
    problems = build_des_problems(case, labels)
    runs = [
        run_admm(
            case, labels, problems, AdmmSettings(encryption="plain", workers=w, max_iterations=25)
        )
        for w in (1, 2)
    ]
    one, two = runs
    assert one.iterations == two.iterations == 25
    assert one.objective == two.objective
    assert all(np.array_equal(a, b) for a, b in zip(one.x, two.x, strict=True))
    assert np.array_equal(one.primal_residual, two.primal_residual)
    assert np.array_equal(one.dual_residual, two.dual_residual)


class _Failing:
    """A local problem whose solver gives up (as Clarabel's RuntimeError)."""

    def solve(self, hess: np.ndarray, lin: np.ndarray) -> tuple[np.ndarray, float]:
        raise RuntimeError("QP not solved: MaxIterations")


def test_a_workers_error_is_raised_and_the_workers_stop() -> None:
    case = load_case("six_bus")
    problems = build_des_problems(case, partition(case, "bus"))
    solvers = [LocalQP(p.lp) for p in problems]
    before = _children()
    local = LocalSolves(2)
    try:
        local.load([*solvers[:-1], _Failing()], [p.lp.n for p in problems])
        assert len(_children() - before) == 2
        hess = [np.ones(p.lp.n) for p in problems]
        lin = [np.zeros(p.lp.n) for p in problems]
        with pytest.raises(RuntimeError, match="QP not solved"):
            local.solve(hess, lin)
        # the pipes hold no stale answer: the next solve of good problems works
        local.load(solvers, [p.lp.n for p in problems])
        got = local.solve(hess, lin)
        want = [s.solve(h, q)[0] for s, h, q in zip(solvers, hess, lin, strict=True)]
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    finally:
        local.close()
    assert _children() - before == set()


def test_a_checkpoint_keeps_no_process() -> None:
    local = LocalSolves(3)
    copy = pickle.loads(pickle.dumps(local))
    assert copy.workers == 3 and copy._procs == [] and copy._conns == []


@pytest.mark.parametrize(("sizes", "workers"), [([5, 1, 1, 1, 1, 1], 2), ([3, 3, 3], 5)])
def test_assignment_covers_every_des_once(sizes: list[int], workers: int) -> None:
    groups = assign(sizes, workers)
    assert sorted(k for g in groups for k in g) == list(range(len(sizes)))
    assert len(groups) == min(workers, len(sizes))
    loads = [sum(sizes[k] for k in g) for g in groups]
    assert max(loads) - min(loads) <= max(sizes)
