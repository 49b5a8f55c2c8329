"""Tests for cosim.grid.lightsim: the lightsim2grid backend, checked against PandapowerFlow."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pandapower as pp
import pytest
from lightsim2grid.network import init_from_pandapower

from cosim.grid.lightsim import LightsimFlow
from cosim.grid.networks import attach_participants, load_network, prepare_for_participants
from cosim.grid.powerflow import FlowResult, PandapowerFlow

NETWORKS = ["cigre_lv", "village"]
EXAMPLE = Path(__file__).resolve().parents[1] / "networks" / "example_feeder.json"
ARRAYS = ("vm_pu", "bus_p_mw", "line_loading_percent", "trafo_loading_percent")
N_SLOTS = 200

#: Agreement with the pandapower reference (issue: |dvm| <= 1e-6 pu, |dloading| <= 1e-4 %).
VM_TOL_PU = 1e-6
LOADING_TOL_PERCENT = 1e-4
#: Bus powers, losses and grid import: both solvers stop at a 1e-9 MVA mismatch (1 mW).
POWER_TOL_KW = 1e-6


@pytest.fixture(scope="module", params=NETWORKS)
def case(request):
    """(name, original net, attachment, lightsim adapter, pandapower adapter)."""
    name = request.param
    net = load_network(name)
    att = attach_participants(net, name)
    return name, net, att, LightsimFlow(net, att.bus), PandapowerFlow(net, att.bus)


def _slots(n_participants: int, n_slots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random realistic draws [kW], [kvar]: loads 0..5 kW, PV exports 0..4 kW at 40 %."""
    rng = np.random.default_rng(seed)
    has_pv = rng.random(n_participants) < 0.4
    load = rng.uniform(0.0, 5.0, (n_slots, n_participants))
    pv = rng.uniform(0.0, 4.0, (n_slots, n_participants)) * has_pv
    p_kw = load - pv
    q_kvar = load * rng.uniform(0.0, 0.3, (n_slots, n_participants))
    return p_kw, q_kvar


def _assert_agree(fast: FlowResult, ref: FlowResult) -> None:
    """``fast`` is within the stated tolerances of the pandapower reference ``ref``."""
    assert fast.converged and ref.converged
    np.testing.assert_allclose(fast.vm_pu, ref.vm_pu, rtol=0, atol=VM_TOL_PU)
    for field in ("line_loading_percent", "trafo_loading_percent"):
        np.testing.assert_allclose(
            getattr(fast, field), getattr(ref, field), rtol=0, atol=LOADING_TOL_PERCENT
        )
    np.testing.assert_allclose(fast.bus_p_mw * 1000, ref.bus_p_mw * 1000, atol=POWER_TOL_KW)
    for field in ("losses_kw", "grid_import_kw"):
        a, b = getattr(fast, field), getattr(ref, field)
        assert abs(a - b) <= POWER_TOL_KW * max(1.0, abs(b)), (field, a, b)


def _assert_identical(a: FlowResult, b: FlowResult) -> None:
    """Bit-identical results (NaN equal to NaN)."""
    assert a.converged == b.converged
    for field in ARRAYS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert np.array_equal([a.losses_kw, a.grid_import_kw], [b.losses_kw, b.grid_import_kw], True)


def test_agrees_with_pandapower_on_random_slots(case):
    """>= 200 random slots per network, batch path, against PandapowerFlow slot by slot."""
    _, _, att, fast, ref = case
    p_kw, q_kvar = _slots(len(att), N_SLOTS, seed=42)
    batch = fast.solve_batch(p_kw, q_kvar)
    assert len(batch) == N_SLOTS
    for t in range(N_SLOTS):
        _assert_agree(batch[t], ref.solve(p_kw[t], q_kvar[t]))


def test_same_ids_and_shapes_as_pandapower(case):
    _, net, att, fast, ref = case
    np.testing.assert_array_equal(fast.bus_ids, ref.bus_ids)
    np.testing.assert_array_equal(fast.line_ids, ref.line_ids)
    np.testing.assert_array_equal(fast.trafo_ids, ref.trafo_ids)
    np.testing.assert_array_equal(fast.load_bus, ref.load_bus)
    assert fast.n_participants == ref.n_participants == len(att)
    p_kw, q_kvar = _slots(len(att), 1, seed=1)
    res = fast.solve(p_kw[0], q_kvar[0])
    assert isinstance(res, FlowResult)
    assert res.vm_pu.shape == res.bus_p_mw.shape == (len(net.bus),)
    assert res.line_loading_percent.shape == (len(net.line),)
    assert res.trafo_loading_percent.shape == (len(net.trafo),)
    assert isinstance(res.losses_kw, float) and isinstance(res.grid_import_kw, float)
    for field in ARRAYS:
        assert not getattr(res, field).flags.writeable


