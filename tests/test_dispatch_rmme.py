"""RMME: masked cloud solves against unmasked ones, the DES's polish, ADMM and a run with masking.

The masked solve's reference is the unmasked Clarabel solve of the same QP; ADMM's is the
central optimum; the run's is the same run without masking.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cosim.dispatch.rmme as rmme
from cosim.cli import main
from cosim.dispatch.admm import AdmmSettings, run_admm
from cosim.dispatch.case import load_case, partition
from cosim.dispatch.model import build_des_problems, solve_central, violations
from cosim.dispatch.qp import LocalQP
from cosim.dispatch.rmme import MaskedLocalQP


@pytest.fixture(scope="module")
def six_bus():  # type: ignore[no-untyped-def]
    case = load_case("six_bus")
    labels = partition(case, "bus")
    return case, labels, build_des_problems(case, labels)


def _qp_inputs(p, rho: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    hess = p.lp.quad_diag.copy()
    np.add.at(hess, p.coupling_cols, rho)
    lin = np.zeros(p.lp.n)
    np.add.at(lin, p.coupling_cols, rng.normal(size=p.coupling_cols.size))
    return hess, lin


def test_polished_solve_is_feasible_and_not_worse_than_unmasked(six_bus) -> None:
    """Where the polish succeeds, its point satisfies the DES's rows to 1e-8 kW (pu) and its
    objective is at most the unmasked solver's (to rounding)."""
    _case, _labels, problems = six_bus
    rng = np.random.default_rng(11)
    polished = 0
    for p in problems:
        hess, lin = _qp_inputs(p, 0.1, rng)
        x, _ = LocalQP(p.lp).solve(hess, lin)
        masked = MaskedLocalQP(p.lp, rng, p.coupling_cols)
        xm, _ = masked.solve(hess, lin)
        polished += masked.polished
        if not masked.polished:
            continue
        obj, obj_m = (float(0.5 * hess @ v**2 + lin @ v + p.lp.cost @ v) for v in (x, xm))
        assert obj_m <= obj + 1e-12 * abs(obj) + 1e-12
        lp = p.lp
        tol = rmme.POLISH_FEAS_TOL
        assert np.abs(lp.a_eq @ xm - lp.b_eq).max() <= tol
        assert (lp.a_ub @ xm - lp.b_ub).max(initial=0.0) <= tol
        assert (lp.lo - xm).max() <= tol
        assert (xm - lp.hi).max() <= tol
    assert polished >= len(problems) // 2  # the polish is not a dead branch


