"""Tests of cosim.market.network_check: the LP on hand-made cases and a CIGRE LV reference."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandapower as pp
import pytest

import cosim.lp as lp
import cosim.market.network_check as nc
from cosim.grid.linear import LinearGridModel, ModelKind, derate
from cosim.grid.networks import attach_participants, load_network
from cosim.grid.powerflow import PandapowerFlow
from cosim.market.network_check import check_trades

#: Rating of every line of the T feeder: sqrt(3) * 0.4 kV * 0.1 kA [kVA].
S = math.sqrt(3.0) * 0.4 * 0.1 * 1000.0
H = 0.5  # slot length [h]


def t_feeder(r_ohm_per_km: float = 0.2) -> pp.pandapowerNet:
    """0.4 kV: bus 0 (ext_grid) -L0- 1 -L1- 2 and 1 -L2- 3; every line 0.1 kA (69.28 kVA)."""
    net = pp.create_empty_network()
    b = [pp.create_bus(net, vn_kv=0.4) for _ in range(4)]
    pp.create_ext_grid(net, b[0], vm_pu=1.0)
    for f, t in ((0, 1), (1, 2), (1, 3)):
        pp.create_line_from_parameters(net, b[f], b[t], 0.1, r_ohm_per_km, 0.05, 0.0, 0.1)
    return net


@pytest.fixture(scope="module", params=["dc", "lindistflow"])
def model(request: pytest.FixtureRequest) -> LinearGridModel:
    kind: ModelKind = request.param
    return LinearGridModel.from_pandapower(t_feeder(), kind)


def run(
    model: LinearGridModel,
    seller: list[int],
    buyer: list[int],
    power_kw: list[float],
    base_p: list[float] | None = None,
    base_q: list[float] | None = None,
    **kw: Any,
) -> nc.CheckResult:
    """check_trades with trade powers [kW] over a half-hour slot."""
    p = np.zeros(model.n_bus) if base_p is None else np.asarray(base_p, dtype=float)
    q = np.zeros(model.n_bus) if base_q is None else np.asarray(base_q, dtype=float)
    return check_trades(
        model, np.array(seller), np.array(buyer), np.array(power_kw) * H, p, q, H, **kw
    )


def test_trade_exactly_at_the_limit_is_executed(model: LinearGridModel) -> None:
    # Seller at bus 2, buyer at bus 3: S kW over L1 (2 -> 1, negative in its 1 -> 2 direction)
    # and L2 (1 -> 3); nothing passes L0.
    res = run(model, [2], [3], [S])
    assert res.fraction.tolist() == [1.0]
    assert res.executable_kwh == pytest.approx(S * H)
    flows = model.flows_kw(np.array([0.0, 0.0, -S, S]))
    np.testing.assert_allclose(flows, [0.0, -S, S], atol=1e-9)


def test_trade_twice_the_limit_gets_half(model: LinearGridModel) -> None:
    res = run(model, [2], [3], [2 * S])
    assert res.status == "optimal"
    assert res.fraction[0] == pytest.approx(0.5, abs=1e-7)
    assert set(res.binding_branch.tolist()) == {1, 2}  # L1 and L2 at their limit


def test_two_trades_share_a_line(model: LinearGridModel) -> None:
    # Both sell from bus 2 over L1: 1.5 S requested, S fits; the tie-break keeps merit order.
    res = run(model, [2, 2], [3, 0], [0.75 * S, 0.75 * S])
    assert res.executable_kwh == pytest.approx(S * H, rel=1e-7)
    assert res.fraction[0] == pytest.approx(1.0)
    assert res.fraction[1] == pytest.approx(1.0 / 3.0, abs=1e-7)
    assert res.binding_branch.tolist() == [1]


def test_direction_relieving_trade_is_not_curtailed(model: LinearGridModel) -> None:
    # Base: bus 2 consumes 0.9 S, so L1 carries 0.9 S from 1 to 2.
    base = [0.0, 0.0, 0.9 * S, 0.0]
    # Seller at 2 -> buyer at 3: L1 goes to 0.9 S - 0.9 S = 0 (relieved), L2 to 0.9 S.
    relieving = run(model, [2], [3], [0.9 * S], base)
    assert relieving.fraction[0] == pytest.approx(1.0)
    # The opposite trade (seller 3 -> buyer 2) adds to L1: 0.9 S + 0.9 S x <= S, x <= 1/9.
    # (LinDistFlow a little less: the base voltage at bus 1 is below 1 pu, so S * v < S.)
    loading = run(model, [3], [2], [0.9 * S], base)
    if model.kind == "dc":
        assert loading.fraction[0] == pytest.approx(1.0 / 9.0, abs=1e-7)
    else:
        assert 0.09 < loading.fraction[0] < 1.0 / 9.0
    # Swapping seller and buyer (a bug of the prior prototype) would give the opposite.


def test_base_violation_only_blocks_what_makes_it_worse(model: LinearGridModel) -> None:
    base = [0.0, 0.0, 1.5 * S, 0.0]  # L0 and L1 at 150 % before any trade
    worse = run(model, [3], [2], [0.5 * S], base)
    assert worse.status == "optimal" and worse.base_violation
    assert worse.fraction[0] == pytest.approx(0.0, abs=1e-7)
    relieving = run(model, [2], [3], [0.5 * S], base)
    assert relieving.fraction[0] == pytest.approx(1.0)
    # Selling 4 S from bus 2 to the ext_grid bus swings L0 and L1 from +1.5 S towards
    # 1.5 S - 4 S x; "no worse" allows down to -1.5 S: x <= 3 / 4.
    swing = run(model, [2], [0], [4.0 * S], base)
    assert swing.fraction[0] == pytest.approx(0.75, abs=1e-7)
    # The limit applies to the sum of the trades: a worsening trade that a relieving one
    # offsets is executed.
    both = run(model, [3, 2], [2, 3], [0.5 * S, 0.5 * S], base)
    np.testing.assert_allclose(both.fraction, [1.0, 1.0])


def test_margin_tightens_limits(model: LinearGridModel) -> None:
    res = run(model, [2], [3], [S], margin=0.1)
    assert res.fraction[0] == pytest.approx(0.9, abs=1e-7)


def test_no_trades_and_unconstrained(model: LinearGridModel) -> None:
    empty = run(model, [], [], [])
    assert empty.status == "no_trades"
    assert empty.fraction.size == 0 and empty.requested_kwh == 0.0
    small = run(model, [2, 3], [3, 0], [1.0, 2.0])
    assert small.status == "unconstrained"
    assert small.fraction.tolist() == [1.0, 1.0]
    same_bus = run(model, [2], [2], [10 * S])  # no network path: nothing to limit
    assert same_bus.fraction.tolist() == [1.0]


def test_reactive_flow_reduces_lindistflow_limit() -> None:
    lin = LinearGridModel.from_pandapower(t_feeder(), "lindistflow")
    base_q = np.array([0.0, 0.0, 0.6 * S, 0.0])  # 0.6 S kvar consumed at bus 2
    res = run(lin, [3], [2], [S], base_q=base_q.tolist())
    # L1 may carry sqrt((S v)**2 - (0.6 S)**2) kW, v = the lower base voltage of its ends.
    v = lin.voltages_pu(np.zeros(4), base_q)
    expected = math.sqrt((S * min(v[1], v[2])) ** 2 - (0.6 * S) ** 2) / S
    assert res.fraction[0] == pytest.approx(expected, abs=1e-6)
    assert 0.75 < expected < 0.8
    dc = LinearGridModel.from_pandapower(t_feeder(), "dc")  # DC ignores reactive power
    assert run(dc, [3], [2], [S], base_q=base_q.tolist()).fraction[0] == pytest.approx(1.0)


def test_voltage_limit_binds_in_lindistflow_only() -> None:
    net = t_feeder(r_ohm_per_km=4.0)  # long, resistive: voltage binds before current
    lin = LinearGridModel.from_pandapower(net, "lindistflow")
    res = run(lin, [2], [0], [0.9 * S], v_max_pu=1.02)
    assert res.status == "optimal"
    assert res.binding_bus.tolist() == [2]
    x = res.fraction[0]
    assert 0.0 < x < 1.0
    p = np.array([x * 0.9 * S, 0.0, -x * 0.9 * S, 0.0])
    assert lin.voltages_pu(p, np.zeros(4))[2] == pytest.approx(1.02, abs=1e-9)
    dc = LinearGridModel.from_pandapower(net, "dc")
    assert run(dc, [2], [0], [0.9 * S], v_max_pu=1.02).fraction[0] == pytest.approx(1.0)
    # A base voltage already above the band: trades may not raise it further.
    high = run(lin, [2], [0], [0.1 * S], base_p=[0.0, 0.0, -S, 0.0], v_max_pu=1.02)
    assert high.base_violation
    assert high.fraction[0] == pytest.approx(0.0, abs=1e-7)
    helps = run(lin, [0], [2], [0.1 * S], base_p=[0.0, 0.0, -S, 0.0], v_max_pu=1.02)
    assert helps.fraction[0] == pytest.approx(1.0)


def test_unsupplied_buses_get_nothing() -> None:
    net = t_feeder()
    pp.create_switch(net, 3, 2, et="l", closed=False)  # cut bus 3 off
    model = LinearGridModel.from_pandapower(net, "lindistflow")
    res = run(model, [2, 2], [3, 0], [1.0, 1.0])
    assert res.fraction.tolist() == [0.0, 1.0]


def test_solver_failure_gives_zero_fractions(
    model: LinearGridModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Failed:
        status = 2
        x = None
        message = "The problem is infeasible."

    monkeypatch.setattr(lp, "linprog", lambda *a, **k: Failed())
    res = run(model, [2], [3], [2 * S])
    assert res.status == "solver_failed"
    assert res.fraction.tolist() == [0.0]
    assert res.executable_kwh == 0.0 and "infeasible" in res.message

    def boom(*a: Any, **k: Any) -> None:
        raise ValueError("bad input")

    monkeypatch.setattr(lp, "linprog", boom)
    assert run(model, [2], [3], [2 * S]).status == "solver_failed"


def test_invalid_inputs_raise(model: LinearGridModel) -> None:
    with pytest.raises(ValueError, match="same length"):
        check_trades(model, np.array([2]), np.array([3, 1]), np.array([1.0]),
                     np.zeros(4), np.zeros(4), H)  # fmt: skip
    with pytest.raises(ValueError, match="energy_kwh"):
        run(model, [2], [3], [-1.0])
    with pytest.raises(ValueError, match="not in the network"):
        run(model, [9], [3], [1.0])
    with pytest.raises(ValueError, match="margin"):
        run(model, [2], [3], [1.0], margin=1.0)
    with pytest.raises(ValueError, match="band"):
        run(model, [2], [3], [1.0], v_min_pu=1.05, v_max_pu=0.95)
    with pytest.raises(ValueError, match="slot_hours"):
        check_trades(model, np.array([2]), np.array([3]), np.array([1.0]),
                     np.zeros(4), np.zeros(4), 0.0)  # fmt: skip


def test_deterministic_and_read_only(model: LinearGridModel) -> None:
    rng = np.random.default_rng(3)
    seller = rng.integers(0, 4, 30).tolist()
    buyer = rng.integers(0, 4, 30).tolist()
    power = rng.uniform(0, S, 30).tolist()
    a = run(model, seller, buyer, power)
    b = run(model, seller, buyer, power)
    np.testing.assert_array_equal(a.fraction, b.fraction)
    assert a.status == b.status == "optimal"
    assert ((a.fraction >= 0) & (a.fraction <= 1)).all()
    assert not a.fraction.flags.writeable


# ---------------------------------------------------------------------- CIGRE LV reference

#: Safety margins documented in docs/network_check.md (AC vs linear model error).
MARGIN: dict[str, float] = {"lindistflow": 0.04, "dc": 0.15}


def cigre_case(direction: str, seed: int) -> dict[str, Any]:
    """Random but plausible trades on CIGRE LV with its lines derated to 10 % (69 kVA).

    ``"export"``: households with PV on the residential feeder sell all their surplus to the
    commercial customers (power flows up the residential feeder). ``"import"``: households on
    the residential feeder buy their whole deficit from commercial customers with PV.
    """
    net = derate(load_network("cigre_lv"), 0.1, 1.0)
    att = attach_participants(net, "cigre_lv")
    n = len(att)
    rng = np.random.default_rng(seed)
    feeder_hh = (att.kind == "household") & (att.bus != 2)  # not at the transformer bus
    commercial = att.kind == "commercial"
    if direction == "export":
        load = np.where(
            commercial, att.rating_kw * rng.uniform(0.3, 0.6, n), rng.uniform(0.2, 1, n)
        )
        pv = np.where(feeder_hh & (rng.random(n) < 0.7), rng.uniform(3.0, 7.0, n), 0.0)
    else:
        load = np.where(feeder_hh, rng.uniform(1.0, 4.0, n), np.where(commercial, 0.2, 0.0))
        load = np.where(commercial, att.rating_kw * 0.2, load) + np.where(
            ~feeder_hh & ~commercial, 0.5, 0.0
        )
        pv = np.where(commercial, att.rating_kw * rng.uniform(0.5, 1.0, n), 0.0)
    net_kw = load - pv
    if direction == "export":
        seller = np.flatnonzero(net_kw < 0)
        buyer = rng.choice(np.flatnonzero((net_kw > 0) & commercial), seller.size)
        energy = -net_kw[seller] * H
    else:
        buyer = np.flatnonzero((net_kw > 0) & feeder_hh)
        seller = rng.choice(np.flatnonzero(net_kw < 0), buyer.size)
        energy = net_kw[buyer] * H
    p2p_kw = (np.bincount(buyer, energy, n) - np.bincount(seller, energy, n)) / H
    return {
        "net": net,
        "bus": att.bus,
        "seller": seller,
        "buyer": buyer,
        "energy": energy,
        "base_kw": net_kw - p2p_kw,
        "q_kvar": 0.25 * load,  # power factor 0.97
    }


@pytest.mark.parametrize("kind", ["lindistflow", "dc"])
@pytest.mark.parametrize("direction", ["export", "import"])
def test_cigre_reference_no_overload_after_check(kind: ModelKind, direction: str) -> None:
    case = cigre_case(direction, seed=0)
    n = case["bus"].size
    flow = PandapowerFlow(case["net"], case["bus"])

    def ac_max_loading(fraction: np.ndarray) -> float:
        done = fraction * case["energy"]
        p2p = np.bincount(case["buyer"], done, n) - np.bincount(case["seller"], done, n)
        res = flow.solve(case["base_kw"] + p2p / H, case["q_kvar"])
        assert res.converged
        return float(max(res.line_loading_percent.max(), res.trafo_loading_percent.max()))

    m = case["energy"].size
    assert ac_max_loading(np.zeros(m)) < 100.0  # the base case is fine ...
    assert ac_max_loading(np.ones(m)) > 140.0  # ... the unchecked trades overload a line
    model = LinearGridModel.from_pandapower(case["net"], kind)
    res = check_trades(
        model,
        case["bus"][case["seller"]],
        case["bus"][case["buyer"]],
        case["energy"],
        model.bus_vector(case["bus"], case["base_kw"]),
        model.bus_vector(case["bus"], case["q_kvar"]),
        H,
        margin=MARGIN[kind],
    )
    assert res.status == "optimal"
    assert 0.3 < res.executable_kwh / res.requested_kwh < 0.95
    loading = ac_max_loading(res.fraction)
    assert loading <= 100.0
    assert loading > 80.0  # and the check does not throw away much more than it must
