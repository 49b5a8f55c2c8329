"""Consensus ADMM between DES, with the DSO averaging the two copies of every boundary value.

Scaled-form consensus ADMM (Boyd et al. 2011, sections 3.4.1, 3.4.3, 7.1) over the boundary
copies ``x_i`` (per DES, its public layout) and the consensus values ``z`` (one per line value):

1. every DES solves ``min c_i'x + sum_j rho_j / 2 (x_ij - z_j + u_ij)^2`` over its LP block
   (:class:`~cosim.dispatch.qp.LocalQP`, or the masked cloud solve of :mod:`cosim.dispatch.rmme`);
2. over-relaxation ``xh = alpha x + (1 - alpha) z`` (Eckstein and Bertsekas 1992);
3. the encrypted exchange (:mod:`cosim.dispatch.privacy`) gives ``z = (xh_u + xh_v) / 2``
   (the two scaled duals of a value sum to zero, so ``z`` needs no duals);
4. ``u += xh - z``.

Residuals are standard and reported per quantity in its unit: primal ``r = x - z`` [kW, kvar,
pu], dual ``s = rho * (z - z_prev)`` [currency/kW, currency/kvar, currency/pu], with ``z - z_prev``
in the quantity's unit. The iteration stops when, for every quantity, ``max |r|`` and
``max |z - z_prev|`` are below its tolerance (``tol_kw`` for P and Q, ``tol_pu`` for V). Each
quantity's penalty can be balanced separately (``rho *= tau`` when its primal residual, relative
to its tolerance, exceeds ``mu`` times its dual one, ``rho /= tau`` in the opposite case; He et
al. 2000) during the first ``balance_iterations`` iterations, then frozen, which keeps the
convergence guarantee of fixed-penalty ADMM. The scaled duals start from the public
time-of-use price on P copies (the marginal value of power at the root) and the boundary values
from a price-taker sweep (:func:`price_taker_start`): a warm start, not a change of the problem.
For deep trees (the 60-node Yingkou case) the sweep can also value exports at the feed-in price,
start the voltage copies at the LinDistFlow voltages of its flows, and the penalties can grow
geometrically over the first iterations before they are frozen (docs/dispatch.md has what these
did and did not achieve).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from cosim.dispatch.case import DispatchCase
from cosim.dispatch.devices import GridInterface
from cosim.dispatch.local import LocalSolves
from cosim.dispatch.model import DesProblem
from cosim.dispatch.privacy import SecureExchange
from cosim.dispatch.qp import LocalQP

__all__ = ["AdmmResult", "AdmmSettings", "layouts", "public_price", "run_admm"]


@dataclass(frozen=True)
class AdmmSettings:
    """Parameters of one ADMM solve (``dispatch.admm`` in a scenario).

    Attributes
    ----------
    rho : float
        Initial penalty of P and Q copies [currency/kW^2 per horizon].
    voltage_rho_factor : float
        Penalty of V copies relative to ``rho`` [kW^2/pu^2].
    over_relaxation : float
        ``alpha`` in (0, 2).
    tol_kw, tol_pu : float
        Stopping tolerances of P/Q [kW, kvar] and V [pu] (primal and dual).
    max_iterations : int
    balance_iterations : int
        Penalties adapt (residual balancing) during these first iterations, then stay fixed.
    balance_mu, balance_tau : float
        Residual balancing: a penalty is multiplied by ``tau`` when its relative primal residual
        exceeds ``mu`` times its relative dual residual, divided by ``tau`` in the opposite case.
    price_warm_start : bool
        Start the P duals at the public time-of-use price.
    acceleration : bool
        Nesterov extrapolation of ``z`` and ``u`` with restart when the combined residual does
        not fall (fast ADMM, Goldstein, O'Donoghue, Setzer and Baraniuk 2014, algorithm 8).
    voltage_warm_start : bool
        V copies start at the LinDistFlow voltages of the price-taker sweep's flows instead of
        ``v_root_pu`` (a downward sweep: one more message round per DES-tree level).
    two_price_warm_start : bool
        The price-taker sweep buys at the tariff and sells at the feed-in price (otherwise both
        at the tariff).
    rho_final, rho_ramp_iterations : float, int
        With ``rho_ramp_iterations > 0`` every penalty grows geometrically by
        ``(rho_final / rho) ** (1 / rho_ramp_iterations)`` per iteration during the first
        ``rho_ramp_iterations`` iterations, then stays fixed.
    encryption : {"ckks", "paillier_djn", "plain"}
    masking : {"none", "rmme"}
    key_bits : int
        Paillier modulus [bit].
    """

    rho: float = 0.1
    voltage_rho_factor: float = 1e5
    over_relaxation: float = 1.6
    tol_kw: float = 2.5e-4
    tol_pu: float = 2.5e-5
    max_iterations: int = 3000
    balance_iterations: int = 0
    balance_mu: float = 5.0
    balance_tau: float = 2.0
    price_warm_start: bool = True
    acceleration: bool = False
    voltage_warm_start: bool = False
    two_price_warm_start: bool = False
    rho_final: float = 0.0
    rho_ramp_iterations: int = 0
    encryption: str = "ckks"
    masking: str = "none"
    key_bits: int = 2048
    workers: int = 1


@dataclass
class AdmmResult:
    """Outcome of one decentralized solve.

    Attributes
    ----------
    converged : bool
    iterations : int
    objective : float
        Sum of the DES's LP costs at their last local solutions [currency].
    x : list of numpy.ndarray
        Each DES's last local solution.
    primal_residual, dual_residual : numpy.ndarray, shape (iterations, 3)
        ``max |x - z|`` and ``max |z - z_prev|`` per quantity (:data:`QUANTITIES`) per iteration.
    rho : numpy.ndarray, shape (iterations, 3)
        Penalty per quantity in each iteration.
    seconds : dict of str -> float
        Wall time per phase: ``setup`` (keys, masking), ``local`` (local solves), ``encrypt``,
        ``aggregate`` (DSO), ``decrypt``, ``total``.
    bytes_exchanged : int
        Ciphertext bytes DES -> DSO and DSO -> DES, over all rounds.
    """

    converged: bool
    iterations: int
    objective: float
    x: list[np.ndarray]
    primal_residual: np.ndarray
    dual_residual: np.ndarray
    rho: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)
    bytes_exchanged: int = 0
    key_bytes: int = 0
    exchange: SecureExchange | None = None
    warm_start_rounds: int = 0
    z: list[np.ndarray] | None = None
    u: list[np.ndarray] | None = None


def layouts(
    problems: list[DesProblem], des_of_node: np.ndarray, parent: np.ndarray
) -> list[tuple[int, dict[int, tuple[np.ndarray, np.ndarray]]]]:
    """Per DES: layout length and, per neighbour, (positions here, positions there)."""
    steps3 = {p.des: p.coupling_cols.size // max(len(p.lines), 1) for p in problems}
    where = {(p.des, line): k for p in problems for k, line in enumerate(p.lines)}
    out = []
    for p in problems:
        shared: dict[int, tuple[list[int], list[int]]] = {}
        for k, line in enumerate(p.lines):
            a, b = int(des_of_node[parent[line]]), int(des_of_node[line])
            j = b if a == p.des else a
            kk = where[(j, line)]
            m = steps3[p.des]
            here, there = shared.setdefault(j, ([], []))
            here.extend(range(k * m, (k + 1) * m))
            there.extend(range(kk * m, (kk + 1) * m))
        out.append(
            (
                int(p.coupling_cols.size),
                {j: (np.array(h), np.array(t)) for j, (h, t) in shared.items()},
            )
        )
    return out


def _per_step(value: object, steps: int) -> np.ndarray:
    """A scalar or a series (at least ``steps`` long) as ``steps`` values."""
    arr = np.asarray(value, dtype=float)
    return np.full(steps, float(arr)) if arr.ndim == 0 else arr[:steps].copy()


def public_price(case: DispatchCase) -> np.ndarray:
    """The grid interface's buy price per step [currency/kWh] (the public tariff; zeros if none)."""
    for devs in case.devices:
        for dev in devs:
            if isinstance(dev, GridInterface):
                return _per_step(dev.buy_price_per_kwh, case.time.steps)
    return np.zeros(case.time.steps)


def public_sell_price(case: DispatchCase) -> np.ndarray | None:
    """The grid interface's sell (feed-in) price per step [currency/kWh] (None if no grid)."""
    for devs in case.devices:
        for dev in devs:
            if isinstance(dev, GridInterface):
                return _per_step(dev.sell_price_per_kwh, case.time.steps)
    return None


def price_taker_start(
    case: DispatchCase,
    des_of_node: np.ndarray,
    problems: list[DesProblem],
    price_per_kwh: np.ndarray,
    voltages: bool = False,
    sell_per_kwh: np.ndarray | None = None,
) -> tuple[list[np.ndarray], int]:
    """Initial boundary values from one upward sweep of price-taking DES.

    From the leaves up, every DES solves its LP with its outgoing boundary flows fixed to what
    its child DES reported and its incoming flow priced at the public tariff (import costs
    ``price * dt``, export earns it); it reports its incoming P and Q to its parent. Without
    congestion these are the optimal flows; with congestion ADMM corrects them. One message
    round per DES-tree level.

    Parameters
    ----------
    price_per_kwh : numpy.ndarray, shape (T,)
        Public tariff [currency/kWh].
    voltages : bool
        Also set the V copies: every DES evaluates the model's drop rows
        ``V_v = V_u - (r P_v + x Q_v) / (1000 vn_kv^2)`` on its sweep flows from its parent's
        boundary voltage down (a downward sweep, one more round per DES-tree level).
    sell_per_kwh : numpy.ndarray, shape (T,), optional
        Feed-in price [currency/kWh]: incoming flow is split into a purchase at
        ``price_per_kwh`` and a sale at this price (without it, both at ``price_per_kwh``).

    Returns
    -------
    z0 : list of numpy.ndarray
        Per DES, initial values in its layout (V at ``v_root_pu``, or the LinDistFlow voltages
        with ``voltages``).
    rounds : int
        Message rounds used (levels of the DES tree below the root DES; twice that with
        ``voltages``).
    """
    from scipy.optimize import linprog

    steps = case.time.steps
    head = {p.des: min(p.nodes, key=lambda v: _depth(case.parent, v)) for p in problems}
    level = {d: 0 for d in head}
    for d, v in head.items():
        u = int(case.parent[v])
        while u >= 0:
            if int(des_of_node[u]) != int(
                des_of_node[case.parent[u]] if case.parent[u] >= 0 else -1
            ):
                level[d] += 1
            u = int(case.parent[u])
    reported: dict[int, np.ndarray] = {}  # line -> (P, Q) of the child end, 2T values
    flows: dict[int, np.ndarray] = {}  # every line -> (P, Q) as its child-end DES solved it
    z0 = [np.where(p.quantity == 2, case.v_root_pu, 0.0) for p in problems]
    dt = case.time.step_hours
    for p in sorted(problems, key=lambda q: -level[q.des]):
        lp = p.lp
        cost = lp.cost.copy()
        lo, hi = lp.lo.copy(), lp.hi.copy()
        per = 3 * steps
        p_in: list[np.ndarray] = []
        for k, line in enumerate(p.lines):
            cols = p.coupling_cols[k * per : (k + 1) * per]
            if int(des_of_node[line]) == p.des:  # incoming: priced
                if sell_per_kwh is None:
                    cost[cols[:steps]] += price_per_kwh * dt
                else:
                    p_in.append(cols[:steps])
            else:  # outgoing: fixed to the child's report
                lo[cols[: 2 * steps]] = hi[cols[: 2 * steps]] = reported[line]
        a_eq, b_eq = lp.a_eq, lp.b_eq
        n_extra = 0
        if p_in and sell_per_kwh is not None:  # P_in = buy - sell: tariff, feed-in price
            cin = np.concatenate(p_in)
            m = cin.size
            n_extra = 2 * m
            link = sparse.hstack(
                [
                    sparse.csr_matrix((np.ones(m), (np.arange(m), cin)), shape=(m, lp.n)),
                    -sparse.identity(m),
                    sparse.identity(m),
                ]
            )
            a_eq = sparse.vstack(
                [sparse.hstack([lp.a_eq, sparse.csr_matrix((lp.a_eq.shape[0], n_extra))]), link],
                format="csr",
            )
            b_eq = np.concatenate([lp.b_eq, np.zeros(m)])
            reps = m // steps
            cost = np.concatenate(
                [cost, np.tile(price_per_kwh * dt, reps), -np.tile(sell_per_kwh * dt, reps)]
            )
            lo = np.concatenate([lo, np.zeros(n_extra)])
            hi = np.concatenate([hi, np.full(n_extra, np.inf)])
        a_ub = lp.a_ub
        if n_extra and a_ub.shape[0]:
            a_ub = sparse.hstack([a_ub, sparse.csr_matrix((a_ub.shape[0], n_extra))], format="csr")
        # reactive power: first try to import none (devices cover their node's Q), else free
        q_in = np.concatenate(
            [
                p.coupling_cols[k * per + steps : k * per + 2 * steps]
                for k, line in enumerate(p.lines)
                if int(des_of_node[line]) == p.des
            ]
            or [np.zeros(0, int)]
        )
        for fix_q in (True, False):
            lo_q, hi_q = lo.copy(), hi.copy()
            if fix_q:
                lo_q[q_in] = hi_q[q_in] = 0.0
            res = linprog(
                cost,
                A_ub=a_ub if a_ub.shape[0] else None,
                b_ub=lp.b_ub if a_ub.shape[0] else None,
                A_eq=a_eq,
                b_eq=b_eq,
                bounds=np.column_stack([lo_q, hi_q]),
                method="highs-ds",
            )
            if res.status == 0:
                break
        if res.status != 0:
            return [np.where(q.quantity == 2, case.v_root_pu, 0.0) for q in problems], 0
        for k, line in enumerate(p.lines):
            cols = p.coupling_cols[k * per : (k + 1) * per]
            if int(des_of_node[line]) == p.des:
                reported[line] = res.x[cols[: 2 * steps]]
        if voltages:
            flows.update(_line_flows(p, res.x[: lp.n], case.parent, steps))
    volt = _lindistflow(case, flows) if voltages else None
    for p, z in zip(problems, z0, strict=True):
        per = 3 * steps
        for k, line in enumerate(p.lines):
            z[k * per : k * per + 2 * steps] = reported[line]
            if voltages:
                assert volt is not None
                z[k * per + 2 * steps : (k + 1) * per] = volt[case.parent[line]]
    levels = max(level.values(), default=0)
    return z0, 2 * levels if voltages else levels


def _line_flows(
    p: DesProblem, x: np.ndarray, parent: np.ndarray, steps: int
) -> dict[int, np.ndarray]:
    """(P, Q) [kW, kvar] of every line into a node of ``p`` in its solution ``x`` (2T values)."""
    index = {name: k for k, name in enumerate(p.lp.names)}
    out = {}
    for v in p.nodes:
        if parent[v] >= 0:
            cols = [index[f"line{v}.{q}[{t}]"] for q in ("p_kw", "q_kvar") for t in range(steps)]
            out[v] = x[cols]
    return out


def _lindistflow(case: DispatchCase, flows: dict[int, np.ndarray]) -> np.ndarray:
    """Node voltages [pu], shape (n, T), from line flows by the model's drop rows (root down)."""
    steps = case.time.steps
    volt = np.full((case.n, steps), case.v_root_pu)
    children = case.children()
    order = [int(np.flatnonzero(case.parent < 0)[0])]
    for u in order:
        for v in children[u]:
            pq = flows[v]
            drop = (case.r_ohm[v] * pq[:steps] + case.x_ohm[v] * pq[steps:]) / case.drop_scale
            volt[v] = volt[u] - drop
            order.append(v)
    return volt


def _depth(parent: np.ndarray, v: int) -> int:
    d = 0
    while parent[v] >= 0:
        v = int(parent[v])
        d += 1
    return d


def run_admm(
    case: DispatchCase,
    des_of_node: np.ndarray,
    problems: list[DesProblem],
    settings: AdmmSettings,
    rng: np.random.Generator | None = None,
    start: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
    exchange: SecureExchange | None = None,
    local: LocalSolves | None = None,
) -> AdmmResult:
    """Solve the partitioned case by consensus ADMM over an (encrypted) DSO exchange.

    ``rng`` seeds the RMME masks (``settings.masking == "rmme"``). ``start``: initial
    consensus values and scaled duals per DES in its layout (a previous solve's ``z`` and
    ``u``, e.g. shifted by a receding horizon), used instead of the price warm start.
    ``exchange``: an existing exchange of the same DES and layouts (its keys are reused and
    its statistics keep counting; the result reports this solve's share). ``local``: the
    processes that play the DES (:class:`~cosim.dispatch.local.LocalSolves`, kept by the
    caller across solves); by default ``settings.workers`` processes for this solve only
    (masked solves always run in the main process).
    """
    t0 = time.perf_counter()
    secs = dict.fromkeys(("setup", "local", "encrypt", "aggregate", "decrypt", "total"), 0.0)
    if exchange is None and len(problems) > 1:
        lay = layouts(problems, des_of_node, case.parent)
        exchange = SecureExchange(lay, settings.encryption, settings.key_bits)
    if settings.masking == "rmme":
        from cosim.dispatch.rmme import MaskedLocalQP

        gen = rng if rng is not None else np.random.default_rng(0)
        solvers: list = [MaskedLocalQP(p.lp, gen, p.coupling_cols) for p in problems]
    elif settings.masking == "none":
        solvers = [LocalQP(p.lp) for p in problems]
    else:
        raise ValueError(f"unknown masking {settings.masking!r}; expected none or rmme")
    own_local = local is None or settings.masking != "none"
    if own_local:
        local = LocalSolves(settings.workers if settings.masking == "none" else 1)
    assert local is not None
    try:
        local.load(solvers, [p.lp.n for p in problems])
        secs["setup"] = time.perf_counter() - t0
        return _iterate(case, des_of_node, problems, settings, start, exchange, local, secs, t0)
    finally:
        if own_local:
            local.close()


def _iterate(
    case: DispatchCase,
    des_of_node: np.ndarray,
    problems: list[DesProblem],
    settings: AdmmSettings,
    start: tuple[list[np.ndarray], list[np.ndarray]] | None,
    exchange: SecureExchange | None,
    local: LocalSolves,
    secs: dict[str, float],
    t0: float,
) -> AdmmResult:
    """The iterations of :func:`run_admm` with the local problems loaded in ``local``."""
    before = _stats_snapshot(exchange)
    steps = case.time.steps
    rho = np.array([settings.rho, settings.rho, settings.rho * settings.voltage_rho_factor])
    tol = np.array([settings.tol_kw, settings.tol_kw, settings.tol_pu])
    # initial consensus values: zero flows, nominal voltage; duals from the public price
    z = [np.where(p.quantity == 2, case.v_root_pu, 0.0) for p in problems]
    u = [np.zeros(p.coupling_cols.size) for p in problems]
    warm_rounds = 0
    if start is not None:
        z = [v.copy() for v in start[0]]
        u = [v.copy() for v in start[1]]
    elif settings.price_warm_start:
        tic = time.perf_counter()
        z, warm_rounds = price_taker_start(
            case,
            des_of_node,
            problems,
            public_price(case),
            settings.voltage_warm_start,
            public_sell_price(case) if settings.two_price_warm_start else None,
        )
        secs["warm_start"] = time.perf_counter() - tic
        price = public_price(case) * case.time.step_hours
        for p, ui in zip(problems, u, strict=True):
            per = 3 * steps
            for k, line in enumerate(p.lines):
                inflow = int(des_of_node[line]) == p.des  # this DES holds the line's child end
                sign = 1.0 if inflow else -1.0
                ui[k * per : k * per + steps] = sign * price / rho[0]
    alpha = settings.over_relaxation
    accel = settings.acceleration
    zh = [v.copy() for v in z]  # extrapolated points (Goldstein et al. 2014)
    uh = [v.copy() for v in u]
    a_k, c_prev = 1.0, np.inf
    restarts = 0
    prim, dual, rhos = [], [], []
    x_all: list[np.ndarray] = [np.zeros(p.lp.n) for p in problems]
    converged = False
    it = 0
    for it in range(1, settings.max_iterations + 1):
        tic = time.perf_counter()
        hessians, linear = [], []
        for k, p in enumerate(problems):
            r = rho[p.quantity]
            hess = p.lp.quad_diag.copy()
            np.add.at(hess, p.coupling_cols, r)
            lin = np.zeros(p.lp.n)
            np.add.at(lin, p.coupling_cols, r * (uh[k] - zh[k]))
            hessians.append(hess)
            linear.append(lin)
        x_all = local.solve(hessians, linear)
        xs = [x[p.coupling_cols] for x, p in zip(x_all, problems, strict=True)]
        secs["local"] += time.perf_counter() - tic
        xh = [alpha * x + (1.0 - alpha) * zk for x, zk in zip(xs, zh, strict=True)]
        z_new = exchange.round(xh) if exchange is not None else [np.zeros(0)]
        u_new = [uh[k] + xh[k] - z_new[k] for k in range(len(problems))]
        r_max = np.zeros(3)
        s_max = np.zeros(3)
        for k, p in enumerate(problems):
            for q in range(3):
                sel = p.quantity == q
                if sel.any():
                    r_max[q] = max(r_max[q], float(np.abs(xs[k][sel] - z_new[k][sel]).max()))
                    s_max[q] = max(s_max[q], float(np.abs(z_new[k][sel] - z[k][sel]).max()))
        if accel:
            comb = sum(
                float(rho[p.quantity] @ ((u_new[k] - uh[k]) ** 2 + (z_new[k] - zh[k]) ** 2))
                for k, p in enumerate(problems)
            )
            if comb < 0.999 * c_prev:
                a_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * a_k * a_k))
                beta = (a_k - 1.0) / a_next
                zh = [zn + beta * (zn - zo) for zn, zo in zip(z_new, z, strict=True)]
                uh = [un + beta * (un - uo) for un, uo in zip(u_new, u, strict=True)]
                a_k, c_prev = a_next, comb
            else:  # restart from the last iterate
                restarts += 1
                a_k, c_prev = 1.0, comb / 0.999
                zh = [v.copy() for v in z_new]
                uh = [v.copy() for v in u_new]
        else:
            zh = [v.copy() for v in z_new]
            uh = [v.copy() for v in u_new]
        z, u = z_new, u_new
        prim.append(r_max)
        dual.append(s_max)
        rhos.append(rho.copy())
        if np.all(r_max <= tol) and np.all(s_max <= tol):
            converged = True
            break
        if settings.rho_ramp_iterations and it <= settings.rho_ramp_iterations:
            grow = (settings.rho_final / settings.rho) ** (1.0 / settings.rho_ramp_iterations)
            new = rho * grow
            for k, p in enumerate(problems):
                u[k] *= (rho / new)[p.quantity]
                uh[k] = u[k].copy()
            zh = [v.copy() for v in z]
            a_k, c_prev = 1.0, np.inf
            rho = new
        elif it <= settings.balance_iterations:
            new = rho.copy()
            for q in range(3):
                rel_r = r_max[q] / tol[q]
                rel_s = s_max[q] / tol[q]
                if rel_r > settings.balance_mu * rel_s:
                    new[q] *= settings.balance_tau
                elif rel_s > settings.balance_mu * rel_r:
                    new[q] /= settings.balance_tau
            if not np.array_equal(new, rho):
                for k, p in enumerate(problems):
                    u[k] *= (rho / new)[p.quantity]
                    uh[k] = u[k].copy()
                zh = [v.copy() for v in z]
                a_k, c_prev = 1.0, np.inf
                rho = new
    after = _stats_snapshot(exchange)
    secs["encrypt"], secs["aggregate"], secs["decrypt"] = (after[k] - before[k] for k in range(3))
    secs["total"] = time.perf_counter() - t0
    objective = float(sum(p.lp.objective(x) for p, x in zip(problems, x_all, strict=True)))
    return AdmmResult(
        converged=converged,
        iterations=it,
        objective=objective,
        x=x_all,
        primal_residual=np.array(prim),
        dual_residual=np.array(dual),
        rho=np.array(rhos),
        seconds=secs,
        bytes_exchanged=int(after[3] - before[3]),
        key_bytes=0 if exchange is None else int(sum(exchange.stats.key_bytes.values())),
        exchange=exchange,
        warm_start_rounds=warm_rounds,
        z=z,
        u=u,
    )


def _stats_snapshot(exchange: SecureExchange | None) -> tuple[float, float, float, int]:
    """Encrypt, aggregate, decrypt seconds and bytes exchanged so far."""
    if exchange is None:
        return (0.0, 0.0, 0.0, 0)
    st = exchange.stats
    return (
        st.encrypt_seconds,
        st.aggregate_seconds,
        st.decrypt_seconds,
        st.bytes_up + st.bytes_down,
    )
