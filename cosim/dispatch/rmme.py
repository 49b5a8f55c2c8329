"""Random masking matrix encryption (RMME): a DES outsources its local QP to a cloud solver.

The DES's subproblem ``min 1/2 x'Hx + c'x`` s.t. ``A x = b``, ``G x <= h`` (bounds become rows
of ``G``) is reparametrised as ``x = x0 + N M y``: ``N`` an orthonormal basis of the null space
of ``A`` and ``x0`` a particular solution (both from one SVD per solve), ``M`` a random
invertible matrix (Haar-orthogonal times a positive diagonal with entries in [0.5, 2], so
``M M'`` is not the identity and the condition number of ``M`` is at most 4). The inequality
rows are permuted and each scaled by a random positive factor: the cloud receives
``G~ = D P G N M``, ``h~ = D P (h - G x0)``, ``B~ = P' (N M)_E`` (the boundary rows, permuted)
and, if the DES's own cost has a quadratic part ``Q`` (battery wear), ``Q~ = M'N'QNM`` once per
solve; per ADMM iteration only the penalty weights and ``c~ = M'N'(c + H x0)``. It never sees
``A``, ``b``, ``G``, ``h``, loads or prices. The masking is computed once per solve (not per
iteration, as the source framework did), which costs one SVD instead of one QR per iteration
and lets the cloud link the iterations of one solve; docs/privacy.md lists what the cloud can
still infer.

The cloud solves the masked QP, which is dense, with PIQP's dense interior-point solver (Schwan,
Jiang, Kuhn and Jones, "PIQP: a proximal interior-point quadratic programming solver", IEEE
CDC 2023): dense Cholesky factorisations of a ``k x k`` matrix instead of a sparse LDL of the
dense ``(k + m)``-sized KKT matrix, which is what made Clarabel slow (0.4-1.7 s per six-bus
block) and inexact (objective within 1e-5 relative) on these problems. The DES then *polishes*
the unmasked answer on its own sparse data (Stellato et al., "OSQP: an operator splitting
solver for quadratic programs", Math. Prog. Comp. 12, 2020, section 4.4): it takes the active
set from the cloud's primal slacks and unmasked duals, solves the equality-constrained KKT
system of that active set by one sparse LU factorisation and iterative refinement, and keeps
the result only if it is primal feasible and its multipliers have the right sign (otherwise the
cloud's answer stands). The polish is a linear solve, not a QP: its cost is reported
(:attr:`MaskedLocalQP.polish_seconds`) and compared with an unmasked local solve in
docs/dispatch.md.
"""

from __future__ import annotations

import time

import numpy as np
import piqp
from scipy import linalg, sparse
from scipy.sparse import linalg as splinalg

from cosim.dispatch.lp import LpMatrices

__all__ = ["CloudSolver", "MaskedLocalQP"]

MASK_SCALE = (0.5, 2.0)
"""Range of the mask's positive diagonal factor: ``cond(M) <= 4``."""
CLOUD_TOL = 1e-10
"""PIQP's absolute and relative tolerances in the cloud (primal, dual, duality gap)."""
CLOUD_TOL_RETRY = 1e-8
"""The same, for a second attempt when PIQP stops without reaching ``CLOUD_TOL``."""
CLOUD_INFEASIBILITY_TOL = 1e-12
"""PIQP's infeasibility-certificate tolerances: its default 1e-4 reported feasible masked
six-bus QPs (boundary values near 1000 kW) as primal infeasible."""
POLISH_FEAS_TOL = 1e-8
"""Largest violation of a DES row the polished point may have [the row's unit: kW, kvar, kWh,
pu]; the stationarity residual may be this much relative to the largest cost."""
POLISH_DUAL_TOL = 1e-9
"""Most negative multiplier of an active row the polish accepts, relative to the largest."""
POLISH_ROUNDS = 5
"""Active-set rounds of the polish before it gives up (the cloud's answer then stands)."""
POLISH_DELTA = 1e-9
"""Regularisation of the polish's KKT factorisation (removed by iterative refinement)."""
POLISH_REFINE = 20
"""Iterative-refinement steps of the polish."""


