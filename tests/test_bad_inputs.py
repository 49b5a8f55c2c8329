"""The catalogue of bad inputs: each is exit code 2 and one line naming file, key and cause.

Every case goes through ``cosim.cli.main`` twice, as ``validate`` and as ``run``: what validate
refuses, run refuses too, before any slot runs (no result CSV is written). The cases of the
issue "Trustworthy runs" are marked ``issue``. Cases that are plausibility limits also show
that the documented override key lets the scenario through ``validate``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from cosim.cli import main

BASE = """\
name: bad
seed: 3
time: {start: "2024-03-01T00:00:00+00:00", slots: 2, slot_minutes: 30}
network: {name: cigre_lv}
"""


def _times(days: float, start: str = "2024-01-01", step: str = "15min") -> pd.DatetimeIndex:
    periods = round(days * 24 * 60 * 60 / pd.Timedelta(step).total_seconds())
    return pd.date_range(start, periods=periods, freq=step, tz="UTC")


def _csv(columns: dict[str, float | np.ndarray], days: float = 366, **kw: str) -> str:
    t = _times(days, **kw)
    data = {"time": t.strftime("%Y-%m-%dT%H:%M:%S+00:00")}
    data.update({k: np.broadcast_to(v, len(t)) for k, v in columns.items()})
    return pd.DataFrame(data).to_csv(index=False)


def _year_pv(peak: float) -> str:
    t = _times(366)
    hour = t.hour + t.minute / 60
    shape = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) * peak
    return _csv({"roof_p_kw_per_kwp": shape})


def _net_json(kind: str) -> str:
    """Small pandapower networks with one defect each."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0)
    lv = pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, mv)
    pp.create_transformer(net, mv, lv, "0.25 MVA 20/0.4 kV")
    far = pp.create_bus(net, 0.4)
    pp.create_line(net, lv, far, 0.1, "NAYY 4x150 SE")
    pp.create_load(net, far, p_mw=0.008)
    if kind == "isolated":
        lonely = pp.create_bus(net, 0.4)
        pp.create_load(net, lonely, p_mw=0.004)
    elif kind == "open_switch":
        behind = pp.create_bus(net, 0.4)
        line = pp.create_line(net, far, behind, 0.05, "NAYY 4x150 SE")
        pp.create_switch(net, far, line, et="l", closed=False)
        pp.create_load(net, behind, p_mw=0.004)
    elif kind == "bus_out_of_service":
        net.bus.loc[far, "in_service"] = False
    elif kind == "mv_loads":
        pp.create_load(net, mv, p_mw=2.0)
    elif kind == "no_loads":
        net.load.drop(net.load.index, inplace=True)
    elif kind == "bad_kind":
        net.load["cosim_kind"] = "villa"
    elif kind == "loads_in_kw":
        net.load.loc[:, "p_mw"] = 5000.0
    elif kind == "negative_load":
        net.load.loc[:, "p_mw"] = -0.01
    return pp.to_json(net)


@dataclass(frozen=True)
class Case:
    id: str
    expect: tuple[str, ...]  # fragments of the one-line message, file and key included
    scenario: str = BASE  # scenario text; None-like "" means no scenario file at all
    sets: tuple[str, ...] = ()
    files: dict[str, str | bytes] = field(default_factory=dict)
    allow: tuple[str, ...] = ()  # --set items that let the scenario through (plausibility)
    issue: bool = False


DAY = _csv({"home_p_kw": 0.4}, days=1)
YEAR_W = _csv({"home_p_kw": 400.0})
YEAR_MW = _csv({"home_p_kw": 0.0004})
NO_LIMIT = ("checks.plausibility=false",)

