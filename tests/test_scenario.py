"""Scenario loading, validation, overrides and the generated reference page."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cosim.errors import InputError
from cosim.overrides import apply_overrides
from cosim.scenario import (
    Scenario,
    load_scenario,
    scenario_from_mapping,
    scenario_to_yaml,
)
from cosim.scenario_docs import render

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "sc.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_are_filled_and_frozen() -> None:
    sc = scenario_from_mapping({"name": "x"})
    assert sc.time.slot_minutes == 30
    assert sc.time.start.utcoffset() is not None
    assert sc.settlement.models == ("retail", "individual")
    with pytest.raises(ValidationError, match="frozen"):
        sc.seed = 3  # type: ignore[misc]


def test_naive_start_is_utc_and_date_only_accepted() -> None:
    sc = scenario_from_mapping({"name": "x", "time": {"start": "2016-03-01"}})
    assert sc.time.start.isoformat() == "2016-03-01T00:00:00+00:00"


def test_resolved_yaml_round_trips() -> None:
    sc = scenario_from_mapping({"name": "x", "seed": 5, "time": {"slots": 3}})
    again = scenario_from_mapping(yaml.safe_load(scenario_to_yaml(sc)))
    assert again == sc


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")))
def test_shipped_scenarios_validate(path: Path) -> None:
    assert isinstance(load_scenario(path), Scenario)


BAD = [
    # (yaml text, key in the message, words expected in the message)
    ("name: x\ntime: {slots: 0}\n", "time.slots", "greater than or equal to 1"),
    ("name: x\ntime: {slots: many}\n", "time.slots", "valid integer"),
    ("name: x\ntime: {slots: 2.5}\n", "time.slots", "valid integer"),
    ("name: x\ntime: {slot_minutes: 20}\n", "time.slot_minutes", "15, 30 or 60"),
    ("name: x\ntime: {start: yesterday}\n", "time.start", "ISO 8601"),
    ("name: x\ntim: {slots: 3}\n", "tim", "unknown key"),
    ("name: x\nmarket: {mechanizm: pay_as_bid}\n", "market.mechanizm", "allowed here: mechanism"),
    (
        "name: x\nmarket: {mechanism: vickrey}\n",
        "market.mechanism",
        "one of 'pay_as_clear', 'pay_as_bid' (got 'vickrey')",
    ),
    (
        "name: x\nmarket: {feed_in_tariff: 0.5, retail_price: 0.3}\n",
        "market",
        "feed_in_tariff (0.5) <= retail_price (0.3)",
    ),
    (
        "name: x\nparticipants: {pv_penetration: 1.5}\n",
        "participants.pv_penetration",
        "less than or equal to 1",
    ),
    (
        "name: x\nparticipants: {pv_penetration: yes}\n",
        "participants.pv_penetration",
        "valid number",
    ),
    ("name: x\nsettlement: {models: [retail, bogus]}\n", "settlement.models.1", "'retail'"),
    (
        "name: x\nsettlement: {models: [retail, retail]}\n",
        "settlement.models",
        "each model at most once",
    ),
    ("name: x\nsettlement: {key_bits: 1024}\n", "settlement.key_bits", "2048"),
    ("name: x\nsettlement: {encryption: rsa}\n", "settlement.encryption", "'paillier'"),
    (
        "name: x\nsettlement: {key_bits: 1536, insecure_test_keys: false}\n",
        "settlement.key_bits",
        "insecure_test_keys",
    ),
    ("name: x\nsettlement: {period: week}\n", "settlement.period", "'month'"),
    ("name: x\nmarket: {network_check: ac}\n", "market.network_check", "'lindistflow'"),
    ("name: x\ngrid: {line_rating_factor: 0}\n", "grid.line_rating_factor", "greater than 0"),
    (
        "name: x\nbattery: {soc_min_fraction: 0.9, soc_max_fraction: 0.5}\n",
        "battery",
        "soc_min_fraction (0.9) <= soc_max_fraction (0.5)",
    ),
    ("seed: 3\n", "name", "required key is missing"),
    ("name: has space\n", "name", "pattern"),
    ("name: x\nseed: -1\n", "seed", "greater than or equal to 0"),
    ("- just\n- a list\n", "(top level)", "mapping"),
    ("name: x\ntime: [1, 2\n", "line", "invalid YAML"),
    ("name: x\ngrid: {backend: lightsim}\n", "grid.backend", "'pandapower'"),
]


@pytest.mark.parametrize(("text", "key", "words"), BAD)
def test_bad_inputs_name_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert key in message
    assert words in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_overrides_apply_before_validation(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\ntime: {slots: 4}\n")
    sc = load_scenario(
        path,
        ["time.slots=96", "seed=7", "settlement.models=[retail, social]", "network.name=village"],
    )
    assert sc.time.slots == 96
    assert sc.seed == 7
    assert sc.settlement.models == ("retail", "social")
    assert sc.network.name == "village"


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("time.slots", "KEY.PATH=VALUE"),
        ("=3", "KEY.PATH=VALUE"),
        ("time..slots=3", "KEY.PATH=VALUE"),
        ("time.slots=[1,", "not a valid YAML"),
        ("time.slots.x=3", "is a value, not a section"),
    ],
)
def test_bad_overrides(item: str, words: str) -> None:
    with pytest.raises(InputError, match=words.replace(".", r"\.").replace("[", r"\[")):
        apply_overrides({"name": "x", "time": {"slots": 3}}, [item], file="f.yaml")


def test_override_of_unknown_key_is_reported_by_validation(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\n")
    with pytest.raises(InputError, match=r"time\.slotz: unknown key"):
        load_scenario(path, ["time.slotz=3"])


def test_reference_page_is_current() -> None:
    page = (ROOT / "docs" / "scenario.md").read_text(encoding="utf-8")
    assert page == render(), (
        "docs/scenario.md is stale: python -m cosim.scenario_docs > docs/scenario.md"
    )
