"""Tests for cosim.participants.profiles: reading, validation, slot energies, tables, assignment.

Reference energies are computed independently of ``slot_energy`` by explicit summation over a
1-minute upsampling of small hand-made tables.
"""

from __future__ import annotations

from datetime import timedelta, timezone, tzinfo
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosim.errors import InputError
from cosim.participants.profiles import (
    ProfileTable,
    assign_profiles,
    builtin_profiles,
    read_profile_csv,
    slot_energy,
)

UTC = "UTC"


def make_table(
    values: np.ndarray, start: str, step_minutes: int, tz: str | tzinfo = UTC
) -> ProfileTable:
    """A ProfileTable over ``values`` (1-d: one column; 2-d: several)."""
    values = np.asarray(values, dtype="float64")
    if values.ndim == 1:
        values = values[:, None]
    names = tuple(f"c{i}" for i in range(values.shape[1]))
    return ProfileTable("test-table", pd.Timestamp(start, tz=tz), step_minutes, names, values)


def minute_energy(values: np.ndarray, step_minutes: int) -> np.ndarray:
    """Energy of each minute [kWh] of a piecewise-constant 1-d power series [kW]."""
    return np.repeat(np.asarray(values, dtype="float64"), step_minutes) / 60.0


def reference(
    values: np.ndarray, step_minutes: int, first_minute: int, slots: int, slot_minutes: int
) -> np.ndarray:
    """Slot energies by explicit summation over minutes, for whole-minute offsets."""
    per_minute = minute_energy(values, step_minutes)
    return np.array(
        [
            per_minute[
                first_minute + j * slot_minutes : first_minute + (j + 1) * slot_minutes
            ].sum()
            for j in range(slots)
        ]
    )


def energies(
    table: ProfileTable,
    start: str,
    slots: int,
    slot_minutes: int,
    shift: float = 0.0,
    column: int = 0,
) -> np.ndarray:
    return slot_energy(
        table, np.array([column]), np.array([shift]), pd.Timestamp(start), slots, slot_minutes
    )[:, 0]


# --------------------------------------------------------------------------------------------
# slot_energy: resampling and conservation (absolute tables)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def day_15min() -> np.ndarray:
    return np.random.default_rng(42).uniform(0.0, 3.0, size=96)


@pytest.mark.parametrize("slot_minutes", [15, 30, 60])
def test_downsampling_15min_data_sums_whole_steps(day_15min: np.ndarray, slot_minutes: int) -> None:
    table = make_table(day_15min, "2024-03-10", 15)
    slots = 24 * 60 // slot_minutes
    got = energies(table, "2024-03-10T00:00Z", slots, slot_minutes)
    per = slot_minutes // 15
    expected = day_15min.reshape(slots, per).sum(axis=1) * 0.25
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got.sum() == pytest.approx(day_15min.sum() * 0.25, abs=1e-12)