def test_energy_balance(case):
    _, _, att, fast, _ = case
    p_kw, q_kvar = _slots(len(att), 20, seed=3)
    for t, res in enumerate(fast.solve_batch(p_kw, q_kvar)):
        balance = p_kw[t].sum() + res.losses_kw - res.grid_import_kw
        assert abs(balance) <= 1e-6 * max(1.0, abs(res.grid_import_kw))
        assert res.bus_p_mw.sum() * 1000 == pytest.approx(
            p_kw[t].sum() - res.grid_import_kw, abs=1e-6
        )


def test_solve_equals_batch_bit_for_bit(case):
    _, _, att, fast, _ = case
    p_kw, q_kvar = _slots(len(att), 30, seed=5)
    batch = fast.solve_batch(p_kw, q_kvar)
    for t in range(30):
        _assert_identical(fast.solve(p_kw[t], q_kvar[t]), batch[t])


def test_deterministic_whatever_came_before(case):
    """Same injections -> identical output: after other solves, reversed, fresh, batched."""
    _, net, att, fast, _ = case
    p_kw, q_kvar = _slots(len(att), 40, seed=7)
    forward = [fast.solve(p_kw[t], q_kvar[t]) for t in range(40)]
    backward = [fast.solve(p_kw[t], q_kvar[t]) for t in reversed(range(40))][::-1]
    fresh = LightsimFlow(prepare_for_participants(net), att.bus)
    order = np.random.default_rng(0).permutation(40)
    shuffled = fresh.solve_batch(p_kw[order], q_kvar[order])
    threaded = fresh.solve_batch(p_kw, q_kvar, threads=2)
    head = fresh.solve_batch(p_kw[:7], q_kvar[:7])
    for t in range(40):
        _assert_identical(forward[t], backward[t])
        _assert_identical(forward[t], threaded[t])
        _assert_identical(forward[t], shuffled[int(np.flatnonzero(order == t)[0])])
    for t in range(7):
        _assert_identical(forward[t], head[t])


