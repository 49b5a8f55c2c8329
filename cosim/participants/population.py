"""The participants of a scenario: customers behind smart meters, as a struct of arrays.

:func:`build_population` turns the network's attachment points and the scenario into a
:class:`Population` (who is where, with which devices, profiles and supplier);
:class:`ProfileFeed` yields their load and PV energy per slot in blocks, so a year costs a few
numpy calls and memory stays bounded by the block size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cosim.config import resolve_path
from cosim.errors import InputError
from cosim.grid.networks import Attachment
from cosim.participants.battery import BatteryFleet
from cosim.participants.config import BatteryConfig, ParticipantsConfig
from cosim.participants.profiles import (
    ProfileTable,
    annual_energy_kwh,
    assign_profiles,
    builtin_profiles,
    read_profile_csv,
    slot_energy,
)

__all__ = [
    "Population",
    "ProfileFeed",
    "ProfileSet",
    "build_population",
    "describe_profile_use",
    "load_profile_set",
    "load_scaling",
    "random_streams",
    "shift_minutes",
]

#: Profiles are shifted in whole steps of this many minutes.
SHIFT_STEP_MINUTES = 15
#: Default shift bounds [min]: loads of scaled shapes, and the built-in PV table.
DEFAULT_LOAD_SHIFT_MINUTES = 60
DEFAULT_PV_SHIFT_MINUTES = 15


def random_streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent, seeded generators, one per purpose.

    Each purpose has its own stream (spawned from one ``SeedSequence``), so adding draws
    to one purpose never changes another's numbers. ``horizon`` holds the look-ahead forecasts
    of the battery planners (``participants.battery_strategy``: ``price``, ``rolling``);
    ``privacy`` the meters' differential-privacy noise and the masking graphs.
    """
    # appended names get new children; the earlier ones keep their numbers
    names = ("population", "forecast", "prices", "spare", "horizon", "privacy")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children, strict=True)}


@dataclass(frozen=True)
class ProfileSet:
    """The three profile tables a run draws from."""

    household: ProfileTable
    commercial: ProfileTable
    pv: ProfileTable


def load_profile_set(p: ParticipantsConfig, source_file: Path | str | None) -> ProfileSet:
    """Load built-in or user profile tables named by ``participants.*_profiles``.

    Paths are relative to the folder of the scenario file ``source_file`` (if they exist
    there), else to the working directory.
    """

    def one(value: str, kind: str, suffix: str) -> ProfileTable:
        if value == "builtin":
            return builtin_profiles(kind)
        return read_profile_csv(resolve_path(source_file, value), suffix)

    return ProfileSet(
        household=one(p.load_profiles, "household", "_p_kw"),
        commercial=one(p.commercial_profiles, "commercial", "_p_kw"),
        pv=one(p.pv_profiles, "pv", "_p_kw_per_kwp"),
    )


def load_scaling(p: ParticipantsConfig, table: ProfileTable) -> str:
    """``annual_energy`` or ``as_given``: how a load table becomes participants' loads.

    ``participants.load_scaling`` if it is not ``auto``; with ``auto``, ``annual_energy`` for
    the built-in tables (shapes of 1,000 kWh a year) and ``as_given`` for CSV files.
    """
    mode = p.load_scaling
    if mode != "auto":
        return mode
    return "annual_energy" if table.is_builtin else "as_given"


def shift_minutes(p: ParticipantsConfig, table: ProfileTable, pv: bool) -> int:
    """Bound of the seeded time shifts of a table's participants [min].

    ``participants.pv_shift_minutes`` / ``profile_shift_minutes`` if given; otherwise 15 for
    the built-in PV table, 60 for a load table scaled by ``annual_energy``, and 0 (data used
    unchanged) for a PV file or a load table used ``as_given``.
    """
    if pv:
        if p.pv_shift_minutes is not None:
            return p.pv_shift_minutes
        return DEFAULT_PV_SHIFT_MINUTES if table.is_builtin else 0
    if p.profile_shift_minutes is not None:
        return p.profile_shift_minutes
    return DEFAULT_LOAD_SHIFT_MINUTES if load_scaling(p, table) == "annual_energy" else 0


