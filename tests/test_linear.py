"""Tests of cosim.grid.linear: hand-computed feeders, switches, transformers, AC agreement."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandapower as pp
import pytest

from cosim.grid.linear import LinearGridModel, derate
from cosim.grid.networks import attach_participants, load_network
from cosim.grid.powerflow import RUNPP_OPTIONS, PandapowerFlow

SQRT3 = math.sqrt(3.0)


def feeder() -> pp.pandapowerNet:
    """Three buses in a chain at 0.4 kV: 0 (ext_grid, 1.0 pu) -A- 1 -B- 2.

    Per unit on S_base = 1 MVA, Z_base = 0.4**2 / 1 = 0.16 ohm:

    * line A: 0.1 km of 0.64 + j0.16 ohm/km = 0.064 + j0.016 ohm = 0.4 + j0.1 pu;
    * line B: 0.2 km of 0.32 + j0.08 ohm/km, two in parallel = 0.032 + j0.008 ohm
      = 0.2 + j0.05 pu;
    * max_i_ka 0.2: A is rated sqrt(3) * 0.4 kV * 0.2 kA = 138.56 kVA, B twice that.
    """
    net = pp.create_empty_network()
    b = [pp.create_bus(net, vn_kv=0.4) for _ in range(3)]
    pp.create_ext_grid(net, b[0], vm_pu=1.0)
    for (f, t), length, r, x, par in (
        ((0, 1), 0.1, 0.64, 0.16, 1),
        ((1, 2), 0.2, 0.32, 0.08, 2),
    ):
        pp.create_line_from_parameters(
            net, b[f], b[t], length, r, x, c_nf_per_km=0.0, max_i_ka=0.2, parallel=par
        )
    return net


def ac(net: pp.pandapowerNet, p_kw: np.ndarray, q_kvar: np.ndarray) -> pp.pandapowerNet:
    """Run pandapower's AC flow with one load per bus (the adapter's options)."""
    work = copy.deepcopy(net)
    pp.create_loads(work, buses=work.bus.index, p_mw=p_kw / 1000.0, q_mvar=q_kvar / 1000.0)
    pp.runpp(work, **RUNPP_OPTIONS)
    return work


def test_three_bus_feeder_by_hand() -> None:
    model = LinearGridModel.from_pandapower(feeder(), "lindistflow")
    # 20 kW + 5 kvar consumed at bus 1, 10 kW + 2 kvar at bus 2.
    p = np.array([0.0, 20.0, 10.0])
    q = np.array([0.0, 5.0, 2.0])
    # Flows are downstream sums: A carries 30 kW / 7 kvar, B 10 kW / 2 kvar.
    np.testing.assert_allclose(model.flows_kw(p), [30.0, 10.0], atol=1e-12)
    np.testing.assert_allclose(model.reactive_flows_kvar(q), [7.0, 2.0], atol=1e-12)
    # V1 = 1 - (0.4 * 0.030 + 0.1 * 0.007) = 0.9873; V2 = V1 - (0.2 * 0.010 + 0.05 * 0.002)
    # = 0.9852 (P, Q in pu of 1 MVA).
    np.testing.assert_allclose(model.voltages_pu(p, q), [1.0, 0.9873, 0.9852], atol=1e-12)
    np.testing.assert_allclose(model.branch_rating_kva, [138.564065, 277.128129], rtol=1e-8)
    # Sensitivities in kW units: a kW consumed at bus 2 lowers V2 by (0.4 + 0.2) / 1000 pu.
    assert model.voltage_sensitivity_p is not None
    assert model.voltage_sensitivity_p[2, 2] == pytest.approx(-0.6e-3)
    assert model.voltage_sensitivity_p[1, 2] == pytest.approx(-0.4e-3)
    # The DC model gives the same flows on a radial feeder and has no voltages.
    dc = LinearGridModel.from_pandapower(feeder(), "dc")
    np.testing.assert_allclose(dc.flows_kw(p), [30.0, 10.0], atol=1e-12)
    with pytest.raises(ValueError, match="lindistflow"):
        dc.voltages_pu(p, q)


def test_three_bus_feeder_against_ac() -> None:
    net = feeder()
    model = LinearGridModel.from_pandapower(net, "lindistflow")
    p = np.array([0.0, 20.0, 10.0])
    q = np.array([0.0, 5.0, 2.0])
    res = ac(net, p, q)
    # Error of the linear voltage drop is second order: ~(1.3 % drop)**2.
    np.testing.assert_allclose(model.voltages_pu(p, q), res.res_bus.vm_pu, atol=5e-4)
    # Flows differ by the downstream losses (sub-kW here).
    np.testing.assert_allclose(model.flows_kw(p), res.res_line.p_from_mw * 1000, atol=0.5)
    np.testing.assert_allclose(model.loading_percent(p, q), res.res_line.loading_percent, atol=0.5)


def test_reverse_line_orientation_and_export() -> None:
    net = feeder()
    # Turn line B around: from bus 2 to bus 1. The flow sign follows the table's direction.
    net.line.loc[1, ["from_bus", "to_bus"]] = [2, 1]
    model = LinearGridModel.from_pandapower(net, "lindistflow")
    p = np.array([0.0, 0.0, -8.0])  # bus 2 exports 8 kW
    np.testing.assert_allclose(model.flows_kw(p), [-8.0, 8.0], atol=1e-12)
    v = model.voltages_pu(p, np.zeros(3))
    assert v[2] > v[1] > 1.0  # export raises the voltage


def transformer_feeder(tap_pos: int = 2, df: float = 0.8) -> pp.pandapowerNet:
    """20 kV ext_grid -> 0.4 MVA 20/0.4 kV trafo (vk 4 %, vkr 1 %, tap on hv) -> one LV bus."""
    net = pp.create_empty_network()
    hv = pp.create_bus(net, vn_kv=20.0)
    lv = pp.create_bus(net, vn_kv=0.4)
    pp.create_ext_grid(net, hv, vm_pu=1.0)
    pp.create_transformer_from_parameters(
        net,
        hv,
        lv,
        sn_mva=0.4,
        vn_hv_kv=20.0,
        vn_lv_kv=0.4,
        vkr_percent=1.0,
        vk_percent=4.0,
        pfe_kw=0.0,
        i0_percent=0.0,
        tap_side="hv",
        tap_neutral=0,
        tap_min=-2,
        tap_max=2,
        tap_step_percent=2.5,
        tap_pos=tap_pos,
        tap_changer_type="Ratio",
        df=df,
    )
    return net


def test_transformer_by_hand_and_against_ac() -> None:
    net = transformer_feeder()
    model = LinearGridModel.from_pandapower(net, "lindistflow")
    # Tap +2 x 2.5 % on the hv side: vn_hv' = 21 kV, ratio n = 1.05, no-load V_lv = 1 / 1.05.
    # z = 0.04 / 0.4 MVA = 0.1 pu, r = 0.025 pu, x = sqrt(0.1**2 - 0.025**2) = 0.0968246 pu.
    # 100 kW + 20 kvar: V_lv = 1 / 1.05 - (0.025 * 0.1 + 0.0968246 * 0.02) = 0.9479445.
    p = np.array([0.0, 100.0])
    q = np.array([0.0, 20.0])
    v = model.voltages_pu(p, q)
    assert v[1] == pytest.approx(1 / 1.05 - (0.025 * 0.1 + math.sqrt(0.1**2 - 0.025**2) * 0.02))
    assert model.v_noload_pu is not None
    np.testing.assert_allclose(model.v_noload_pu, np.array([1.0, 1 / 1.05]))
    # Rating: sn_mva * df = 0.4 MVA * 0.8 = 320 kVA.
    assert model.branch_rating_kva[0] == pytest.approx(320.0)
    assert model.branch_kind.tolist() == ["trafo"]
    assert model.flows_kw(p)[0] == pytest.approx(100.0)
    res = ac(net, p, q)
    assert v[1] == pytest.approx(res.res_bus.vm_pu[1], abs=1e-3)
    assert model.loading_percent(p, q)[0] == pytest.approx(
        res.res_trafo.loading_percent[0], abs=0.5
    )


def switched() -> pp.pandapowerNet:
    """Buses 0 (ext_grid) =sw= 1 -L0- 2 -L1- 3, plus L2 1-3 opened by a line switch, and an
    island bus 4 behind an open bus-bus switch (all 0.4 kV)."""
    net = pp.create_empty_network()
    b = [pp.create_bus(net, vn_kv=0.4) for _ in range(5)]
    pp.create_ext_grid(net, b[0])
    pp.create_switch(net, b[0], b[1], et="b", closed=True)
    for f, t in ((1, 2), (2, 3), (1, 3)):
        pp.create_line_from_parameters(net, b[f], b[t], 0.1, 0.4, 0.1, 0.0, 0.2)
    pp.create_switch(net, b[3], 2, et="l", closed=False)
    pp.create_switch(net, b[3], b[4], et="b", closed=False)
    return net


def test_switch_fusing_and_open_line_switch() -> None:
    net = switched()
    model = LinearGridModel.from_pandapower(net, "lindistflow")  # radial once L2 is open
    assert model.supplied.tolist() == [True, True, True, True, False]
    assert model.branch_active.tolist() == [True, True, False]
    p = np.array([0.0, 0.0, 5.0, 10.0, 7.0])  # bus 4 is cut off: its 7 kW go nowhere
    np.testing.assert_allclose(model.flows_kw(p), [15.0, 10.0, 0.0], atol=1e-12)
    v = model.voltages_pu(p, np.zeros(5))
    assert v[0] == v[1] == 1.0  # fused with the ext_grid bus
    assert np.isnan(v[4])
    # Same against AC (pandapower treats the fused buses and the open switch alike).
    res = ac(net, p, np.zeros(5))
    np.testing.assert_allclose(v[:4], res.res_bus.vm_pu[:4], atol=2e-4)
    # Closing the line switch makes a loop: LinDistFlow refuses, DC splits by susceptance.
    net.switch.loc[1, "closed"] = True
    with pytest.raises(ValueError, match="radial"):
        LinearGridModel.from_pandapower(net, "lindistflow")
    dc = LinearGridModel.from_pandapower(net, "dc")
    # Loop 1-2-3-1 with equal lines: 10 kW at bus 3 flows 2/3 directly (L2: 1 -> 3) and 1/3
    # via bus 2; 5 kW at bus 2 flows 2/3 via L0 and 1/3 via L2 and L1 backwards.
    f = dc.flows_kw(np.array([0.0, 0.0, 5.0, 10.0, 0.0]))
    np.testing.assert_allclose(f, [5 * 2 / 3 + 10 / 3, 10 / 3 - 5 / 3, 10 * 2 / 3 + 5 / 3])


def test_dc_parallel_paths_split_by_reactance() -> None:
    net = pp.create_empty_network()
    a, b = pp.create_bus(net, 0.4), pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, a)
    pp.create_line_from_parameters(net, a, b, 0.1, 0.2, 0.1, 0.0, 0.2)
    pp.create_line_from_parameters(net, a, b, 0.1, 0.2, 0.3, 0.0, 0.2)
    dc = LinearGridModel.from_pandapower(net, "dc")
    np.testing.assert_allclose(dc.flows_kw(np.array([0.0, 40.0])), [30.0, 10.0])


def test_errors() -> None:
    net = feeder()
    net.ext_grid["in_service"] = False
    with pytest.raises(ValueError, match="external grid"):
        LinearGridModel.from_pandapower(net, "dc")
    with pytest.raises(ValueError, match="kind"):
        LinearGridModel.from_pandapower(feeder(), "ac")  # type: ignore[arg-type]
    model = LinearGridModel.from_pandapower(feeder(), "dc")
    with pytest.raises(ValueError, match="shape"):
        model.flows_kw(np.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        model.flows_kw(np.array([0.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="not in the network"):
        model.bus_positions(np.array([7]))


def test_derate_scales_ratings_only() -> None:
    net = load_network("cigre_lv")
    low = derate(net, 0.5, 0.25)
    assert net.line["max_i_ka"].iloc[0] == 1.0  # original untouched
    np.testing.assert_allclose(low.line["max_i_ka"], 0.5 * net.line["max_i_ka"])
    np.testing.assert_allclose(low.trafo["df"], 0.25 * net.trafo["df"])
    np.testing.assert_allclose(low.trafo["sn_mva"], net.trafo["sn_mva"])  # impedance unchanged
    full = LinearGridModel.from_pandapower(net, "dc")
    half = LinearGridModel.from_pandapower(low, "dc")
    is_line = full.branch_kind == "line"
    np.testing.assert_allclose(
        half.branch_rating_kva[is_line], 0.5 * full.branch_rating_kva[is_line]
    )
    np.testing.assert_allclose(
        half.branch_rating_kva[~is_line], 0.25 * full.branch_rating_kva[~is_line]
    )
    with pytest.raises(ValueError, match="line_factor"):
        derate(net, 0.0)


@pytest.mark.parametrize("name", ["cigre_lv", "village"])
def test_against_ac_on_builtin_networks(name: str) -> None:
    """Random but plausible per-participant injections: errors within docs/network_check.md."""
    net = load_network(name)
    att = attach_participants(net, name)
    flow = PandapowerFlow(net, att.bus)
    lin = LinearGridModel.from_pandapower(net, "lindistflow")
    dc = LinearGridModel.from_pandapower(net, "dc")
    np.testing.assert_allclose(dc.flow_sensitivity, lin.flow_sensitivity, atol=1e-12)
    rng = np.random.default_rng(7)
    active = lin.branch_active
    for _ in range(5):
        # Loads 0-60 % of rating, PV on half the participants up to 6 kW (load convention).
        p = att.rating_kw * rng.uniform(0.0, 0.6, len(att)) - rng.uniform(0, 6, len(att)) * (
            rng.random(len(att)) < 0.5
        )
        q = np.clip(p, 0, None) * 0.25
        res = flow.solve(p, q)
        assert res.converged
        pb, qb = lin.bus_vector(att.bus, p), lin.bus_vector(att.bus, q)
        v = lin.voltages_pu(pb, qb)
        assert np.nanmax(np.abs(v - res.vm_pu)) < 2e-3
        ac_loading = np.concatenate([res.line_loading_percent, res.trafo_loading_percent])
        err = np.abs(lin.loading_percent(pb, qb) - ac_loading)[active]
        assert err.max() < 1.5  # percentage points
        assert np.abs(dc.loading_percent(pb, qb) - ac_loading)[active].max() < 10.0


def test_orders_and_determinism() -> None:
    net = load_network("village")
    a = LinearGridModel.from_pandapower(net, "lindistflow")
    b = LinearGridModel.from_pandapower(net, "lindistflow")
    np.testing.assert_array_equal(a.bus_ids, net.bus.index.to_numpy())
    np.testing.assert_array_equal(a.branch_ids[: len(net.line)], net.line.index.to_numpy())
    assert a.branch_kind.tolist().count("trafo") == 1
    np.testing.assert_array_equal(a.flow_sensitivity, b.flow_sensitivity)
    assert a.voltage_sensitivity_p is not None and b.voltage_sensitivity_p is not None
    np.testing.assert_array_equal(a.voltage_sensitivity_p, b.voltage_sensitivity_p)
    assert not a.flow_sensitivity.flags.writeable
