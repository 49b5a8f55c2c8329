"""The strict YAML reader of scenario files and ``--set`` values."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from cosim.errors import InputError
from cosim.overrides import parse_override
from cosim.yamlload import read_yaml


@pytest.mark.parametrize(
    ("text", "line", "first"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, 1),
        ("time:\n  slots: 1\n  x: 2\n  slots: 3\n", 4, 2),
        ("- {a: 1, a: 2}\n", 1, 1),
    ],
)
def test_duplicate_keys_are_refused_naming_both_lines(text: str, line: int, first: int) -> None:
    with pytest.raises(InputError) as info:
        read_yaml(text, "s.yaml")
    assert info.value.key == f"line {line}"
    assert f"(first at line {first})" in info.value.expected
    assert yaml.safe_load(text) is not None  # PyYAML itself keeps the last value silently


def test_same_key_in_different_mappings_and_merge_keys_are_fine() -> None:
    text = "base: &b {slots: 2, x: 1}\ntime:\n  <<: *b\n  slots: 4\nother: {slots: 5}\n"
    assert read_yaml(text, None) == yaml.safe_load(text)
    assert read_yaml(text, None)["time"] == {"slots": 4, "x": 1}


@pytest.mark.parametrize(
    ("text", "value"),
    [("1e6", 1e6), ("-2E-3", -2e-3), ("1.5e3", 1500.0), ("+3e0", 3.0), ("12", 12), ("1_000", 1000)],
)
def test_exponent_numbers_are_floats(text: str, value: float) -> None:
    got = read_yaml(f"v: {text}", None)["v"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["e6", "1e", "1e6x", "'1e6'", "0x1e6"])
def test_other_strings_keep_their_meaning(text: str) -> None:
    assert read_yaml(f"v: {text}", None)["v"] == yaml.safe_load(f"v: {text}")["v"]


def test_dates() -> None:
    assert read_yaml("d: 2016-02-29", None)["d"] == dt.date(2016, 2, 29)
    with pytest.raises(InputError, match=r"line 2: invalid YAML: invalid date '2017-02-30'"):
        read_yaml("a: 1\nd: 2017-02-30\n", "s.yaml")


def test_set_values_use_the_same_reader() -> None:
    assert parse_override("participants.pv_kwp=1e3") == (["participants", "pv_kwp"], 1000.0)
    with pytest.raises(InputError, match="invalid date"):
        parse_override("time.start=2017-02-30", "s.yaml")
    with pytest.raises(InputError, match="duplicate key"):
        parse_override("sweep.vary={a: [1], a: [2]}", "s.yaml")