def describe_profile_use(p: ParticipantsConfig, profiles: ProfileSet) -> str:
    """One line saying how each table becomes participants' load and PV (``cosim validate``).

    >>> from cosim.scenario import scenario_from_mapping
    >>> sc = scenario_from_mapping({"name": "x"})
    >>> profiles = load_profile_set(sc.participants, None)
    >>> describe_profile_use(sc.participants, profiles).split("; ")[0]
    'households: builtin:household scaled to annual_energy, shifts +-60 min'
    """
    parts = []
    for label, table in (("households", profiles.household), ("businesses", profiles.commercial)):
        mode = load_scaling(p, table)
        how = "used as given [kW]" if mode == "as_given" else "scaled to annual_energy"
        parts.append(
            f"{label}: {table.source} {how}, shifts +-{shift_minutes(p, table, False)} min"
        )
    pv = shift_minutes(p, profiles.pv, True)
    parts.append(f"PV: {profiles.pv.source} x pv_kwp, shifts +-{pv} min")
    return "; ".join(parts)


@dataclass(frozen=True)
class Population:
    """Every participant's static data, one array entry per participant.

    Attributes
    ----------
    bus : ndarray of int64
        pandapower bus index of its connection point.
    kind : ndarray of str
        ``household`` or ``commercial``.
    supplier : ndarray of int64
        Supplier id, 0 .. suppliers-1.
    profile_column : ndarray of int64
        Column of its load table (household or commercial table by ``kind``).
    load_shift_minutes, pv_shift_minutes : ndarray of int64
        Time shift of its load and PV profile [min].
    annual_load_kwh : ndarray
        Annual consumption [kWh/a]: what the load profile is scaled to (``annual_energy``),
        or its column's own annual energy (``as_given``).
    load_factor : ndarray
        Factor on the load table's column [-]: ``annual_load_kwh`` over the column's annual
        energy (``annual_energy``), exactly 1 (``as_given``).
    pv_kwp : ndarray
        PV size, 0 without PV [kWp].
    pv_column : ndarray of int64
        Column of the PV table.
    battery : BatteryFleet
        Battery parameters (zeros without a battery).
    soc_initial_kwh : ndarray
        State of charge at the start [kWh].
    tan_phi : float
        Ratio of reactive to active load power [-] (from the load power factor).
    """

    bus: np.ndarray
    kind: np.ndarray
    supplier: np.ndarray
    profile_column: np.ndarray
    load_shift_minutes: np.ndarray
    annual_load_kwh: np.ndarray
    load_factor: np.ndarray
    pv_kwp: np.ndarray
    pv_column: np.ndarray
    pv_shift_minutes: np.ndarray
    battery: BatteryFleet
    soc_initial_kwh: np.ndarray
    tan_phi: float

    @property
    def n(self) -> int:
        """Number of participants."""
        return int(self.bus.size)

    def info_frame(self) -> pd.DataFrame:
        """Static data as a table (``participants_info.csv``)."""
        return pd.DataFrame(
            {
                "participant": np.arange(self.n),
                "bus": self.bus,
                "kind": self.kind,
                "supplier": self.supplier,
                "annual_load_kwh": self.annual_load_kwh,
                "pv_kwp": self.pv_kwp,
                "battery_capacity_kwh": self.battery.capacity_kwh,
                "battery_power_kw": self.battery.power_kw,
            }
        )


