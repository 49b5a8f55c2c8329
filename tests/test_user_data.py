"""User data is taken as given; scaling and shifts only when scenario keys say so.

Also: an :class:`InputError` raised inside a SimPy process, or in a worker process, arrives
as itself (SimPy rebuilds a failed process's exception as ``type(exc)(*exc.args)``).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import simpy

from cosim.cli import main
from cosim.errors import InputError
from cosim.participants.profiles import builtin_profiles

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def _write_profile(path: Path, column: str, values: np.ndarray, start: str = "2024-01-01") -> None:
    times = pd.date_range(start, periods=len(values), freq="15min", tz="UTC")
    frame = pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%S+00:00"), column: values})
    frame.to_csv(path, index=False)


def _run(tmp_path: Path, *sets: str) -> Path:
    out = tmp_path / "out"
    args = ["run", str(QUICKSTART), "--out", str(out), "--quiet"]
    for item in sets:
        args += ["--set", item]
    assert main(args) == 0
    return out


def _household_days(out: Path) -> pd.Series:
    """Load of each household over the run [kWh] (the quickstart runs one day)."""
    parts = pd.read_csv(out / "participants.csv")
    info = pd.read_csv(out / "participants_info.csv")
    houses = info.loc[info["kind"] == "household", "participant"]
    return parts[parts["participant"].isin(houses)].groupby("participant")["load_kwh"].sum()


def test_constant_0_4_kw_file_is_9_6_kwh_per_household_day(tmp_path: Path) -> None:
    """The issue's reproduction: a year at 0.4 kW is 9.6 kWh a day, not ~35 kWh."""
    year = tmp_path / "year.csv"
    _write_profile(year, "h_p_kw", np.full(366 * 96, 0.4))
    out = _run(tmp_path, f"participants.load_profiles={year}")
    per_day = _household_days(out)
    assert len(per_day) > 50
    # slot energies are differences of the table's cumulative energy (~3,500 kWh at year end),
    # so they carry its rounding: ~1e-11 kWh per day
    np.testing.assert_allclose(per_day.to_numpy(), 9.6, rtol=0, atol=1e-9)
    info = pd.read_csv(out / "participants_info.csv")
    annual = info.loc[info["kind"] == "household", "annual_load_kwh"]
    np.testing.assert_allclose(annual, 0.4 * 24 * 366, rtol=1e-12)  # the file's own year


