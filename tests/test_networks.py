"""Tests for cosim.grid.networks: loading networks and attaching participants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandapower as pp
import pytest

from cosim.errors import InputError
from cosim.grid.networks import (
    Attachment,
    attach_participants,
    load_network,
    prepare_for_participants,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "networks" / "example_feeder.json"


@pytest.fixture(scope="module")
def cigre():
    return load_network("cigre_lv")


@pytest.fixture(scope="module")
def village():
    return load_network("village")


def _tiny_net(with_load: bool = True, with_ext_grid: bool = True):
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0)
    lv = pp.create_bus(net, 0.4)
    if with_ext_grid:
        pp.create_ext_grid(net, mv)
    pp.create_transformer(net, mv, lv, "0.25 MVA 20/0.4 kV")
    if with_load:
        pp.create_load(net, lv, p_mw=0.012)
    return net


# --- load_network ---------------------------------------------------------------------------


def test_builtin_networks_have_expected_size(cigre, village):
    assert (len(cigre.bus), len(cigre.load), len(cigre.line), len(cigre.trafo)) == (44, 15, 37, 3)
    assert (len(village.bus), len(village.load), len(village.sgen)) == (80, 47, 13)


def test_builtin_networks_are_fresh_objects():
    assert load_network("cigre_lv") is not load_network("cigre_lv")


def test_json_round_trip(tmp_path, cigre):
    path = tmp_path / "net.json"
    pp.to_json(cigre, str(path))
    net = load_network(str(path))
    assert len(net.bus) == 44
    assert len(net.load) == 15
    np.testing.assert_array_equal(net.load["p_mw"].to_numpy(), cigre.load["p_mw"].to_numpy())


def test_relative_path_resolved_next_to_scenario_first(tmp_path, monkeypatch):
    scenario_dir = tmp_path / "scenarios"
    scenario_dir.mkdir()
    pp.to_json(_tiny_net(), str(scenario_dir / "grid.json"))
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    net = load_network("grid.json", scenario_dir / "s.yaml")
    assert len(net.bus) == 2


def test_relative_path_falls_back_to_cwd(tmp_path, monkeypatch):
    pp.to_json(_tiny_net(), str(tmp_path / "grid.json"))
    monkeypatch.chdir(tmp_path)
    net = load_network("grid.json", tmp_path / "sub" / "s.yaml")
    assert len(net.load) == 1


def test_example_feeder_in_repo_loads():
    net = load_network(str(EXAMPLE))
    assert list(net.load["cosim_kind"]) == [
        "household",
        "split",
        "commercial",
        "household",
        "split",
    ]


def _assert_input_error(exc: InputError, scenario: Path) -> None:
    message = str(exc)
    assert str(scenario) in message
    assert "network.name" in message
    assert exc.key == "network.name"
    assert "\n" not in message


def test_missing_file_is_input_error(tmp_path):
    scenario = tmp_path / "s.yaml"
    with pytest.raises(InputError) as info:
        load_network("nope.json", scenario)
    _assert_input_error(info.value, scenario)
    assert "nope.json" in str(info.value)


def test_empty_name_is_input_error(tmp_path):
    scenario = tmp_path / "s.yaml"
    with pytest.raises(InputError) as info:
        load_network("  ", scenario)
    _assert_input_error(info.value, scenario)


def test_not_json_is_input_error(tmp_path):
    scenario = tmp_path / "s.yaml"
    (tmp_path / "bad.json").write_text("this is not json {")
    with pytest.raises(InputError) as info:
        load_network("bad.json", scenario)
    _assert_input_error(info.value, scenario)


@pytest.mark.parametrize("content", [{"a": 1}, [1, 2, 3], "text", {"_module": "x", "_class": "y"}])
def test_json_that_is_not_a_network_is_input_error(tmp_path, content):
    scenario = tmp_path / "s.yaml"
    (tmp_path / "other.json").write_text(json.dumps(content))
    with pytest.raises(InputError) as info:
        load_network("other.json", scenario)
    _assert_input_error(info.value, scenario)


@pytest.mark.parametrize(
    ("net", "problem"),
    [
        (_tiny_net(with_load=False), "no loads"),
        (_tiny_net(with_ext_grid=False), "no in-service ext_grid"),
        (pp.create_empty_network(), "no buses"),
    ],
)
def test_incomplete_network_is_input_error(tmp_path, net, problem):
    scenario = tmp_path / "s.yaml"
    pp.to_json(net, str(tmp_path / "net.json"))
    with pytest.raises(InputError) as info:
        load_network("net.json", scenario)
    _assert_input_error(info.value, scenario)
    assert problem in str(info.value)


# --- attach_participants --------------------------------------------------------------------


def test_cigre_attachment_counts(cigre):
    att = attach_participants(cigre, "cigre_lv")
    assert len(att) == 105
    assert int((att.kind == "household").sum()) == 96
    assert int((att.kind == "commercial").sum()) == 9
    per_load = np.bincount(att.source_load, minlength=len(cigre.load))
    # R1 190 kW, R11 14.25, R15 49.4, R16 52.25, R17 33.25, R18 44.65 kW at 4 kW per household
    np.testing.assert_array_equal(per_load[:6], [48, 4, 12, 13, 8, 11])
    np.testing.assert_array_equal(per_load[6:], np.ones(9))
    commercial_loads = att.source_load[att.kind == "commercial"]
    assert all(cigre.load.at[i, "name"].startswith(("Load I", "Load C")) for i in commercial_loads)
    household_loads = att.source_load[att.kind == "household"]
    assert all(cigre.load.at[i, "name"].startswith("Load R") for i in household_loads)


def test_village_attachment_is_one_household_per_load(village):
    att = attach_participants(village, "village")
    assert len(att) == 47
    assert set(att.kind.tolist()) == {"household"}
    np.testing.assert_array_equal(att.source_load, village.load.index.to_numpy())
    np.testing.assert_array_equal(att.bus, village.load["bus"].to_numpy())
    np.testing.assert_allclose(att.rating_kw, village.load["p_mw"].to_numpy() * 1000, rtol=1e-15)


def test_example_feeder_attachment_follows_cosim_kind():
    net = load_network(str(EXAMPLE))
    att = attach_participants(net, str(EXAMPLE))
    # household 5 kW, split 24 kW -> 6 x 4, commercial 30 kW, household 3 kW,
    # split 10 kW -> round(2.5) = 3 (halves round up) x 3.33 kW
    assert att.kind.tolist() == ["household"] * 7 + ["commercial"] + ["household"] * 4
    np.testing.assert_allclose(att.rating_kw, [5] + [4] * 6 + [30, 3] + [10 / 3] * 3)
    np.testing.assert_array_equal(att.source_load, [0, 1, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4])


@pytest.mark.parametrize("name", ["cigre_lv", "village", "example"])
@pytest.mark.parametrize("rating", [4.0, 2.5, 10.0])
def test_ratings_sum_to_original_total(name, rating):
    if name == "example":
        net = load_network(str(EXAMPLE))
        name = str(EXAMPLE)
    else:
        net = load_network(name)
    att = attach_participants(net, name, household_rating_kw=rating)
    total_kw = float(net.load["p_mw"].sum()) * 1000
    assert att.rating_kw.sum() == pytest.approx(total_kw, rel=1e-12)
    assert (att.rating_kw >= 0).all()
    per_load_kw = np.bincount(att.source_load, weights=att.rating_kw, minlength=len(net.load))
    np.testing.assert_allclose(per_load_kw, net.load["p_mw"].to_numpy() * 1000, rtol=1e-12)


def test_attachment_is_deterministic_and_ordered(cigre):
    a = attach_participants(cigre, "cigre_lv")
    b = attach_participants(load_network("cigre_lv"), "cigre_lv")
    for field in ("bus", "kind", "rating_kw", "source_load"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert (np.diff(a.source_load) >= 0).all()
    assert a.bus.dtype == np.int64
    assert a.source_load.dtype == np.int64
    assert a.rating_kw.dtype == np.float64
    assert not a.bus.flags.writeable


def test_smaller_household_rating_gives_more_households(cigre):
    assert len(attach_participants(cigre, "cigre_lv", 2.0)) > len(
        attach_participants(cigre, "cigre_lv", 4.0)
    )


def test_unknown_json_without_kind_splits_every_load(tmp_path):
    net = _tiny_net()  # one 12 kW load
    att = attach_participants(net, str(tmp_path / "grid.json"))
    assert att.kind.tolist() == ["household"] * 3
    np.testing.assert_allclose(att.rating_kw, [4.0, 4.0, 4.0])


def test_out_of_service_loads_give_no_participants(cigre):
    net = prepare_for_participants(cigre)
    net.load.loc[0, "in_service"] = True
    att = attach_participants(net, "cigre_lv")
    assert set(att.source_load.tolist()) == {0}


def test_invalid_cosim_kind_is_input_error():
    net = load_network(str(EXAMPLE))
    net.load.loc[2, "cosim_kind"] = "factory"
    with pytest.raises(InputError) as info:
        attach_participants(net, str(EXAMPLE))
    assert info.value.key == "load.cosim_kind"
    assert str(EXAMPLE) in str(info.value)
    assert "factory" in str(info.value)


def test_negative_load_is_input_error():
    net = _tiny_net()
    net.load.loc[0, "p_mw"] = -0.001
    with pytest.raises(InputError, match=r"load\.p_mw"):
        attach_participants(net, "grid.json")


@pytest.mark.parametrize("rating", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_household_rating_raises(cigre, rating):
    with pytest.raises(ValueError, match="household_rating_kw"):
        attach_participants(cigre, "cigre_lv", rating)


def test_attachment_rejects_inconsistent_arrays():
    with pytest.raises(ValueError, match="equal length"):
        Attachment(np.array([1, 2]), np.array(["household"]), np.ones(2), np.zeros(2))
    with pytest.raises(ValueError, match="kind"):
        Attachment(np.array([1]), np.array(["factory"]), np.ones(1), np.zeros(1))


# --- prepare_for_participants ---------------------------------------------------------------


def test_prepare_takes_out_loads_and_sgens_keeps_switches(village, cigre):
    prepared = prepare_for_participants(village)
    assert not prepared.load["in_service"].any()
    assert not prepared.sgen["in_service"].any()
    assert village.load["in_service"].all()  # original untouched
    assert village.sgen["in_service"].all()
    prepared_cigre = prepare_for_participants(cigre)
    assert prepared_cigre.switch["closed"].tolist() == cigre.switch["closed"].tolist()
    assert prepared_cigre.switch["closed"].all()
    assert prepared_cigre.line.equals(cigre.line)
    assert prepared_cigre.trafo.equals(cigre.trafo)
    assert prepared_cigre is not cigre


# ------------------------------------------------------------------ participant buses


def _feeder_with(extra: str):
    from cosim.grid.networks import attach_participants

    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0)
    lv = pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, mv)
    pp.create_transformer(net, mv, lv, "0.25 MVA 20/0.4 kV")
    pp.create_load(net, lv, p_mw=0.004)
    if extra == "isolated":
        pp.create_load(net, pp.create_bus(net, 0.4), p_mw=0.004)
    elif extra == "trafo_off":
        net.trafo["in_service"] = False
    elif extra == "mv_load":
        pp.create_load(net, mv, p_mw=0.004)
    return net, attach_participants(net, "mine.json")


def test_supplied_lv_participants_pass() -> None:
    from cosim.grid.networks import check_participant_buses

    net, att = _feeder_with("none")
    check_participant_buses(net, att, "s.yaml", 1.0)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("isolated", "bus 2 (load 1) is not connected to an in-service ext_grid"),
        ("trafo_off", "bus 1 (load 0) is not connected"),
    ],
)
def test_unsupplied_participants_are_refused(extra: str, words: str) -> None:
    from cosim.grid.networks import check_participant_buses

    net, att = _feeder_with(extra)
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_participant_buses(net, att, "s.yaml", None)  # hard check: no limit needed


def test_mv_participants_need_a_higher_limit() -> None:
    from cosim.grid.networks import check_participant_buses

    net, att = _feeder_with("mv_load")
    with pytest.raises(InputError, match="bus 0 has a nominal voltage of 20 kV") as info:
        check_participant_buses(net, att, "s.yaml", 1.0)
    assert info.value.key == "checks.max_participant_bus_kv"
    check_participant_buses(net, att, "s.yaml", 20.0)
    check_participant_buses(net, att, "s.yaml", None)
