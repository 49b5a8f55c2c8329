"""Sparse linear-program rows built block by block, for scipy's HiGHS (``linprog``).

Shared helper of the LP models (:mod:`cosim.market.rolling`).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["SparseRows"]


class SparseRows:
    """Accumulates blocks of sparse constraint rows ``A x (<=|=) b`` (internal)."""

    def __init__(self, n_var: int) -> None:
        self.n_var = n_var
        self.n_rows = 0
        self._r: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._b: list[np.ndarray] = []
        self._block_b: np.ndarray | None = None

    def add(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        vals: float | np.ndarray,
        rhs: np.ndarray | None = None,
    ) -> None:
        """Add entries at block-relative ``rows``; ``rhs`` sets the block's right-hand side."""
        r = np.asarray(rows, dtype=np.intp).ravel()
        self._r.append(self.n_rows + r)
        self._c.append(np.asarray(cols, dtype=np.intp).ravel())
        self._v.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), r.shape).copy())
        if rhs is not None:
            self._block_b = np.asarray(rhs, dtype=np.float64).ravel()

    def close(self, size: int) -> None:
        """End the current block of ``size`` rows."""
        b = np.zeros(size) if self._block_b is None else self._block_b
        if b.size != size:
            raise AssertionError("block right-hand side has the wrong size")  # internal bug
        self._b.append(b)
        self._block_b = None
        self.n_rows += size

    def matrix(self) -> tuple[sparse.csr_array | None, np.ndarray | None]:
        """The rows as a sparse matrix and right-hand side (None when empty)."""
        if self.n_rows == 0:
            return None, None
        a = sparse.coo_array(
            (np.concatenate(self._v), (np.concatenate(self._r), np.concatenate(self._c))),
            shape=(self.n_rows, self.n_var),
        ).tocsr()
        return a, np.concatenate(self._b)
