"""Multi-energy devices alone: heat pump, electric heater, CHP, wind; one registry with dispatch.

Each fleet is checked against an independent per-owner, per-slot loop written here from the
rules in docs/devices.md, fed only with what the result columns show (the heat demand) and the
household's load and PV. The heat demand and wind output are checked against the built-in CSV
files read with pandas; the dispatch side of each type against the documented LP rows.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from device_kit import device_context, load_and_pv, simulate
from scipy import sparse

from cosim.dispatch.devices import DEVICE_KINDS, TimeAxis, make_device
from cosim.errors import InputError
from cosim.lp import LinearProgram
from cosim.participants.devices import (
    DEVICE_TYPES,
    DeviceContext,
    build_devices,
    device_types,
    validate_device_configs,
)

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "cosim" / "data" / "profiles"
TOL = 1e-9


def context(n: int, slots: int, slot_minutes: int = 30, start: str = "2016-01-20") -> DeviceContext:
    return device_context(n, slots, slot_minutes, start)


base = load_and_pv


def reference_heat(
    demand: np.ndarray,
    load: np.ndarray,
    pv: np.ndarray,
    cfg: dict[str, Any],
    factor: float,
    dt: float,
    follow: bool,
) -> dict[str, np.ndarray]:
    """Per owner and slot, scalar: the tank and source rules of docs/devices.md."""
    slots = demand.shape[0]
    cap = cfg["storage_kwh_th"]
    h_max = cfg["p_max_kw"] * factor * dt
    out = {k: np.zeros(slots) for k in ("heat", "stored", "unmet", "e")}
    e = cfg.get("storage_start", 0.5) * cap
    for k in range(slots):
        e *= 1.0 - cfg.get("storage_loss_per_h", 0.01) * dt
        d = demand[k]
        if follow:
            heat = min(h_max, d + cap - e)
            if heat >= d:
                e += heat - d
                unmet = 0.0
            else:
                give = min(e, d - heat)
                e -= give
                unmet = d - heat - give
        else:
            give = min(e, d)
            e -= give
            need = d - give
            surplus_heat = max(pv[k] - load[k], 0.0) * factor
            heat = min(h_max, need + min(surplus_heat, cap - e))
            unmet = max(need - heat, 0.0)
            e += max(heat - need, 0.0)
        out["heat"][k], out["stored"][k], out["unmet"][k] = heat, e, unmet
        out["e"][k] = heat / factor
    return out


@pytest.mark.parametrize("strategy", ["self_consumption", "follow_demand"])
@pytest.mark.parametrize(
    ("name", "factor_key", "settings"),
    [
        ("heat_pump", "cop", {"cop": 3.2, "p_max_kw": 1.5, "storage_kwh_th": 6.0}),
        ("electric_heater", "efficiency", {"efficiency": 0.97, "p_max_kw": 2.0}),
        ("electric_heater", "efficiency", {"p_max_kw": 4.0, "storage_kwh_th": 12.0}),
    ],
)
def test_heat_sources_follow_the_reference_loop(
    name: str, factor_key: str, settings: dict[str, Any], strategy: str
) -> None:
    n, slots, minutes = 20, 96 * 3, 30
    cfg = {"share": 0.6, "kinds": ["household", "commercial"], "strategy": strategy, **settings}
    devices = build_devices({name: cfg}, context(n, slots, minutes), seed=4)
    load, pv = base(n, slots, minutes, seed=2)
    res = simulate(devices, load, pv, minutes / 60)
    model = device_types()[name].config_model
    assert model is not None
    full = model.model_validate(cfg).model_dump()
    factor = full[factor_key]
    demand = res[f"{name}_demand_kwh_th"]
    owners = np.flatnonzero(demand.sum(axis=0) > 0)
    assert owners.size == round(0.6 * n)
    limited = 0
    for i in owners:
        ref = reference_heat(demand[:, i], load[:, i], pv[:, i], full, factor, minutes / 60,
                             strategy == "follow_demand")  # fmt: skip
        np.testing.assert_allclose(res[f"{name}_heat_kwh_th"][:, i], ref["heat"], atol=TOL)
        np.testing.assert_allclose(res[f"{name}_stored_kwh_th"][:, i], ref["stored"], atol=TOL)
        np.testing.assert_allclose(res[f"{name}_unmet_kwh_th"][:, i], ref["unmet"], atol=TOL)
        np.testing.assert_allclose(res[f"{name}_kwh"][:, i], ref["e"], atol=TOL)
        h_max = full["p_max_kw"] * factor * minutes / 60
        limited += int((ref["heat"] >= h_max - TOL).sum())
    np.testing.assert_allclose(res["total"], res[f"{name}_kwh"], atol=0)
    assert (res["total"] >= 0).all()
    # the power limit holds and, with these small sources, binds somewhere
    assert res[f"{name}_kwh"].max() <= full["p_max_kw"] * minutes / 60 + TOL
    assert limited > 0
    summary = devices.summary()[name]
    assert summary["electricity_kwh"] == pytest.approx(res[f"{name}_kwh"].sum(), abs=1e-7)
    assert summary["unmet_kwh_th"] == pytest.approx(res[f"{name}_unmet_kwh_th"].sum(), abs=1e-7)
    # heat balance of every tank over the run
    lhs = summary["stored_end_kwh_th"] - summary["stored_start_kwh_th"]
    rhs = summary["heat_kwh_th"] - (summary["demand_kwh_th"] - summary["unmet_kwh_th"])
    assert lhs == pytest.approx(rhs - summary["storage_loss_kwh_th"], abs=1e-7)


def test_self_consumption_heats_the_tank_with_pv_and_draws_less_from_the_grid() -> None:
    n, slots, minutes = 15, 96 * 2, 30
    load, pv = base(n, slots, minutes, seed=5)
    pv = pv * 3  # a large surplus at midday
    runs = {}
    for strategy in ("self_consumption", "follow_demand"):
        cfg = {"heat_pump": {"share": 1.0, "kinds": ["household", "commercial"],
                             "storage_kwh_th": 20.0, "strategy": strategy}}  # fmt: skip
        devices = build_devices(cfg, context(n, slots, minutes), seed=9)
        res = simulate(devices, load, pv, minutes / 60)
        grid = np.maximum(res["heat_pump_kwh"] - np.maximum(pv - load, 0.0), 0.0)
        runs[strategy] = (grid.sum(), devices.summary()["heat_pump"])
    sc, fd = runs["self_consumption"], runs["follow_demand"]
    assert sc[1]["pv_surplus_kwh"] > fd[1]["pv_surplus_kwh"]
    assert sc[0] < fd[0]


def test_heat_demand_is_the_built_in_profile_scaled_and_shifted() -> None:
    """Hourly slots over most of 2016: each owner's demand is one heat.csv column scaled to
    heat_kwh_th_per_year (per 1,000), shifted by whole slots within shift_minutes."""
    n, minutes, days = 8, 60, 360
    ctx = context(n, days * 24, minutes, start="2016-01-02")
    cfg = {"share": 1.0, "kinds": ["household", "commercial"], "heat_kwh_th_per_year": 7300.0,
           "shift_minutes": 180.0}  # fmt: skip
    devices = build_devices({"electric_heater": cfg}, ctx, seed=3)
    z = np.zeros(n)
    demand = []
    for k in range(days * 24):
        devices.energy_kwh(k, z, z, 1.0)
        demand.append(devices.columns()["electric_heater_demand_kwh_th"])
    got = np.array(demand)
    table = pd.read_csv(PROFILES / "heat.csv")
    hourly = table.drop(columns="time").to_numpy().reshape(-1, 4, 2).mean(axis=1)  # kW_th
    assert hourly.sum(axis=0) == pytest.approx([1000.0, 1000.0], rel=1e-8)  # 1,000 kWh_th/a
    shapes = hourly * 7.3  # kWh_th in each hour at 7,300 kWh_th a year
    first = 24  # 2016-01-02 00:00
    shifts_seen = set()
    for i in range(n):
        found = [
            (c, s)
            for c in range(2)
            for s in range(-3, 4)
            if np.allclose(got[:, i], shapes[first - s : first - s + days * 24, c], atol=1e-9)
        ]
        assert len(found) == 1, i
        shifts_seen.add(found[0][1])
    assert len(shifts_seen) > 1


def reference_chp(demand: np.ndarray, cfg: dict[str, Any], dt: float) -> dict[str, np.ndarray]:
    slots = demand.shape[0]
    cap = cfg["storage_kwh_th"]
    h_max = cfg["p_max_kw"] * cfg["heat_ratio"] * dt
    e = cfg["storage_start"] * cap
    out = {k: np.zeros(slots) for k in ("heat", "stored", "boiler", "kwh", "fuel")}
    for k in range(slots):
        e *= 1.0 - cfg["storage_loss_per_h"] * dt
        d = demand[k]
        heat = min(h_max, d + cap - e)  # heat-led: serve the demand, refill the tank
        if heat >= d:
            e += heat - d
            boiler = 0.0
        else:
            give = min(e, d - heat)
            e -= give
            boiler = d - heat - give
        electricity = heat / cfg["heat_ratio"]
        out["heat"][k], out["stored"][k], out["boiler"][k] = heat, e, boiler
        out["kwh"][k] = -electricity
        out["fuel"][k] = (
            electricity / cfg["electrical_efficiency"] + boiler / cfg["boiler_efficiency"]
        )
    return out


def test_chp_is_heat_led_generation_against_the_reference_loop() -> None:
    n, slots, minutes = 20, 96 * 3, 15
    cfg = {"share": 0.5, "p_max_kw": 0.8, "heat_ratio": 2.0, "storage_kwh_th": 8.0}
    devices = build_devices({"chp": cfg}, context(n, slots, minutes), seed=11)
    load, pv = base(n, slots, minutes, seed=1)
    res = simulate(devices, load, pv, minutes / 60)
    model = device_types()["chp"].config_model
    assert model is not None
    full = model.model_validate(cfg).model_dump()
    demand = res["chp_demand_kwh_th"]
    owners = np.flatnonzero(demand.sum(axis=0) > 0)
    assert owners.size == round(0.5 * sum(k == "household" for k in context(n, 1).kind))
    for i in owners:
        ref = reference_chp(demand[:, i], full, minutes / 60)
        for col, key in (("chp_heat_kwh_th", "heat"), ("chp_stored_kwh_th", "stored"),
                         ("chp_boiler_kwh_th", "boiler"), ("chp_kwh", "kwh"),
                         ("chp_fuel_kwh", "fuel")):  # fmt: skip
            np.testing.assert_allclose(res[col][:, i], ref[key], atol=TOL, err_msg=col)
    assert (res["total"] <= 0).all() and res["total"].min() < 0
    assert res["chp_boiler_kwh_th"].sum() > 0  # the unit is smaller than the winter peak
    s = devices.summary()["chp"]
    assert s["generated_kwh"] == pytest.approx(-res["chp_kwh"].sum(), abs=1e-7)
    assert s["fuel_kwh"] == pytest.approx(res["chp_fuel_kwh"].sum(), abs=1e-7)


def test_wind_follows_the_built_in_profiles() -> None:
    n, slots, minutes = 30, 96 * 4, 60
    cfg = {"share": 0.4, "p_rated_kw": 7.0, "profiles": ["WP4", "WP6"]}
    devices = build_devices({"wind": cfg}, context(n, slots, minutes, start="2016-03-05"), seed=2)
    res = simulate(devices, np.zeros((slots, n)), np.zeros((slots, n)), 1.0)
    table = pd.read_csv(PROFILES / "wind.csv", parse_dates=["time"])
    table = table[table["time"] >= pd.Timestamp("2016-03-05", tz="UTC")].iloc[: slots * 4]
    hourly = {
        c: table[f"{c}_p_kw_per_kw"].to_numpy().reshape(-1, 4).mean(axis=1) for c in ("WP4", "WP6")
    }
    owners = np.flatnonzero(res["wind_kwh"].sum(axis=0) < 0)
    assert owners.size == round(0.4 * n)
    used = set()
    for i in owners:
        match = [
            c for c, h in hourly.items() if np.allclose(res["wind_kwh"][:, i], -7.0 * h, atol=1e-9)
        ]
        assert len(match) == 1
        used.add(match[0])
    assert used == {"WP4", "WP6"}
    np.testing.assert_array_equal(res["total"], res["wind_kwh"])
    assert devices.summary()["wind"]["generated_kwh"] == pytest.approx(-res["wind_kwh"].sum())


ALL = {
    "heat_pump": {"share": 0.5, "storage_kwh_th": 5.0},
    "electric_heater": {"share": 0.3, "strategy": "follow_demand", "storage_kwh_th": 3.0},
    "chp": {"share": 0.4},
    "wind": {"share": 0.3},
}


def test_state_and_restore_resume_identically() -> None:
    n, slots, minutes = 12, 96, 30
    ctx = context(n, slots, minutes)
    load, pv = base(n, slots, minutes, seed=3)
    whole = simulate(build_devices(ALL, ctx, seed=6), load, pv, 0.5)
    first = build_devices(ALL, ctx, seed=6)
    simulate(first, load[:40], pv[:40], 0.5)
    state = pickle.loads(pickle.dumps(first.state()))
    second = build_devices(ALL, ctx, seed=6)
    second.restore(state)
    rest = simulate(second, load, pv, 0.5, k0=40)
    for name, values in rest.items():
        np.testing.assert_array_equal(values, whole[name][40:], err_msg=name)
    assert second.summary() == build_and_run_summary(ctx, load, pv)


def build_and_run_summary(ctx: DeviceContext, load: np.ndarray, pv: np.ndarray) -> dict:
    devices = build_devices(ALL, ctx, seed=6)
    simulate(devices, load, pv, 0.5)
    return devices.summary()


def test_cut_off_owners_draw_and_generate_nothing_and_the_tanks_serve() -> None:
    n, slots, minutes = 12, 48, 30
    ctx = context(n, slots, minutes)
    load, pv = base(n, slots, minutes, seed=8)
    devices = build_devices(ALL, ctx, seed=1)
    cut = np.zeros(n, dtype=bool)
    cut[::2] = True
    for k in range(slots):
        devices.energy_kwh(k, load[k], pv[k], 0.5)
        before = devices.columns()
        if 10 <= k < 20:
            devices.disconnect(cut)
        cols = devices.columns()
        if 10 <= k < 20:
            for name in ("heat_pump_kwh", "electric_heater_kwh", "chp_kwh", "wind_kwh"):
                assert (cols[name][cut] == 0).all(), name
                np.testing.assert_array_equal(cols[name][~cut], before[name][~cut])
            # a cut-off CHP's heat comes from the tank and the boiler: the demand is served
            served = (before["chp_stored_kwh_th"] - cols["chp_stored_kwh_th"])[cut]
            assert (served >= -TOL).all()
            np.testing.assert_array_equal(cols["chp_heat_kwh_th"][cut], 0.0)
    s = devices.summary()
    for name in ("heat_pump", "electric_heater"):
        lhs = s[name]["stored_end_kwh_th"] - s[name]["stored_start_kwh_th"]
        rhs = s[name]["heat_kwh_th"] - s[name]["demand_kwh_th"] + s[name]["unmet_kwh_th"]
        assert lhs == pytest.approx(rhs - s[name]["storage_loss_kwh_th"], abs=1e-7)
    assert s["wind"]["outage_lost_kwh"] > 0


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"heat_pump": {"cop": 0.5}}, "devices.heat_pump.cop", "greater than or equal to 1"),
        ({"heat_pump": {"strategy": "eco"}}, "devices.heat_pump.strategy", "self_consumption"),
        ({"chp": {"heat_kw": 3}}, "devices.chp.heat_kw", "unknown key"),
        ({"electric_heater": {"kinds": ["farm"]}}, "devices.electric_heater.kinds", "household"),
        ({"wind": {"profiles": ["WP9"]}}, "devices.wind.profiles", "WP1"),
        ({"grid": {}}, "devices.grid", "dispatch cases only"),
        ({"heat_storage": {}}, "devices.heat_storage", "dispatch cases only"),
    ],
)
def test_bad_settings_name_the_key_in_one_line(config: dict, key: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        validate_device_configs(config, "sc.yaml")
    assert info.value.key.startswith(key)
    assert words in info.value.expected
    assert "\n" not in info.value.one_line()


# ------------------------------------------------------------------ one registry, dispatch side


def test_one_registry_holds_fleets_and_dispatch_blocks() -> None:
    types = device_types()
    assert dict(DEVICE_KINDS) == {n: t.dispatch for n, t in types.items() if t.dispatch}
    for name in ("heat_pump", "electric_heater", "chp", "wind"):
        assert types[name].in_runs and types[name].dispatch is not None, name
    for name in ("heat_load", "heat_storage", "load", "pv", "battery", "grid"):
        assert not types[name].in_runs and name in DEVICE_KINDS, name
    assert "ev" in device_types(in_runs=True) and "ev" not in DEVICE_KINDS
    assert set(device_types(in_runs=True)) == {n for n, t in DEVICE_TYPES.items() if t.in_runs}
    rec = {
        "kind": "chp",
        "name": "c",
        "node": 3,
        "p_max_kw": 5,
        "heat_ratio": 2,
        "fuel_price_per_kwh": 1,
    }
    assert type(make_device(rec)) is types["chp"].dispatch


def block(record: dict[str, Any], steps: int = 3, dt: float = 0.5) -> tuple[Any, Any]:
    lp = LinearProgram()
    inj = make_device(record).build(lp, TimeAxis(steps, dt))
    return lp.matrices(), inj


def test_dispatch_blocks_give_the_documented_rows() -> None:
    """The LP rows of each multi-energy kind against docs/dispatch.md, written out densely."""
    t, dt = 3, 0.5
    # CHP: p in [0, p_max] at cost fuel (1 + ratio) dt, h <= ratio p, |q| <= tan(acos pf) p
    m, inj = block({"kind": "chp", "name": "c", "p_max_kw": 4.0, "heat_ratio": 1.5,
                    "fuel_price_per_kwh": 0.2})  # fmt: skip
    p, h, q = np.arange(t), np.arange(t, 2 * t), np.arange(2 * t, 3 * t)
    np.testing.assert_allclose(m.cost[p], 0.2 * 2.5 * dt)
    np.testing.assert_allclose(m.hi[p], 4.0)
    a = m.a_ub.toarray()
    k = math.tan(math.acos(0.8))
    expect = np.zeros((3 * t, 3 * t))
    for s in range(t):
        expect[s, h[s]], expect[s, p[s]] = 1.0, -1.5
        expect[t + s, q[s]], expect[t + s, p[s]] = 1.0, -k
        expect[2 * t + s, q[s]], expect[2 * t + s, p[s]] = -1.0, -k
    np.testing.assert_allclose(a, expect)
    assert inj.h[0][0].tolist() == h.tolist()
    # heat pump: draws p, supplies cop p of heat
    m, inj = block({"kind": "heat_pump", "name": "hp", "p_max_kw": 2.0, "cop": 3.0})
    assert inj.p[0][1] == -1.0 and inj.h[0][1] == 3.0 and m.hi[:t].tolist() == [2.0] * t
    # electric heater: no reactive part
    m, inj = block({"kind": "electric_heater", "name": "eh", "p_max_kw": 2.0, "efficiency": 0.9})
    assert m.n == t and not inj.q and inj.h[0][1] == 0.9
    # heat storage: e[t] = e[t-1] (1 - loss dt) + dt (store - release), e[T-1] = e_end
    m, inj = block({"kind": "heat_storage", "name": "hs", "e_max_kwh_th": 10.0,
                    "h_max_kw_th": 4.0, "e_start_kwh_th": 5.0, "e_end_kwh_th": 6.0,
                    "self_loss_per_h": 0.1})  # fmt: skip
    sto, rel, e = np.arange(t), np.arange(t, 2 * t), np.arange(2 * t, 3 * t)
    keep = 1 - 0.1 * dt
    aeq = m.a_eq.toarray()
    expect = np.zeros((t + 1, 3 * t))
    b = np.zeros(t + 1)
    for s in range(t):
        expect[s, e[s]] = 1.0
        expect[s, sto[s]], expect[s, rel[s]] = -dt, dt
        if s:
            expect[s, e[s - 1]] = -keep
    b[0] = keep * 5.0
    expect[t, e[-1]], b[t] = 1.0, 6.0
    np.testing.assert_allclose(aeq, expect)
    np.testing.assert_allclose(m.b_eq, b)
    # heat load: a constant heat demand only
    m, inj = block({"kind": "heat_load", "name": "hl", "h_kw_th": [1.0, 2.0, 3.0]})
    assert m.n == 0 and np.asarray(inj.h_const).tolist() == [-1.0, -2.0, -3.0]
    # wind: curtailable up to its profile, reactive at pf 0.9
    m, inj = block({"kind": "wind", "name": "w", "p_max_kw": [1.0, 0.0, 2.0]})
    assert m.hi[:t].tolist() == [1.0, 0.0, 2.0] and m.lo[:t].tolist() == [0.0] * t
    assert isinstance(m.a_ub, sparse.csr_matrix)
