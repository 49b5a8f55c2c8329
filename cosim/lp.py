"""Sparse linear programs: variable blocks, vectorised rows, one HiGHS call, matrix export.

The battery schedules (:mod:`cosim.participants.storage`) and the dispatch blocks of the
decentralized dispatch (:mod:`cosim.dispatch.model`) build their problems with
:class:`LinearProgram`. The battery schedules and the network check
(:mod:`cosim.market.network_check`) solve with :func:`solve_highs`, which maps the outcome of
:func:`scipy.optimize.linprog` (``method="highs"``) to one status string and never raises for a
solver failure. The dispatch exports its blocks as :class:`LpMatrices` (named variables, a unit
per row, an optional diagonal quadratic term) for its own local solvers and stacks them into the
central reference.

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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse
from scipy.optimize import linprog

__all__ = ["LP_STATUS", "LinearProgram", "LpMatrices", "LpSolution", "Term", "solve_highs"]

LP_STATUS: Final[dict[int, str]] = {0: "optimal", 2: "infeasible", 3: "unbounded"}
"""Status of :func:`scipy.optimize.linprog` codes; any other code is ``"solver_failed"``."""

RowKind = Literal["eq", "ub"]

Term = tuple[np.ndarray, ArrayLike]
"""A row group's term: column indices (m,) and their coefficients (scalar or (m,))."""