def _chosen(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of round(fraction*n) participants.

    One permutation of all participants is drawn whatever the fraction, and the first
    round(fraction*n) of it are chosen, so with the same seed a higher penetration adds
    participants to a lower one's set (nested sweeps).
    """
    order = rng.permutation(n)
    k = round(fraction * n)
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def _require_energy(table: ProfileTable, columns: np.ndarray) -> None:
    """Refuse scaling a column without energy to an annual energy (it would divide by 0)."""
    used = np.unique(columns)
    empty = used[table.values[:, used].max(axis=0) <= 0]
    if empty.size:
        raise InputError(
            table.source,
            f"{table.names[int(empty[0])]}_p_kw",
            "all values are 0, so it cannot be scaled to an annual energy "
            "(participants.load_scaling: annual_energy); use load_scaling: as_given",
        )


def build_population(
    p: ParticipantsConfig,
    b: BatteryConfig,
    suppliers: int,
    attachment: Attachment,
    profiles: ProfileSet,
    rng: np.random.Generator,
) -> Population:
    """Draw the participants' devices, profiles and suppliers from the seed.

    Parameters
    ----------
    p : ParticipantsConfig
        ``participants:`` of the scenario.
    b : BatteryConfig
        ``battery:`` of the scenario.
    suppliers : int
        Number of suppliers (``settlement.suppliers``).
    attachment : Attachment
        One entry per participant: bus, kind and rating (from the network).
    profiles : ProfileSet
        Load and PV tables.
    rng : numpy.random.Generator
        The ``population`` stream of :func:`random_streams`.
    """
    n = int(attachment.bus.size)
    kind = np.asarray(attachment.kind).astype(str)
    is_comm = kind == "commercial"

    # fixed order of draws: suppliers, profiles, shifts, annual energy, PV, batteries
    supplier = assign_profiles(n, suppliers, rng).astype(np.int64)
    column = np.zeros(n, dtype=np.int64)
    n_house = int((~is_comm).sum())
    n_comm = int(is_comm.sum())
    column[~is_comm] = assign_profiles(n_house, len(profiles.household.names), rng)
    column[is_comm] = assign_profiles(n_comm, len(profiles.commercial.names), rng)
    pv_column = assign_profiles(n, len(profiles.pv.names), rng).astype(np.int64)
    # one draw for both load tables, with the wider bound; a table whose bound is 0 is unshifted
    house_shift = shift_minutes(p, profiles.household, pv=False)
    comm_shift = shift_minutes(p, profiles.commercial, pv=False)
    max_steps = max(house_shift if n_house else 0, comm_shift if n_comm else 0)
    max_steps //= SHIFT_STEP_MINUTES
    load_shift = rng.integers(-max_steps, max_steps + 1, size=n) * SHIFT_STEP_MINUTES
    load_shift[~is_comm & (house_shift == 0)] = 0
    load_shift[is_comm & (comm_shift == 0)] = 0
    # PV follows the sun: a small shift only, so neighbours' PV is not perfectly coincident
    pv_steps = shift_minutes(p, profiles.pv, pv=True) // SHIFT_STEP_MINUTES
    pv_shift = rng.integers(-pv_steps, pv_steps + 1, size=n) * SHIFT_STEP_MINUTES
    annual = p.annual_load_kwh * np.exp(p.annual_load_spread * rng.standard_normal(n))
    norm = np.empty(n)  # annual energy of each participant's column [kWh/a]
    factor = np.ones(n)
    for mask, table in ((~is_comm, profiles.household), (is_comm, profiles.commercial)):
        if not mask.any():
            continue
        norm[mask] = annual_energy_kwh(table)[column[mask]]
        if load_scaling(p, table) == "as_given":
            annual[mask] = norm[mask]  # factor stays exactly 1
            continue
        _require_energy(table, column[mask])
        if table is profiles.commercial:
            # a business is sized so that its profile's peak equals its connection's rating
            peak = table.values.max(axis=0)  # kW at the table's annual energy
            annual[mask] = attachment.rating_kw[mask] * norm[mask] / peak[column[mask]]
        factor[mask] = annual[mask] / norm[mask]
    has_pv = _chosen(n, p.pv_penetration, rng)
    has_bat = _chosen(n, p.battery_penetration, rng)

    cap = np.where(has_bat, b.capacity_kwh, 0.0)
    eta = np.sqrt(b.round_trip_efficiency)
    fleet = BatteryFleet(
        capacity_kwh=cap,
        power_kw=np.where(has_bat, b.power_kw, 0.0),
        eta_charge=np.where(has_bat, eta, 0.0),
        eta_discharge=np.where(has_bat, eta, 0.0),
        soc_min_kwh=cap * b.soc_min_fraction,
        soc_max_kwh=cap * b.soc_max_fraction,
    )
    return Population(
        bus=np.asarray(attachment.bus, dtype=np.int64),
        kind=kind,
        supplier=supplier,
        profile_column=column,
        load_shift_minutes=load_shift.astype(np.int64),
        annual_load_kwh=annual,
        load_factor=factor,
        pv_kwp=np.where(has_pv, p.pv_kwp, 0.0),
        pv_column=pv_column,
        pv_shift_minutes=pv_shift.astype(np.int64),
        battery=fleet,
        soc_initial_kwh=cap * b.soc_initial_fraction,
        tan_phi=float(np.tan(np.arccos(p.load_power_factor))),
    )


class ProfileFeed:
    """Load and PV energy of every participant, computed block by block.

    Parameters
    ----------
    population : Population
    profiles : ProfileSet
    start : pandas.Timestamp
        Start of slot 0 (tz-aware).
    slot_minutes : int
        Slot length [min].
    block_slots : int
        Slots computed per block.
    """

    def __init__(
        self,
        population: Population,
        profiles: ProfileSet,
        start: pd.Timestamp,
        slot_minutes: int,
        block_slots: int,
    ) -> None:
        self._pop = population
        self._profiles = profiles
        self._start = start
        self._slot_minutes = slot_minutes
        self._block = block_slots
        self._block_index = -1
        self._load = np.empty((0, population.n))
        self._pv = np.empty((0, population.n))
        self._ahead: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # blocks of window()

    def _fill(self, block: int, total_slots: int) -> None:
        self._load, self._pv = self._compute(block, total_slots)
        self._block_index = block

    def _compute(self, block: int, total_slots: int) -> tuple[np.ndarray, np.ndarray]:
        pop, prof = self._pop, self._profiles
        k0 = block * self._block
        count = min(self._block, total_slots - k0)
        start = self._start + pd.Timedelta(minutes=k0 * self._slot_minutes)
        load = np.zeros((count, pop.n))
        comm = pop.kind == "commercial"
        for mask, table in ((~comm, prof.household), (comm, prof.commercial)):
            if mask.any():
                e = slot_energy(
                    table,
                    pop.profile_column[mask],
                    pop.load_shift_minutes[mask],
                    start,
                    count,
                    self._slot_minutes,
                )
                load[:, mask] = e * pop.load_factor[mask]
        pv = np.zeros((count, pop.n))
        has_pv = pop.pv_kwp > 0
        if has_pv.any():
            e = slot_energy(
                prof.pv,
                pop.pv_column[has_pv],
                pop.pv_shift_minutes[has_pv],
                start,
                count,
                self._slot_minutes,
            )
            pv[:, has_pv] = e * pop.pv_kwp[has_pv]
        return load, pv

    def slot(self, k: int, total_slots: int) -> tuple[np.ndarray, np.ndarray]:
        """Load and PV energy of slot ``k`` [kWh], one entry per participant."""
        block = k // self._block
        if block != self._block_index:
            self._fill(block, total_slots)
        i = k - block * self._block
        return self._load[i], self._pv[i]

    def window(self, k: int, count: int, total_slots: int) -> tuple[np.ndarray, np.ndarray]:
        """Load and PV energy of slots ``k .. k + count - 1`` [kWh], shape (count, n).

        The same values as :meth:`slot`, from a cache of its own (blocks before ``k``'s are
        dropped), so looking ahead does not evict the block :meth:`slot` reads.
        """
        if count < 1 or k < 0 or k + count > total_slots:
            raise ValueError(f"slots {k}..{k + count - 1} outside 0..{total_slots - 1}")
        first, last = k // self._block, (k + count - 1) // self._block
        for stale in [b for b in self._ahead if b < first]:
            del self._ahead[stale]
        for b in range(first, last + 1):
            if b not in self._ahead:
                self._ahead[b] = self._compute(b, total_slots)
        load = np.concatenate([self._ahead[b][0] for b in range(first, last + 1)])
        pv = np.concatenate([self._ahead[b][1] for b in range(first, last + 1)])
        i = k - first * self._block
        return load[i : i + count], pv[i : i + count]