def test_upsampling_hourly_data_to_15min() -> None:
    hourly = np.array([1.0, 2.0, 0.0, 4.0, 0.5, 8.0])
    table = make_table(hourly, "2024-03-10", 60)
    got = energies(table, "2024-03-10T00:00Z", 24, 15)
    np.testing.assert_allclose(got, np.repeat(hourly, 4) / 4.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("first_minute", "slot_minutes", "slots"),
    [(5, 20, 60), (7, 45, 20), (1, 7, 150), (14, 60, 20), (0, 1440, 1), (3, 13, 100)],
)
def test_non_aligned_slots_match_minute_summation(
    day_15min: np.ndarray, first_minute: int, slot_minutes: int, slots: int
) -> None:
    table = make_table(day_15min, "2024-03-10", 15)
    start = pd.Timestamp("2024-03-10", tz=UTC) + pd.Timedelta(minutes=first_minute)
    got = energies(table, start.isoformat(), slots, slot_minutes)
    expected = reference(day_15min, 15, first_minute, slots, slot_minutes)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_resampling_chain_conserves_energy(day_15min: np.ndarray) -> None:
    table = make_table(day_15min, "2024-03-10", 15)
    total = day_15min.sum() * 0.25
    for slot_minutes in (15, 30, 60, 120, 1440):
        got = energies(table, "2024-03-10T00:00Z", 1440 // slot_minutes, slot_minutes)
        assert got.sum() == pytest.approx(total, abs=1e-12)
    # 15 -> 60 -> 15 again: hourly energies, spread back as an hourly table.
    hourly_kw = energies(table, "2024-03-10T00:00Z", 24, 60)  # kWh per hour == mean kW
    back = energies(make_table(hourly_kw, "2024-03-10", 60), "2024-03-10T00:00Z", 96, 15)
    assert back.sum() == pytest.approx(total, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    step=st.sampled_from([1, 5, 15, 60]),
    slot_minutes=st.integers(1, 180),
    first_minute=st.integers(0, 200),
    seed=st.integers(0, 2**16),
)
def test_property_energy_matches_minute_summation(
    step: int, slot_minutes: int, first_minute: int, seed: int
) -> None:
    steps = 2000 // step + 1
    values = np.random.default_rng(seed).uniform(0.0, 5.0, size=steps)
    table = make_table(values, "2024-05-01", step)
    slots = (steps * step - first_minute) // slot_minutes
    if slots < 1:
        return
    start = pd.Timestamp("2024-05-01", tz=UTC) + pd.Timedelta(minutes=first_minute)
    got = energies(table, start.isoformat(), slots, slot_minutes)
    expected = reference(values, step, first_minute, slots, slot_minutes)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_several_columns_and_repeats() -> None:
    values = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    table = make_table(values, "2024-01-10", 60)
    got = slot_energy(
        table, np.array([1, 0, 1]), np.zeros(3), pd.Timestamp("2024-01-10T01:00Z"), 2, 60
    )
    np.testing.assert_allclose(got, [[20.0, 2.0, 20.0], [30.0, 3.0, 30.0]])


def test_naive_start_is_utc() -> None:
    table = make_table(np.arange(1.0, 5.0), "2024-01-10", 60)
    got = slot_energy(table, np.array([0]), np.zeros(1), pd.Timestamp("2024-01-10 02:00"), 2, 60)
    np.testing.assert_allclose(got[:, 0], [3.0, 4.0])


def test_start_in_other_time_zone_is_converted() -> None:
    table = make_table(np.arange(1.0, 5.0), "2024-01-10", 60)
    got = energies(table, "2024-01-10T03:00+02:00", 2, 60)  # 01:00 UTC
    np.testing.assert_allclose(got, [2.0, 3.0])


def test_empty_requests() -> None:
    table = make_table(np.ones(4), "2024-01-10", 60)
    start = pd.Timestamp("2024-01-10", tz=UTC)
    assert slot_energy(table, np.array([0]), np.zeros(1), start, 0, 60).shape == (0, 1)
    assert slot_energy(table, np.array([], dtype=int), np.zeros(0), start, 3, 60).shape == (3, 0)


@pytest.mark.parametrize(
    ("columns", "shifts", "slot_minutes"),
    [
        (np.array([0, 1]), np.zeros(1), 60),
        (np.array([2]), np.zeros(1), 60),
        (np.array([-1]), np.zeros(1), 60),
        (np.array([0.0]), np.zeros(1), 60),
        (np.array([0]), np.array([np.nan]), 60),
        (np.array([0]), np.zeros(1), 0),
    ],
)
def test_bad_arguments_raise_value_error(
    columns: np.ndarray, shifts: np.ndarray, slot_minutes: int
) -> None:
    table = make_table(np.ones((4, 2)), "2024-01-10", 60)
    with pytest.raises(ValueError):
        slot_energy(table, columns, shifts, table.start, 2, slot_minutes)


# --------------------------------------------------------------------------------------------
# Absolute alignment: coverage
# --------------------------------------------------------------------------------------------


def test_absolute_alignment_uses_timestamps() -> None:
    values = np.arange(48.0)
    table = make_table(values, "2024-06-01", 60)
    got = energies(table, "2024-06-01T12:00Z", 6, 60)
    np.testing.assert_allclose(got, values[12:18])
    # the full table, to the last step
    assert energies(table, "2024-06-01T00:00Z", 48, 60).sum() == pytest.approx(values.sum())


@pytest.mark.parametrize("start", ["2024-06-02T12:00Z", "2024-05-31T23:00Z", "2025-06-01T00:00Z"])
def test_absolute_table_not_covering_scenario_raises(start: str) -> None:
    table = make_table(np.ones(48), "2024-06-01", 60)
    with pytest.raises(InputError) as info:
        energies(table, start, 24, 60)
    assert info.value.file == "test-table"
    assert info.value.key == "time.start"
    message = str(info.value)
    assert "covers 2024-06-01T00:00:00+00:00 to 2024-06-03T00:00:00+00:00" in message
    assert "the scenario needs" in message


def test_absolute_shift_is_taken_from_earlier_times() -> None:
    values = np.arange(48.0)
    table = make_table(values, "2024-06-01", 60)
    got = slot_energy(
        table,
        np.array([0, 0, 0]),
        np.array([0.0, 120.0, -60.0]),
        pd.Timestamp("2024-06-01T10:00Z"),
        3,
        60,
    )
    np.testing.assert_allclose(got[:, 0], values[10:13])
    np.testing.assert_allclose(got[:, 1], values[8:11])
    np.testing.assert_allclose(got[:, 2], values[11:14])


def test_absolute_shift_outside_coverage_raises() -> None:
    table = make_table(np.ones(48), "2024-06-01", 60)
    with pytest.raises(InputError, match="time shifts") as info:
        slot_energy(
            table, np.array([0]), np.array([120.0]), pd.Timestamp("2024-06-01T01:00Z"), 3, 60
        )
    assert "2024-05-31T23:00:00+00:00" in str(info.value)


# --------------------------------------------------------------------------------------------
# Typical years
# --------------------------------------------------------------------------------------------


def year_table(days: int, start: str = "2015-01-01", tz: str | tzinfo = UTC) -> ProfileTable:
    """Hourly table whose value at row k is k + 1 (so the energy names the row)."""
    return make_table(np.arange(1.0, days * 24 + 1.0), start, 60, tz=tz)


def test_typical_year_maps_by_offset_from_jan_1() -> None:
    table = year_table(365)
    assert table.is_typical_year
    # 2022-03-05 10:00 is 63 days + 10 h after Jan 1.
    got = energies(table, "2022-03-05T10:00Z", 3, 60)
    row = 63 * 24 + 10
    np.testing.assert_allclose(got, [row + 1, row + 2, row + 3])


def test_typical_year_wraps_across_new_year() -> None:
    table = year_table(365)
    got = energies(table, "2017-12-31T22:00Z", 4, 60)
    np.testing.assert_allclose(got, [8759.0, 8760.0, 1.0, 2.0])


def test_slot_straddling_new_year_is_split() -> None:
    table = year_table(365)
    got = energies(table, "2017-12-31T23:30Z", 2, 60)
    np.testing.assert_allclose(got, [0.5 * 8760 + 0.5 * 1, 0.5 * 1 + 0.5 * 2])


def test_leap_table_in_common_year_skips_its_dec_31() -> None:
    table = year_table(366, start="2016-01-01")
    # Dec 31 2018 23:00 is 364 d 23 h after Jan 1: the table's Dec 30 23:00 (row 8759).
    got = energies(table, "2018-12-31T23:00Z", 2, 60)
    np.testing.assert_allclose(got, [8760.0, 1.0])
    # A whole common year uses the first 365 days of the table.
    year = energies(table, "2018-01-01T00:00Z", 365 * 24, 60)
    np.testing.assert_allclose(year, np.arange(1.0, 8761.0))


def test_common_table_in_leap_year_wraps_dec_31_to_jan_1() -> None:
    table = year_table(365)
    got = energies(table, "2020-12-31T00:00Z", 24, 60)  # 365 days after Jan 1 2020
    np.testing.assert_allclose(got, np.arange(1.0, 25.0))


def test_multi_year_run_energy() -> None:
    table = year_table(365)
    total = table.values.sum()
    got = energies(table, "2021-01-01T00:00Z", (365 + 365) * 24 // 4, 240)
    assert got.sum() == pytest.approx(2 * total, rel=1e-12)


def test_typical_year_starting_mid_year_uses_its_first_jan_1() -> None:
    table = year_table(365, start="2015-07-01")  # first Jan 1 is 184 days in
    got = energies(table, "2030-01-01T00:00Z", 2, 60)
    row = 184 * 24
    np.testing.assert_allclose(got, [row + 1, row + 2])


def test_typical_year_in_fixed_offset_time_zone() -> None:
    tz = timezone(timedelta(hours=1))
    table = year_table(365, start="2015-01-01", tz=tz)
    # 2016-12-31T23:00Z is Jan 1 2017 00:00 at +01:00: row 0.
    got = energies(table, "2016-12-31T23:00Z", 2, 60)
    np.testing.assert_allclose(got, [1.0, 2.0])


def test_typical_year_shift_wraps_cyclically() -> None:
    table = year_table(365)
    got = slot_energy(
        table,
        np.array([0, 0, 0]),
        np.array([0.0, 60.0, -90.0]),
        pd.Timestamp("2019-01-01T00:00Z"),
        3,
        60,
    )
    np.testing.assert_allclose(got[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(got[:, 1], [8760.0, 1.0, 2.0])  # from one hour earlier
    np.testing.assert_allclose(got[:, 2], [0.5 * 2 + 0.5 * 3, 3.5, 4.5])  # 90 min later


def test_shifted_columns_are_rolled_copies() -> None:
    values = np.random.default_rng(3).uniform(0, 1, size=365 * 96)
    table = make_table(values, "2015-01-01", 15)
    got = slot_energy(
        table,
        np.array([0, 0]),
        np.array([0.0, 45.0]),
        pd.Timestamp("2019-01-01T00:00Z"),
        365 * 96,
        15,
    )
    np.testing.assert_allclose(got[:, 1], np.roll(got[:, 0], 3), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got[:, 0], values * 0.25, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# read_profile_csv
# --------------------------------------------------------------------------------------------


def write_csv(tmp_path: Path, text: str, name: str = "profile.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = (
    "time,a_p_kw,b_p_kw\n"
    "2024-01-01T00:00:00+00:00,1.5,0\n"
    "2024-01-01T00:15:00+00:00,2,0.25\n"
    "2024-01-01T00:30:00+00:00,3e-1,1\n"
)


def test_read_good_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD)
    table = read_profile_csv(path, "_p_kw")
    assert table.source == str(path)
    assert table.names == ("a", "b")
    assert table.step_minutes == 15
    assert table.start == pd.Timestamp("2024-01-01", tz=UTC)
    assert table.steps == 3
    assert table.end == pd.Timestamp("2024-01-01T00:45Z")
    assert table.values.dtype == np.float64
    np.testing.assert_array_equal(table.values, [[1.5, 0.0], [2.0, 0.25], [0.3, 1.0]])
    assert table.column("b") == 1


def test_naive_timestamps_are_utc(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "time,x_p_kw\n2024-01-01 00:00,1\n2024-01-01 01:00,2\n")
    table = read_profile_csv(path, "_p_kw")
    assert str(table.start.tz) == "UTC"
    assert table.step_minutes == 60


def test_offset_of_first_timestamp_is_kept(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "time,x_p_kw\n2024-01-01T00:00+01:00,1\n2024-01-01T01:00+01:00,2\n")
    table = read_profile_csv(path, "_p_kw")
    assert table.start.isoformat() == "2024-01-01T00:00:00+01:00"


def test_unknown_profile_name(tmp_path: Path) -> None:
    table = read_profile_csv(write_csv(tmp_path, GOOD), "_p_kw")
    with pytest.raises(InputError, match="available: a, b"):
        table.column("zz")


HEADER = "time,a_p_kw\n"


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("", "file", "empty"),
        ("a_p_kw,b_p_kw\n1,2\n3,4\n", "time", "no 'time' column"),
        ("time;a_p_kw\n2024-01-01 00:00;1\n2024-01-01 00:15;2\n", "time", "comma-separated"),
        (
            HEADER + "yesterday,1\n2024-01-01T00:15Z,2\n",
            "time",
            "cannot parse timestamp 'yesterday' in data row 1",
        ),
        (HEADER + "2024-01-01T00:00Z,1\n,2\n", "time", "empty timestamp"),
        (
            HEADER + "2024-01-01T00:00Z,1\n2024-13-01T00:15Z,2\n",
            "time",
            "cannot parse timestamp '2024-13-01T00:15Z' in data row 2",
        ),
        (
            HEADER + "2024-01-01T00:15Z,1\n2024-01-01T00:00Z,2\n",
            "time",
            "strictly increasing; 2024-01-01T00:00:00+00:00 follows",
        ),
        (HEADER + "2024-01-01T00:00Z,1\n2024-01-01T00:00Z,2\n", "time", "strictly increasing"),
        (
            HEADER + "2024-01-01T00:00Z,1\n2024-01-01T00:15Z,2\n2024-01-01T00:45Z,3\n",
            "time",
            "evenly spaced (gap or irregular step at 2024-01-01T00:45:00+00:00",
        ),
        (HEADER + "2024-01-01T00:00:00Z,1\n2024-01-01T00:00:30Z,2\n", "time", "whole number"),
        (HEADER + "2024-01-01T00:00Z,1\n", "time", "at least 2 rows"),
        ("time\n2024-01-01T00:00Z\n2024-01-01T00:15Z\n", "columns", "no data columns"),
        (
            "time,a_kw\n2024-01-01T00:00Z,1\n2024-01-01T00:15Z,2\n",
            "a_kw",
            "must be <profile name>_p_kw; found 'a_kw'",
        ),
        ("time,_p_kw\n2024-01-01T00:00Z,1\n2024-01-01T00:15Z,2\n", "_p_kw", "profile name"),
        (
            HEADER + "2024-01-01T00:00Z,1\n2024-01-01T00:15Z,\n",
            "a_p_kw",
            "missing value at 2024-01-01T00:15:00+00:00",
        ),
        (
            HEADER + "2024-01-01T00:00Z,1\n2024-01-01T00:15Z,NaN\n",
            "a_p_kw",
            "missing value at 2024-01-01T00:15:00+00:00",
        ),
        (
            HEADER + "2024-01-01T00:00Z,1\n2024-01-01T00:15Z,abc\n",
            "a_p_kw",
            "non-numeric value 'abc' at 2024-01-01T00:15:00+00:00",
        ),
        (HEADER + "2024-01-01T00:00Z,inf\n2024-01-01T00:15Z,1\n", "a_p_kw", "finite"),
        (
            HEADER + "2024-01-01T00:00Z,1\n2024-01-01T00:15Z,-0.5\n",
            "a_p_kw",
            "negative value -0.5 at 2024-01-01T00:15:00+00:00",
        ),
    ],
)
def test_validation_errors_name_file_and_key(
    tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    path = write_csv(tmp_path, text)
    with pytest.raises(InputError) as info:
        read_profile_csv(path, "_p_kw")
    message = str(info.value)
    assert info.value.file == str(path)
    assert info.value.key == key
    assert str(path) in message
    assert f": {key}: " in message
    assert fragment in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(InputError, match="not found") as info:
        read_profile_csv(path, "_p_kw")
    assert str(path) in str(info.value)
    assert info.value.key == "file"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_profile_csv(tmp_path, "_p_kw")


def test_binary_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"time,a_p_kw\n\xff\xfe\x00\x81,1\n")
    with pytest.raises(InputError) as info:
        read_profile_csv(path, "_p_kw")
    assert str(path) in str(info.value)


def test_pv_suffix_is_distinct_from_load_suffix(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "time,PV1_p_kw_per_kwp\n2024-01-01T00:00Z,0.5\n2024-01-01T00:15Z,0.6\n"
    )
    assert read_profile_csv(path, "_p_kw_per_kwp").names == ("PV1",)
    with pytest.raises(InputError, match="_p_kw; found 'PV1_p_kw_per_kwp'"):
        read_profile_csv(path, "_p_kw")


# --------------------------------------------------------------------------------------------
# Built-in tables
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        ("household", ("H0-A", "H0-B", "H0-C", "H0-G", "H0-L")),
        ("commercial", ("G0-A", "G1-A", "G3-A")),
        ("pv", tuple(f"PV{i}" for i in range(1, 9))),
    ],
)
def test_builtin_tables(kind: str, names: tuple[str, ...]) -> None:
    table = builtin_profiles(kind)
    assert table.source == f"builtin:{kind}"
    assert table.names == names
    assert table.start == pd.Timestamp("2016-01-01T00:00:00+00:00")
    assert str(table.start.tz) == "UTC"
    assert table.step_minutes == 15
    assert table.values.shape == (366 * 96, len(names))
    assert table.is_typical_year
    assert np.all(table.values >= 0)
    assert builtin_profiles(kind) is table  # cached
    with pytest.raises(ValueError):
        table.values[0, 0] = 1.0  # read-only: the cached table cannot be changed


