"""The shipped ``district`` network: its shape, its derivation, and flows against pandapower."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.grid.lightsim import LightsimFlow
from cosim.grid.networks import BUILTIN_NETWORKS, attach_participants, load_network
from cosim.grid.powerflow import PandapowerFlow
from cosim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
CLASSES_LOADS = {"rural_1": 14, "rural_2": 11, "village_1": 47, "village_2": 36, "suburb_1": 109}


def _script():
    spec = importlib.util.spec_from_file_location(
        "derive_district", ROOT / "scripts" / "derive_district.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["derive_district"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def district():
    return load_network("district")


def test_district_shape(district) -> None:
    assert "district" in BUILTIN_NETWORKS
    att = attach_participants(district, "district")
    assert len(att) == 24 * sum(CLASSES_LOADS.values()) == 5208
    assert set(att.kind.tolist()) == {"household"}
    ext = district.ext_grid
    assert len(ext) == 1
    mv = int(ext["bus"].iloc[0])
    assert district.bus.at[mv, "vn_kv"] == 20.0
    assert len(district.trafo) == 120
    assert (district.trafo["hv_bus"] == mv).all()
    # every LV bus belongs to exactly one transformer's network (names f<k>/<class>/...)
    lv = district.bus.drop(index=mv)
    assert (lv["vn_kv"] == 0.4).all()
    copies = lv["name"].str.split("/").str[0]
    assert copies.nunique() == 120
    for line in ("from_bus", "to_bus"):
        assert (
            copies.loc[district.line[line]].to_numpy()
            == district.line["name"].str.split("/").str[0].to_numpy()
        ).all()


def test_derivation_reproduces_the_shipped_file(district) -> None:
    """The script's first group (five LV networks) equals the shipped file's first five."""
    net = _script().build_district(1)
    n_bus = len(net.bus)
    for table, columns in (
        ("bus", ["vn_kv", "name"]),
        ("line", ["from_bus", "to_bus", "length_km", "r_ohm_per_km", "x_ohm_per_km", "max_i_ka"]),
        ("trafo", ["hv_bus", "lv_bus", "sn_mva", "vk_percent", "vkr_percent", "shift_degree"]),
        ("load", ["bus", "p_mw", "q_mvar", "cosim_kind"]),
    ):
        built = net[table][columns].reset_index(drop=True)
        shipped = district[table][columns]
        if table == "bus":
            shipped = shipped.loc[: n_bus - 1]
        else:
            shipped = shipped.iloc[: len(built)]
        pd.testing.assert_frame_equal(built, shipped.reset_index(drop=True), check_dtype=False)


def test_lightsim_agrees_with_pandapower_on_the_district(district) -> None:
    att = attach_participants(district, "district")
    rng = np.random.default_rng(7)
    load = rng.uniform(0.0, 3.0, len(att))
    p_kw = load - rng.uniform(0.0, 4.0, len(att)) * (rng.random(len(att)) < 0.4)
    q_kvar = 0.2 * load
    fast = LightsimFlow(district, att.bus).solve(p_kw, q_kvar)
    ref = PandapowerFlow(district, att.bus).solve(p_kw, q_kvar)
    assert fast.converged and ref.converged
    np.testing.assert_allclose(fast.vm_pu, ref.vm_pu, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fast.line_loading_percent, ref.line_loading_percent, atol=1e-4)
    assert abs(fast.grid_import_kw - ref.grid_import_kw) <= 1e-6 * abs(ref.grid_import_kw)


def test_district_scenario_loads() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "district.yaml")
    assert scenario.network.name == "district"
    assert scenario.grid.backend == "lightsim2grid"
