"""One registry per extension axis: every entry loads, names agree, scenarios are validated."""

from __future__ import annotations

import pytest

from cosim.errors import InputError
from cosim.grid.flows import POWER_FLOWS
from cosim.market.auction import PRICE_RULES
from cosim.participants.strategies import BATTERY_STRATEGIES
from cosim.registry import Registry
from cosim.scenario import scenario_from_mapping
from cosim.settlement.backend import SETTLEMENT_BACKENDS
from cosim.settlement.schemes import SCHEMES

AXES = {
    "grid.backend": POWER_FLOWS,
    "market.mechanism": PRICE_RULES,
    "participants.battery_strategy": BATTERY_STRATEGIES,
    "settlement.encryption": SETTLEMENT_BACKENDS,
}


@pytest.mark.parametrize("key", sorted(AXES))
def test_every_entry_loads_and_the_scenario_accepts_exactly_its_names(key: str) -> None:
    registry: Registry[object] = AXES[key]
    assert registry.key == key
    section, field = key.split(".")
    for name in registry.names:
        assert callable(registry.load(name))
        sc = scenario_from_mapping({"name": "x", section: {field: name}})
        assert getattr(getattr(sc, section), field) == name
    with pytest.raises(InputError, match=rf"{key}: expected one of .*got 'nonexistent'"):
        scenario_from_mapping({"name": "x", section: {field: "nonexistent"}})


def test_settlement_backends_are_plain_and_every_encryption_scheme() -> None:
    assert SETTLEMENT_BACKENDS.names == ("plain", *sorted(SCHEMES, key=list(SCHEMES).index))


def test_an_added_implementation_is_one_registry_line() -> None:
    registry: Registry[object] = Registry("demo.axis", {"a": "math:sqrt"})
    registry.register("b", "math:floor")
    assert registry.names == ("a", "b")
    assert registry.load("b")(2.5) == 2
    with pytest.raises(ValueError, match=r"demo\.axis: expected one of 'a', 'b'"):
        registry.load("c")
