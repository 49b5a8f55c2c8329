"""A sparse linear-program block under construction: variables, rows, bounds, costs.

Every distributed-energy-system (DES) subproblem of :mod:`cosim.dispatch` is one
:class:`LpBlock`; the central reference stacks the blocks. Rows are added in vectorised
groups: ``terms`` is a list of ``(columns, coefficients)`` pairs of equal length ``m`` and adds
``m`` rows, row ``r`` holding ``coefficients[r]`` at ``columns[r]`` of every term.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

__all__ = ["LpBlock", "LpMatrices", "Term"]

Term = tuple[np.ndarray, ArrayLike]
"""Column indices (m,) and their coefficients (scalar or (m,))."""


@dataclass(frozen=True, eq=False)
class LpMatrices:
    """A finished block: ``min c'x`` s.t. ``A_eq x = b_eq``, ``A_ub x <= b_ub``, bounds."""

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


class LpBlock:
    """Mutable builder of one LP block (see module docstring)."""

    def __init__(self) -> None:
        self.n = 0
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self._cost: list[np.ndarray] = []
        self._names: list[str] = []
        self._rows: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
            "eq": [],
            "ub": [],
        }
        self._rhs: dict[str, list[np.ndarray]] = {"eq": [], "ub": []}
        self._count = {"eq": 0, "ub": 0}
        self._units: dict[str, list[np.ndarray]] = {"eq": [], "ub": []}
        self._quad: list[tuple[np.ndarray, np.ndarray]] = []

    def add_var(
        self,
        name: str,
        size: int,
        lo: ArrayLike = 0.0,
        hi: ArrayLike = np.inf,
        cost: ArrayLike = 0.0,
    ) -> np.ndarray:
        """Add ``size`` variables; return their column indices."""
        idx = np.arange(self.n, self.n + size)
        self.n += size
        self._lo.append(np.broadcast_to(np.asarray(lo, dtype=float), (size,)).copy())
        self._hi.append(np.broadcast_to(np.asarray(hi, dtype=float), (size,)).copy())
        self._cost.append(np.broadcast_to(np.asarray(cost, dtype=float), (size,)).copy())
        self._names.extend(f"{name}[{k}]" for k in range(size))
        return idx

    def add_quadratic(self, cols: np.ndarray, coef: ArrayLike) -> None:
        """Add ``coef * x**2`` of each column of ``cols`` to the objective (``coef >= 0``)."""
        self._quad.append((np.asarray(cols), np.broadcast_to(np.asarray(coef, float), cols.shape)))

    def add_cost(self, cols: np.ndarray, cost: ArrayLike) -> None:
        """Add ``cost`` to the objective coefficients of ``cols``."""
        c = np.concatenate(self._cost) if len(self._cost) > 1 else self._cost[0]
        np.add.at(c, cols, np.broadcast_to(np.asarray(cost, dtype=float), cols.shape))
        self._cost = [c]

    def _add(self, kind: str, terms: Sequence[Term], rhs: ArrayLike, unit: str) -> None:
        m = len(terms[0][0])
        self._units[kind].append(np.full(m, unit))
        row = np.arange(self._count[kind], self._count[kind] + m)
        for cols, coef in terms:
            if len(cols) != m:
                raise ValueError("every term of a row group needs the same length")
            vals = np.broadcast_to(np.asarray(coef, dtype=float), (m,))
            self._rows[kind].append((row, np.asarray(cols), vals.copy()))
        self._rhs[kind].append(np.broadcast_to(np.asarray(rhs, dtype=float), (m,)).copy())
        self._count[kind] += m

    def add_eq(self, terms: Sequence[Term], rhs: ArrayLike, unit: str = "kw") -> None:
        """Rows ``sum(coef * x[cols]) == rhs`` measured in ``unit`` (``kw`` or ``pu``)."""
        self._add("eq", terms, rhs, unit)

    def add_ub(self, terms: Sequence[Term], rhs: ArrayLike, unit: str = "kw") -> None:
        """Rows ``sum(coef * x[cols]) <= rhs`` measured in ``unit`` (``kw`` or ``pu``)."""
        self._add("ub", terms, rhs, unit)

    def _matrix(self, kind: str) -> sparse.csr_matrix:
        parts = self._rows[kind]
        if not parts:
            return sparse.csr_matrix((0, self.n))
        r = np.concatenate([p[0] for p in parts])
        c = np.concatenate([p[1] for p in parts])
        v = np.concatenate([p[2] for p in parts])
        return sparse.csr_matrix((v, (r, c)), shape=(self._count[kind], self.n))

    def finish(self) -> LpMatrices:
        """The block as matrices (duplicate entries are summed)."""

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0)

        quad = None
        if self._quad:
            quad = np.zeros(self.n)
            for cols, coef in self._quad:
                np.add.at(quad, cols, 2.0 * coef)
        return LpMatrices(
            quad=quad,
            cost=cat(self._cost),
            a_eq=self._matrix("eq"),
            b_eq=cat(self._rhs["eq"]),
            a_ub=self._matrix("ub"),
            b_ub=cat(self._rhs["ub"]),
            lo=cat(self._lo),
            hi=cat(self._hi),
            names=tuple(self._names),
            eq_units=cat(self._units["eq"]).astype(str),
            ub_units=cat(self._units["ub"]).astype(str),
        )