CASES = [
    # ---- the scenario file and YAML
    Case(
        "scenario file missing", ("missing.yaml", "(file)", "scenario file not found"), scenario=""
    ),
    Case(
        "YAML syntax",
        ("bad.yaml", "line 3", "invalid YAML"),
        scenario="name: bad\ntime: {slots: 2\n",
    ),
    Case(
        "duplicate top-level key",
        ("bad.yaml", "line 2", "duplicate key 'name'"),
        scenario="name: bad\nname: again\n",
        issue=True,
    ),
    Case(
        "duplicate nested key",
        ("bad.yaml", "line 4", "duplicate key 'slots'", "line 3"),
        scenario="name: bad\ntime:\n  slots: 2\n  slots: 4\n",
        issue=True,
    ),
    Case(
        "impossible date in the file",
        ("bad.yaml", "line 2", "invalid date '2017-02-30'"),
        scenario="name: bad\ntime: {start: 2017-02-30, slots: 2}\n",
        issue=True,
    ),
    Case(
        "top level is a list",
        ("bad.yaml", "(top level)", "expected a mapping"),
        scenario="- name: bad\n",
    ),
    Case(
        "unknown key",
        ("bad.yaml", "time.slotz", "unknown key; allowed here"),
        sets=("time.slotz=3",),
    ),
    Case("name missing", ("bad.yaml", "name", "required key is missing"), scenario="seed: 1\n"),
    Case("wrong type", ("bad.yaml", "time.slots", "valid integer"), sets=("time.slots=many",)),
    Case(
        "zero slots",
        ("bad.yaml", "time.slots", "greater than or equal to 1"),
        sets=("time.slots=0",),
    ),
    Case(
        "slot length",
        ("bad.yaml", "time.slot_minutes", "15, 30 or 60"),
        sets=("time.slot_minutes=20",),
    ),
    Case(
        "start before 1900",
        ("bad.yaml", "time.start", "between the years 1900 and 2200"),
        sets=("time.start=1850-01-01",),
    ),
    Case(
        "horizon past 2200",
        ("bad.yaml", "time.slots", "ending by the year 2200"),
        sets=("time.start=2199-01-01", "time.slots=100000", "time.slot_minutes=60"),
    ),
    # ---- --set
    Case(
        "--set without =", ("bad.yaml", "--set time.slots", "KEY.PATH=VALUE"), sets=("time.slots",)
    ),
    Case(
        "--set impossible date",
        ("bad.yaml", "time.start", "invalid date '2017-02-30'"),
        sets=("time.start=2017-02-30",),
        issue=True,
    ),
    Case(
        "--set invalid YAML",
        ("bad.yaml", "time.slots", "not a valid YAML value"),
        sets=("time.slots=[1",),
    ),
    Case(
        "--set inside a value",
        ("bad.yaml", "name", "is a value, not a section"),
        sets=("name.x=1",),
    ),
    # ---- numbers and bands
    Case(
        "infinite price",
        ("bad.yaml", "market.retail_price", "finite number"),
        sets=("market.retail_price=.inf",),
        issue=True,
    ),
    Case(
        "NaN tariff",
        ("bad.yaml", "market.feed_in_tariff", "finite number"),
        sets=("market.feed_in_tariff=.nan",),
    ),
    Case(
        "infinite household rating",
        ("bad.yaml", "network.household_rating_kw", "finite"),
        sets=("network.household_rating_kw=.inf",),
    ),
    Case(
        "negative PV size",
        ("bad.yaml", "participants.pv_kwp", "greater than 0"),
        sets=("participants.pv_kwp=-1",),
    ),
    Case(
        "penetration above 1",
        ("bad.yaml", "participants.pv_penetration", "less than or"),
        sets=("participants.pv_penetration=1.5",),
    ),
    Case(
        "tariff above price",
        ("bad.yaml", "market", "feed_in_tariff (0.5) <= retail_price"),
        sets=("market.feed_in_tariff=0.5",),
    ),
    Case(
        "empty voltage band, lindistflow",
        ("bad.yaml", "grid.v_min_pu", "band is empty"),
        sets=("grid.v_min_pu=1.1", "grid.v_max_pu=0.9", "market.network_check=lindistflow"),
        issue=True,
    ),
    Case(
        "empty voltage band",
        ("bad.yaml", "grid.v_min_pu", "below grid.v_max_pu"),
        sets=("grid.v_min_pu=1.0", "grid.v_max_pu=1.0"),
    ),
    Case(
        "margins eat the band",
        ("bad.yaml", "market.network_voltage_margin_pu", "band"),
        sets=("market.network_check=lindistflow", "market.network_voltage_margin_pu=0.06"),
    ),
    Case(
        "battery bounds",
        ("bad.yaml", "battery", "soc_min_fraction (0.9) <= soc_max"),
        sets=("battery.soc_min_fraction=0.9", "battery.soc_max_fraction=0.5"),
    ),
    Case(
        "small keys",
        ("bad.yaml", "settlement.key_bits", "insecure_test_keys"),
        sets=("settlement.key_bits=1024",),
    ),
    Case(
        "model twice",
        ("bad.yaml", "settlement.models", "each model at most once"),
        sets=("settlement.models=[retail, retail]",),
    ),
    # ---- networks
    Case(
        "network file missing",
        ("bad.yaml", "network.name", "no file at"),
        sets=("network.name=nowhere.json",),
    ),
    Case(
        "network file not a network",
        ("bad.yaml", "network.name", "its bus is a int, not a table"),
        sets=("network.name=net.json",),
        files={"net.json": '{"bus": 1}'},
    ),
    Case(
        "network without loads",
        ("bad.yaml", "network.name", "no loads"),
        sets=("network.name=net.json",),
        files={"net.json": _net_json("no_loads")},
    ),
    Case(
        "participant on an isolated bus",
        ("bad.yaml", "network.name", "bus 3 (load 1)", "not connected"),
        sets=("network.name=net.json",),
        files={"net.json": _net_json("isolated")},
        issue=True,
    ),
    Case(
        "participant behind an open switch",
        ("bad.yaml", "network.name", "not connected"),
        sets=("network.name=net.json",),
        files={"net.json": _net_json("open_switch")},
    ),
    Case(
        "participant bus out of service",
        ("bad.yaml", "network.name", "out of service"),
        sets=("network.name=net.json",),
        files={"net.json": _net_json("bus_out_of_service")},
    ),
    Case(
        "20 kV loads taken as households",
        ("bad.yaml", "checks.max_participant_bus_kv", "20 kV", "medium-voltage"),
        sets=("network.name=net.json",),
        files={"net.json": _net_json("mv_loads")},
        allow=("checks.max_participant_bus_kv=30",),
        issue=True,
    ),
    Case(
        "unknown cosim_kind",
        ("net.json", "load.cosim_kind", "'villa'"),
        sets=("network.name=net.json",),
        files={"net.json": _net_json("bad_kind")},
    ),
    Case(
        "negative network load",
        ("net.json", "load.p_mw", "non-negative"),
        sets=("network.name=net.json",),
        files={"net.json": _net_json("negative_load")},
    ),
    Case(
        "network loads in kW as MW",
        ("net.json", "network.household_rating_kw", "are the loads' p_mw in kW?"),
        sets=("network.name=net.json",),
        files={"net.json": _net_json("loads_in_kw")},
    ),
    Case(
        "tiny household rating",
        ("bad.yaml", "network.household_rating_kw", "greater than or equal to 0.1"),
        sets=("network.household_rating_kw=0.001",),
    ),
    # ---- profile files
    Case(
        "profile value above 1 GW",
        ("p.csv", "home_p_kw", "expected at most 1e+06"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": _csv({"home_p_kw": 1e300})},
    ),
    Case(
        "profile file missing",
        ("nope.csv", "file", "profile file not found"),
        sets=("participants.load_profiles=nope.csv",),
    ),
    Case(
        "profile header only",
        ("p.csv", "time", "at least 2 rows of data"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": "time,home_p_kw\n"},
        issue=True,
    ),
    Case(
        "profile empty file",
        ("p.csv", "file", "the file is empty"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": ""},
    ),
    Case(
        "profile not UTF-8",
        ("p.csv", "file", "UTF-8"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": b"time,a\xff_p_kw\n\xfe,1\n"},
    ),
    Case(
        "one-day profile, other dates",
        ("p.csv", "time.start", "the profile table covers"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": DAY},
        issue=True,
    ),
    Case(
        "profile covers the day but not the shifts",
        ("p.csv", "time.start", "including time shifts"),
        sets=(
            "participants.load_profiles=p.csv",
            "time.start=2024-01-01",
            "time.slots=48",
            "participants.profile_shift_minutes=60",
        ),
        files={"p.csv": DAY},
    ),
    Case(
        "commercial profile too short",
        ("c.csv", "time.start", "covers"),
        sets=("participants.commercial_profiles=c.csv",),
        files={"c.csv": _csv({"shop_p_kw": 5.0}, days=1)},
    ),
    Case(
        "PV profile too short",
        ("v.csv", "time.start", "covers"),
        sets=("participants.pv_profiles=v.csv",),
        files={"v.csv": _csv({"roof_p_kw_per_kwp": 0.5}, days=1)},
    ),
    Case(
        "no time column",
        ("p.csv", "time", "no 'time' column"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": "t,a_p_kw\n1,2\n2,3\n"},
    ),
    Case(
        "semicolons",
        ("p.csv", "time", "comma-separated"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": "time;a_p_kw\n2024-01-01T00:00Z;1\n2024-01-01T00:15Z;1\n"},
    ),
    Case(
        "load column without unit",
        ("p.csv", "home_kw", "<profile name>_p_kw"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": _csv({"home_kw": 0.4})},
    ),
    Case(
        "PV table with load unit",
        ("v.csv", "roof_p_kw", "_p_kw_per_kwp"),
        sets=("participants.pv_profiles=v.csv",),
        files={"v.csv": _csv({"roof_p_kw": 0.4})},
    ),
    Case(
        "negative load value",
        ("p.csv", "home_p_kw", "negative value -1"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": _csv({"home_p_kw": -1.0})},
    ),
    Case(
        "non-numeric value",
        ("p.csv", "a_p_kw", "non-numeric value 'x'"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": "time,a_p_kw\n2024-01-01T00:00Z,1\n2024-01-01T00:15Z,x\n"},
    ),
    Case(
        "empty value",
        ("p.csv", "a_p_kw", "missing value"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": "time,a_p_kw\n2024-01-01T00:00Z,1\n2024-01-01T00:15Z,\n"},
    ),
    Case(
        "irregular steps",
        ("p.csv", "time", "evenly spaced"),
        sets=("participants.load_profiles=p.csv",),
        files={
            "p.csv": "time,a_p_kw\n2024-01-01T00:00Z,1\n2024-01-01T00:15Z,1\n2024-01-01T00:45Z,1\n"
        },
    ),
    Case(
        "timestamps out of order",
        ("p.csv", "time", "strictly increasing"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": "time,a_p_kw\n2024-01-01T00:15Z,1\n2024-01-01T00:00Z,1\n"},
    ),
    Case(
        "unparseable timestamp",
        ("p.csv", "time", "cannot parse timestamp '1.1.2024'"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": "time,a_p_kw\n1.1.2024,1\n2.1.2024,1\n"},
    ),
    Case(
        "all-zero column scaled",
        ("p.csv", "home_p_kw", "all values are 0"),
        sets=("participants.load_profiles=p.csv", "participants.load_scaling=annual_energy"),
        files={"p.csv": _csv({"home_p_kw": 0.0})},
    ),
    # ---- plausibility limits
    Case(
        "load profile in W",
        (
            "bad.yaml",
            "participants.load_profiles",
            "mean household load 400 kW",
            "is the file in W?",
        ),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": YEAR_W},
        allow=NO_LIMIT,
        issue=True,
    ),
    Case(
        "load profile in MW",
        ("bad.yaml", "participants.load_profiles", "in MW?"),
        sets=("participants.load_profiles=p.csv",),
        files={"p.csv": YEAR_MW},
        allow=("checks.min_household_mean_kw=0",),
    ),
    Case(
        "annual energy in Wh",
        ("bad.yaml", "participants.annual_load_kwh", "is it in Wh?"),
        sets=("participants.annual_load_kwh=3.5e6",),
        allow=NO_LIMIT,
    ),
    Case(
        "commercial profile in W",
        ("bad.yaml", "participants.commercial_profiles", "is the file in W?"),
        sets=("participants.commercial_profiles=c.csv",),
        files={"c.csv": _csv({"shop_p_kw": 20000.0})},
        allow=("checks.max_commercial_mean_kw=1e5",),
    ),
    Case(
        "PV in W/kWp",
        ("bad.yaml", "participants.pv_profiles", "W/kWp"),
        sets=("participants.pv_profiles=v.csv",),
        files={"v.csv": _year_pv(850.0)},
        allow=NO_LIMIT,
        issue=True,
    ),
    Case(
        "PV size in W",
        ("bad.yaml", "participants.pv_kwp", "1e+06 kWp", "is it in W?"),
        sets=("participants.pv_kwp=1e6",),
        allow=("checks.max_pv_kwp=1e7",),
        issue=True,
    ),
    Case(
        "battery in Wh",
        ("bad.yaml", "battery.capacity_kwh", "is it in Wh?"),
        sets=("battery.capacity_kwh=5000",),
        allow=NO_LIMIT,
    ),
]


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a case's files into a fresh folder and work there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSIM_DEBUG", raising=False)

    def write(case: Case) -> Path:
        for name, content in case.files.items():
            if isinstance(content, bytes):
                (tmp_path / name).write_bytes(content)
            else:
                (tmp_path / name).write_text(content, encoding="utf-8")
        scenario = tmp_path / ("bad.yaml" if case.scenario else "missing.yaml")
        if case.scenario:
            scenario.write_text(case.scenario, encoding="utf-8")
        return scenario

    return write


def _args(command: str, scenario: Path, sets: tuple[str, ...], out: Path) -> list[str]:
    args = [command, str(scenario)]
    for item in sets:
        args += ["--set", item]
    if command == "run":
        args += ["--out", str(out), "--quiet"]
    return args


def test_catalogue_is_large_and_covers_the_issue() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(c.issue for c in CASES) >= 11


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_exit_2_with_one_line(
    case: Case, command: str, place, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = place(case)
    out = tmp_path / "out"
    code = main(_args(command, scenario, case.sets, out))
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("cosim: "), captured.err
    for fragment in case.expect:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in captured.err and "internal error" not in captured.err
    assert not list(out.glob("*.csv")), "a refused run wrote results"


@pytest.mark.parametrize("case", [c for c in CASES if c.allow], ids=lambda c: c.id)
def test_plausibility_limits_yield_to_their_keys(
    case: Case, place, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = place(case)
    code = main(_args("validate", scenario, case.sets + case.allow, Path("unused")))
    assert code == 0, capsys.readouterr().err


def test_network_fixtures_are_otherwise_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The defect, not the rest of the small network, is what the cases refuse."""
    (tmp_path / "net.json").write_text(_net_json("none"), encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(BASE, encoding="utf-8")
    code = main(["validate", str(tmp_path / "bad.yaml"), "--set", "network.name=net.json"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(_net_json("none"))["_class"] == "pandapowerNet"