class CloudSolver:
    """The untrusted solver: holds only masked data, returns ``y`` and the row multipliers.

    It solves ``min 1/2 y'(Q~ + B~' diag(d) B~) y + lin' y`` s.t. ``G~ y <= h~`` with PIQP's
    dense interior-point solver (set up once per solve, updated per iteration).

    Parameters
    ----------
    g : numpy.ndarray, shape (m, k)
        Masked inequality matrix ``D P G N M``.
    h : numpy.ndarray, shape (m,)
        Masked right-hand side.
    b : numpy.ndarray, shape (p, k)
        Masked map from ``y`` to the penalised values (rows permuted).
    q : numpy.ndarray, shape (k, k), optional
        Masked fixed Hessian ``M'N'QNM`` of the DES's own quadratic costs.
    """

    def __init__(
        self, g: np.ndarray, h: np.ndarray, b: np.ndarray, q: np.ndarray | None = None
    ) -> None:
        self.g = np.asfortranarray(g)
        self.h = h
        self.b = b
        self.q = q
        self.solves = 0
        self.retries = 0
        self._solver: piqp.DenseSolver | None = None
        self._d: np.ndarray | None = None

    def _hessian(self, d: np.ndarray) -> np.ndarray:
        p = self.b.T @ (d[:, None] * self.b)
        if self.q is not None:
            p = p + self.q
        return np.asfortranarray(0.5 * (p + p.T))

    def solve(self, d: np.ndarray, lin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Minimiser ``y`` and multipliers of ``G~ y <= h~`` for penalty weights ``d`` (p,)
        and masked linear costs ``lin`` (k,)."""
        if self._solver is None:
            self._solver = piqp.DenseSolver()
            self._solver.settings.verbose = False
            self._solver.settings.eps_primal_inf = CLOUD_INFEASIBILITY_TOL
            self._solver.settings.eps_dual_inf = CLOUD_INFEASIBILITY_TOL
            self._solver.setup(P=self._hessian(d), c=lin, G=self.g, h_u=self.h)
        elif self._d is not None and np.array_equal(d, self._d):
            self._solver.update(c=lin)
        else:
            self._solver.update(P=self._hessian(d), c=lin)
        self._d = d.copy()
        for tol in (CLOUD_TOL, CLOUD_TOL_RETRY):
            st = self._solver.settings
            st.eps_abs = st.eps_rel = st.eps_duality_gap_abs = st.eps_duality_gap_rel = tol
            status = self._solver.solve()
            if status == piqp.PIQP_SOLVED:
                break
            self.retries += 1
        self.solves += 1
        if status != piqp.PIQP_SOLVED:
            raise RuntimeError(f"masked QP not solved: {status}")
        res = self._solver.result
        return np.array(res.x, dtype=float), np.array(res.z_u, dtype=float)


class MaskedLocalQP:
    """DES side of RMME: masks once, sends masked costs per iteration, unmasks and polishes.

    Same interface as :class:`cosim.dispatch.qp.LocalQP`.

    Parameters
    ----------
    lp : LpMatrices
    rng : numpy.random.Generator
        Draws ``M``, the permutation and the row scales.
    coupled : numpy.ndarray of int
        Columns that carry the ADMM penalty (the boundary copies).
    polish : bool
        Polish the cloud's answer on the DES's own data (see the module docstring).

    Attributes
    ----------
    polished, polish_failed : int
        Solves whose polished point was kept / rejected (the cloud's answer then stands).
    polish_seconds, unmask_seconds : float
        Wall time of the DES's own work per solve, summed: the polish, and masking the costs
        plus unmasking the answer [s].
    """

    def __init__(
        self,
        lp: LpMatrices,
        rng: np.random.Generator,
        coupled: np.ndarray,
        polish: bool = True,
    ) -> None:
        self.lp = lp
        self.polish = polish
        self.polished = self.polish_failed = 0
        self.polish_seconds = self.unmask_seconds = 0.0
        fixed = np.isfinite(lp.lo) & (lp.lo == lp.hi)
        eye = sparse.identity(lp.n, format="csr")
        a_sp = sparse.vstack([lp.a_eq, eye[fixed]], format="csr")
        b = np.concatenate([lp.b_eq, lp.lo[fixed]])
        up = np.isfinite(lp.hi) & ~fixed
        low = np.isfinite(lp.lo) & ~fixed
        g_sp = sparse.vstack([lp.a_ub, eye[up], -eye[low]], format="csr")
        h = np.concatenate([lp.b_ub, lp.hi[up], -lp.lo[low]])
        self._a, self._b, self._g, self._h = a_sp, b, g_sp, h
        self._a_coo, self._g_coo = a_sp.tocoo(), g_sp.tocoo()
        a, g = a_sp.toarray(), g_sp.toarray()
        u, s, vt = linalg.svd(a)
        rank = int(np.sum(s > s.max() * max(a.shape) * np.finfo(float).eps)) if s.size else 0
        self._x0 = vt[:rank].T @ ((u[:, :rank].T @ b) / s[:rank])
        null = vt[rank:].T
        # drop the directions no row, bound or cost sees (a lineality space: cost-free and
        # unconstrained, they would leave the masked QP unbounded by rounding noise)
        seen = np.vstack(
            [
                g @ null,
                lp.cost[None, :] @ null,
                np.eye(lp.n)[coupled] @ null,
                np.eye(lp.n)[lp.quad_diag != 0] @ null,
            ]
        )
        _, sv, wt = linalg.svd(seen, full_matrices=True)
        keep = int(np.sum(sv > sv.max() * 1e-10)) if sv.size else 0
        null = null @ wt[:keep].T
        k = null.shape[1]
        q, r = np.linalg.qr(rng.standard_normal((k, k)))
        q = q * np.sign(np.diag(r))  # Haar-distributed orthogonal
        mask = q * rng.uniform(*MASK_SCALE, size=k)  # times a positive diagonal
        self._nm = null @ mask
        self._perm = rng.permutation(g.shape[0])
        self._scale = rng.uniform(0.5, 2.0, size=g.shape[0])
        g_masked = (g @ self._nm)[self._perm] * self._scale[:, None]
        h_masked = (h - g @ self._x0)[self._perm] * self._scale
        self._wcols = rng.permutation(np.unique(coupled))
        quad = lp.quad_diag
        q_masked = None
        if np.any(quad):
            q_masked = self._nm.T @ (quad[:, None] * self._nm)
        self.cloud = CloudSolver(g_masked, h_masked, self._nm[self._wcols], q_masked)

    def solve(self, hess: np.ndarray, lin: np.ndarray) -> tuple[np.ndarray, float]:
        """Minimiser (unmasked, polished) and its LP cost, as :meth:`LocalQP.solve`."""
        tic = time.perf_counter()
        nm = self._nm
        extra = hess - self.lp.quad_diag
        if np.any(np.delete(extra, self._wcols)):
            raise ValueError("RMME: the penalty must sit on the boundary columns")
        # 1/2 (x0 + N M y)' H (x0 + N M y): the quadratic part on (N M y), the cross term
        # H x0 goes into the masked linear cost
        c_masked = nm.T @ (self.lp.cost + lin + hess * self._x0)
        toc = time.perf_counter()
        y, z_masked = self.cloud.solve(extra[self._wcols], c_masked)
        tic2 = time.perf_counter()
        x = self._x0 + nm @ y
        z = np.zeros_like(z_masked)
        z[self._perm] = z_masked * self._scale  # multipliers of the DES's own rows
        self.unmask_seconds += (toc - tic) + (time.perf_counter() - tic2)
        if self.polish:
            tic = time.perf_counter()
            xp = self._polish(hess, self.lp.cost + lin, x, z)
            self.polish_seconds += time.perf_counter() - tic
            if xp is None:
                self.polish_failed += 1
            else:
                self.polished += 1
                x = xp
        return x, float(self.lp.cost @ x)

    def _polish(
        self, hess: np.ndarray, q: np.ndarray, x: np.ndarray, z: np.ndarray
    ) -> np.ndarray | None:
        """The KKT point of the active set read off ``(x, z)``, or None if none is optimal.

        Primal-dual active-set rounds (Hintermueller, Ito and Kunisch, SIAM J. Optim. 13, 2003)
        from the cloud's answer: the first active set holds the rows whose multiplier exceeds
        their slack; each round solves ``H x + q + C'l = 0``, ``C x = d`` (``C``: equality rows
        and active rows) by a factorisation regularised with ``POLISH_DELTA`` and iterative
        refinement on the unregularised system (OSQP's polish), starting from the cloud's
        point, so directions the active set leaves free stay where the cloud put them; then
        drops active rows with a negative multiplier and adds violated inactive rows. Returns
        when the active set no longer changes and the point is primal feasible with
        nonnegative multipliers.
        """
        g, h = self._g, self._h
        n, n_eq = self.lp.n, self._a.shape[0]
        ac, gc = self._a_coo, self._g_coo
        tol_feas = POLISH_FEAS_TOL
        tol_dual = POLISH_FEAS_TOL * max(1.0, float(np.abs(q).max(initial=0.0)))
        act = z > h - g @ x
        for _ in range(POLISH_ROUNDS):
            # KKT matrix [[H + dI, C'], [C, -dI]] in one COO build (C: A, then active G rows)
            pos = np.cumsum(act) - 1 + n + n_eq
            sel = act[gc.row]
            rows = np.concatenate([ac.row + n, pos[gc.row[sel]]])
            cols = np.concatenate([ac.col, gc.col[sel]])
            vals = np.concatenate([ac.data, gc.data[sel]])
            m_k = n + n_eq + int(act.sum())
            reg = np.r_[np.full(n, POLISH_DELTA), np.full(m_k - n, -POLISH_DELTA)]
            diag = np.arange(m_k)
            kkt = sparse.csc_matrix(
                (
                    np.concatenate([vals, vals, reg + np.r_[hess, np.zeros(m_k - n)]]),
                    (np.concatenate([rows, cols, diag]), np.concatenate([cols, rows, diag])),
                ),
                shape=(m_k, m_k),
            )
            try:
                lu = splinalg.splu(kkt)
            except RuntimeError:  # singular even with the regularisation
                return None
            rhs = np.concatenate([-q, self._b, h[act]])
            sol = np.concatenate([x, np.zeros(m_k - n)])
            # iterative refinement on the unregularised system K0 = kkt - diag(reg), until the
            # stationarity and the primal rows are far inside their tolerances
            resid = rhs - kkt @ sol + reg * sol
            for _ in range(POLISH_REFINE):
                sol = sol + lu.solve(resid)
                resid = rhs - kkt @ sol + reg * sol
                if (
                    float(np.abs(resid[:n]).max(initial=0.0)) <= 1e-3 * tol_dual
                    and float(np.abs(resid[n:]).max(initial=0.0)) <= 1e-3 * tol_feas
                ):
                    break
            if not np.all(np.isfinite(sol)) or np.abs(resid[n:]).max(initial=0.0) > tol_feas:
                return None  # the active set's rows contradict each other: a wrong guess
            xp = sol[:n]
            mu = np.zeros(h.size)
            mu[act] = sol[n + n_eq :]
            viol = g @ xp - h
            tol_mu = POLISH_DUAL_TOL * max(1.0, float(np.abs(sol[n:]).max(initial=0.0)))
            new = (act & (mu >= -tol_mu)) | (~act & (viol > tol_feas))
            if np.array_equal(new, act):
                ok = (
                    float(np.abs(resid[:n]).max(initial=0.0)) <= tol_dual
                    and float(np.abs(self._a @ xp - self._b).max(initial=0.0)) <= tol_feas
                    and float(viol.max(initial=0.0)) <= tol_feas
                )
                return xp if ok else None
            act = new
        return None
