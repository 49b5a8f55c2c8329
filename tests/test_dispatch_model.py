"""Dispatch model: devices, partitions, DES blocks against one monolithic LP."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from cosim.dispatch.case import SHIPPED_CASES, load_case, partition
from cosim.dispatch.devices import DEVICE_KINDS, make_device
from cosim.dispatch.model import build_des_problems, solve_central, violations


def test_unknown_device_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown device kind"):
        make_device({"kind": "fusion", "name": "x"})


def test_registry_holds_the_multi_energy_devices() -> None:
    for kind in ("wind", "chp", "heat_pump", "electric_heater", "heat_load", "heat_storage"):
        assert kind in DEVICE_KINDS


@pytest.mark.parametrize("name", SHIPPED_CASES)
def test_shipped_case_matches_its_files(name: str) -> None:
    case = load_case(name)
    root = resources.files("cosim.dispatch") / "data" / name
    table = json.loads((root / "devices.json").read_text())
    assert case.time.steps == table["steps"] == 24
    assert sum(len(d) for d in case.devices) == len(table["devices"])
    assert (case.parent >= 0).sum() == case.n - 1  # radial


@pytest.mark.parametrize(
    ("name", "mode", "parts"), [("six_bus", "bus", 0), ("village", "balanced", 4)]
)
def test_partition_does_not_change_the_optimum(name: str, mode: str, parts: int) -> None:
    """Blocks plus consensus rows give the optimum of the unpartitioned LP (one DES)."""
    case = load_case(name)
    whole = solve_central(build_des_problems(case, np.zeros(case.n, dtype=int)))
    split_problems = build_des_problems(case, partition(case, mode, parts))
    split = solve_central(split_problems)
    assert whole.status == split.status == 0
    assert split.objective == pytest.approx(whole.objective, rel=1e-9)
    worst = violations(split_problems, split.x)
    assert worst["kw"] < 1e-6 and worst["pu"] < 1e-9


def test_balanced_partition_is_connected_and_sized() -> None:
    case = load_case("village")
    for k in (2, 4, 8):
        labels = partition(case, "balanced", k)
        assert len(set(labels.tolist())) == k
        heads = [
            v for v in range(case.n) if case.parent[v] < 0 or labels[case.parent[v]] != labels[v]
        ]
        assert len(heads) == k  # one entry node per DES: connected parts of the tree
        assert labels[0] == 0


def test_explicit_partition_must_be_connected() -> None:
    case = load_case("six_bus")
    with pytest.raises(ValueError, match="connected"):
        partition(case, "explicit", mapping=[0, 1, 0, 1, 0, 1, 0])


def test_battery_and_heat_rows_hold_at_the_central_optimum() -> None:
    """Storage dynamics and heat balance, checked from the solution, not from the LP rows."""
    case = load_case("yingkou60")
    labels = partition(case, "feeder")
    problems = build_des_problems(case, labels)
    sol = solve_central(problems)
    assert sol.status == 0
    dt = case.time.step_hours
    for p, x in zip(problems, sol.x, strict=True):
        names = p.lp.names
        for v in p.nodes:
            for dev in case.devices[v]:
                if dev.kind != "battery":
                    continue
                c, d, e = (
                    np.array([x[names.index(f"{dev.name}.{s}[{t}]")] for t in range(24)])
                    for s in ("charge_kw", "discharge_kw", "e")
                )
                keep = 1 - dev.self_loss_per_h * dt
                prev = np.concatenate([[dev.e_start_kwh], e[:-1]])
                expect = prev * keep + dt * (dev.eta_charge * c - d / dev.eta_discharge)
                np.testing.assert_allclose(e, expect, atol=1e-6)
                assert e[-1] == pytest.approx(dev.e_end_kwh, abs=1e-6)
