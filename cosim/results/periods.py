"""Per-participant and per-bus tables at reduced granularity: one row per hour, day or month.

``participants.csv`` and ``buses.csv`` have one row per slot and participant (bus); a district
year of them is tens of gigabytes. With ``output.aggregate: hour | day | month`` a run also
writes ``participants_<period>`` and ``buses_<period>`` (e.g. ``participants_day.csv``): one
row per period and participant (bus), summed or summarised over the slots of the period, so
``output.participants: false`` with ``output.aggregate: day`` keeps per-participant results at
a 48th of the size. Periods follow the calendar of the slot start times (their time zone); the
first and the last period of a run may be partial (``slots`` says how many slots a row covers).

The running sums are part of the recorder's checkpoint; a resumed run writes the same rows as
an uninterrupted one, and an interrupted run's period tables end with the last complete period.

Columns (energies [kWh] are sums over the period's slots):

``participants_<period>``
    ``period`` (ISO start of the period), ``first_slot``, ``slots``, ``participant``, ``bus``,
    ``supplier``, ``load_kwh``, ``pv_kwh``, ``battery_kwh``, ``net_kwh``, ``import_kwh`` (sum
    of the positive net imports), ``export_kwh`` (of the negative ones, as a positive value),
    ``committed_kwh``, ``delivered_kwh``, ``deviation_kwh``, ``pv_curtailed_kwh``,
    ``device_kwh`` (every device's energy), ``accepted_slots`` (slots with a matched order),
    ``soc_kwh`` (battery state of charge at the end of the period).
``buses_<period>``
    ``period``, ``first_slot``, ``slots``, ``bus``, ``vm_min_pu``, ``vm_max_pu``,
    ``vm_mean_pu`` (over the slots with a converged power flow; empty if none), ``energy_mwh``
    (``buses.csv``'s ``p_mw``, positive = consumption, times the slot length, summed; a slot
    without a converged flow adds nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BUS_COLUMNS", "PARTICIPANT_COLUMNS", "PERIODS", "PeriodTables", "period_ids"]

#: Values of ``output.aggregate`` other than ``none``, with their pandas frequency.
PERIODS: dict[str, str] = {"hour": "h", "day": "D", "month": "M"}

_SUMS = (
    "load_kwh",
    "pv_kwh",
    "battery_kwh",
    "net_kwh",
    "committed_kwh",
    "delivered_kwh",
    "deviation_kwh",
    "pv_curtailed_kwh",
)
PARTICIPANT_COLUMNS: tuple[str, ...] = (
    "period",
    "first_slot",
    "slots",
    "participant",
    "bus",
    "supplier",
    *_SUMS[:4],
    "import_kwh",
    "export_kwh",
    *_SUMS[4:],
    "device_kwh",
    "accepted_slots",
    "soc_kwh",
)
BUS_COLUMNS: tuple[str, ...] = (
    "period",
    "first_slot",
    "slots",
    "bus",
    "vm_min_pu",
    "vm_max_pu",
    "vm_mean_pu",
    "energy_mwh",
)


def period_ids(slot_times: pd.DatetimeIndex, period: str) -> tuple[np.ndarray, list[str]]:
    """Index of each slot's period and the ISO start of every period.

    >>> times = pd.date_range("2016-06-01 22:00", periods=6, freq="1h", tz="UTC")
    >>> ids, starts = period_ids(times, "day")
    >>> ids.tolist(), starts
    ([0, 0, 1, 1, 1, 1], ['2016-06-01T00:00:00+00:00', '2016-06-02T00:00:00+00:00'])
    """
    if period == "month":
        floors = slot_times.tz_localize(None).to_period("M").to_timestamp()
        floors = floors.tz_localize(slot_times.tz) if slot_times.tz is not None else floors
    else:
        floors = slot_times.floor(PERIODS[period])
    codes, uniques = pd.factorize(floors)
    return codes.astype(np.int64), [t.isoformat() for t in uniques]


class PeriodTables:
    """Running sums of the period tables of one run (checkpointed with the recorder).

    Parameters
    ----------
    period : str
        ``hour``, ``day`` or ``month``.
    slot_times : pandas.DatetimeIndex
        Start of every slot of the run.
    slot_hours : float
        Slot length [h].
    bus_ids : numpy.ndarray
        The buses of the bus table, in the power flow's order.
    """

    def __init__(
        self, period: str, slot_times: pd.DatetimeIndex, slot_hours: float, bus_ids: np.ndarray
    ) -> None:
        self.period = period
        self._bus_ids = bus_ids
        self.tables = (f"participants_{period}", f"buses_{period}")
        self._ids, self._starts = period_ids(slot_times, period)
        self._slot_hours = slot_hours
        self._sums: dict[str, np.ndarray] = {}
        self._first = -1
        self._count = 0

    def add(
        self,
        k: int,
        participants: Mapping[str, Any],
        device_kwh: np.ndarray | None,
        vm_pu: np.ndarray,
        p_mw: np.ndarray,
        converged: bool,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Add slot ``k``; returns the rows of every table whose period ends with it."""
        s = self._sums
        net = np.asarray(participants["net_kwh"], dtype=np.float64)
        if self._count == 0:
            n, buses = net.size, vm_pu.size
            s.update({c: np.zeros(n) for c in (*_SUMS, "import_kwh", "export_kwh", "device_kwh")})
            s["accepted_slots"] = np.zeros(n, dtype=np.int64)
            s["vm_min_pu"] = np.full(buses, np.inf)
            s["vm_max_pu"] = np.full(buses, -np.inf)
            s["vm_sum_pu"] = np.zeros(buses)
            s["energy_mwh"] = np.zeros(buses)
            s["converged_slots"] = np.zeros(1, dtype=np.int64)
            self._first = k
        for c in _SUMS:
            s[c] += participants[c]
        s["import_kwh"] += np.maximum(net, 0.0)
        s["export_kwh"] += np.maximum(-net, 0.0)
        if device_kwh is not None:
            s["device_kwh"] += device_kwh
        s["accepted_slots"] += np.asarray(participants["accepted"], dtype=bool)
        s["soc_kwh"] = np.asarray(participants["soc_kwh"], dtype=np.float64).copy()
        if converged:
            np.minimum(s["vm_min_pu"], vm_pu, out=s["vm_min_pu"])
            np.maximum(s["vm_max_pu"], vm_pu, out=s["vm_max_pu"])
            s["vm_sum_pu"] += vm_pu
            s["converged_slots"] += 1
        s["energy_mwh"] += np.nan_to_num(p_mw) * self._slot_hours
        self._count += 1
        last = k + 1 == self._ids.size or self._ids[k + 1] != self._ids[k]
        if not last:
            return []
        rows = self._rows(k, participants)
        self._sums, self._count = {}, 0
        return rows

    def _rows(self, k: int, participants: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        s = self._sums
        start = self._starts[self._ids[k]]
        head = {"period": start, "first_slot": self._first, "slots": self._count}
        person = {
            **head,
            "participant": participants["participant"],
            "bus": participants["bus"],
            "supplier": participants["supplier"],
            **{c: s[c] for c in PARTICIPANT_COLUMNS if c in s},
        }
        done = int(s["converged_slots"][0])
        bus = {
            **head,
            "bus": self._bus_ids,
            "vm_min_pu": s["vm_min_pu"] if done else np.full(s["vm_min_pu"].size, np.nan),
            "vm_max_pu": s["vm_max_pu"] if done else np.full(s["vm_max_pu"].size, np.nan),
            "vm_mean_pu": s["vm_sum_pu"] / done if done else np.full(s["vm_sum_pu"].size, np.nan),
            "energy_mwh": s["energy_mwh"],
        }
        return [(self.tables[0], person), (self.tables[1], bus)]