@dataclass(frozen=True, eq=False)
class LpMatrices:
    """A finished program: ``min c'x + x'Px / 2`` s.t. ``A_eq x = b_eq``, ``A_ub x <= b_ub``,
    ``lo <= x <= hi`` (``P`` diagonal; none for a pure LP).

    Attributes
    ----------
    names : tuple of str
        One name per variable (``"<block>[k]"``).
    eq_units, ub_units : numpy.ndarray of str
        The unit each row is measured in (``kw``, ``pu``, ...), for residuals per unit.
    quad : numpy.ndarray or None
        The diagonal of ``P`` (None: no quadratic part).
    """

    cost: np.ndarray
    a_eq: sparse.csr_matrix
    b_eq: np.ndarray
    a_ub: sparse.csr_matrix
    b_ub: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    names: tuple[str, ...]
    eq_units: np.ndarray
    ub_units: np.ndarray
    quad: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of variables."""
        return int(self.cost.size)

    @property
    def quad_diag(self) -> np.ndarray:
        """Diagonal ``P`` of the objective's quadratic part ``x'Px / 2`` (zeros: a pure LP)."""
        return self.quad if self.quad is not None else np.zeros(self.n)

    def objective(self, x: np.ndarray) -> float:
        """``c'x + x'Px / 2`` at ``x``."""
        value = float(self.cost @ x)
        if self.quad is not None:
            value += 0.5 * float(self.quad @ (x * x))
        return value


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
    """A sparse program under construction: blocks of variables, rows of constraints, bounds,
    costs, optionally a diagonal quadratic cost.

    Variables are created in blocks (:meth:`block`, or :meth:`add_var` for a named vector),
    which return their indices in the block's shape; rows are added in vectorised groups
    (:meth:`add`, or :meth:`add_eq`/:meth:`add_ub` for row groups of ``(columns,
    coefficients)`` terms), each group measured in a unit. :meth:`solve` assembles the
    matrices in the order the rows were added and calls :func:`solve_highs` (LPs only);
    :meth:`matrices` exports them (with names, units and the quadratic diagonal).

    Examples
    --------
    >>> lp = LinearProgram()
    >>> p = lp.add_var("chp.p_kw", 2, 0.0, 5.0, cost=1.0)
    >>> lp.add_eq([(p, 1.0)], [1.0, 2.0], unit="kw")
    >>> m = lp.matrices()
    >>> m.names, m.eq_units.tolist(), m.a_eq.toarray().tolist()
    (('chp.p_kw[0]', 'chp.p_kw[1]'), ['kw', 'kw'], [[1.0, 0.0], [0.0, 1.0]])
    """

    def __init__(self) -> None:
        self.n_var = 0
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.cost: list[np.ndarray] = []
        self.rows: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {"eq": [], "ub": []}
        self.rhs: dict[str, list[np.ndarray]] = {"eq": [], "ub": []}
        self.n_rows = {"eq": 0, "ub": 0}
        # names and units as (label, count) runs, expanded only by matrices()
        self._names: list[tuple[str, int]] = []
        self._units: dict[str, list[tuple[str, int]]] = {"eq": [], "ub": []}
        self._quad: list[tuple[np.ndarray, np.ndarray]] = []

    @property
    def n(self) -> int:
        """Number of variables so far."""
        return self.n_var

    def block(
        self,
        shape: tuple[int, ...],
        lo: object,
        hi: object,
        cost: object = 0.0,
        name: str = "x",
    ) -> np.ndarray:
        """Add a block of variables with bounds ``[lo, hi]`` and objective coefficients ``cost``
        (each broadcast to ``shape``); return their indices, an int array of ``shape``.
        Exported names are ``name[k]``, ``k`` the flat position in the block."""
        size = int(np.prod(shape))
        idx = np.arange(self.n_var, self.n_var + size).reshape(shape)
        self.n_var += size
        for store, value in ((self.lo, lo), (self.hi, hi), (self.cost, cost)):
            store.append(np.broadcast_to(np.asarray(value, dtype=np.float64), shape).ravel())
        self._names.append((name, size))
        return idx

    def add_var(
        self,
        name: str,
        size: int,
        lo: ArrayLike = 0.0,
        hi: ArrayLike = np.inf,
        cost: ArrayLike = 0.0,
    ) -> np.ndarray:
        """A named vector of ``size`` variables (:meth:`block` of shape ``(size,)``)."""
        return self.block((size,), lo, hi, cost, name=name)

    def add(
        self,
        kind: RowKind,
        terms: list[tuple[np.ndarray, object]],
        rhs: np.ndarray,
        unit: str = "",
    ) -> None:
        """Rows ``sum coef * x[idx] (== | <=) rhs``, one per entry of ``rhs``, in ``unit``.

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
        self._units[kind].append((unit, b.size))

    def _group(self, kind: RowKind, terms: Sequence[Term], rhs: ArrayLike, unit: str) -> None:
        m = len(terms[0][0])
        for cols, _ in terms:
            if len(cols) != m:
                raise ValueError("every term of a row group needs the same length")
        pairs: list[tuple[np.ndarray, object]] = [(np.asarray(c), k) for c, k in terms]
        self.add(kind, pairs, np.broadcast_to(np.asarray(rhs, dtype=np.float64), (m,)), unit)

    def add_eq(self, terms: Sequence[Term], rhs: ArrayLike, unit: str = "kw") -> None:
        """``m`` rows ``sum(coef * x[cols]) == rhs``, ``m`` the length of every term's columns,
        ``rhs`` a scalar or ``(m,)``, measured in ``unit`` (``kw`` or ``pu`` in the dispatch)."""
        self._group("eq", terms, rhs, unit)

    def add_ub(self, terms: Sequence[Term], rhs: ArrayLike, unit: str = "kw") -> None:
        """``m`` rows ``sum(coef * x[cols]) <= rhs`` (as :meth:`add_eq`)."""
        self._group("ub", terms, rhs, unit)

    def add_cost(self, cols: np.ndarray, cost: ArrayLike) -> None:
        """Add ``cost`` to the objective coefficients of ``cols``."""
        c = np.concatenate(self.cost) if len(self.cost) > 1 else self.cost[0].copy()
        np.add.at(c, cols, np.broadcast_to(np.asarray(cost, dtype=np.float64), cols.shape))
        self.cost = [c]

    def add_quadratic(self, cols: np.ndarray, coef: ArrayLike) -> None:
        """Add ``coef * x**2`` of each column of ``cols`` to the objective (``coef >= 0``)."""
        self._quad.append((np.asarray(cols), np.broadcast_to(np.asarray(coef, float), cols.shape)))

    def _matrix(self, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r, c, v = (np.concatenate(x) for x in zip(*self.rows[kind], strict=True))
        return r, c, v

    def matrices(self) -> LpMatrices:
        """The program as :class:`LpMatrices` (duplicate entries are summed)."""

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0)

        def runs(parts: list[tuple[str, int]]) -> np.ndarray:
            if not parts:
                return np.zeros(0, dtype=str)
            return np.repeat(np.array([p[0] for p in parts]), [p[1] for p in parts]).astype(str)

        mats = {}
        for kind in ("eq", "ub"):
            if not self.rows[kind]:
                mats[kind] = sparse.csr_matrix((self.n_rows[kind], self.n_var))
                continue
            r, c, v = self._matrix(kind)
            mats[kind] = sparse.csr_matrix((v, (r, c)), shape=(self.n_rows[kind], self.n_var))
        quad = None
        if self._quad:
            quad = np.zeros(self.n_var)
            for cols, coef in self._quad:
                np.add.at(quad, cols, 2.0 * coef)
        return LpMatrices(
            quad=quad,
            cost=cat(self.cost),
            a_eq=mats["eq"],
            b_eq=cat(self.rhs["eq"]),
            a_ub=mats["ub"],
            b_ub=cat(self.rhs["ub"]),
            lo=cat(self.lo),
            hi=cat(self.hi),
            names=tuple(f"{name}[{k}]" for name, size in self._names for k in range(size)),
            eq_units=runs(self._units["eq"]),
            ub_units=runs(self._units["ub"]),
        )

    def finish(self) -> LpMatrices:
        """Alias of :meth:`matrices` (the dispatch blocks' name for it)."""
        return self.matrices()

    def solve(self) -> LpSolution:
        """Solve with HiGHS (:func:`solve_highs`).

        Raises
        ------
        ValueError
            With a quadratic part (:meth:`add_quadratic`): export :meth:`matrices` to a QP
            solver instead.
        """
        if self._quad:
            raise ValueError(
                "LinearProgram.solve solves LPs only; export matrices() to a QP solver"
            )
        mats: dict[str, sparse.csr_array | None] = {}
        vecs: dict[str, np.ndarray | None] = {}
        for kind in ("eq", "ub"):
            if self.n_rows[kind] == 0:
                mats[kind], vecs[kind] = None, None
                continue
            r, c, v = self._matrix(kind)
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
