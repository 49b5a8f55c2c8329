"""Fuzzing the input readers: no input makes cosim exit 1 or print a traceback.

Hypothesis generates scenario files, ``--set`` items, profile CSV files and network JSON
files; each goes through ``cosim.cli.main(["validate", ...])`` (the same checks as ``run``
before its first slot), whose exit code must be 0 (valid) or 2 (one line naming the problem).
Exit 1 is reserved for bugs. The profile reader is also fuzzed directly (faster, more
examples): it returns a table or raises :class:`InputError`, nothing else.
"""

from __future__ import annotations

import contextlib
import io
import json
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosim.cli import main
from cosim.errors import InputError
from cosim.participants.profiles import read_profile_csv

ROOT = Path(__file__).resolve().parents[1]
FEEDER = ROOT / "networks" / "example_feeder.json"
#: A small, valid base: the example feeder (12 participants) for two slots.
BASE = {
    "name": "fuzz",
    "time": {"start": "2016-06-01T10:00:00+00:00", "slots": 2},
    "network": {"name": str(FEEDER)},
}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,  # the same examples every run: a failure here is reproducible
)


def _validate(scenario: Path, *sets: str) -> tuple[int, str]:
    """Run ``cosim validate`` in-process; return its exit code and stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["validate", str(scenario), *[f"--set={s}" for s in sets]])
        except SystemExit as exc:  # argparse refuses malformed command lines with exit 2
            code = int(exc.code or 0)
    return code, err.getvalue()


def _assert_clean(code: int, err: str) -> None:
    assert code in (0, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2 and err.startswith("cosim: "):
        assert len(err.strip().splitlines()) == 1, err


# ------------------------------------------------------------------ scenario files

SECTIONS = {
    "time": ["start", "slots", "slot_minutes"],
    "network": ["name", "household_rating_kw"],
    "participants": [
        "pv_penetration",
        "battery_penetration",
        "pv_kwp",
        "annual_load_kwh",
        "annual_load_spread",
        "load_scaling",
        "profile_shift_minutes",
        "pv_shift_minutes",
        "load_profiles",
        "load_power_factor",
    ],
    "market": ["retail_price", "feed_in_tariff", "network_check", "min_order_kwh"],
    "grid": ["v_min_pu", "v_max_pu", "line_rating_factor", "backend"],
    "battery": ["capacity_kwh", "power_kw", "soc_min_fraction", "soc_initial_fraction"],
    "checks": ["plausibility", "max_household_mean_kw", "max_participant_bus_kv"],
    "settlement": ["models", "suppliers"],
}
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(string.printable, max_size=20),
    st.sampled_from(
        ["2017-02-30", "2016-06-01", "builtin", "lindistflow", "as_given", "1e6", "", "-"]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@st.composite
def scenario_mappings(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(sorted(SECTIONS)))
        key = draw(st.sampled_from(SECTIONS[section]))
        data.setdefault(section, {})[key] = draw(VALUES)
    return data


@FUZZ
@given(scenario_mappings())
def test_fuzz_scenario_values(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        _assert_clean(*_validate(path))


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_scenario_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        _assert_clean(*_validate(path))


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.builds(
                lambda section, key, value: f"{section}.{key}={value}",
                st.sampled_from(sorted(SECTIONS)),
                st.text(string.ascii_lowercase + "_", min_size=1, max_size=12),
                st.text(max_size=20),
            ),
            st.builds(
                lambda section, value: f"{section}={value}",
                st.sampled_from([f"{s}.{k}" for s, keys in SECTIONS.items() for k in keys]),
                st.text(string.printable, max_size=20),
            ),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_fuzz_set_items(items: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(yaml.safe_dump(BASE), encoding="utf-8")
        _assert_clean(*_validate(path, *items))


# ------------------------------------------------------------------ profile CSV files

TIMESTAMPS = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2016-06-01T10:00:00+00:00", "2016-06-01T10:15Z", "x", "", "2016-13-01"]),
)
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-5, 10**9).map(str),
    st.sampled_from(["", "nan", "x", " 1", "1,5", '"2"']),
)


@st.composite
def profile_texts(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.text(max_size=200))
    columns = draw(
        st.lists(
            st.sampled_from(["time", "a_p_kw", "b_p_kw", "a_p_kw_per_kwp", "x", "", "time"]),
            min_size=1,
            max_size=3,
        )
    )
    rows = draw(
        st.lists(st.lists(st.one_of(TIMESTAMPS, CELLS), min_size=0, max_size=4), max_size=6)
    )
    return "\n".join([",".join(columns), *[",".join(r) for r in rows]])


@settings(FUZZ, max_examples=150)
@given(profile_texts(), st.sampled_from(["_p_kw", "_p_kw_per_kwp"]))
def test_fuzz_profile_reader(text: str, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.csv"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            table = read_profile_csv(path, suffix)
        except InputError:
            return
        assert table.steps >= 2 and table.values.shape[1] == len(table.names)


@FUZZ
@given(profile_texts(), st.sampled_from(["load_profiles", "pv_profiles", "commercial_profiles"]))
def test_fuzz_profile_files_through_the_cli(text: str, key: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "p.csv").write_text(text, encoding="utf-8", errors="surrogatepass")
        path = Path(tmp) / "s.yaml"
        path.write_text(yaml.safe_dump(BASE), encoding="utf-8")
        _assert_clean(*_validate(path, f"participants.{key}=p.csv"))


# ------------------------------------------------------------------ network JSON files

FEEDER_JSON: dict[str, Any] = json.loads(FEEDER.read_text(encoding="utf-8"))
TABLES = ["bus", "load", "ext_grid", "line", "trafo"]


@st.composite
def mutated_networks(draw: st.DrawFn) -> str:
    """The example feeder with one to three cells, columns or tables changed."""
    net = json.loads(json.dumps(FEEDER_JSON))
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(TABLES))
        frame = json.loads(net["_object"][table]["_object"])
        action = draw(st.sampled_from(["cell", "cell", "cell", "drop_column", "drop_rows"]))
        if action == "cell" and frame["data"]:
            row = draw(st.integers(0, len(frame["data"]) - 1))
            col = draw(st.integers(0, len(frame["columns"]) - 1))
            frame["data"][row][col] = draw(SCALARS)
        elif action == "drop_column" and frame["columns"]:
            col = draw(st.integers(0, len(frame["columns"]) - 1))
            name = frame["columns"].pop(col)
            for r in frame["data"]:
                r.pop(col)
            net["_object"][table].get("dtype", {}).pop(name, None)
        else:
            frame["data"], frame["index"] = [], []
        net["_object"][table]["_object"] = json.dumps(frame)
    return json.dumps(net)


@FUZZ
@given(st.one_of(mutated_networks(), st.text(max_size=100)))
def test_fuzz_network_json(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "net.json").write_text(text, encoding="utf-8", errors="surrogatepass")
        path = Path(tmp) / "s.yaml"
        path.write_text(yaml.safe_dump(BASE), encoding="utf-8")
        _assert_clean(*_validate(path, "network.name=net.json"))


def test_the_fuzz_base_is_valid() -> None:
    """The base scenario validates, so the fuzzed variants test the inputs, not the base."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(yaml.safe_dump(BASE), encoding="utf-8")
        assert _validate(path) == (0, "")


@pytest.mark.parametrize("text", ["a: [", "\t", "name: x\nname: y", "{}: 1", "? [a]\n: 1"])
def test_known_awkward_yaml(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(text, encoding="utf-8")
        code, err = _validate(path)
        _assert_clean(code, err)
        assert code == 2
