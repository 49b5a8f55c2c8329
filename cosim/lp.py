"""Sparse linear programs for HiGHS: variable blocks, vectorised rows and one solve call.

The battery schedules (:mod:`cosim.participants.storage`) build their LPs with
:class:`LinearProgram`; they and the network check (:mod:`cosim.market.network_check`) solve
with :func:`solve_highs`, which maps the outcome of :func:`scipy.optimize.linprog`
(``method="highs"``) to one status string and never raises for a solver failure.

Examples
--------
>>> import numpy as np
>>> lp = LinearProgram()
>>> x = lp.block((2,), 0.0, 10.0, cost=[1.0, 2.0])  # min x0 + 2 x1
>>> lp.add("ub", [(x, -1.0)], np.array(-3.0))  # x0 + x1 >= 3
>>> sol = lp.solve()
>>> sol.status, np.round(sol.x, 9).tolist(), round(sol.objective, 9)
('optimal', [3.0, 0.0], 3.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

__all__ = ["LP_STATUS", "LinearProgram", "LpSolution", "solve_highs"]

LP_STATUS: Final[dict[int, str]] = {0: "optimal", 2: "infeasible", 3: "unbounded"}
"""Status of :func:`scipy.optimize.linprog` codes; any other code is ``"solver_failed"``."""

RowKind = Literal["eq", "ub"]


@dataclass(frozen=True, eq=False)
class LpSolution:
    """Outcome of one solve.

    Attributes
    ----------
    status : str
        ``"optimal"``, ``"infeasible"``, ``"unbounded"`` or ``"solver_failed"``.
    message : str
        The solver's message or the error raised (empty when optimal).
    x : numpy.ndarray of float64
        The solution (empty unless optimal).
    objective : float
        Optimal objective value (NaN unless optimal).
    """

    status: str
    message: str
    x: np.ndarray
    objective: float


def solve_highs(
    cost: np.ndarray,
    *,
    a_ub: Any = None,
    b_ub: np.ndarray | None = None,
    a_eq: Any = None,
    b_eq: np.ndarray | None = None,
    bounds: np.ndarray,
) -> LpSolution:
    """``min cost @ x`` s.t. ``a_ub x <= b_ub``, ``a_eq x = b_eq``, ``bounds`` with HiGHS.

    Parameters
    ----------
    cost : numpy.ndarray, shape (n,)
        Objective coefficients.
    a_ub, a_eq : dense or sparse matrix, optional
        Constraint matrices (passed to :func:`scipy.optimize.linprog` as they are).
    b_ub, b_eq : numpy.ndarray, optional
        Right-hand sides.
    bounds : numpy.ndarray, shape (n, 2)
        Lower and upper bound of each variable (``inf`` allowed).

    Returns
    -------
    LpSolution
        Never raises for a solver failure: scipy's input errors and HiGHS's internal errors
        give ``"solver_failed"`` with their message.
    """
    try:
        sol = linprog(
            cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs"
        )
    except (ValueError, RuntimeError) as exc:  # scipy/HiGHS input or internal errors
        return LpSolution("solver_failed", str(exc), np.empty(0), np.nan)
    if sol.status != 0 or sol.x is None:
        status = LP_STATUS.get(int(sol.status), "solver_failed")
        if status == "optimal":  # status 0 without a solution
            status = "solver_failed"
        return LpSolution(status, str(sol.message), np.empty(0), np.nan)
    return LpSolution("optimal", "", np.asarray(sol.x, dtype=np.float64), float(sol.fun))


class LinearProgram:
    """A sparse LP under construction: blocks of variables, rows of constraints, bounds, costs.

    Variables are created in blocks (:meth:`block`), which return their indices in the block's
    shape; rows are added in vectorised groups (:meth:`add`). :meth:`solve` assembles the
    matrices in the order the rows were added and calls :func:`solve_highs`.
    """

    def __init__(self) -> None:
        self.n_var = 0
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.cost: list[np.ndarray] = []
        self.rows: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {"eq": [], "ub": []}
        self.rhs: dict[str, list[np.ndarray]] = {"eq": [], "ub": []}
        self.n_rows = {"eq": 0, "ub": 0}

    def block(
        self, shape: tuple[int, ...], lo: object, hi: object, cost: object = 0.0
    ) -> np.ndarray:
        """Add a block of variables with bounds ``[lo, hi]`` and objective coefficients ``cost``
        (each broadcast to ``shape``); return their indices, an int array of ``shape``."""
        size = int(np.prod(shape))
        idx = np.arange(self.n_var, self.n_var + size).reshape(shape)
        self.n_var += size
        for store, value in ((self.lo, lo), (self.hi, hi), (self.cost, cost)):
            store.append(np.broadcast_to(np.asarray(value, dtype=np.float64), shape).ravel())
        return idx

    def add(self, kind: RowKind, terms: list[tuple[np.ndarray, object]], rhs: np.ndarray) -> None:
        """Rows ``sum coef * x[idx] (== | <=) rhs``, one per entry of ``rhs``.

        Each term's index array has the shape of ``rhs``, or that shape plus trailing axes,
        which are summed within the row; ``coef`` broadcasts to the index array.
        """
        b = np.asarray(rhs, dtype=np.float64)
        rows = self.n_rows[kind] + np.arange(b.size).reshape(b.shape)
        for idx, coef in terms:
            c = np.broadcast_to(np.asarray(coef, dtype=np.float64), idx.shape)
            r = np.broadcast_to(rows.reshape(rows.shape + (1,) * (idx.ndim - rows.ndim)), idx.shape)
            self.rows[kind].append((r.ravel(), idx.ravel(), c.ravel()))
        self.rhs[kind].append(b.ravel())
        self.n_rows[kind] += b.size

    def solve(self) -> LpSolution:
        """Solve with HiGHS (:func:`solve_highs`)."""
        mats: dict[str, sparse.csr_array | None] = {}
        vecs: dict[str, np.ndarray | None] = {}
        for kind in ("eq", "ub"):
            if self.n_rows[kind] == 0:
                mats[kind], vecs[kind] = None, None
                continue
            r, c, v = (np.concatenate(x) for x in zip(*self.rows[kind], strict=True))
            mats[kind] = sparse.coo_array(
                (v, (r, c)), shape=(self.n_rows[kind], self.n_var)
            ).tocsr()
            vecs[kind] = np.concatenate(self.rhs[kind])
        bounds = np.column_stack([np.concatenate(self.lo), np.concatenate(self.hi)])
        return solve_highs(
            np.concatenate(self.cost),
            a_ub=mats["ub"],
            b_ub=vecs["ub"],
            a_eq=mats["eq"],
            b_eq=vecs["eq"],
            bounds=bounds,
        )
