"""Electric vehicles: charging limits, energy balance, meeting the need, PV-first charging.

The charging of every session is checked against an independent per-vehicle loop written
here from the documented rules, fed only with what the result columns show (when a vehicle
is plugged in, the energy in its battery, the household's load and PV).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from device_kit import device_context, load_and_pv, simulate
from hypothesis import given, settings
from hypothesis import strategies as st

from cosim.errors import InputError
from cosim.participants.devices import DeviceContext, build_devices, device_types
from cosim.participants.ev import EVConfig, EVFleet
from cosim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]

TOL = 1e-7


def context(n: int, slots: int, slot_minutes: int = 30, start: str = "2016-06-01") -> DeviceContext:
    return device_context(n, slots, slot_minutes, start)


profiles = load_and_pv


def sessions(res: dict, cfg: EVConfig) -> list[tuple[int, int, int, float, bool]]:
    """(participant, first slot, end slot, need [kWh], departed) of every session shown in
    the columns: a run of slots plugged in with one session number."""
    e, stored = res["ev_kwh"], res["ev_energy_kwh"]
    conn, number = res["ev_connected"] > 0, res["ev_session"]
    slots, n = e.shape
    out = []
    for i in range(n):
        start = None
        for k in range(slots + 1):
            on = k < slots and conn[k, i]
            new = on and (start is None or number[k, i] != number[k - 1, i])
            if start is not None and (not on or new):
                need = cfg.battery_kwh - (stored[start, i] - e[start, i] * cfg.efficiency)
                out.append((i, start, k, need, k < slots))
                start = None
            if new:
                start = k
    return out


def reference(
    cfg: EVConfig, need: float, first: int, end: int, load: np.ndarray, pv: np.ndarray, dt: float
) -> list[float]:
    """Grid energy of one session, slot by slot, from the documented rule (plain floats)."""
    e_max = cfg.charger_kw * dt
    to_draw = need / cfg.efficiency
    out = []
    for k in range(first, end):
        surplus = max(pv[k] - load[k], 0.0)
        if cfg.strategy == "immediate":
            e = min(e_max, to_draw)
        else:
            later = (end - k - 1) * e_max  # the most the later slots can draw
            e = min(e_max, to_draw, max(surplus, to_draw - later))
        out.append(e)
        to_draw = max(to_draw - e, 0.0)
    return out


def test_ev_is_registered() -> None:
    assert device_types()["ev"].config_model is EVConfig


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    slot_minutes=st.sampled_from([15, 30, 60]),
    strategy=st.sampled_from(["immediate", "self_consumption"]),
    charger_kw=st.floats(1.0, 22.0),
    efficiency=st.floats(0.7, 1.0),
    arrival=st.floats(0.0, 23.9),
    arrival_std=st.floats(0.0, 5.0),
    departure=st.floats(0.0, 23.9),
    departure_std=st.floats(0.0, 5.0),
    energy=st.floats(0.0, 40.0),
    energy_std=st.floats(0.0, 20.0),
    start_minutes=st.integers(0, 24 * 4 - 1).map(lambda q: 15 * q),
)
def test_sessions_follow_the_rules(
    seed: int,
    slot_minutes: int,
    strategy: str,
    charger_kw: float,
    efficiency: float,
    arrival: float,
    arrival_std: float,
    departure: float,
    departure_std: float,
    energy: float,
    energy_std: float,
    start_minutes: int,
) -> None:
    n, dt = 10, slot_minutes / 60
    start = pd.Timestamp("2016-06-01", tz="UTC") + pd.Timedelta(minutes=start_minutes)
    slots = int(3 * 24 / dt)
    config: dict[str, Any] = {
        "share": 1.0,
        "kinds": ["household", "commercial"],
        "battery_kwh": 50.0,
        "strategy": strategy,
        "charger_kw": charger_kw,
        "efficiency": efficiency,
        "arrival_mean_h": arrival,
        "arrival_std_h": arrival_std,
        "departure_mean_h": departure,
        "departure_std_h": departure_std,
        "energy_mean_kwh": energy,
        "energy_std_kwh": energy_std,
    }
    cfg = EVConfig.model_validate(config)
    load, pv = profiles(n, slots, slot_minutes, seed)
    ctx = context(n, slots, slot_minutes, start=start.isoformat())
    devices = build_devices({"ev": config}, ctx, seed=seed)
    res = simulate(devices, load, pv, dt)
    e, e_max = res["ev_kwh"], charger_kw * dt
    # the limit, the sign, the sum
    assert e.min() >= 0 and e.max() <= e_max * (1 + 1e-12)
    np.testing.assert_array_equal(res["total"], e)
    assert np.all(e[res["ev_connected"] == 0] == 0)  # a vehicle away draws nothing
    found = sessions(res, cfg)
    summary = devices.summary()["ev"]
    ended = [s for s in found if s[4]]
    assert summary["sessions"] >= len(ended)  # sessions of no whole slot are not in columns
    for i, first, end, need, departed in found:
        got = e[first:end, i]
        stored = res["ev_energy_kwh"][first:end, i]
        # energy balance: what was drawn, times the efficiency, is in the vehicle battery
        np.testing.assert_allclose(
            stored[-1] - (cfg.battery_kwh - need), got.sum() * efficiency, atol=TOL
        )
        assert -TOL <= need <= cfg.battery_kwh + TOL
        if not departed:
            continue  # its departure lies beyond the horizon
        # the documented rule, from an independent per-vehicle loop
        want = reference(cfg, need, first, end, load[:, i], pv[:, i], dt)
        np.testing.assert_allclose(got, want, atol=TOL, rtol=1e-9)
        if need <= (end - first) * e_max * efficiency * (1 - 1e-9):  # feasible
            assert stored[-1] >= cfg.battery_kwh - TOL  # met by departure
    # totals: charged energy and delivered energy agree with the columns
    assert summary["charged_kwh"] == pytest.approx(e.sum(), rel=1e-12, abs=1e-9)
    assert summary["delivered_kwh"] == pytest.approx(e.sum() * efficiency, rel=1e-12, abs=1e-9)
    assert summary["unmet_kwh"] >= 0


def test_self_consumption_takes_less_grid_energy_than_immediate() -> None:
    n, slot_minutes, slots = 40, 30, 48 * 7
    load, pv = profiles(n, slots, slot_minutes, seed=3)
    base = {"share": 1.0, "arrival_mean_h": 13.0, "arrival_std_h": 3.0}
    surplus = np.maximum(pv - load, 0.0)
    grid, from_pv, unmet = {}, {}, {}
    for strategy in ("immediate", "self_consumption"):
        devices = build_devices(
            {"ev": {**base, "strategy": strategy}}, context(n, slots, slot_minutes), seed=9
        )
        e = simulate(devices, load, pv, 0.5)["ev_kwh"]
        grid[strategy] = np.maximum(e - surplus, 0).sum(axis=0)  # per vehicle
        from_pv[strategy] = np.minimum(e, surplus).sum()
        summary = devices.summary()["ev"]
        assert summary["pv_surplus_kwh"] == pytest.approx(from_pv[strategy])
        unmet[strategy] = summary["unmet_kwh"]
    assert np.all(grid["self_consumption"] <= grid["immediate"] + 1e-9)
    assert grid["self_consumption"].sum() < 0.9 * grid["immediate"].sum()
    assert from_pv["self_consumption"] > 1.5 * from_pv["immediate"]
    assert unmet["self_consumption"] == pytest.approx(unmet["immediate"], abs=1e-6)


def test_same_seed_same_sessions_and_a_higher_share_adds_vehicles() -> None:
    n, slots = 50, 48 * 3
    load, pv = profiles(n, slots, 30, seed=1)
    ctx = context(n, slots)

    def run(share: float, seed: int) -> np.ndarray:
        devices = build_devices({"ev": {"share": share, "strategy": "immediate"}}, ctx, seed)
        return simulate(devices, load, pv, 0.5)["ev_kwh"]

    low, again, high = run(0.3, 4), run(0.3, 4), run(0.6, 4)
    np.testing.assert_array_equal(low, again)
    owners_low = np.flatnonzero(low.sum(axis=0) > 0)
    owners_high = np.flatnonzero(high.sum(axis=0) > 0)
    assert owners_low.size == 12 and owners_high.size == 24  # round(share * 40 households)
    assert set(owners_low) <= set(owners_high)
    np.testing.assert_array_equal(low[:, owners_low], high[:, owners_low])
    assert not np.array_equal(low, run(0.3, 5))
    assert np.all(low[:, ctx.kind == "commercial"] == 0)  # households only by default


def test_checkpoint_mid_session_resumes_identically() -> None:
    n, slots = 30, 48 * 3
    load, pv = profiles(n, slots, 30, seed=2)
    config = {"ev": {"share": 0.8, "strategy": "self_consumption"}}
    whole = build_devices(config, context(n, slots), seed=11)
    expected = simulate(whole, load, pv, 0.5)
    first = build_devices(config, context(n, slots), seed=11)
    simulate(first, load[:44], pv[:44], 0.5)  # to 22:00 of day one
    fleet = first.devices["ev"]
    assert isinstance(fleet, EVFleet) and fleet.connected.any() and fleet.to_draw_kwh.any()
    state = pickle.loads(pickle.dumps(first.state()))
    resumed = build_devices(config, context(n, slots), seed=11)
    resumed.restore(state)
    rest = simulate(resumed, load, pv, 0.5, k0=44)
    for name in ("ev_kwh", "ev_energy_kwh", "ev_connected", "ev_session", "total"):
        np.testing.assert_array_equal(rest[name], expected[name][44:])
    assert resumed.summary() == whole.summary()
    with pytest.raises(ValueError, match="expected slot 0, got 44"):
        build_devices(config, context(n, slots), seed=11).energy_kwh(44, load[0], pv[0], 0.5)


def test_vehicles_plugged_in_at_the_start_get_the_rest_of_their_need() -> None:
    n, slots = 20, 48
    load, pv = profiles(n, slots, 30, seed=0)
    devices = build_devices({"ev": {"share": 1.0}}, context(n, slots), seed=0)
    res = simulate(devices, load, pv, 0.5)
    owners = np.flatnonzero(context(n, slots).kind == "household")
    assert res["ev_connected"][0, owners].all()  # evening arrivals of the day before
    summary = devices.summary()["ev"]
    assert summary["vehicles"] == owners.size
    assert summary["sessions"] >= owners.size and summary["sessions_open"] > 0
    assert 0 < summary["needed_kwh"]
    assert summary["unmet_kwh"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("settings_", "key", "words"),
    [
        ({"charger_kw": -3.0}, "devices.ev.charger_kw", "greater than 0"),
        ({"charger_kw": 7}, "devices.ev.charger_kw", ""),  # an int is a number: accepted
        ({"share": 1.5}, "devices.ev.share", "less than or equal to 1"),
        ({"strategy": "smart"}, "devices.ev.strategy", "'self_consumption' or 'immediate'"),
        ({"kinds": ["household", "household"]}, "devices.ev.kinds", "without repeats"),
        ({"kinds": ["shop"]}, "devices.ev.kinds.0", "'household' or 'commercial'"),
        ({"arrival_mean_h": 24.0}, "devices.ev.arrival_mean_h", "less than 24"),
        ({"energy_mean_kwh": 80.0}, "devices.ev", "energy_mean_kwh (80.0) <= battery_kwh"),
        ({"charger": 7.0}, "devices.ev.charger", "unknown key; allowed here: share, kinds"),
    ],
)
def test_bad_settings_name_the_key(settings_: dict[str, Any], key: str, words: str) -> None:
    ctx = context(5, 4)
    if not words:
        assert build_devices({"ev": settings_}, ctx, seed=0)
        return
    with pytest.raises(InputError) as info:
        build_devices({"ev": settings_}, ctx, seed=0, source_file="sc.yaml")
    assert info.value.key == key
    assert words in info.value.expected


def test_the_shipped_example_builds() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "ev_village.yaml")
    ctx = context(47, scenario.time.slots)
    devices = build_devices(scenario.devices, ctx, scenario.seed, scenario.source_file)
    assert list(devices) == ["ev"] and devices.devices["ev"].summary()["vehicles"] > 0
    immediate = load_scenario(
        ROOT / "scenarios" / "ev_village.yaml", ["devices.ev.strategy=immediate"]
    )
    fleet = build_devices(immediate.devices, ctx, immediate.seed).devices["ev"]
    assert isinstance(fleet, EVFleet) and fleet.config.strategy == "immediate"


def test_a_slot_length_other_than_the_built_one_is_refused() -> None:
    devices = build_devices({"ev": {}}, context(5, 10), seed=0)
    with pytest.raises(ValueError, match=r"built for 0\.5 h slots"):
        devices.energy_kwh(0, np.zeros(5), np.zeros(5), 0.25)


@pytest.mark.parametrize(
    ("settings_", "vehicles"),
    [({"share": 0.0}, 0), ({"kinds": ["commercial"], "share": 1.0}, 2), ({"share": 1.0}, 8)],
)
def test_fleets_of_any_size_including_none(settings_: dict[str, Any], vehicles: int) -> None:
    n, slots = 10, 96
    load, pv = profiles(n, slots, 30, seed=5)
    ctx = context(n, slots)
    devices = build_devices({"ev": settings_}, ctx, seed=1)
    res = simulate(devices, load, pv, 0.5)
    owners = np.flatnonzero(res["ev_session"].max(axis=0) > 0)
    assert devices.summary()["ev"]["vehicles"] == owners.size == vehicles
    kinds = set(settings_.get("kinds", ["household"]))
    assert all(ctx.kind[i] in kinds for i in owners)
    others = np.setdiff1d(np.arange(n), owners)
    assert np.all(res["total"][:, others] == 0)
    assert (res["total"].sum() > 0) == (vehicles > 0)


def test_a_cut_off_slot_is_taken_back_and_charged_later() -> None:
    """``disconnect``: the slot's energy of cut-off owners returns to the session's account."""
    n, slots = 30, 48 * 2
    load, pv = profiles(n, slots, 30, seed=4)
    config = {"ev": {"share": 0.8, "strategy": "immediate", "energy_mean_kwh": 12.0}}
    devices = build_devices(config, context(n, slots), seed=3)
    fleet = devices.devices["ev"]
    assert isinstance(fleet, EVFleet)
    k = 0
    while True:  # the first slot in which some vehicle charges
        e = devices.energy_kwh(k, load[k], pv[k], 0.5)
        k += 1
        if e.any():
            break
    cut = e > 0
    cut[np.flatnonzero(cut)[1:]] = False  # one participant cut off
    charged, to_draw = fleet.charged.sum(), fleet.to_draw_kwh.sum()
    devices.disconnect(cut)
    cols = devices.columns()
    assert cols["ev_kwh"][cut].sum() == 0.0
    assert np.array_equal(cols["ev_kwh"][~cut], e[~cut])
    assert fleet.charged.sum() == pytest.approx(charged - e[cut].sum())
    assert fleet.to_draw_kwh.sum() == pytest.approx(to_draw + e[cut].sum())
    devices.disconnect(cut)  # a second call changes nothing
    assert fleet.charged.sum() == pytest.approx(charged - e[cut].sum())