def test_builtin_files_have_unit_suffixes() -> None:
    profiles = Path(__file__).resolve().parents[1] / "cosim" / "data" / "profiles"
    for name, suffix in [
        ("household_load.csv", "_p_kw"),
        ("commercial_load.csv", "_p_kw"),
        ("pv.csv", "_p_kw_per_kwp"),
    ]:
        header = (profiles / name).read_text().split("\n", 1)[0].split(",")
        assert header[0] == "time"
        assert all(c.endswith(suffix) for c in header[1:])


@pytest.mark.parametrize("kind", ["household", "commercial"])
def test_builtin_loads_are_1000_kwh_a_year(kind: str) -> None:
    table = builtin_profiles(kind)
    annual = table.values.sum(axis=0) * 0.25  # explicit: kW x 0.25 h per step
    np.testing.assert_allclose(annual, 1000.0, rtol=0, atol=1e-3)
    # and through slot_energy over the table's own (leap) year, hourly slots
    n = len(table.names)
    got = slot_energy(
        table, np.arange(n), np.zeros(n), pd.Timestamp("2016-01-01T00:00Z"), 366 * 24, 60
    )
    np.testing.assert_allclose(got.sum(axis=0), 1000.0, rtol=0, atol=1e-3)


def test_builtin_pv_is_relative_to_rated_power() -> None:
    table = builtin_profiles("pv")
    assert table.values.min() >= 0.0
    assert table.values.max() <= 1.1
    assert table.values[0].max() == 0.0  # midnight
    annual = table.values.sum(axis=0) * 0.25
    assert np.all((annual > 500) & (annual < 800))  # kWh/kWp in Germany


