"""Tests for cosim.grid.powerflow: the pandapower adapter, checked against plain pandapower."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandapower as pp
import pytest

from cosim.grid.networks import attach_participants, load_network, prepare_for_participants
from cosim.grid.powerflow import RUNPP_OPTIONS, FlowResult, PandapowerFlow

NETWORKS = ["cigre_lv", "village"]
EXAMPLE = Path(__file__).resolve().parents[1] / "networks" / "example_feeder.json"


@pytest.fixture(scope="module", params=NETWORKS)
def case(request):
    """(name, original net, attachment, adapter) for one built-in network."""
    name = request.param
    net = load_network(name)
    att = attach_participants(net, name)
    return name, net, att, PandapowerFlow(prepare_for_participants(net), att.bus)


def _injections(att, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random per-participant draws [kW], [kvar]: a mix of consumers and PV exporters."""
    rng = np.random.default_rng(seed)
    p_kw = att.rating_kw * rng.uniform(-0.8, 1.2, len(att))
    q_kvar = p_kw * rng.uniform(-0.1, 0.4, len(att))
    return p_kw, q_kvar


def _reference(net, att, p_kw: np.ndarray, q_kvar: np.ndarray):
    """The same injections with plain pandapower: set the original loads, switch off sgens."""
    ref = load_network_copy(net)
    ref.sgen["in_service"] = False
    n_load = int(ref.load.index.max()) + 1
    p = np.bincount(att.source_load, weights=p_kw, minlength=n_load)
    q = np.bincount(att.source_load, weights=q_kvar, minlength=n_load)
    ref.load["p_mw"] = p[ref.load.index.to_numpy()] / 1000
    ref.load["q_mvar"] = q[ref.load.index.to_numpy()] / 1000
    ref.load["in_service"] = True
    pp.runpp(ref, **RUNPP_OPTIONS)
    return ref


def load_network_copy(net):
    """A deep copy of ``net`` (pandapower's own copy)."""
    return pp.from_json_string(pp.to_json(net))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_plain_pandapower(case, seed):
    _, net, att, flow = case
    p_kw, q_kvar = _injections(att, seed)
    res = flow.solve(p_kw, q_kvar)
    ref = _reference(net, att, p_kw, q_kvar)
    assert res.converged
    np.testing.assert_array_equal(flow.bus_ids, ref.res_bus.index.to_numpy())
    np.testing.assert_array_equal(flow.line_ids, ref.res_line.index.to_numpy())
    np.testing.assert_array_equal(flow.trafo_ids, ref.res_trafo.index.to_numpy())
    tol = {"rtol": 0, "atol": 1e-9}
    np.testing.assert_allclose(res.vm_pu, ref.res_bus["vm_pu"].to_numpy(), **tol)
    np.testing.assert_allclose(res.bus_p_mw, ref.res_bus["p_mw"].to_numpy(), **tol)
    np.testing.assert_allclose(
        res.line_loading_percent, ref.res_line["loading_percent"].to_numpy(), **tol
    )
    np.testing.assert_allclose(
        res.trafo_loading_percent, ref.res_trafo["loading_percent"].to_numpy(), **tol
    )
    ref_losses_kw = (ref.res_line["pl_mw"].sum() + ref.res_trafo["pl_mw"].sum()) * 1000
    assert res.losses_kw == pytest.approx(ref_losses_kw, rel=0, abs=1e-9)
    ref_import_kw = ref.res_ext_grid["p_mw"].sum() * 1000
    assert res.grid_import_kw == pytest.approx(ref_import_kw, rel=0, abs=1e-9)


