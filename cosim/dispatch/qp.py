"""A DES's local subproblem as a convex QP, solved by Clarabel.

ADMM adds ``sum_j rho_j / 2 (x[col_j] - w_j)^2`` to the DES's LP: a diagonal Hessian on the
boundary columns. The local problems are solved by Clarabel (Goulart and Chen 2024), a
deterministic interior-point solver, to 1e-10 gap and feasibility tolerances. Same input, same
output, so encrypted and plain runs can be compared bit for bit. HiGHS's active-set QP solver
(highspy) was tried first: fast on the six-bus blocks, but it stalled or reported a solve error
on the village's multi-node blocks and on the dense masked QPs of RMME. OSQP would nest one
inexact ADMM inside another. The constraint matrix is built once; each iteration passes only the
Hessian diagonal and the linear costs.
"""

from __future__ import annotations

import clarabel
import numpy as np
from scipy import sparse

from cosim.dispatch.lp import LpMatrices

__all__ = ["LocalQP", "clarabel_settings", "solve_clarabel"]


def clarabel_settings(tol: float = 1e-10) -> clarabel.DefaultSettings:
    """Silent Clarabel settings with gap and feasibility tolerances ``tol``."""
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = tol
    settings.tol_gap_rel = tol
    settings.tol_feas = tol
    return settings


def solve_clarabel(
    p: sparse.csc_matrix,
    q: np.ndarray,
    a: sparse.csc_matrix,
    b: np.ndarray,
    cones: list,
) -> np.ndarray:
    """Clarabel at 1e-10, retried at 1e-8 when it stops for lack of progress."""
    for tol in (1e-10, 1e-8):
        sol = clarabel.DefaultSolver(p, q, a, b, cones, clarabel_settings(tol)).solve()
        if str(sol.status) in ("Solved", "AlmostSolved"):
            return np.asarray(sol.x, dtype=float)
    raise RuntimeError(f"QP not solved: {sol.status}")


class LocalQP:
    """``min c'x + 1/2 x' diag(hess) x + lin'x`` over one LP block's constraints.

    Parameters
    ----------
    lp : LpMatrices
        The block.
    """

    def __init__(self, lp: LpMatrices) -> None:
        self.lp = lp
        n = lp.n
        eye = sparse.identity(n, format="csr")
        up, low = np.isfinite(lp.hi), np.isfinite(lp.lo)
        self._a = sparse.vstack([lp.a_eq, lp.a_ub, eye[up], -eye[low]], format="csc")
        self._b = np.concatenate([lp.b_eq, lp.b_ub, lp.hi[up], -lp.lo[low]])
        self._n_eq = lp.a_eq.shape[0]

    @property
    def _cones(self) -> list:
        """Equality rows, then inequality rows (made per solve: Clarabel's cones do not
        pickle, and a DES's problem travels to the process that plays it)."""
        return [
            clarabel.ZeroConeT(self._n_eq),
            clarabel.NonnegativeConeT(self._a.shape[0] - self._n_eq),
        ]

    def solve(self, hess: np.ndarray, lin: np.ndarray) -> tuple[np.ndarray, float]:
        """Minimiser and LP part ``c'x`` of the objective.

        Parameters
        ----------
        hess : numpy.ndarray, shape (n,)
            Diagonal of the Hessian (>= 0).
        lin : numpy.ndarray, shape (n,)
            Added to the LP costs.
        """
        p = sparse.diags(hess, format="csc")
        x = solve_clarabel(p, self.lp.cost + lin, self._a, self._b, self._cones)
        return x, float(self.lp.cost @ x)