def test_cloud_learns_the_penalty_and_the_mask_is_not_orthogonal(six_bus) -> None:
    """Claims of docs/privacy.md: the cloud receives the penalty weights in plaintext, and
    with the diagonal factor ``G~ G~'`` differs from ``D P G N N'G'P' D`` (which an
    orthogonal mask would hand over)."""
    _case, _labels, problems = six_bus
    p = problems[1]
    hess, lin = _qp_inputs(p, 0.37, np.random.default_rng(1))
    masked = MaskedLocalQP(p.lp, np.random.default_rng(2), p.coupling_cols)
    sent: list[np.ndarray] = []
    solve = masked.cloud.solve

    def spy(d: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sent.append(d)
        return solve(d, c)

    masked.cloud.solve = spy  # type: ignore[method-assign]
    masked.solve(hess, lin)
    assert np.all(sent[0] == 0.37)  # rho, in plaintext
    null = masked._nm  # N M
    g = masked._g.toarray()[masked._perm] * masked._scale[:, None]  # D P G
    # N from N M: orthonormal basis of the same column space
    basis, _ = np.linalg.qr(null)
    gram_masked = masked.cloud.g @ masked.cloud.g.T
    gram_orth = (g @ basis) @ (g @ basis).T
    rel = np.linalg.norm(gram_masked - gram_orth) / np.linalg.norm(gram_orth)
    assert rel > 0.1
    # likewise B~ B~' against P' E N N' E' P (how the equality rows tie the boundary values)
    e_basis = basis[masked._wcols]
    gram_b = masked.cloud.b @ masked.cloud.b.T
    rel_b = np.linalg.norm(gram_b - e_basis @ e_basis.T) / np.linalg.norm(e_basis @ e_basis.T)
    assert rel_b > 0.1
    # and the mask is well conditioned: singular values of M within the diagonal's range
    sv = np.linalg.svd(basis.T @ null, compute_uv=False)
    assert sv.max() / sv.min() <= 4.0 + 1e-9


def test_masked_admm_reaches_the_central_optimum_on_six_bus(six_bus, monkeypatch) -> None:
    """ADMM with masking and CKKS: the unmasked acceptance, one mask per DES and solve."""
    case, labels, problems = six_bus
    made: list[MaskedLocalQP] = []

    class Counting(MaskedLocalQP):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(rmme, "MaskedLocalQP", Counting)
    central = solve_central(problems)
    result = run_admm(
        case, labels, problems, AdmmSettings(masking="rmme"), np.random.default_rng(5)
    )
    assert result.converged
    assert abs(result.objective - central.objective) <= 1e-4 * abs(central.objective)
    worst = violations(problems, result.x)
    assert worst["kw"] <= 1e-3 and worst["pu"] <= 1e-4
    assert len(made) == len(problems)  # masked once per solve ...
    assert all(m.cloud.solves == result.iterations for m in made)  # ... solved per iteration
    assert sum(m.polished for m in made) > 0


RUN = """\
name: rmme_run
seed: 3
time: {start: "2016-06-01T12:00:00+00:00", slots: 2, slot_minutes: 60}
network: {name: cigre_lv}
participants: {pv_penetration: 0.5, battery_penetration: 0.3, battery_strategy: admm}
battery: {horizon_slots: 1}
market: {retail_price: 0.30, feed_in_tariff: 0.08}
settlement: {models: [retail]}
dispatch:
  partition: balanced
  parts: 2
  encryption: plain
  masking: MASKING
  round_delay_ms: 20
  admm: {rho: 1.0}
"""


def test_masked_run_gives_the_unmasked_setpoints(tmp_path: Path) -> None:
    """``cosim run`` with the admm strategy and ``dispatch.masking: rmme`` (battery wear is a
    quadratic cost off the boundary: the cloud gets it masked) plans the unmasked set-points."""
    out = {}
    for masking in ("none", "rmme"):
        path = tmp_path / f"{masking}.yaml"
        path.write_text(RUN.replace("MASKING", masking), encoding="utf-8")
        out[masking] = tmp_path / masking
        assert main(["run", str(path), "--out", str(out[masking]), "--quiet"]) == 0
    plain, masked = (pd.read_csv(out[m] / "dispatch.csv") for m in ("none", "rmme"))
    assert (masked["status"] == "optimal").all() and masked["converged"].all()
    assert (masked["masking"] == "rmme").all()
    # both stop within the ADMM tolerance of the same optimum: objectives within 1e-4 relative
    np.testing.assert_allclose(masked["objective"], plain["objective"], rtol=1e-4)
    a, b = (pd.read_csv(out[m] / "participants.csv") for m in ("none", "rmme"))
    sa, sb = a["battery_setpoint_kwh"].to_numpy(), b["battery_setpoint_kwh"].to_numpy()
    assert np.array_equal(np.isnan(sa), np.isnan(sb)) and np.nanmax(np.abs(sa)) > 0.01
    # two ADMM solves, each within tolerance of the same unique optimum (2.5e-4 kW per copy)
    np.testing.assert_allclose(sb, sa, atol=2e-3, equal_nan=True)


def test_quadratic_costs_reach_the_cloud_masked(six_bus) -> None:
    """A DES with its own quadratic costs (battery wear in a run): the cloud gets
    ``Q~ = M'N'QNM`` (rank at most that of ``Q``, claimed in docs/privacy.md) and the masked
    solve still equals the unmasked one."""
    _case, _labels, problems = six_bus
    p = problems[1]
    rng = np.random.default_rng(4)
    quad = np.zeros(p.lp.n)
    off = np.setdiff1d(np.arange(p.lp.n), p.coupling_cols)[:30]
    quad[off] = 0.02
    lp = replace(p.lp, quad=quad)
    hess, lin = _qp_inputs(replace(p, lp=lp), 1.0, rng)
    x, _ = LocalQP(lp).solve(hess, lin)
    masked = MaskedLocalQP(lp, rng, p.coupling_cols)
    xm, _ = masked.solve(hess, lin)
    assert masked.cloud.q is not None
    assert np.linalg.matrix_rank(masked.cloud.q) <= np.count_nonzero(quad)
    obj, obj_m = (lp.objective(v) + 0.5 * (hess - quad) @ v**2 + lin @ v for v in (x, xm))
    assert obj_m == pytest.approx(obj, rel=1e-8)
    np.testing.assert_allclose(xm[p.coupling_cols], x[p.coupling_cols], atol=2e-5)