def test_reference_with_original_loads_and_pv(case):
    """The network's own loads at rating and its PV at rating, as participants."""
    name, net, att, flow = case
    p_kw = att.rating_kw.copy()
    if name == "village":  # put each sgen's PV on the participant(s) at its bus
        for bus, pv_kw in zip(net.sgen["bus"], net.sgen["p_mw"] * 1000, strict=True):
            at_bus = np.flatnonzero(att.bus == bus)
            if at_bus.size:
                p_kw[at_bus] -= pv_kw / at_bus.size
    q_kvar = np.zeros_like(p_kw)
    res = flow.solve(p_kw, q_kvar)
    ref = _reference(net, att, p_kw, q_kvar)
    np.testing.assert_allclose(res.vm_pu, ref.res_bus["vm_pu"].to_numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", [3, 4])
def test_energy_balance(case, seed):
    _, _, att, flow = case
    p_kw, q_kvar = _injections(att, seed)
    res = flow.solve(p_kw, q_kvar)
    assert res.losses_kw > 0
    balance = p_kw.sum() + res.losses_kw - res.grid_import_kw
    assert abs(balance) <= 1e-6 * max(1.0, abs(res.grid_import_kw))
    # bus powers (MW, consumption positive) add up to minus the slack injection plus nothing else
    assert res.bus_p_mw.sum() * 1000 == pytest.approx(p_kw.sum() - res.grid_import_kw, abs=1e-6)


def test_export_gives_negative_import(case):
    _, _, att, flow = case
    res = flow.solve(-np.full(len(att), 1.0), np.zeros(len(att)))
    assert res.converged
    assert res.grid_import_kw < 0
    assert res.vm_pu.max() > 1.0


def test_zero_injection(case):
    _, _, att, flow = case
    res = flow.solve(np.zeros(len(att)), np.zeros(len(att)))
    assert res.converged
    assert res.grid_import_kw >= 0  # only no-load losses
    assert res.grid_import_kw == pytest.approx(res.losses_kw, abs=1e-9)


def test_result_shapes_and_types(case):
    _, net, att, flow = case
    res = flow.solve(*_injections(att, 5))
    assert isinstance(res, FlowResult)
    assert res.vm_pu.shape == res.bus_p_mw.shape == (len(net.bus),)
    assert res.line_loading_percent.shape == (len(net.line),)
    assert res.trafo_loading_percent.shape == (len(net.trafo),)
    assert isinstance(res.losses_kw, float)
    assert isinstance(res.grid_import_kw, float)
    assert not res.vm_pu.flags.writeable
    assert flow.n_participants == len(att)
    np.testing.assert_array_equal(flow.load_bus, np.unique(att.bus))


def test_deterministic_whatever_came_before(case):
    _, net, att, flow = case
    p_a, q_a = _injections(att, 10)
    p_b, q_b = _injections(att, 11)
    first = flow.solve(p_a, q_a)
    flow.solve(p_b * 1.5, q_b)
    again = flow.solve(p_a, q_a)
    fresh = PandapowerFlow(prepare_for_participants(net), att.bus).solve(p_a, q_a)
    for other in (again, fresh):
        for field in ("vm_pu", "bus_p_mw", "line_loading_percent", "trafo_loading_percent"):
            np.testing.assert_array_equal(getattr(first, field), getattr(other, field))
        assert first.losses_kw == other.losses_kw
        assert first.grid_import_kw == other.grid_import_kw


def test_non_convergence_returns_nan_then_recovers(case):
    _, net, att, flow = case
    p_kw, q_kvar = _injections(att, 20)
    absurd = p_kw.copy()
    absurd[len(att) // 2] = 50_000.0  # 50 MW at one LV bus
    bad = flow.solve(absurd, q_kvar)
    assert bad.converged is False
    for arr in (bad.vm_pu, bad.bus_p_mw, bad.line_loading_percent, bad.trafo_loading_percent):
        assert np.isnan(arr).all()
    assert np.isnan(bad.losses_kw)
    assert np.isnan(bad.grid_import_kw)
    good = flow.solve(p_kw, q_kvar)
    fresh = PandapowerFlow(prepare_for_participants(net), att.bus).solve(p_kw, q_kvar)
    assert good.converged
    np.testing.assert_array_equal(good.vm_pu, fresh.vm_pu)
    np.testing.assert_array_equal(good.line_loading_percent, fresh.line_loading_percent)
    assert good.losses_kw == fresh.losses_kw


def test_adapter_does_not_modify_given_net(case):
    _, net, att, _ = case
    prepared = prepare_for_participants(net)
    n_load = len(prepared.load)
    PandapowerFlow(prepared, att.bus).solve(*_injections(att, 6))
    assert len(prepared.load) == n_load
    assert not prepared.load["in_service"].any()


def test_unprepared_net_is_prepared_by_adapter(case):
    _, net, att, flow = case
    p_kw, q_kvar = _injections(att, 7)
    direct = PandapowerFlow(net, att.bus).solve(p_kw, q_kvar)
    np.testing.assert_array_equal(direct.vm_pu, flow.solve(p_kw, q_kvar).vm_pu)


def test_example_feeder():
    net = load_network(str(EXAMPLE))
    att = attach_participants(net, str(EXAMPLE))
    flow = PandapowerFlow(prepare_for_participants(net), att.bus)
    res = flow.solve(att.rating_kw, 0.3 * att.rating_kw)
    ref = _reference(net, att, att.rating_kw, 0.3 * att.rating_kw)
    np.testing.assert_allclose(res.vm_pu, ref.res_bus["vm_pu"].to_numpy(), rtol=0, atol=1e-9)
    assert res.grid_import_kw == pytest.approx(att.rating_kw.sum() + res.losses_kw, rel=1e-9)


def test_bad_inputs_raise(case):
    _, net, att, flow = case
    n = len(att)
    with pytest.raises(ValueError, match="shape"):
        flow.solve(np.zeros(n + 1), np.zeros(n + 1))
    with pytest.raises(ValueError, match="finite"):
        flow.solve(np.full(n, np.nan), np.zeros(n))
    with pytest.raises(ValueError, match="missing or out of service"):
        PandapowerFlow(net, np.array([10_000]))
    with pytest.raises(ValueError, match="integer"):
        PandapowerFlow(net, np.array([1.5]))
