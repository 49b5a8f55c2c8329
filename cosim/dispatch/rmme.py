"""Random masking matrix encryption (RMME): a DES outsources its local QP to a cloud solver.

The DES's subproblem ``min 1/2 x'Hx + c'x`` s.t. ``A x = b``, ``G x <= h`` (bounds become rows
of ``G``) is reparametrised as ``x = x0 + N M y``: ``N`` an orthonormal basis of the null space
of ``A`` and ``x0`` a particular solution (both from one SVD per solve), ``M`` a random
invertible matrix (Haar-orthogonal times a positive diagonal, so ``M M'`` is not the identity).
The inequality rows are permuted and each scaled by a random positive factor: the cloud receives
``G~ = D P G N M``, ``h~ = D P (h - G x0)`` and ``B~ = P' (N M)_E`` (the boundary rows, permuted)
once per solve and, per ADMM iteration, only the penalty weights and ``c~ = M'N'(c + H x0)``
(``H`` is the diagonal penalty; the cloud solves with ``w = B~ y`` as its own columns, so the
Hessian it sees is diagonal); it never sees ``A``, ``b``, ``G``, ``h``, loads or
prices. The masking is computed once per solve (not per iteration, as the source framework did),
which costs one SVD instead of one QR per iteration and lets the cloud link the iterations of one
solve; docs/privacy.md lists what the cloud can still infer.
"""

from __future__ import annotations

import clarabel
import numpy as np
from scipy import linalg, sparse

from cosim.dispatch.lp import LpMatrices
from cosim.dispatch.qp import solve_clarabel

__all__ = ["CloudSolver", "MaskedLocalQP"]


class CloudSolver:
    """The untrusted solver: holds only masked data, returns ``y``.

    It solves ``min 1/2 w' diag(d) w + lin' y`` s.t. ``g y <= h``, ``b y - w = 0`` (the
    penalised boundary values ``w`` as their own columns keep the Hessian diagonal) with
    Clarabel, an interior-point solver: masking makes ``g`` dense, on which HiGHS's active-set
    QP stalls, while an interior-point method's cost depends on the size only.

    Parameters
    ----------
    g : numpy.ndarray, shape (m, k)
        Masked inequality matrix ``D P G N M``.
    h : numpy.ndarray, shape (m,)
        Masked right-hand side.
    b : numpy.ndarray, shape (p, k)
        Masked map from ``y`` to the penalised values (rows permuted).
    """

    def __init__(self, g: np.ndarray, h: np.ndarray, b: np.ndarray) -> None:
        self.g = g
        self.h = h
        self.b = b
        self.solves = 0
        k, nw = g.shape[1], b.shape[0]
        self._k, self._nw = k, nw
        self._a = sparse.csc_matrix(
            sparse.bmat(
                [[sparse.csr_matrix(b), -sparse.identity(nw)], [sparse.csr_matrix(g), None]]
            )
        )
        self._rhs = np.concatenate([np.zeros(nw), h])
        self._cones = [clarabel.ZeroConeT(nw), clarabel.NonnegativeConeT(g.shape[0])]

    def solve(self, d: np.ndarray, lin: np.ndarray) -> np.ndarray:
        """Minimise with penalty weights ``d`` (p,) and masked linear costs ``lin`` (k,)."""
        k, nw = self._k, self._nw
        p = sparse.csc_matrix(
            (d, (np.arange(k, k + nw), np.arange(k, k + nw))), shape=(k + nw, k + nw)
        )
        q = np.concatenate([lin, np.zeros(nw)])
        x = solve_clarabel(p, q, self._a, self._rhs, self._cones)
        self.solves += 1
        return x[:k]


class MaskedLocalQP:
    """DES side of RMME: masks once, sends masked costs per iteration, unmasks the answer.

    Same interface as :class:`cosim.dispatch.qp.LocalQP`.

    Parameters
    ----------
    lp : LpMatrices
    rng : numpy.random.Generator
        Draws ``M``, the permutation and the row scales.
    coupled : numpy.ndarray of int
        Columns that carry the ADMM penalty (the boundary copies).
    """

    def __init__(self, lp: LpMatrices, rng: np.random.Generator, coupled: np.ndarray) -> None:
        self.lp = lp
        fixed = np.isfinite(lp.lo) & (lp.lo == lp.hi)
        eye = sparse.identity(lp.n, format="csr")
        a = sparse.vstack([lp.a_eq, eye[fixed]]).toarray()
        b = np.concatenate([lp.b_eq, lp.lo[fixed]])
        up = np.isfinite(lp.hi) & ~fixed
        low = np.isfinite(lp.lo) & ~fixed
        g = sparse.vstack([lp.a_ub, eye[up], -eye[low]]).toarray()
        h = np.concatenate([lp.b_ub, lp.hi[up], -lp.lo[low]])
        u, s, vt = linalg.svd(a)
        rank = int(np.sum(s > s.max() * max(a.shape) * np.finfo(float).eps)) if s.size else 0
        self._x0 = vt[:rank].T @ ((u[:, :rank].T @ b) / s[:rank])
        null = vt[rank:].T
        # drop the directions no row, bound or cost sees (a lineality space: cost-free and
        # unconstrained, they would leave the masked QP unbounded by rounding noise)
        seen = np.vstack([g @ null, lp.cost[None, :] @ null, np.eye(lp.n)[coupled] @ null])
        _, sv, wt = linalg.svd(seen, full_matrices=True)
        keep = int(np.sum(sv > sv.max() * 1e-10)) if sv.size else 0
        null = null @ wt[:keep].T
        k = null.shape[1]
        q, r = np.linalg.qr(rng.standard_normal((k, k)))
        q = q * np.sign(np.diag(r))  # Haar-distributed orthogonal
        mask = q * rng.uniform(0.5, 2.0, size=k)  # times a positive diagonal
        self._nm = null @ mask
        perm = rng.permutation(g.shape[0])
        scale = rng.uniform(0.5, 2.0, size=g.shape[0])
        g_masked = (g @ self._nm)[perm] * scale[:, None]
        h_masked = (h - g @ self._x0)[perm] * scale
        self._wcols = rng.permutation(np.unique(coupled))
        self.cloud = CloudSolver(g_masked, h_masked, self._nm[self._wcols])

    def solve(self, hess: np.ndarray, lin: np.ndarray) -> tuple[np.ndarray, float]:
        """Minimiser (unmasked) and its LP cost, as :meth:`LocalQP.solve`."""
        nm = self._nm
        if np.any(np.delete(hess, self._wcols)):
            raise ValueError("RMME: the penalty must sit on the boundary columns")
        # 1/2 (x0 + N M y)' H (x0 + N M y): the quadratic part on w = (N M y)[wcols], the
        # cross term H x0 goes into the masked linear cost
        c_masked = nm.T @ (self.lp.cost + lin + hess * self._x0)
        y = self.cloud.solve(hess[self._wcols], c_masked)
        x = self._x0 + nm @ y
        return x, float(self.lp.cost @ x)
