"""A DES's local subproblem as a convex QP solved by HiGHS (highspy), kept between iterations.

ADMM adds ``sum_j rho_j / 2 (x[col_j] - w_j)^2`` to the DES's LP, a diagonal Hessian on the
boundary columns. HiGHS's QP solver (an active-set method) is deterministic and returns vertex-
accurate solutions, so local problems are solved exactly rather than to an iterative-solver
tolerance (OSQP's own ADMM would nest one inexact ADMM in another). The model is passed once;
each iteration changes only the costs and, when a penalty changes, the Hessian.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import highspy
import numpy as np
from scipy import sparse

from cosim.dispatch.lp import LpMatrices

__all__ = ["LocalQP", "new_highs"]


@contextlib.contextmanager
def _stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (HiGHS prints a banner from C++ on first use)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def new_highs() -> highspy.Highs:
    """A silent, single-threaded, seeded HiGHS instance (the library never prints)."""
    with _stdout_silenced():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    return h


class LocalQP:
    """``min c'x + 1/2 x' diag(hess) x + lin'x`` over one LP block's constraints.

    Parameters
    ----------
    lp : LpMatrices
        The block.
    """

    def __init__(self, lp: LpMatrices) -> None:
        self.lp = lp
        h = new_highs()
        a = sparse.vstack([lp.a_eq, lp.a_ub], format="csc")
        model = highspy.HighsLp()
        model.num_col_ = lp.n
        model.num_row_ = a.shape[0]
        model.col_cost_ = lp.cost
        model.col_lower_ = np.where(np.isfinite(lp.lo), lp.lo, -highspy.kHighsInf)
        model.col_upper_ = np.where(np.isfinite(lp.hi), lp.hi, highspy.kHighsInf)
        model.row_lower_ = np.concatenate([lp.b_eq, np.full(lp.b_ub.size, -highspy.kHighsInf)])
        model.row_upper_ = np.concatenate([lp.b_eq, lp.b_ub])
        model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        model.a_matrix_.start_ = a.indptr.astype(np.int32)
        model.a_matrix_.index_ = a.indices.astype(np.int32)
        model.a_matrix_.value_ = a.data
        h.passModel(model)
        self._h = h
        self._cols = np.arange(lp.n, dtype=np.int32)
        self._hess: np.ndarray | None = None

    def solve(self, hess: np.ndarray, lin: np.ndarray) -> tuple[np.ndarray, float]:
        """Minimiser and LP part ``c'x`` of the objective.

        Parameters
        ----------
        hess : numpy.ndarray, shape (n,)
            Diagonal of the Hessian (>= 0).
        lin : numpy.ndarray, shape (n,)
            Added to the LP costs.
        """
        n = self.lp.n
        if self._hess is None or not np.array_equal(hess, self._hess):
            nz = np.flatnonzero(hess)
            start = np.searchsorted(nz, np.arange(n + 1)).astype(np.int32)
            self._h.passHessian(
                n, int(nz.size), int(highspy.HessianFormat.kTriangular), start, nz.astype(np.int32), hess[nz]
            )
            self._hess = hess.copy()
        self._h.changeColsCost(n, self._cols, self.lp.cost + lin)
        self._h.run()
        status = self._h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"local QP not solved: {self._h.modelStatusToString(status)}")
        x = np.asarray(self._h.getSolution().col_value, dtype=float)
        return x, float(self.lp.cost @ x)