def test_unknown_builtin_kind() -> None:
    with pytest.raises(InputError, match="household, commercial, pv"):
        builtin_profiles("wind")


# --------------------------------------------------------------------------------------------
# assign_profiles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "n_profiles"), [(0, 5), (1, 5), (4, 5), (5, 5), (13, 5), (150, 8), (7, 1)]
)
def test_assign_profiles_is_even(n: int, n_profiles: int) -> None:
    got = assign_profiles(n, n_profiles, np.random.default_rng(0))
    assert got.shape == (n,)
    assert np.issubdtype(got.dtype, np.integer)
    assert np.all((got >= 0) & (got < n_profiles))
    counts = np.bincount(got, minlength=n_profiles)
    assert counts.min() >= n // n_profiles
    assert counts.max() <= -(-n // n_profiles)
    assert counts.sum() == n


def test_assign_profiles_is_deterministic_per_seed() -> None:
    a = assign_profiles(40, 5, np.random.default_rng(7))
    b = assign_profiles(40, 5, np.random.default_rng(7))
    c = assign_profiles(40, 5, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_assign_profiles_spreads_the_remainder() -> None:
    extra = set()
    for seed in range(20):
        counts = np.bincount(assign_profiles(6, 5, np.random.default_rng(seed)), minlength=5)
        extra.add(int(np.argmax(counts)))
    assert len(extra) > 1  # not always the first profile


@pytest.mark.parametrize(("n", "n_profiles"), [(-1, 5), (3, 0)])
def test_assign_profiles_rejects_bad_arguments(n: int, n_profiles: int) -> None:
    with pytest.raises(ValueError):
        assign_profiles(n, n_profiles, np.random.default_rng(0))


def test_annual_energy_of_tables() -> None:
    from cosim.participants.profiles import annual_energy_kwh

    start = pd.Timestamp("2024-01-01", tz="UTC")
    for days, expected in [(366, 0.5 * 24 * 366), (365, 0.5 * 24 * 365), (1, 0.5 * 8760)]:
        table = ProfileTable("t", start, 60, ("a",), np.full((days * 24, 1), 0.5))
        np.testing.assert_allclose(annual_energy_kwh(table), [expected], rtol=1e-12)
    two_years = ProfileTable("t", start, 60, ("a",), np.full((731 * 24, 1), 0.5))
    np.testing.assert_allclose(annual_energy_kwh(two_years), [0.5 * 8760], rtol=1e-12)
    assert annual_energy_kwh(builtin_profiles("household")).tolist() == [1000.0] * 5
