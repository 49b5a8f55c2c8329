"""Local LP blocks of a partitioned dispatch case, and the central reference built from them.

Each DES block holds its devices, the active/reactive/heat balance of each of its nodes, the
non-squared linearised DistFlow rows of the lines that end in it, and its copies of the
boundary quantities. A boundary line ``l`` (parent ``u`` in DES ``A``, node ``l`` in DES ``B``)
couples ``(P_l [kW], Q_l [kvar], V_u [pu])`` over the horizon: both ``A`` and ``B`` hold a copy,
``B`` uses its copy of ``V_u`` in ``V_l = V_u - (r P_l + x Q_l) / (1000 vn_kv^2)``. The central
problem is the block-diagonal stack of all DES blocks plus the consensus rows (copies equal);
it is the reference optimum of consensus ADMM (:mod:`cosim.dispatch.admm`), of the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from cosim.dispatch.case import DispatchCase
from cosim.dispatch.devices import Injection
from cosim.dispatch.lp import LpBlock, LpMatrices, Term

__all__ = [
    "QUANTITIES",
    "CentralSolution",
    "DesProblem",
    "build_des_problems",
    "solve_central",
    "violations",
]

QUANTITIES: tuple[str, ...] = ("p_kw", "q_kvar", "v_pu")
"""The coupled quantities of a boundary line, in layout order."""


@dataclass(frozen=True, eq=False)
class DesProblem:
    """One DES's local LP and the columns of its boundary copies.

    Attributes
    ----------
    des : int
    nodes : tuple of int
    lp : LpMatrices
    lines : tuple of int
        Boundary lines (named by their child node), sorted: the public layout.
    coupling_cols : numpy.ndarray of int, shape (3 T len(lines),)
        Column of each value of the layout: per line ``[P(T), Q(T), V(T)]``.
    quantity : numpy.ndarray of int, shape like coupling_cols
        Index into :data:`QUANTITIES` of each layout value.
    """

    des: int
    nodes: tuple[int, ...]
    lp: LpMatrices
    lines: tuple[int, ...]
    coupling_cols: np.ndarray
    quantity: np.ndarray

    def neighbours(self, des_of_node: np.ndarray, parent: np.ndarray) -> dict[int, list[int]]:
        """Neighbouring DES -> positions of the layout shared with it."""
        out: dict[int, list[int]] = {}
        per_line = self.coupling_cols.size // max(len(self.lines), 1)
        for k, line in enumerate(self.lines):
            a, b = int(des_of_node[parent[line]]), int(des_of_node[line])
            other = b if a == self.des else a
            out.setdefault(other, []).extend(range(k * per_line, (k + 1) * per_line))
        return out


def _sum_rows(
    lp: LpBlock, terms: list[Term], const: np.ndarray, steps: int, unit: str = "kw"
) -> None:
    """``sum(terms) + const == 0`` per step (skipped when empty and zero)."""
    if not terms:
        if np.any(np.abs(const) > 0):
            raise ValueError("a node balance has demand but nothing that can supply it")
        return
    lp.add_eq(terms, -const, unit)


def build_des_problems(case: DispatchCase, des_of_node: np.ndarray) -> list[DesProblem]:
    """One :class:`DesProblem` per DES of the partition ``des_of_node``."""
    steps = case.time.steps
    children = case.children()
    lim = case.line_max_kw if case.line_max_kw.size else np.full(case.n, np.inf)
    elastic = case.voltage_penalty_per_pu_h > 0
    v_lo = 0.0 if elastic else min(case.v_min_pu, case.v_root_pu)
    v_hi = 2.0 if elastic else max(case.v_max_pu, case.v_root_pu)
    v_cost = case.voltage_penalty_per_pu_h * case.time.step_hours
    out = []
    for d in range(int(des_of_node.max()) + 1):
        nodes = [v for v in range(case.n) if des_of_node[v] == d]
        lp = LpBlock()
        volt: dict[int, np.ndarray] = {}
        for v in nodes:
            if case.parent[v] < 0:
                volt[v] = lp.add_var(f"v{v}.v_pu", steps, case.v_root_pu, case.v_root_pu)
            elif elastic:
                volt[v] = lp.add_var(f"v{v}.v_pu", steps, v_lo, v_hi)
                under = lp.add_var(f"v{v}.under_pu", steps, 0.0, np.inf, v_cost)
                over = lp.add_var(f"v{v}.over_pu", steps, 0.0, np.inf, v_cost)
                lp.add_ub([(volt[v], -1.0), (under, -1.0)], -case.v_min_pu, "pu")
                lp.add_ub([(volt[v], 1.0), (over, -1.0)], case.v_max_pu, "pu")
            else:
                volt[v] = lp.add_var(f"v{v}.v_pu", steps, case.v_min_pu, case.v_max_pu)
        flow: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # line -> (P, Q) columns here
        coupling: dict[int, np.ndarray] = {}
        for v in nodes:
            u = int(case.parent[v])
            if u >= 0:
                p = lp.add_var(f"line{v}.p_kw", steps, -lim[v], lim[v])
                q = lp.add_var(f"line{v}.q_kvar", steps, -lim[v], lim[v])
                flow[v] = (p, q)
                if des_of_node[u] == d:
                    vpar = volt[u]
                else:
                    vpar = lp.add_var(f"line{v}.v_parent_pu", steps, v_lo, v_hi)
                    coupling[v] = np.concatenate([p, q, vpar])
                k = 1.0 / case.drop_scale
                lp.add_eq(
                    [(volt[v], 1.0), (vpar, -1.0), (p, k * case.r_ohm[v]), (q, k * case.x_ohm[v])],
                    0.0,
                    "pu",
                )
            for c in children[v]:
                if des_of_node[c] != d:
                    p = lp.add_var(f"line{c}.p_kw", steps, -lim[c], lim[c])
                    q = lp.add_var(f"line{c}.q_kvar", steps, -lim[c], lim[c])
                    flow[c] = (p, q)
                    coupling[c] = np.concatenate([p, q, volt[v]])
        for v in nodes:
            inj = [dev.build(lp, case.time) for dev in case.devices[v]]
            _node_balances(lp, case, v, children[v], flow, inj)
        lines = tuple(sorted(coupling))
        cols = np.concatenate([coupling[c] for c in lines]) if lines else np.zeros(0, int)
        quantity = np.tile(np.repeat(np.arange(3), steps), len(lines))
        out.append(DesProblem(d, tuple(nodes), lp.finish(), lines, cols.astype(int), quantity))
    return out


def _node_balances(
    lp: LpBlock,
    case: DispatchCase,
    v: int,
    kids: list[int],
    flow: dict[int, tuple[np.ndarray, np.ndarray]],
    inj: list[Injection],
) -> None:
    steps = case.time.steps

    def const(name: str) -> np.ndarray:
        total = np.zeros(steps)
        for i in inj:
            total = total + np.broadcast_to(np.asarray(getattr(i, name), dtype=float), (steps,))
        return total

    dev_p = [t for i in inj for t in i.p]
    p_terms = list(dev_p)
    q_terms = [t for i in inj for t in i.q]
    if case.parent[v] >= 0:
        p_terms.append((flow[v][0], 1.0))
        q_terms.append((flow[v][1], 1.0))
    for c in kids:
        p_terms.append((flow[c][0], -1.0))
        q_terms.append((flow[c][1], -1.0))
    _sum_rows(lp, p_terms, const("p_const"), steps)
    _sum_rows(lp, q_terms, const("q_const"), steps)
    _sum_rows(lp, [t for i in inj for t in i.h], const("h_const"), steps)
    if case.export_levy_per_kwh > 0 and case.parent[v] >= 0 and dev_p:
        cost = case.export_levy_per_kwh * case.time.step_hours
        ex = lp.add_var(f"v{v}.export_kw", steps, 0.0, np.inf, cost)
        lp.add_ub([*dev_p, (ex, -1.0)], -const("p_const"))


@dataclass(frozen=True, eq=False)
class CentralSolution:
    """Optimum of the central problem.

    Attributes
    ----------
    status : int
        scipy's ``linprog`` status (0: optimal).
    objective : float
        Total cost [currency].
    x : list of numpy.ndarray
        Each DES's columns at the optimum.
    seconds : float
        Build and solve time [s].
    """

    status: int
    message: str
    objective: float
    x: list[np.ndarray]
    seconds: float


def _stack(problems: list[DesProblem]) -> tuple[LpMatrices, np.ndarray, sparse.csr_matrix]:
    """Block-diagonal central LP, column offsets and the consensus rows."""
    offs = np.cumsum([0] + [p.lp.n for p in problems])
    blocks = [p.lp for p in problems]
    a_eq = sparse.block_diag([b.a_eq for b in blocks], format="csr")
    a_ub = sparse.block_diag([b.a_ub for b in blocks], format="csr")
    owner: dict[int, list[np.ndarray]] = {}
    for p, off in zip(problems, offs[:-1], strict=True):
        per = p.coupling_cols.size // max(len(p.lines), 1)
        for k, line in enumerate(p.lines):
            owner.setdefault(line, []).append(off + p.coupling_cols[k * per : (k + 1) * per])
    rows, cols, vals = [], [], []
    r = 0
    for line in sorted(owner):
        a, b = owner[line]
        m = a.size
        rows += [np.arange(r, r + m)] * 2
        cols += [a, b]
        vals += [np.ones(m), -np.ones(m)]
        r += m
    n = int(offs[-1])
    cons = (
        sparse.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, n)
        )
        if r
        else sparse.csr_matrix((0, n))
    )
    central = LpMatrices(
        cost=np.concatenate([b.cost for b in blocks]),
        a_eq=a_eq,
        b_eq=np.concatenate([b.b_eq for b in blocks]),
        a_ub=a_ub,
        b_ub=np.concatenate([b.b_ub for b in blocks]),
        lo=np.concatenate([b.lo for b in blocks]),
        hi=np.concatenate([b.hi for b in blocks]),
        names=tuple(n for b in blocks for n in b.names),
        eq_units=np.concatenate([b.eq_units for b in blocks]),
        ub_units=np.concatenate([b.ub_units for b in blocks]),
        quad=np.concatenate([b.quad_diag for b in blocks])
        if any(b.quad is not None for b in blocks)
        else None,
    )
    return central, offs, cons


def solve_central(problems: list[DesProblem]) -> CentralSolution:
    """Solve all DES blocks together with the consensus rows.

    HiGHS dual simplex for an LP; Clarabel (the local solver of ADMM) when a block has a
    quadratic part.
    """
    import time
    from dataclasses import replace

    tic = time.perf_counter()
    central, offs, cons = _stack(problems)
    if central.quad is not None:
        from cosim.dispatch.qp import LocalQP

        stacked = replace(
            central,
            a_eq=sparse.vstack([central.a_eq, cons], format="csr"),
            b_eq=np.concatenate([central.b_eq, np.zeros(cons.shape[0])]),
        )
        try:
            xq, _ = LocalQP(stacked).solve(central.quad, np.zeros(central.n))
        except RuntimeError as exc:
            return CentralSolution(2, str(exc), np.nan, [], time.perf_counter() - tic)
        xs = [xq[offs[k] : offs[k + 1]] for k in range(len(problems))]
        return CentralSolution(0, "", central.objective(xq), xs, time.perf_counter() - tic)
    res = linprog(
        central.cost,
        A_ub=central.a_ub if central.a_ub.shape[0] else None,
        b_ub=central.b_ub if central.a_ub.shape[0] else None,
        A_eq=sparse.vstack([central.a_eq, cons], format="csr"),
        b_eq=np.concatenate([central.b_eq, np.zeros(cons.shape[0])]),
        bounds=np.column_stack([central.lo, central.hi]),
        method="highs-ds",
    )
    seconds = time.perf_counter() - tic
    if res.status != 0:
        return CentralSolution(int(res.status), str(res.message), np.nan, [], seconds)
    x = [res.x[offs[k] : offs[k + 1]] for k in range(len(problems))]
    return CentralSolution(0, "", float(res.fun), x, seconds)


def violations(problems: list[DesProblem], x: list[np.ndarray]) -> dict[str, float]:
    """Largest violation of any central constraint at the DES solutions ``x``.

    Returns ``{"kw": ..., "pu": ...}``: rows and bounds measured in kW/kvar/kWh (balances,
    device limits, storage, consensus of P and Q) and in per-unit voltage (voltage drops,
    voltage bounds, consensus of V).
    """
    central, _, cons = _stack(problems)
    xx = np.concatenate(x)
    worst = {"kw": 0.0, "pu": 0.0}
    eq = np.abs(central.a_eq @ xx - central.b_eq)
    ub = np.maximum(central.a_ub @ xx - central.b_ub, 0.0)
    bound = np.maximum(np.maximum(central.lo - xx, xx - central.hi), 0.0)
    is_v = np.array(["v_pu" in n for n in central.names])
    con = np.abs(cons @ xx)
    cons_is_v = np.asarray(abs(cons) @ is_v.astype(float) > 0).reshape(-1)
    for unit in ("kw", "pu"):
        parts = [
            eq[central.eq_units == unit],
            ub[central.ub_units == unit],
            bound[is_v if unit == "pu" else ~is_v],
            con[cons_is_v if unit == "pu" else ~cons_is_v],
        ]
        worst[unit] = float(max((float(p.max()) for p in parts if p.size), default=0.0))
    return worst