def test_non_convergence_returns_nan_then_recovers(case):
    _, net, att, fast, _ = case
    p_kw, q_kvar = _slots(len(att), 3, seed=9)
    absurd = p_kw.copy()
    absurd[1, len(att) // 2] = 50_000.0  # 50 MW at one LV bus
    bad = fast.solve(absurd[1], q_kvar[1])
    assert bad.converged is False
    for field in ARRAYS:
        assert np.isnan(getattr(bad, field)).all()
    assert np.isnan(bad.losses_kw) and np.isnan(bad.grid_import_kw)
    good = fast.solve(p_kw[1], q_kvar[1])
    _assert_identical(good, LightsimFlow(net, att.bus).solve(p_kw[1], q_kvar[1]))
    batch = fast.solve_batch(absurd, q_kvar)  # only the bad row fails
    assert [r.converged for r in batch] == [True, False, True]
    _assert_identical(batch[0], fast.solve(p_kw[0], q_kvar[0]))
    _assert_identical(batch[1], bad)


def test_cigre_lv_raw_conversion_fails_and_adapter_fuses_switches():
    """The CIGRE case that used to fail: lightsim2grid ignores the three bus-bus switches.

    Converted as is, the 20 kV buses of the three transformers (1, 20, 23) are cut off from
    the external grid's bus 0 and Newton-Raphson cannot solve, from any start. LightsimFlow
    fuses the switched buses like pandapower does and agrees with it.
    """
    net = load_network("cigre_lv")
    assert len(net.switch) == 3 and net.switch["closed"].all()
    with warnings.catch_warnings():
        # the raw conversion warns that it ignores the switches, the NaN tap data and the
        # missing slack generator: that is the failure being documented here
        warnings.simplefilter("ignore", UserWarning)
        raw = init_from_pandapower(net, pp_orig_file="pandapower_v3")
    pp.runpp(net, init="dc", calculate_voltage_angles=True, lightsim2grid=False)
    solution = net.res_bus["vm_pu"] * np.exp(1j * np.deg2rad(net.res_bus["va_degree"]))
    for start in (np.ones(len(net.bus), dtype=complex), solution.to_numpy()):
        assert raw.ac_pf(start.copy(), 20, 1e-9).size == 0  # empty: diverged

    att = attach_participants(load_network("cigre_lv"), "cigre_lv")
    fast = LightsimFlow(load_network("cigre_lv"), att.bus)
    res = fast.solve(att.rating_kw * 0.5, att.rating_kw * 0.1)
    _assert_agree(
        res,
        PandapowerFlow(load_network("cigre_lv"), att.bus).solve(
            att.rating_kw * 0.5, att.rating_kw * 0.1
        ),
    )
    pos = {b: i for i, b in enumerate(fast.bus_ids.tolist())}
    for bus in (1, 20, 23):  # fused with bus 0: the same voltage, no power of their own
        assert res.vm_pu[pos[bus]] == res.vm_pu[pos[0]]
        assert res.bus_p_mw[pos[bus]] == 0.0


def _variant(name: str, change) -> tuple:
    """(net, attachment) of a built-in network after ``change(net)``."""
    net = load_network(name)
    att = attach_participants(net, name)
    changed = copy.deepcopy(net)
    change(changed)
    return changed, att


def _open_line_switch(net) -> None:
    pp.create_switch(net, bus=int(net.line.at[5, "to_bus"]), element=5, et="l", closed=False)


def _mesh(net) -> None:
    pp.create_line(net, 3, 10, 0.1, std_type="NAYY 4x150 SE")
    pp.create_line(net, 4, 12, 0.1, std_type="NAYY 4x150 SE", in_service=False)


def _parallel(net) -> None:
    net.line.loc[[0, 1, 2], "parallel"] = 2
    net.trafo.loc[0, "parallel"] = 2
    net.line.loc[3, "df"] = 0.8
    net.trafo.loc[0, "df"] = 0.9


VARIANTS = {
    "village, line out of service (island)": (
        "village",
        lambda n: n.line.__setitem__("in_service", n.line.index != 5),
    ),
    "village, hv tap at +2": ("village", lambda n: n.trafo.__setitem__("tap_pos", 2.0)),
    "village, parallel lines/trafo, df": ("village", _parallel),
    "village, open line switch": ("village", _open_line_switch),
    "village, meshed": ("village", _mesh),
    "cigre, residential switch open": (
        "cigre_lv",
        lambda n: n.switch.__setitem__("closed", n.switch.index != 0),
    ),
    "cigre, trafo lv switch open": (
        "cigre_lv",
        lambda n: pp.create_switch(n, bus=21, element=1, et="t", closed=False),
    ),
    "cigre, empty bus out of service": (
        "cigre_lv",
        lambda n: n.bus.__setitem__("in_service", n.bus.index != 30),
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_topology_variants_agree_with_pandapower(variant):
    """Switches, islands, taps, parallel branches, meshes: same values, same NaN pattern."""
    name, change = VARIANTS[variant]
    net, att = _variant(name, change)
    fast, ref = LightsimFlow(net, att.bus), PandapowerFlow(net, att.bus)
    p_kw, q_kvar = _slots(len(att), 3, seed=11)
    for t in range(3):
        a, b = fast.solve(p_kw[t], q_kvar[t]), ref.solve(p_kw[t], q_kvar[t])
        for field in ARRAYS:
            np.testing.assert_array_equal(np.isnan(getattr(a, field)), np.isnan(getattr(b, field)))
        _assert_agree(_nan_to_zero(a), _nan_to_zero(b))


def _nan_to_zero(res: FlowResult) -> FlowResult:
    """``res`` with NaN array entries set to 0 (after the NaN patterns were compared)."""
    fields = {f: np.nan_to_num(getattr(res, f), nan=0.0) for f in ARRAYS}
    return FlowResult(
        res.converged, losses_kw=res.losses_kw, grid_import_kw=res.grid_import_kw, **fields
    )


def test_example_feeder():
    net = load_network(str(EXAMPLE))
    att = attach_participants(net, str(EXAMPLE))
    p_kw, q_kvar = att.rating_kw, 0.3 * att.rating_kw
    _assert_agree(
        LightsimFlow(net, att.bus).solve(p_kw, q_kvar),
        PandapowerFlow(net, att.bus).solve(p_kw, q_kvar),
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda n: pp.create_shunt(n, 3, q_mvar=0.01), "'shunt'"),
        (lambda n: pp.create_ext_grid(n, 5), "exactly one in-service ext_grid"),
        (
            lambda n: n.trafo.__setitem__("tap_side", "lv") or n.trafo.__setitem__("tap_pos", 1.0),
            "hv side only",
        ),
        (
            lambda n: (
                n.trafo.__setitem__("tap_changer_type", "Ideal")
                or n.trafo.__setitem__("tap_pos", 1.0)
            ),
            "ratio taps",
        ),
    ],
)
def test_unsupported_networks_raise(change, match):
    net, att = _variant("village", change)
    with pytest.raises(ValueError, match=match):
        LightsimFlow(net, att.bus)


def test_does_not_modify_given_net(case):
    _, net, att, _, _ = case
    before = pp.to_json(net)
    LightsimFlow(net, att.bus).solve(*(x[0] for x in _slots(len(att), 1, seed=2)))
    assert pp.to_json(net) == before


def test_bad_inputs_raise(case):
    _, net, att, fast, _ = case
    n = len(att)
    with pytest.raises(ValueError, match="shape"):
        fast.solve(np.zeros(n + 1), np.zeros(n + 1))
    with pytest.raises(ValueError, match="finite"):
        fast.solve(np.full(n, np.nan), np.zeros(n))
    with pytest.raises(ValueError, match="shape"):
        fast.solve_batch(np.zeros(n), np.zeros(n))
    with pytest.raises(ValueError, match="differ"):
        fast.solve_batch(np.zeros((2, n)), np.zeros((3, n)))
    with pytest.raises(ValueError, match="threads"):
        fast.solve_batch(np.zeros((2, n)), np.zeros((2, n)), threads=0)
    assert fast.solve_batch(np.zeros((0, n)), np.zeros((0, n))) == []
    with pytest.raises(ValueError, match="missing or out of service"):
        LightsimFlow(net, np.array([10_000]))
    with pytest.raises(ValueError, match="integer"):
        LightsimFlow(net, np.array([1.5]))
