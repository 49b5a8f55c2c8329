"""The device interface: registry, configuration errors, seeded streams, the set of a run."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, Field

from cosim.errors import InputError
from cosim.participants import devices as dev
from cosim.participants.devices import (
    Device,
    DeviceContext,
    DeviceSet,
    DeviceType,
    build_devices,
    device_rng,
    register,
    validate_device_configs,
)
from cosim.participants.population import random_streams
from cosim.scenario import scenario_from_mapping


class HeaterConfig(BaseModel):
    """A resistive heater on a seeded share of participants, switched on at random."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    p_kw: float = Field(default=2.0, gt=0, description="Heating power [kW].")
    share: float = Field(default=0.5, ge=0, le=1, description="Fraction of owners.")
    on_probability: float = Field(default=0.3, ge=0, le=1, description="Chance on per slot.")


class Heater:
    """A device of the test: draws ``p_kw`` in the slots its seeded switch is on."""

    def __init__(
        self, name: str, cfg: HeaterConfig, ctx: DeviceContext, rng: np.random.Generator
    ) -> None:
        self.name = name
        self.column_names = (f"{name}_kwh", f"{name}_on")
        self.cfg = cfg
        self.owner = rng.random(ctx.n) < cfg.share
        self.rng = rng
        self.on = np.zeros(ctx.n)
        self.e = np.zeros(ctx.n)
        self.total_kwh = 0.0

    def energy_kwh(
        self, k: int, load_kwh: np.ndarray, pv_kwh: np.ndarray, slot_hours: float
    ) -> np.ndarray:
        self.on = (self.owner & (self.rng.random(self.owner.size) < self.cfg.on_probability)) * 1.0
        self.e = self.on * self.cfg.p_kw * slot_hours
        self.total_kwh += float(self.e.sum())
        return self.e

    def columns(self) -> dict[str, np.ndarray]:
        return dict(zip(self.column_names, (self.e, self.on), strict=True))

    def disconnect(self, cut: np.ndarray) -> None:
        self.total_kwh -= float(self.e[cut].sum())
        self.e = np.where(cut, 0.0, self.e)
        self.on = np.where(cut, 0.0, self.on)

    def state(self) -> Any:
        return {"rng": self.rng.bit_generator.state, "total": self.total_kwh}

    def restore(self, state: Any) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.total_kwh = state["total"]

    def summary(self) -> dict[str, Any]:
        return {"energy_kwh": self.total_kwh}


def heater_type(name: str, prefix: str | None = None) -> DeviceType:
    def build(cfg: HeaterConfig, ctx: DeviceContext, rng: np.random.Generator) -> Heater:
        return Heater(prefix or name, cfg, ctx, rng)

    return DeviceType(name, HeaterConfig, build, "test heater")


HEATER = heater_type("heater")
KETTLE = heater_type("kettle_two")  # the same fleet under a second name


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, DeviceType]]:
    dev.device_types()  # the shipped types first, into the real registry
    monkeypatch.setattr(dev, "DEVICE_TYPES", dict(dev.DEVICE_TYPES))
    register(HEATER)
    register(KETTLE)
    yield dev.DEVICE_TYPES


def context(n: int = 6) -> DeviceContext:
    kinds = np.array(["household"] * (n - 1) + ["commercial"])
    times = pd.date_range("2016-06-01", periods=48, freq="30min", tz="UTC")
    return DeviceContext(n=n, kind=kinds, slot_minutes=30, slot_times=times)


def run(devices: DeviceSet, slots: int, n: int = 6) -> list[np.ndarray]:
    load, pv = np.full(n, 0.4), np.zeros(n)
    return [devices.energy_kwh(k, load, pv, 0.5) for k in range(slots)]


def test_no_devices_is_exactly_zero_and_falsy() -> None:
    devices = build_devices({}, context(), seed=3)
    assert not devices and devices.empty and len(devices) == 0
    e = devices.energy_kwh(0, np.full(6, 0.3), np.full(6, 0.1), 0.5)
    assert e.dtype == np.float64 and e.shape == (6,)
    load = np.array([0.1, 0.2, 0.3, 1e-300, 5.0, 0.0])
    assert np.array_equal(load + e, load)  # adding it leaves a load bit-identical
    assert devices.column_names == () and devices.columns() == {}
    assert devices.summary() == {} and devices.state() == {}


def test_registry_builds_named_types_and_sums_them(registry: dict[str, DeviceType]) -> None:
    assert isinstance(Heater("h", HeaterConfig(), context(), np.random.default_rng(0)), Device)
    devices = build_devices({"heater": {"share": 1.0}, "kettle_two": {}}, context(), seed=1)
    assert list(devices) == ["heater", "kettle_two"] and devices and not devices.empty
    assert devices.column_names == ("heater_kwh", "heater_on", "kettle_two_kwh", "kettle_two_on")
    e = devices.energy_kwh(0, np.zeros(6), np.zeros(6), 0.5)
    cols = devices.columns()
    assert list(cols) == list(devices.column_names)
    np.testing.assert_array_equal(e, cols["heater_kwh"] + cols["kettle_two_kwh"])
    assert e.sum() > 0
    assert devices.summary() == {
        "heater": {"energy_kwh": float(cols["heater_kwh"].sum())},
        "kettle_two": {"energy_kwh": float(cols["kettle_two_kwh"].sum())},
    }


