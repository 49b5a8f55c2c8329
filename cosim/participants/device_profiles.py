"""What the device fleets share: choosing owners, and their profiles read per slot.

A device type with a profile (the heat demand of :mod:`cosim.participants.heat` and
:mod:`cosim.participants.chp`, the wind output of :mod:`cosim.participants.wind`) reads a
built-in table of ``cosim/data/profiles/`` (``heat.csv``: kW_th of a building needing
1,000 kWh_th a year; ``wind.csv``: kW per kW of rated power; both derived from SimBench by
``scripts/derive_device_profiles.py``). :class:`OwnerProfiles` turns the table into energy per
slot for each owner once, at build time, with the energy-conserving resampling of
:func:`cosim.participants.profiles.slot_energy`: only the table's columns are resampled (an
array of slots by columns), each owner reads its column shifted by a whole number of slots.

Example
-------
>>> import numpy as np, pandas as pd
>>> times = pd.date_range("2016-01-01", periods=4, freq="h", tz="UTC")
>>> prof = OwnerProfiles("heat", times, 60, np.array([0, 0]), np.array([0, 1]))
>>> e = prof.slot(1)  # kWh_th in slot 1 of a building needing 1,000 kWh_th a year
>>> e.shape, bool(np.all(e >= 0))
((2,), True)
>>> bool(e[1] == prof.slot(0)[0])  # owner 1 reads the same column one slot later
True
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cosim.participants.profiles import PROFILE_DIR, ProfileTable, read_profile_csv, slot_energy

__all__ = ["DEVICE_PROFILE_FILES", "OwnerProfiles", "choose_owners", "device_profiles"]

#: Built-in device tables: name -> (file in ``cosim/data/profiles/``, unit suffix of columns).
DEVICE_PROFILE_FILES: dict[str, tuple[str, str]] = {
    "heat": ("heat.csv", "_p_kw_th"),
    "wind": ("wind.csv", "_p_kw_per_kw"),
}

DeviceProfileKind = Literal["heat", "wind"]


@cache
def device_profiles(kind: DeviceProfileKind) -> ProfileTable:
    """A built-in device table (cached, read-only): ``heat`` [kW_th per 1,000 kWh_th/a] or
    ``wind`` [kW/kW]; 2016, 15-minute steps, UTC, used as a typical year."""
    filename, suffix = DEVICE_PROFILE_FILES[kind]
    table = read_profile_csv(PROFILE_DIR / filename, suffix)
    table.values.setflags(write=False)
    return table


def choose_owners(
    kind: NDArray[np.str_], kinds: tuple[str, ...], share: float, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Owners of a device: round(share * N) of the N participants of ``kinds``, the first of
    one seeded permutation (so a higher share adds owners to a lower one's set).

    Returns
    -------
    owner : ndarray of int
        The owners (participant indices), sorted.
    pick : ndarray of int
        Their positions among the eligible participants (to pick per-owner values from draws
        made for every eligible participant, which keeps the draws independent of ``share``).
    n_eligible : int

    >>> choose_owners(np.array(["household"] * 4), ("household",), 0.5,
    ...               np.random.default_rng(0))[0].tolist()
    [0, 2]
    """
    eligible = np.flatnonzero(np.isin(np.asarray(kind).astype(str), kinds))
    order = rng.permutation(eligible.size)
    pick = np.sort(order[: round(share * eligible.size)]).astype(np.int64)
    return eligible[pick].astype(np.int64), pick, int(eligible.size)


class OwnerProfiles:
    """Energy per slot of a built-in device table for each owner.

    Parameters
    ----------
    kind : {"heat", "wind"}
        The table (:func:`device_profiles`).
    slot_times : pandas.DatetimeIndex
        Start of every slot of the run (tz-aware).
    slot_minutes : int
        Slot length [min].
    column : ndarray of int
        Table column of each owner.
    shift_slots : ndarray of int
        Each owner's shift [slots]: it reads slot ``k`` of its column at ``k - shift``.

    Attributes
    ----------
    values : ndarray, shape (slots + 2 m, columns)
        Energy of each table column in slot ``k - m`` at row ``k`` (``m`` the largest shift)
        [kWh per table unit: kWh_th per 1,000 kWh_th/a, or kWh per kW rated].
    """

    def __init__(
        self,
        kind: DeviceProfileKind,
        slot_times: pd.DatetimeIndex,
        slot_minutes: int,
        column: NDArray[np.int64],
        shift_slots: NDArray[np.int64],
    ) -> None:
        table = device_profiles(kind)
        self.names = table.names
        self.column = np.asarray(column, dtype=np.int64)
        shift = np.asarray(shift_slots, dtype=np.int64)
        self.margin = int(np.abs(shift).max()) if shift.size else 0
        self.row0 = self.margin - shift  # row of slot 0 for each owner
        slots = len(slot_times)
        if slots:
            start = slot_times[0] - pd.Timedelta(minutes=slot_minutes * self.margin)
            cols = np.arange(len(table.names))
            self.values = slot_energy(
                table, cols, np.zeros(cols.size), start, slots + 2 * self.margin, slot_minutes
            )
        else:
            self.values = np.zeros((0, len(table.names)))

    def slot(self, k: int) -> NDArray[np.float64]:
        """Each owner's energy in slot ``k`` [kWh per table unit]."""
        return self.values[self.row0 + k, self.column]