def test_user_file_is_not_shifted_unless_asked(tmp_path: Path) -> None:
    """Each slot's load is the file's energy in that slot, for every household."""
    t = pd.date_range("2024-01-01", periods=366 * 96, freq="15min", tz="UTC")
    power = 0.2 + 0.1 * (t.hour.to_numpy() % 6) + 0.01 * (t.minute.to_numpy() // 15)
    path = tmp_path / "steps.csv"
    _write_profile(path, "h_p_kw", power)
    out = _run(tmp_path, f"participants.load_profiles={path}")
    parts = pd.read_csv(out / "participants.csv")
    info = pd.read_csv(out / "participants_info.csv")
    houses = info.loc[info["kind"] == "household", "participant"]
    # quickstart: 2016-06-01, 48 half-hour slots; typical-year alignment by day of year
    day = (pd.Timestamp("2016-06-01", tz="UTC") - pd.Timestamp("2016-01-01", tz="UTC")).days
    quarter = power[day * 96 : (day + 1) * 96] * 0.25
    expected = quarter.reshape(48, 2).sum(axis=1)
    for _, one in parts[parts["participant"].isin(houses)].groupby("participant"):
        np.testing.assert_allclose(one["load_kwh"].to_numpy(), expected, rtol=0, atol=1e-9)

    # an explicit shift applies to user data too
    shifted = _run(
        tmp_path / "s",
        f"participants.load_profiles={path}",
        "participants.profile_shift_minutes=60",
    )
    parts = pd.read_csv(shifted / "participants.csv")
    differs = [
        not np.allclose(one["load_kwh"].to_numpy(), expected)
        for _, one in parts[parts["participant"].isin(houses)].groupby("participant")
    ]
    assert any(differs)


def test_annual_energy_scaling_applies_to_user_tables_as_to_builtin(tmp_path: Path) -> None:
    """load_scaling: annual_energy scales a user table by annual_load_kwh / its own energy."""
    year = tmp_path / "year.csv"
    _write_profile(year, "h_p_kw", np.full(366 * 96, 0.4))
    out = _run(
        tmp_path,
        f"participants.load_profiles={year}",
        "participants.load_scaling=annual_energy",
        "participants.annual_load_spread=0",
        "participants.annual_load_kwh=1756.8",
    )
    # the file's year holds 0.4 kW x 8784 h = 3513.6 kWh: half of it is 1756.8 kWh
    np.testing.assert_allclose(_household_days(out).to_numpy(), 4.8, rtol=1e-12)


def test_builtin_tables_can_be_used_as_given(tmp_path: Path) -> None:
    """as_given on the built-in shapes: households draw the table's 1,000 kWh a year."""
    out = _run(
        tmp_path, "participants.load_scaling=as_given", "participants.profile_shift_minutes=0"
    )
    info = pd.read_csv(out / "participants_info.csv")
    assert (info.loc[info["kind"] == "household", "annual_load_kwh"] == 1000.0).all()
    table = builtin_profiles("household")
    day = (pd.Timestamp("2016-06-01", tz="UTC") - pd.Timestamp("2016-01-01", tz="UTC")).days
    daily = table.values[day * 96 : (day + 1) * 96].sum(axis=0) * 0.25  # kWh per column
    got = _household_days(out).to_numpy()
    assert np.all(np.min(np.abs(got[:, None] - daily[None, :]), axis=1) < 1e-9)


def test_user_pv_file_times_kwp_without_shift(tmp_path: Path) -> None:
    t = pd.date_range("2024-01-01", periods=366 * 96, freq="15min", tz="UTC")
    hour = t.hour.to_numpy() + t.minute.to_numpy() / 60
    pv = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) * 0.8
    path = tmp_path / "pv.csv"
    _write_profile(path, "roof_p_kw_per_kwp", pv)
    out = _run(tmp_path, f"participants.pv_profiles={path}", "participants.pv_kwp=4")
    parts = pd.read_csv(out / "participants.csv")
    info = pd.read_csv(out / "participants_info.csv")
    day = 152  # 2016-06-01 is day 152 of the year
    expected = (pv[day * 96 : (day + 1) * 96] * 0.25 * 4).reshape(48, 2).sum(axis=1)
    with_pv = info.loc[info["pv_kwp"] > 0, "participant"]
    assert len(with_pv) > 10
    for _, one in parts[parts["participant"].isin(with_pv)].groupby("participant"):
        got = one["pv_kwh"].to_numpy() + one["pv_curtailed_kwh"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


# ------------------------------------------------------------------ InputError survives


def test_input_error_rebuilt_and_pickled_is_itself() -> None:
    err = InputError("s.yaml", "time.start", "expected a date")
    for copy in (type(err)(*err.args), pickle.loads(pickle.dumps(err))):
        assert isinstance(copy, InputError)
        assert (copy.file, copy.key, copy.expected) == ("s.yaml", "time.start", "expected a date")
        assert str(copy) == "s.yaml: time.start: expected a date"


def test_input_error_from_a_simpy_process_reaches_the_caller() -> None:
    env = simpy.Environment()

    def failing():  # a process like the engine's, failing on its second step
        yield env.timeout(1)
        raise InputError("p.csv", "time.start", "the profile table covers less")

    def waiting(proc):
        yield proc

    proc = env.process(failing())
    env.process(waiting(proc))
    with pytest.raises(InputError) as info:
        env.run()
    assert info.value.one_line() == "p.csv: time.start: the profile table covers less"


def test_input_error_during_a_run_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An InputError raised in the middle of a run (in a SimPy process) is one line, exit 2."""
    import cosim.participants.population as participants

    real = participants.slot_energy
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:  # after the build and the first block
            raise InputError("late.csv", "time.start", "data ran out")
        return real(*args, **kwargs)

    monkeypatch.setattr(participants, "slot_energy", flaky)
    code = main(
        [
            "run",
            str(QUICKSTART),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
            "--set",
            "output.chunk_slots=8",
            "--set",
            "output.background_writes=false",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip() == "cosim: late.csv: time.start: data ran out"


def test_validate_says_how_tables_are_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    year = tmp_path / "year.csv"
    _write_profile(year, "h_p_kw", np.full(366 * 96, 0.4))
    assert main(["validate", str(QUICKSTART), "--set", f"participants.load_profiles={year}"]) == 0
    out = capsys.readouterr().out
    assert f"households: {year} used as given [kW], shifts +-0 min" in out
    assert "businesses: builtin:commercial scaled to annual_energy, shifts +-60 min" in out
    assert "PV: builtin:pv x pv_kwp, shifts +-15 min" in out