def test_registering_a_taken_name_or_a_bad_name_fails(registry: dict[str, DeviceType]) -> None:
    register(HEATER)  # the same type again is harmless
    with pytest.raises(ValueError, match="already registered"):
        register(heater_type("heater"))
    with pytest.raises(ValueError, match="lowercase identifier"):
        register(heater_type("Heat Pump"))


def test_a_column_without_the_type_prefix_is_refused(registry: dict[str, DeviceType]) -> None:
    register(heater_type("boiler", prefix="heater"))  # its columns say heater_
    with pytest.raises(ValueError, match="must start with 'boiler_'"):
        build_devices({"boiler": {}}, context(), seed=0)


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"kettle": {}}, "devices.kettle", "unknown device type; known:"),
        ({"heater": None}, "devices.heater", "expected a mapping of heater settings"),
        ({"heater": {"p_kw": -1.0}}, "devices.heater.p_kw", "greater than 0"),
        ({"heater": {"p_kw": "2"}}, "devices.heater.p_kw", "valid number"),
        ({"heater": {"share": 2.0}}, "devices.heater.share", "less than or equal to 1"),
        ({"heater": {"power": 2.0}}, "devices.heater.power", "unknown key; allowed here: p_kw"),
    ],
)
def test_bad_configs_name_the_key(
    registry: dict[str, DeviceType], config: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(InputError) as info:
        build_devices(config, context(), seed=0, source_file="sc.yaml")
    assert info.value.key == key
    assert words in info.value.expected
    line = info.value.one_line()
    assert line.startswith(f"sc.yaml: {key}: ") and "\n" not in line
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        validate_device_configs(config, "sc.yaml")


def test_scenario_key_devices_defaults_empty_and_keeps_the_mapping() -> None:
    assert scenario_from_mapping({"name": "x"}).devices == {}
    sc = scenario_from_mapping({"name": "x", "devices": {"ev": {"share": 0.5}}})
    assert sc.devices == {"ev": {"share": 0.5}}
    with pytest.raises(InputError, match="devices"):
        scenario_from_mapping({"name": "x", "devices": ["ev"]})
    # the device types' own settings are checked when the scenario is loaded
    with pytest.raises(InputError, match=r"devices\.heater: unknown device type"):
        scenario_from_mapping({"name": "x", "devices": {"heater": {"p_kw": 3.0}}})
    with pytest.raises(InputError, match=r"devices\.ev\.share"):
        scenario_from_mapping({"name": "x", "devices": {"ev": {"share": 2.0}}})


def test_device_streams_are_independent_of_each_other_and_of_the_run_streams(
    registry: dict[str, DeviceType],
) -> None:
    first = {
        name: device_rng(7, name).random(8) for name in ("heater", "kettle_two", "ev", "heat_pump")
    }
    values = list(first.values())
    for i, a in enumerate(values):
        for b in values[i + 1 :]:
            assert not np.array_equal(a, b)
    for stream in random_streams(7).values():
        draws = stream.random(8)
        assert not any(np.array_equal(draws, v) for v in values)
    # same numbers for one type whether or not another type is configured beside it
    alone = run(build_devices({"heater": {}}, context(), seed=7), 10)
    both = build_devices({"kettle_two": {"p_kw": 5.0}, "heater": {}}, context(), seed=7)
    beside = []
    for k in range(10):
        both.energy_kwh(k, np.full(6, 0.4), np.zeros(6), 0.5)
        beside.append(both.columns()["heater_kwh"].copy())
    assert sum(float(e.sum()) for e in alone) > 0
    for a, b in zip(alone, beside, strict=True):
        np.testing.assert_array_equal(a, b)
    other_seed = run(build_devices({"heater": {}}, context(), seed=8), 10)
    assert not all(np.array_equal(a, b) for a, b in zip(alone, other_seed, strict=True))


def test_state_and_restore_resume_identically(registry: dict[str, DeviceType]) -> None:
    config = {"heater": {"on_probability": 0.5, "share": 1.0}, "kettle_two": {}}
    whole = build_devices(config, context(), seed=2)
    expected = run(whole, 20)
    first = build_devices(config, context(), seed=2)
    run(first, 9)
    state = pickle.loads(pickle.dumps(first.state()))
    resumed = build_devices(config, context(), seed=2)
    resumed.restore(state)
    load, pv = np.full(6, 0.4), np.zeros(6)
    for k in range(9, 20):
        np.testing.assert_array_equal(resumed.energy_kwh(k, load, pv, 0.5), expected[k])
    assert resumed.summary() == whole.summary()
    with pytest.raises(ValueError, match="checkpoint has devices"):
        build_devices({"heater": {}}, context(), seed=2).restore(state)
