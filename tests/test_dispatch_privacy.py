"""Dispatch privacy: key custody of the DSO, signed keys, exact Paillier, CKKS error, RMME."""

from __future__ import annotations

import gc
from dataclasses import replace

import numpy as np
import pytest
import tenseal as ts
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cosim.dispatch.admm import AdmmSettings, layouts, run_admm
from cosim.dispatch.case import load_case, partition
from cosim.dispatch.model import build_des_problems
from cosim.dispatch.privacy import (
    Ciphertext,
    DistributionSystemOperator,
    SecureExchange,
    verify_announcement,
)
from cosim.dispatch.qp import LocalQP
from cosim.dispatch.rmme import MaskedLocalQP
from cosim.settlement.crypto import SecretKey
from cosim.settlement.signatures import MeterSigner


def _graph(root: object) -> list[object]:
    """Every object reachable from ``root`` (gc referents, breadth first)."""
    seen: dict[int, object] = {id(root): root}
    todo = [root]
    while todo:
        obj = todo.pop()
        for ref in gc.get_referents(obj):
            if isinstance(ref, type) or id(ref) in seen:
                continue
            seen[id(ref)] = ref
            todo.append(ref)
    return list(seen.values())


@pytest.fixture(scope="module")
def six_bus():
    case = load_case("six_bus")
    labels = partition(case, "bus")
    return case, labels, build_des_problems(case, labels)


@pytest.fixture(scope="module")
def ckks_run(six_bus):
    case, labels, problems = six_bus
    settings = AdmmSettings(encryption="ckks", price_warm_start=False, max_iterations=4)
    return run_admm(case, labels, problems, settings)


def test_dso_holds_no_secret_key_and_receives_only_ciphertexts(ckks_run) -> None:
    exchange = ckks_run.exchange
    dso = exchange.dso
    assert isinstance(dso, DistributionSystemOperator)
    for obj in _graph(dso):
        assert not isinstance(obj, SecretKey | MeterSigner | Ed25519PrivateKey)
        if isinstance(obj, ts.Context):
            assert not obj.is_private()
        assert type(obj).__name__ not in ("_SettlementSecret", "_PlainSecret", "SecretKey")
    # every DES key the DSO holds is public, and everything it received was a Ciphertext
    assert all(not k.key.context.is_private() for k in dso.keys.values())
    assert dso.received and set(dso.received) == {Ciphertext}
    # what travelled is ciphertext: a CKKS vector is far larger than 8 bytes a value
    values = sum(e.layout_size for e in exchange.endpoints) * ckks_run.iterations
    assert ckks_run.bytes_exchanged > 100 * 8 * values


def test_each_des_holds_its_own_secret_only(ckks_run) -> None:
    for endpoint in ckks_run.exchange.endpoints:
        for key in endpoint.neighbour_keys.values():
            assert not key.key.context.is_private()
        assert not endpoint.public.key.context.is_private()


def test_tampered_key_announcement_is_refused(six_bus) -> None:
    case, labels, problems = six_bus
    exchange = SecureExchange(layouts(problems, labels, case.parent), "plain")
    ann = exchange.endpoints[1].announce()
    identities = {e.des: e.identity_public for e in exchange.endpoints}
    assert verify_announcement(ann, identities)
    forged = replace(ann, key_bytes=ann.key_bytes + b"x")
    assert not verify_announcement(forged, identities)
    stranger = replace(ann, des=2)  # DES 1's signature does not vouch for DES 2
    assert not verify_announcement(stranger, identities)
    with pytest.raises(ValueError, match="verification"):
        exchange.dso.register([forged])


def test_paillier_iterates_equal_plain_ones_exactly(six_bus) -> None:
    case, labels, problems = six_bus
    base = AdmmSettings(price_warm_start=False, max_iterations=2)
    plain = run_admm(case, labels, problems, replace(base, encryption="plain"))
    djn = run_admm(case, labels, problems, replace(base, encryption="paillier_djn"))
    assert plain.iterations == djn.iterations == 2
    for a, b in zip(plain.x, djn.x, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(plain.primal_residual, djn.primal_residual)
    assert np.array_equal(plain.dual_residual, djn.dual_residual)


CKKS_TOLERANCE_KW = 1e-6
"""CKKS against plain after 4 iterations [kW, kvar, pu] (measured about 1e-9)."""


def test_ckks_iterates_match_plain_within_tolerance(six_bus, ckks_run) -> None:
    case, labels, problems = six_bus
    plain = run_admm(
        case,
        labels,
        problems,
        AdmmSettings(encryption="plain", price_warm_start=False, max_iterations=4),
    )
    for p, a, b in zip(problems, plain.x, ckks_run.x, strict=True):
        np.testing.assert_allclose(
            a[p.coupling_cols], b[p.coupling_cols], atol=CKKS_TOLERANCE_KW, rtol=0
        )


MASKED_RTOL = 1e-8
"""Masked against unmasked local objective (relative; measured below 4e-9 for seeds 7-9)."""
MASKED_ATOL = 2e-5
"""Masked against unmasked boundary values [kW, kvar, pu] (measured below 8e-6)."""


def test_masked_solve_equals_unmasked(six_bus) -> None:
    _case, _labels, problems = six_bus
    rng = np.random.default_rng(7)
    for p in problems:
        hess = np.zeros(p.lp.n)
        np.add.at(hess, p.coupling_cols, 10.0)
        lin = np.zeros(p.lp.n)
        np.add.at(lin, p.coupling_cols, rng.normal(size=p.coupling_cols.size))
        x, _ = LocalQP(p.lp).solve(hess, lin)
        xm, _ = MaskedLocalQP(p.lp, rng, p.coupling_cols).solve(hess, lin)

        obj, obj_m = (float(0.5 * hess @ v**2 + lin @ v + p.lp.cost @ v) for v in (x, xm))
        assert obj_m == pytest.approx(obj, rel=MASKED_RTOL)
        # the cloud's dense interior-point answer (polished by the DES where the polish
        # succeeds) and the plain QP's agree to the solvers' accuracy
        np.testing.assert_allclose(xm[p.coupling_cols], x[p.coupling_cols], atol=MASKED_ATOL)
        # the unmasked point is feasible for the DES's own constraints
        assert np.abs(p.lp.a_eq @ xm - p.lp.b_eq).max() < 1e-8
        assert (p.lp.a_ub @ xm - p.lp.b_ub).max() < 1e-8


def test_cloud_holds_no_constraint_data_in_plaintext(six_bus) -> None:
    _case, _labels, problems = six_bus
    p = problems[1]  # a DES with a 10 kW load, 5 kW wind, a 1000 kW CHP, a heater (eta 0.95)
    masked = MaskedLocalQP(p.lp, np.random.default_rng(3), p.coupling_cols)
    secret = {10.0, 5.0, 1000.0, 0.95, 1.5}
    secret |= {abs(float(v)) for v in np.concatenate([p.lp.b_eq, p.lp.b_ub]) if v}
    # value arrays (integer arrays are sparse-matrix index structure of the masked data)
    arrays = [o for o in _graph(masked.cloud) if isinstance(o, np.ndarray) and o.dtype.kind == "f"]
    assert arrays
    for arr in arrays:
        values = np.abs(np.asarray(arr, dtype=float).ravel())
        for s in secret:
            assert not np.any(np.isclose(values, s, rtol=1e-12, atol=0)), s
        assert arr.shape != p.lp.a_eq.shape and arr.shape != p.lp.a_ub.shape
    # rows are permuted and scaled: no masked row is a multiple of another's unscaled form
    assert masked.cloud.g.shape[1] < p.lp.n
