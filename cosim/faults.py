"""Faults and delays: the ``faults:`` scenario section, their seeded schedule and handling rules.

Four kinds of fault (docs/faults.md has the rules and the columns of ``faults.csv``):

* ``late_reading``: a meter reading reaches the settlement late, or never. Per participant and
  slot with probability ``rate``; the delay after the slot's end is exponential with mean
  ``mean_delay_minutes``; a share ``never_share`` of the late readings never arrives. A reading
  later than ``deadline_minutes`` after the slot end is **missing**: the settlement treats that
  participant-slot as not accepted and its supplier settles it at retail from its own meter
  (the rule of a rejected payload, docs/privacy.md). An earlier one is settled late, unchanged.
* ``missed_gate``: an order misses gate closure (per participant and slot, probability
  ``rate``): it is excluded from that slot's auction; the participant still delivers and is
  settled as not accepted, at retail (docs/billing.md).
* ``settlement_delay``: the settlement messages of a slot are delayed (per slot, probability
  ``rate``, exponential delay with mean ``mean_delay_minutes``): the slot is settled later,
  with the same money.
* ``outage``: lines or transformers out of service over slot intervals, listed (``events``)
  and/or drawn (``rate_per_year`` per element, geometric durations with mean
  ``mean_duration_slots``). The power flow and the network check see the changed network;
  participants on buses cut off from the external grid are disconnected (anti-islanding): they
  neither draw nor inject, their load is unserved, their PV curtailed.

Everything random is drawn up front by :func:`schedule_faults` from one seeded generator, one
child stream per kind, so the rate of one kind never changes the numbers of another. With the
default section nothing is drawn and nothing changes.

Examples
--------
>>> import numpy as np
>>> cfg = FaultsConfig(missed_gate=MissedGateConfig(rate=0.5))
>>> sched = schedule_faults(cfg, 4, 3, 30, np.arange(2), np.arange(1), np.random.default_rng(1))
>>> sched.late_orders(0).shape, sched.outage(0).empty, sched.settlement_delay_minutes(0)
((3,), True, 0.0)
"""

from __future__ import annotations

import bisect
import copy
import math
from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar

import numpy as np
from pydantic import Field, field_validator, model_validator

from cosim.config import Section
from cosim.errors import InputError
from cosim.participants.fulfilment import Delivery, Orders

if TYPE_CHECKING:  # the scenario imports this module: pandas and pandapower only when used
    import pandas as pd
    import simpy
    from pandapower.auxiliary import pandapowerNet

    from cosim.settlement.messages import SignedPayload

__all__ = [
    "FAULTS_COLUMNS",
    "FAULTS_STREAM_KEY",
    "FAULT_KINDS",
    "HANDLING",
    "FaultEvents",
    "FaultLog",
    "FaultSchedule",
    "FaultsConfig",
    "LateReadingConfig",
    "MissedGateConfig",
    "MissingPayloads",
    "Outage",
    "OutageConfig",
    "OutageEvent",
    "OutageInterval",
    "PerOutage",
    "SettlementDelayConfig",
    "build_fault_events",
    "disconnect",
    "exclude_late_orders",
    "fault_stream",
    "islanded_participants",
    "mark_missing",
    "outaged_net",
    "schedule_faults",
]

#: The fault kinds, the ``kind`` column of ``faults.csv``.
FAULT_KINDS: Final[tuple[str, ...]] = (
    "late_reading",
    "missed_gate",
    "settlement_delay",
    "outage",
)

#: The documented handling rules, the ``handling`` column of ``faults.csv`` (docs/faults.md).
HANDLING: Final[dict[str, str]] = {
    "excluded_from_auction": "a late order takes no part in the slot's auction; the participant "
    "delivers and is settled as not accepted, at retail",
    "settled_late": "a reading or settlement message within the deadline: settled unchanged, later",
    "settled_at_retail_from_supplier_meter": "a reading missing at the deadline: the "
    "participant-slot is not accepted and its supplier settles it at retail from its own meter",
    "network_changed": "an element goes out of service: the flow and the network check use the "
    "changed network",
    "network_restored": "the element is back in service",
    "disconnected_anti_islanding": "a participant on a bus cut off from the external grid "
    "neither draws nor injects: load unserved, PV curtailed, battery idle",
}

#: Columns of ``faults.csv`` (and of :meth:`FaultSchedule.records`), in order.
FAULTS_COLUMNS: Final[tuple[str, ...]] = (
    "slot",
    "time_minutes",
    "kind",
    "participant",
    "element",
    "delay_minutes",
    "energy_kwh",
    "handling",
)

_MINUTES_PER_YEAR: Final[float] = 365.0 * 24.0 * 60.0
#: Participant-slot values drawn per call; whole blocks are always drawn, so a longer horizon
#: has the same faults in its first slots as a shorter one.
_BLOCK_VALUES: Final[int] = 1 << 16


# --------------------------------------------------------------------------- the scenario section


class LateReadingConfig(Section):
    """Meter readings that reach the settlement late or never."""

    rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability that a participant's reading of a slot is late [-].",
    )
    mean_delay_minutes: float = Field(
        default=30.0, gt=0, description="Mean of the exponential delay of a late reading [min]."
    )
    never_share: float = Field(
        default=0.0, ge=0, le=1, description="Share of the late readings that never arrive [-]."
    )
    deadline_minutes: float = Field(
        default=60.0,
        ge=0,
        description="The settlement waits this long after the slot end; a reading later than "
        "that is missing and settled at retail from the supplier's meter [min].",
    )


class MissedGateConfig(Section):
    """Orders that miss gate closure."""

    rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability that a participant's order of a slot misses gate closure and "
        "is excluded from the auction [-].",
    )


class SettlementDelayConfig(Section):
    """Communication delays of the settlement messages."""

    rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Probability that the settlement messages of a slot are delayed [-].",
    )
    mean_delay_minutes: float = Field(
        default=10.0, gt=0, description="Mean of the exponential delay [min]."
    )


class OutageEvent(Section):
    """One listed outage: an element out of service over ``[start_slot, end_slot)``."""

    element: Literal["line", "trafo"] = Field(description="`line` or `trafo`.")
    index: int = Field(ge=0, description="pandapower index of the line or transformer.")
    start_slot: int = Field(ge=0, description="First slot out of service.")
    end_slot: int = Field(ge=1, description="First slot back in service (exclusive end).")

    @model_validator(mode="after")
    def _interval(self) -> OutageEvent:
        if self.start_slot >= self.end_slot:
            raise ValueError(
                f"start_slot ({self.start_slot}) < end_slot ({self.end_slot}): the interval "
                "is empty"
            )
        return self


class OutageConfig(Section):
    """Lines and transformers out of service: listed intervals and seeded random ones."""

    events: tuple[OutageEvent, ...] = Field(
        default=(),
        description="Listed outages, each a mapping `element` (`line` or `trafo`), `index` "
        "(pandapower index), `start_slot`, `end_slot` (exclusive).",
    )
    rate_per_year: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="Random outages per element and year (a Poisson process) [1/a].",
    )
    mean_duration_slots: float = Field(
        default=4.0,
        ge=1,
        description="Mean duration of a random outage (geometric, at least one slot) [slots].",
    )
    elements: tuple[Literal["line", "trafo"], ...] = Field(
        default=("line", "trafo"),
        description="Element types that fail at random.",
    )

    @field_validator("events", "elements", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value


class FaultsConfig(Section):
    """Faults and delays as events (docs/faults.md); none by default."""

    late_reading: LateReadingConfig = LateReadingConfig()
    missed_gate: MissedGateConfig = MissedGateConfig()
    settlement_delay: SettlementDelayConfig = SettlementDelayConfig()
    outage: OutageConfig = OutageConfig()

    @property
    def enabled(self) -> bool:
        """Whether any fault can happen (False: the run is the same as without the section)."""
        o = self.outage
        return (
            self.late_reading.rate > 0
            or self.missed_gate.rate > 0
            or self.settlement_delay.rate > 0
            or bool(o.events)
            or (o.rate_per_year > 0 and bool(o.elements))
        )


# --------------------------------------------------------------------------- outages


@dataclass(frozen=True)
class Outage:
    """The elements out of service in a slot (pandapower indices, sorted); hashable.

    >>> Outage(lines=(3,)).label(), Outage().empty
    ('line 3', True)
    """

    lines: tuple[int, ...] = ()
    trafos: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        """No element out of service."""
        return not self.lines and not self.trafos

    def label(self) -> str:
        """``"line 3, trafo 1"`` (empty string when none)."""
        return ", ".join([f"line {i}" for i in self.lines] + [f"trafo {i}" for i in self.trafos])


@dataclass(frozen=True)
class OutageInterval:
    """One element out of service over slots ``[start_slot, end_slot)``."""

    element: str
    index: int
    start_slot: int
    end_slot: int

    def label(self) -> str:
        """``"line 12"``."""
        return f"{self.element} {self.index}"


def _merge(intervals: list[OutageInterval]) -> list[OutageInterval]:
    """Merge overlapping or touching intervals of the same element; sorted by start."""
    out: list[OutageInterval] = []
    for iv in sorted(intervals, key=lambda x: (x.element, x.index, x.start_slot)):
        last = out[-1] if out else None
        if (
            last
            and (last.element, last.index) == (iv.element, iv.index)
            and iv.start_slot <= last.end_slot
        ):
            out[-1] = replace(last, end_slot=max(last.end_slot, iv.end_slot))
        else:
            out.append(iv)
    return sorted(out, key=lambda x: (x.start_slot, x.element, x.index))


# --------------------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class _Sparse:
    """Participant-slot events sorted by slot: ``slot``, ``participant``, ``value``."""

    slot: np.ndarray
    participant: np.ndarray
    value: np.ndarray

    def at(self, k: int) -> slice:
        lo, hi = np.searchsorted(self.slot, [k, k + 1])
        return slice(int(lo), int(hi))


def _no_events() -> _Sparse:
    return _Sparse(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))


@dataclass(frozen=True)
class FaultSchedule:
    """Every fault of a run, drawn up front (:func:`schedule_faults`); answers per slot.

    Attributes
    ----------
    n_slots, n_participants : int
        Horizon and fleet size.
    slot_minutes : int
        Slot length [min].
    deadline_minutes : float
        How long after a slot's end the settlement waits for its readings [min].
    intervals : tuple of OutageInterval
        Outages, merged per element, sorted by start.
    outage_changes : tuple of int
        Slots where the set of elements out of service differs from the slot before (slot 0
        counts when an outage is active from the start).
    """

    n_slots: int
    n_participants: int
    slot_minutes: int
    deadline_minutes: float
    _late_reading: _Sparse = field(default_factory=_no_events, repr=False)
    _missed_gate: _Sparse = field(default_factory=_no_events, repr=False)
    _settlement_delay: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    intervals: tuple[OutageInterval, ...] = ()
    outage_changes: tuple[int, ...] = ()
    _outage_sets: tuple[Outage, ...] = field(default=(), repr=False)

    @property
    def empty(self) -> bool:
        """Nothing happens: no fault of any kind in the horizon."""
        return (
            self._late_reading.slot.size == 0
            and self._missed_gate.slot.size == 0
            and not np.any(self._settlement_delay > 0)
            and not self.intervals
        )

    @property
    def no_late_readings(self) -> bool:
        """No reading of the horizon is late."""
        return self._late_reading.slot.size == 0

    def _check_slot(self, k: int) -> None:
        if not 0 <= k < self.n_slots:
            raise IndexError(f"slot {k} outside [0, {self.n_slots})")

    def late_orders(self, k: int) -> np.ndarray:
        """Participants whose order of slot ``k`` misses gate closure (bool, ``n_participants``)."""
        self._check_slot(k)
        out = np.zeros(self.n_participants, dtype=bool)
        out[self._missed_gate.participant[self._missed_gate.at(k)]] = True
        return out

    def reading_delays(self, k: int) -> np.ndarray:
        """Delay of each reading of slot ``k`` after the slot's end [min]: 0 on time, inf never."""
        self._check_slot(k)
        out = np.zeros(self.n_participants)
        s = self._late_reading.at(k)
        out[self._late_reading.participant[s]] = self._late_reading.value[s]
        return out

    def missing_readings(self, k: int, deadline_minutes: float | None = None) -> np.ndarray:
        """Readings of slot ``k`` not there ``deadline_minutes`` after its end (bool).

        Parameters
        ----------
        k : int
            Slot.
        deadline_minutes : float, optional
            Default: the configured ``faults.late_reading.deadline_minutes`` [min].
        """
        d = self.deadline_minutes if deadline_minutes is None else deadline_minutes
        return self.reading_delays(k) > d

    def settlement_delay_minutes(self, k: int) -> float:
        """Delay of the settlement messages of slot ``k`` [min] (0: none)."""
        self._check_slot(k)
        return float(self._settlement_delay[k]) if self._settlement_delay.size else 0.0

    def outage(self, k: int) -> Outage:
        """Elements out of service in slot ``k`` (an empty :class:`Outage` when none)."""
        self._check_slot(k)
        i = bisect.bisect_right(self.outage_changes, k) - 1
        return self._outage_sets[i] if i >= 0 else Outage()

    def records(self) -> pd.DataFrame:
        """The scheduled faults as rows of ``faults.csv`` (:data:`FAULTS_COLUMNS`).

        What the schedule alone knows: every drawn late order (the engine logs only those of
        participants that had an order), late reading, settlement delay and outage start and
        end; sorted by simulated time. The anti-islanding disconnections depend on the network
        and are logged by the engine.
        """
        log = FaultLog()
        L = self.slot_minutes
        g = self._missed_gate
        for k, p in zip(g.slot.tolist(), g.participant.tolist(), strict=True):
            log.add(k, k * L, "missed_gate", p, handling="excluded_from_auction")
        r = self._late_reading
        for k, p, delay in zip(
            r.slot.tolist(), r.participant.tolist(), r.value.tolist(), strict=True
        ):
            log.add_reading(k, L, p, delay, self.deadline_minutes)
        for k in np.flatnonzero(self._settlement_delay > 0).tolist():
            delay = float(self._settlement_delay[k])
            log.add(k, (k + 1) * L + delay, "settlement_delay", delay_minutes=delay,
                    handling="settled_late")  # fmt: skip
        for iv in self.intervals:
            log.add_outage(iv, L, self.n_slots)
        return log.frame()


def _check_outages(
    config: OutageConfig,
    n_slots: int,
    line_ids: np.ndarray,
    trafo_ids: np.ndarray,
    source_file: str | Path | None,
) -> None:
    """Raise :class:`InputError` for a listed outage the network or horizon cannot have."""
    known = {
        "line": set(np.asarray(line_ids).tolist()),
        "trafo": set(np.asarray(trafo_ids).tolist()),
    }
    for i, ev in enumerate(config.events):
        key = f"faults.outage.events[{i}]"
        if ev.index not in known[ev.element]:
            have = sorted(known[ev.element])
            span = f"{have[0]}..{have[-1]}" if have else "none"
            raise InputError(
                source_file,
                f"{key}.index",
                f"expected the pandapower index of a {ev.element} of the network ({span}), "
                f"got {ev.index}",
            )
        if ev.start_slot >= n_slots:
            raise InputError(
                source_file,
                f"{key}.start_slot",
                f"expected a slot of the horizon (below time.slots = {n_slots}), got "
                f"{ev.start_slot}",
            )
        if ev.start_slot >= ev.end_slot:
            raise InputError(
                source_file,
                f"{key}.end_slot",
                f"expected above start_slot ({ev.start_slot}), got {ev.end_slot}",
            )


def _participant_slot_events(
    rng: np.random.Generator, n_slots: int, n: int, rate: float, draw_values: Callable[..., Any]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Participant-slots hit with probability ``rate``, drawn in whole blocks of slots.

    Each block draws ``block x n`` uniforms and then ``draw_values(rng, shape)`` (fixed
    counts), so the numbers of a slot do not depend on the horizon's length.
    """
    block = max(1, _BLOCK_VALUES // max(n, 1))
    slots: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    values: list[list[np.ndarray]] = []
    for k0 in range(0, n_slots, block):
        hit = rng.random((block, n)) < rate
        extra = draw_values(rng, (block, n))
        hit[n_slots - k0 :] = False
        s, p = np.nonzero(hit)
        slots.append(s + k0)
        parts.append(p)
        values.append([x[s, p] for x in extra])
    n_values = len(values[0]) if values else 0
    return (
        np.concatenate(slots).astype(np.int64) if slots else np.zeros(0, np.int64),
        np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64),
        [np.concatenate([v[i] for v in values]) for i in range(n_values)],
    )


def _late_readings(
    cfg: LateReadingConfig, rng: np.random.Generator, n_slots: int, n: int
) -> _Sparse:
    if cfg.rate <= 0:
        return _no_events()

    def draw(g: np.random.Generator, shape: tuple[int, int]) -> list[np.ndarray]:
        return [g.exponential(cfg.mean_delay_minutes, shape), g.random(shape)]

    slot, part, (delay, never) = _participant_slot_events(rng, n_slots, n, cfg.rate, draw)
    return _Sparse(slot, part, np.where(never < cfg.never_share, np.inf, delay))


def _missed_gates(cfg: MissedGateConfig, rng: np.random.Generator, n_slots: int, n: int) -> _Sparse:
    if cfg.rate <= 0:
        return _no_events()
    slot, part, _ = _participant_slot_events(rng, n_slots, n, cfg.rate, lambda g, s: [])
    return _Sparse(slot, part, np.zeros(slot.size))


def _settlement_delays(
    cfg: SettlementDelayConfig, rng: np.random.Generator, n_slots: int
) -> np.ndarray:
    if cfg.rate <= 0:
        return np.zeros(0)
    block = _BLOCK_VALUES
    out = []
    for _ in range(0, n_slots, block):
        hit = rng.random(block) < cfg.rate
        delay = rng.exponential(cfg.mean_delay_minutes, block)
        out.append(np.where(hit, delay, 0.0))
    return np.concatenate(out)[:n_slots]


def _random_outages(
    cfg: OutageConfig,
    rng: np.random.Generator,
    n_slots: int,
    slot_minutes: int,
    line_ids: np.ndarray,
    trafo_ids: np.ndarray,
) -> list[OutageInterval]:
    """Poisson outages per element: counts, then uniform starts and geometric durations."""
    if cfg.rate_per_year <= 0 or not cfg.elements:
        return []
    kinds = [("line", np.asarray(line_ids)), ("trafo", np.asarray(trafo_ids))]
    elements = [(kind, int(i)) for kind, ids in kinds if kind in cfg.elements for i in ids.tolist()]
    lam = cfg.rate_per_year * n_slots * slot_minutes / _MINUTES_PER_YEAR
    counts = rng.poisson(lam, len(elements))
    total = int(counts.sum())
    starts = np.floor(rng.random(total) * n_slots).astype(np.int64)
    durations = rng.geometric(1.0 / cfg.mean_duration_slots, total)
    owner = np.repeat(np.arange(len(elements)), counts)
    return [
        OutageInterval(elements[e][0], elements[e][1], int(s), int(min(s + d, n_slots)))
        for e, s, d in zip(owner.tolist(), starts.tolist(), durations.tolist(), strict=True)
    ]


def schedule_faults(
    config: FaultsConfig,
    n_slots: int,
    n_participants: int,
    slot_minutes: int,
    line_ids: np.ndarray,
    trafo_ids: np.ndarray,
    rng: np.random.Generator,
    source_file: str | Path | None = None,
) -> FaultSchedule:
    """Draw every fault of a run up front.

    Parameters
    ----------
    config : FaultsConfig
        The ``faults:`` section.
    n_slots, n_participants : int
        Horizon [slots] and fleet size.
    slot_minutes : int
        Slot length [min].
    line_ids, trafo_ids : numpy.ndarray of int
        pandapower indices of the network's lines and transformers (the grid adapter's
        ``line_ids``, ``trafo_ids``): the elements that can fail, and the check of listed ones.
    rng : numpy.random.Generator
        A stream of its own; four children are spawned from it (late readings, missed gates,
        settlement delays, outages) and each kind draws only from its child, a fixed number of
        values per block of slots, so one kind's rate never changes another's numbers. A kind
        with rate 0 draws nothing.
    source_file : str or Path, optional
        The scenario file, for error messages.

    Returns
    -------
    FaultSchedule

    Raises
    ------
    InputError
        A listed outage names an element the network does not have, starts after the horizon,
        or does not end after it starts (key ``faults.outage.events[i]....``).
    """
    _check_outages(config.outage, n_slots, line_ids, trafo_ids, source_file)
    g_reading, g_gate, g_delay, g_outage = rng.spawn(4)
    listed = [
        OutageInterval(ev.element, ev.index, ev.start_slot, min(ev.end_slot, n_slots))
        for ev in config.outage.events
    ]
    drawn = _random_outages(config.outage, g_outage, n_slots, slot_minutes, line_ids, trafo_ids)
    intervals = _merge(listed + drawn)
    changes, sets = _outage_sets(intervals, n_slots)
    return FaultSchedule(
        n_slots=n_slots,
        n_participants=n_participants,
        slot_minutes=slot_minutes,
        deadline_minutes=config.late_reading.deadline_minutes,
        _late_reading=_late_readings(config.late_reading, g_reading, n_slots, n_participants),
        _missed_gate=_missed_gates(config.missed_gate, g_gate, n_slots, n_participants),
        _settlement_delay=_settlement_delays(config.settlement_delay, g_delay, n_slots),
        intervals=tuple(intervals),
        outage_changes=tuple(changes),
        _outage_sets=tuple(sets),
    )


def _outage_sets(intervals: list[OutageInterval], n_slots: int) -> tuple[list[int], list[Outage]]:
    """Slots where the set of elements out of service changes, and the set from there on."""
    ends = {iv.end_slot for iv in intervals if iv.end_slot < n_slots}
    bounds = sorted({iv.start_slot for iv in intervals} | ends)
    changes: list[int] = []
    sets: list[Outage] = []
    previous = Outage()
    for k in bounds:
        on = [iv for iv in intervals if iv.start_slot <= k < iv.end_slot]
        now = Outage(
            lines=tuple(sorted(iv.index for iv in on if iv.element == "line")),
            trafos=tuple(sorted(iv.index for iv in on if iv.element == "trafo")),
        )
        if now != previous:
            changes.append(k)
            sets.append(now)
            previous = now
    return changes, sets


# --------------------------------------------------------------------------- the log


class FaultLog:
    """Rows of ``faults.csv``, appended as the faults happen (:data:`FAULTS_COLUMNS`).

    >>> log = FaultLog()
    >>> log.add(3, 90.0, "missed_gate", 7, handling="excluded_from_auction")
    >>> log.frame()[["slot", "kind", "participant", "handling"]].values.tolist()
    [[3, 'missed_gate', 7, 'excluded_from_auction']]
    """

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(
        self,
        slot: int,
        time_minutes: float,
        kind: str,
        participant: int = -1,
        element: str = "",
        delay_minutes: float = math.nan,
        energy_kwh: float = math.nan,
        *,
        handling: str,
    ) -> None:
        """Append one event; ``kind`` and ``handling`` must be known names."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if handling not in HANDLING:
            raise ValueError(f"unknown handling {handling!r}; expected one of {tuple(HANDLING)}")
        self.rows.append(
            (int(slot), float(time_minutes), kind, int(participant), element,
             float(delay_minutes), float(energy_kwh), handling)
        )  # fmt: skip

    def add_reading(
        self, slot: int, slot_minutes: int, participant: int, delay: float, deadline: float
    ) -> None:
        """A late reading: at its arrival (settled late) or at the deadline (missing)."""
        end = (slot + 1) * slot_minutes
        if delay > deadline:
            self.add(slot, end + deadline, "late_reading", participant, delay_minutes=delay,
                     handling="settled_at_retail_from_supplier_meter")  # fmt: skip
        else:
            self.add(slot, end + delay, "late_reading", participant, delay_minutes=delay,
                     handling="settled_late")  # fmt: skip

    def add_outage(self, interval: OutageInterval, slot_minutes: int, n_slots: int) -> None:
        """Start (and end, within the horizon) of one outage interval."""
        self.add(interval.start_slot, interval.start_slot * slot_minutes, "outage",
                 element=interval.label(), handling="network_changed")  # fmt: skip
        if interval.end_slot < n_slots:
            self.add(interval.end_slot, interval.end_slot * slot_minutes, "outage",
                     element=interval.label(), handling="network_restored")  # fmt: skip

    def take(self, slot: int) -> dict[str, np.ndarray]:
        """Remove the rows of ``slot`` and return them as columns, sorted by simulated time.

        The engine's recorder calls it when it records the slot (every event of a slot has
        happened by then), so ``faults.csv`` is written and checkpointed in chunks like the
        other per-slot tables.
        """
        mine = [r for r in self.rows if r[0] == slot]
        self.rows = [r for r in self.rows if r[0] != slot]
        mine.sort(key=lambda r: r[1])  # stable: events of one time keep their order
        dtypes = (np.int64, np.float64, object, np.int64, object, np.float64, np.float64, object)
        return {
            name: np.array([r[i] for r in mine], dtype=dtype)
            for i, (name, dtype) in enumerate(zip(FAULTS_COLUMNS, dtypes, strict=True))
        }

    def frame(self) -> pd.DataFrame:
        """The rows sorted by simulated time (stable: events of one time keep their order)."""
        import pandas as pd

        df = pd.DataFrame(self.rows, columns=list(FAULTS_COLUMNS))
        df = df.astype(
            {"slot": np.int64, "time_minutes": np.float64, "participant": np.int64,
             "delay_minutes": np.float64, "energy_kwh": np.float64}
        )  # fmt: skip
        return df.sort_values("time_minutes", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- handling rules


def exclude_late_orders(orders: Orders, late: np.ndarray) -> Orders:
    """Take the ``late`` participants' orders out of the auction (``excluded_from_auction``).

    Side 0, energy 0 and limit price NaN where ``late``; the forecast net position stays (the
    participant still delivers it, and is settled as not accepted: at retail, docs/billing.md).

    >>> import numpy as np
    >>> o = Orders(np.array([1, -1], np.int8), np.array([2.0, 1.0]), np.array([0.3, 0.1]),
    ...            np.array([2.0, -1.0]))
    >>> exclude_late_orders(o, np.array([False, True])).side.tolist()
    [1, 0]
    """
    late = np.asarray(late, dtype=bool)
    if late.shape != orders.side.shape:
        raise ValueError(f"late must have shape {orders.side.shape}, got {late.shape}")
    return Orders(
        side=np.where(late, 0, orders.side).astype(orders.side.dtype),
        energy_kwh=np.where(late, 0.0, orders.energy_kwh),
        limit_price=np.where(late, np.nan, orders.limit_price),
        forecast_net_kwh=orders.forecast_net_kwh,
    )


def mark_missing(
    side: np.ndarray,
    accepted: np.ndarray,
    committed_kwh: np.ndarray,
    deviation_kwh: np.ndarray,
    p2p_price: np.ndarray,
    missing: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The plain settlement's inputs with the ``missing`` readings as not accepted.

    A missing participant-slot is settled as the encrypted backend settles a rejected payload
    (docs/privacy.md): not accepted, so at retail on its net import in every model, and in no
    aggregate. The plain ledger needs the whole not-accepted form: ``accepted`` false,
    ``committed_kwh`` 0, ``deviation_kwh`` the delivered volume ``c + d`` (so the net import
    ``s * (c + d)`` is unchanged) and ``p2p_price`` NaN. Works on one slot ``(n,)`` or a chunk
    ``(slots, n)``.

    Returns
    -------
    accepted, committed_kwh, deviation_kwh, p2p_price : numpy.ndarray
        New arrays; the inputs are not modified.

    >>> import numpy as np
    >>> acc, c, d, p = mark_missing(np.array([1, -1]), np.array([True, True]),
    ...     np.array([2.0, 1.0]), np.array([0.5, -0.25]), np.array([0.2, 0.2]),
    ...     np.array([False, True]))
    >>> acc.tolist(), c.tolist(), d.tolist(), np.isnan(p).tolist()
    ([True, False], [2.0, 0.0], [0.5, 0.75], [False, True])
    """
    missing = np.asarray(missing, dtype=bool)
    acc = np.asarray(accepted, dtype=bool)
    if missing.shape != acc.shape or np.shape(side) != acc.shape:
        raise ValueError(f"missing and side must have the shape of accepted {acc.shape}")
    c = np.asarray(committed_kwh, dtype=np.float64)
    d = np.asarray(deviation_kwh, dtype=np.float64)
    c_used = np.where(acc, c, 0.0)  # what the settlement counts as committed
    return (
        acc & ~missing,
        np.where(missing, 0.0, c),
        np.where(missing, c_used + d, d),
        np.where(missing, np.nan, np.asarray(p2p_price, dtype=np.float64)),
    )


class MissingPayloads:
    """The encrypted settlement's ``tamper`` hook that drops the payloads of missing readings.

    Pass an instance as ``EncryptedSettlement(..., tamper=hook)``. A reading is missing when
    the ``schedule`` says so (:meth:`FaultSchedule.missing_readings`: later than the deadline,
    or never) or when :meth:`add` marked it before its slot was settled. A meter's payload
    covers a batch of slots (one slot with Paillier, a billing period with CKKS): it is not
    delivered when any of its slots is missing, and the platform then settles the participant
    at retail from its supplier's meter for every slot of the batch (reason ``missing
    payload``, docs/privacy.md). Picklable: the settlement is checkpointed with it.

    Parameters
    ----------
    schedule : FaultSchedule, optional
        The run's faults.
    """

    def __init__(self, schedule: FaultSchedule | None = None) -> None:
        self.schedule = schedule
        self.missing: set[tuple[int, int]] = set()

    def add(self, slot: int, participants: np.ndarray) -> None:
        """Mark the readings of ``participants`` (indices or a bool mask) in ``slot`` missing."""
        idx = np.asarray(participants)
        ids = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        self.missing.update((int(p), int(slot)) for p in ids.tolist())

    def is_missing(self, user: int, slot: int) -> bool:
        """Whether the reading of ``user`` in ``slot`` is missing."""
        if (user, slot) in self.missing:
            return True
        s = self.schedule
        return s is not None and bool(s.missing_readings(slot)[user])

    def __call__(self, user: int, first_slot: int, payload: SignedPayload) -> SignedPayload | None:
        if not self.missing and (self.schedule is None or self.schedule.no_late_readings):
            return payload
        from cosim.settlement.messages import MeterPayload

        n_slots = MeterPayload.from_bytes(payload.message).n_slots
        for k in range(first_slot, first_slot + n_slots):
            if self.is_missing(user, k):
                return None
        return payload


def outaged_net(net: pandapowerNet, outage: Outage) -> pandapowerNet:
    """A deep copy of ``net`` with the outage's lines and transformers out of service.

    For models built from a pandapower net (the network check's
    :class:`~cosim.grid.linear.LinearGridModel`): rebuild one per outage set
    (:class:`PerOutage` caches them).

    Raises
    ------
    ValueError
        The outage names a line or transformer the net does not have.
    """
    out = copy.deepcopy(net)
    _set_out_of_service(out, outage)
    return out


def _set_out_of_service(net: pandapowerNet, outage: Outage) -> None:
    for table, ids in (("line", outage.lines), ("trafo", outage.trafos)):
        if ids:
            missing = set(ids) - set(net[table].index.tolist())
            if missing:
                raise ValueError(
                    f"outage names {table}s the network does not have: {sorted(missing)}"
                )
            net[table].loc[list(ids), "in_service"] = False


T = TypeVar("T")


class PerOutage(Generic[T]):
    """One object per outage set, built on first use and kept (e.g. the network check model).

    The object without outage (``base``) is always kept; of the others the ``keep`` most
    recently used (outage sets follow one another in time, an old one is rarely needed again,
    and a network check model of a large network is large).

    >>> calls = []
    >>> cache = PerOutage(lambda o: calls.append(o) or len(calls))
    >>> cache.get(Outage(lines=(1,))), cache.get(Outage(lines=(1,))), cache.get(Outage())
    (1, 1, 2)
    """

    def __init__(self, build: Callable[[Outage], T], base: T | None = None, keep: int = 4) -> None:
        self._build = build
        self._base = base
        self._keep = keep
        self._cache: dict[Hashable, T] = {}

    def get(self, outage: Outage) -> T:
        """The object of ``outage`` (built by ``build(outage)`` the first time)."""
        if outage.empty and self._base is not None:
            return self._base
        if outage in self._cache:
            value = self._cache.pop(outage)  # most recent last
        else:
            value = self._build(outage)
            while len(self._cache) >= self._keep:
                self._cache.pop(next(iter(self._cache)))
        self._cache[outage] = value
        return value


def supplied_buses(net: pandapowerNet) -> np.ndarray:
    """Per bus (row of ``net.bus``): in service and connected to an in-service external grid."""
    from cosim.grid.topology import in_service, read_topology

    supplied = np.zeros(len(net.bus), dtype=bool)
    ext = net.ext_grid["bus"].to_numpy()[in_service(net.ext_grid)]
    for pos in net.bus.index.get_indexer(ext).tolist():
        if pos >= 0:
            supplied |= read_topology(net, pos, fuse_out_of_service=True).supplied
    return supplied


def islanded_participants(
    net: pandapowerNet, outage: Outage, participant_bus: np.ndarray
) -> np.ndarray:
    """Participants on buses the outage cuts off from the external grid (bool per participant).

    The supply is read as the grid adapters read it (:func:`cosim.grid.topology.read_topology`:
    closed bus-bus switches fused, open switches and elements out of service cut), so the
    participants marked here are those on the buses the power flow reports as NaN.
    A participant already unsupplied without the outage counts too.
    """
    work = copy.copy(net)  # shallow: only the two in_service columns are replaced below
    for table, ids in (("line", outage.lines), ("trafo", outage.trafos)):
        if ids:
            t = net[table].copy()
            t.loc[list(ids), "in_service"] = False
            work[table] = t
    supplied = supplied_buses(work)
    pos = net.bus.index.get_indexer(np.asarray(participant_bus, dtype=np.int64))
    if (pos < 0).any():
        raise ValueError("participant_bus names buses the network does not have")
    return ~supplied[pos]


def disconnect(
    delivery: Delivery,
    mask: np.ndarray,
    load_kwh: np.ndarray,
    pv_kwh: np.ndarray,
    soc_before_kwh: np.ndarray,
) -> tuple[Delivery, np.ndarray]:
    """Anti-islanding: the participants in ``mask`` neither draw nor inject during the slot.

    Their meter reads 0 (``net_kwh`` 0, ``delivered_kwh`` 0, so ``deviation_kwh`` is minus the
    committed volume), the battery is idle (``battery_kwh`` 0, state of charge kept), all PV is
    curtailed and the load is not served. The settlement then treats the missed commitment as
    any other deviation (docs/billing.md).

    Parameters
    ----------
    delivery : Delivery
        What the participants would have delivered with supply.
    mask : numpy.ndarray of bool
        Participants cut off from the external grid (:func:`islanded_participants`).
    load_kwh, pv_kwh : numpy.ndarray
        Actual load and PV energy of the slot [kWh].
    soc_before_kwh : numpy.ndarray
        Battery state of charge at the start of the slot [kWh].

    Returns
    -------
    Delivery
        With the disconnected participants changed (others unchanged).
    numpy.ndarray
        Unserved load per participant [kWh] (0 for the others).
    """
    m = np.asarray(mask, dtype=bool)
    if m.shape != delivery.net_kwh.shape:
        raise ValueError(f"mask must have shape {delivery.net_kwh.shape}, got {m.shape}")
    zero = np.zeros_like(delivery.net_kwh)
    out = Delivery(
        battery_kwh=np.where(m, 0.0, delivery.battery_kwh),
        soc_kwh=np.where(m, soc_before_kwh, delivery.soc_kwh),
        net_kwh=np.where(m, 0.0, delivery.net_kwh),
        accepted=delivery.accepted,
        committed_kwh=delivery.committed_kwh,
        delivered_kwh=np.where(m, 0.0, delivery.delivered_kwh),
        deviation_kwh=np.where(m, -delivery.committed_kwh, delivery.deviation_kwh),
        pv_curtailed_kwh=np.where(m, pv_kwh, delivery.pv_curtailed_kwh),
    )
    return out, np.where(m, load_kwh, zero)


# --------------------------------------------------------------------------- during a run


class FaultEvents:
    """The faults of one run as the engine's processes meet them; every event goes to :attr:`log`.

    The engine calls one method per phase; with an empty schedule each returns its input
    unchanged and logs nothing. Which network a phase uses is the one of the slot it works
    on (:meth:`outage`), not a global switch: when an outage starts at ``c*L`` the grid process
    is still solving slot ``c - 1`` on the old network.

    Parameters
    ----------
    schedule : FaultSchedule
        The run's faults (:func:`schedule_faults`).
    net : pandapowerNet
        The network the grid adapter and the network check were built from (derated).
    participant_bus : numpy.ndarray of int
        Bus of each participant.
    check_model : callable, optional
        ``check_model(outage)`` builds the network check's model of an outage set (e.g.
        ``LinearGridModel.from_pandapower(outaged_net(net, outage), kind)``); each set is built
        once (:class:`PerOutage`). ``None`` without a network check.
    base_model : object, optional
        The network check's model without outage (not rebuilt).
    """

    def __init__(
        self,
        schedule: FaultSchedule,
        net: pandapowerNet,
        participant_bus: np.ndarray,
        check_model: Callable[[Outage], Any] | None = None,
        base_model: Any = None,
    ) -> None:
        self.schedule = schedule
        self.log = FaultLog()
        self._minutes = schedule.slot_minutes
        n = int(np.asarray(participant_bus).size)
        bus = np.asarray(participant_bus)
        self._islanded: PerOutage[np.ndarray] = PerOutage(
            lambda o: islanded_participants(net, o, bus), base=np.zeros(n, dtype=bool)
        )
        self._models: PerOutage[Any] | None = (
            PerOutage(check_model, base=base_model) if check_model is not None else None
        )

    def outage(self, k: int) -> Outage:
        """The elements out of service in slot ``k``."""
        return self.schedule.outage(k)

    def check_model(self, k: int) -> Any:
        """The network check's model of slot ``k`` (its outage set); None without a check."""
        return self._models.get(self.outage(k)) if self._models is not None else None

    def gate(self, k: int, orders: Orders) -> Orders:
        """Gate closure of slot ``k`` (``k*L``): the late orders are excluded (and logged)."""
        late = self.schedule.late_orders(k) & (orders.side != 0)
        if not late.any():
            return orders
        for p in np.flatnonzero(late).tolist():
            self.log.add(k, k * self._minutes, "missed_gate", p, handling="excluded_from_auction")
        return exclude_late_orders(orders, late)

    def deliver(
        self,
        k: int,
        delivery: Delivery,
        demand_kwh: np.ndarray,
        pv_kwh: np.ndarray,
        soc_before_kwh: np.ndarray,
    ) -> tuple[Delivery, np.ndarray | None]:
        """Delivery of slot ``k``: participants cut off by its outage are disconnected.

        Returns
        -------
        Delivery
            With the disconnected participants' meters at 0 (:func:`disconnect`); ``delivery``
            itself when nobody is cut off.
        numpy.ndarray of bool or None
            The disconnected participants (None when nobody is cut off). Their demand is
            logged as unserved; the engine records their served load as 0, so
            ``net = load - pv + battery`` still holds and the flow sees no reactive power at
            the buses without supply.
        """
        outage = self.outage(k)
        mask = self._islanded.get(outage)
        if outage.empty or not mask.any():
            return delivery, None
        out, unserved = disconnect(delivery, mask, demand_kwh, pv_kwh, soc_before_kwh)
        label = outage.label()
        for p in np.flatnonzero(mask).tolist():
            self.log.add(
                k, k * self._minutes, "outage", p, label, energy_kwh=float(unserved[p]),
                handling="disconnected_anti_islanding",
            )  # fmt: skip
        return out, mask

    def readings(self, env: simpy.Environment, k: int) -> Generator[simpy.Event, Any, np.ndarray]:
        """SimPy: wait for the late readings of slot ``k``, at most until its deadline.

        Use as ``missing = yield from faults.readings(env, k)`` once the slot's on-time
        readings are in (at ``(k+1)*L`` or later). Each late reading arrives as a timeout at
        ``(k+1)*L + delay``; the settlement waits for all of them or for the deadline
        ``(k+1)*L + deadline_minutes``, whichever comes first. Returns the missing readings
        (bool per participant) and logs every late one.
        """
        delays = self.schedule.reading_delays(k)
        late = np.flatnonzero(delays > 0)
        missing = delays > self.schedule.deadline_minutes
        if late.size == 0:
            return missing
        end = (k + 1) * self._minutes
        if missing.any():  # the readings in time arrive before it: the deadline decides
            yield env.timeout(max(end + self.schedule.deadline_minutes - env.now, 0.0))
        else:  # each late reading arrives as its own event; the last one decides
            yield env.all_of(
                [env.timeout(max(end + float(delays[p]) - env.now, 0.0)) for p in late.tolist()]
            )
        for p in late.tolist():
            self.log.add_reading(
                k, self._minutes, p, float(delays[p]), self.schedule.deadline_minutes
            )
        return missing

    def readings_complete_minutes(self, k: int) -> float:
        """When the settlement of slot ``k`` has its readings [min]: the slot's end, the last
        late reading within the deadline, or the deadline when one is missing."""
        delays = self.schedule.reading_delays(k)
        deadline = self.schedule.deadline_minutes
        wait = deadline if bool((delays > deadline).any()) else float(delays.max(initial=0.0))
        return (k + 1) * self._minutes + wait

    def settlement_messages(
        self, env: simpy.Environment, k: int
    ) -> Generator[simpy.Event, Any, float]:
        """SimPy: the settlement messages of slot ``k`` on their way (delayed, and logged, or not).

        Use as ``yield from faults.settlement_messages(env, k)`` between billing slot ``k`` and
        handing its results on. The messages leave when the slot's readings are complete
        (:meth:`readings_complete_minutes`) and arrive ``delay`` minutes later; an engine that
        bills several slots at once (later than that) does not wait again, so the times in
        ``faults.csv`` do not depend on how the engine groups its work. Returns the delay [min]
        (0: none).
        """
        delay = self.schedule.settlement_delay_minutes(k)
        if delay > 0:
            arrival = self.readings_complete_minutes(k) + delay
            if env.now < arrival:
                yield env.timeout(arrival - env.now)
            self.log.add(k, arrival, "settlement_delay", delay_minutes=delay,
                         handling="settled_late")  # fmt: skip
        return delay

    def outages(self, env: simpy.Environment, k0: int = 0) -> Generator[simpy.Event, Any, None]:
        """SimPy process: each outage start and end at ``slot * L`` from slot ``k0`` on (logged)."""
        events = sorted(
            [(iv.start_slot, 1, iv) for iv in self.schedule.intervals]
            + [(iv.end_slot, 0, iv) for iv in self.schedule.intervals
               if iv.end_slot < self.schedule.n_slots],
            key=lambda e: (e[0], e[1], e[2].element, e[2].index),
        )  # fmt: skip
        for slot, starts, iv in events:
            if slot < k0:
                continue
            yield env.timeout(slot * self._minutes - env.now)
            handling = "network_changed" if starts else "network_restored"
            self.log.add(
                slot, slot * self._minutes, "outage", element=iv.label(), handling=handling
            )

    def payload_filter(self) -> MissingPayloads:
        """The ``tamper`` hook for an encrypted settlement: drops the missing readings' payloads."""
        return MissingPayloads(self.schedule)


#: Spawn key of the faults' random stream under the scenario seed: a child of its own, far
#: from the children of :func:`cosim.participants.population.random_streams` (0, 1, 2, ...).
FAULTS_STREAM_KEY: Final[int] = 0xFA


def fault_stream(seed: int) -> np.random.Generator:
    """The run's faults stream: ``SeedSequence(seed, spawn_key=(FAULTS_STREAM_KEY,))``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(FAULTS_STREAM_KEY,)))


def build_fault_events(
    config: FaultsConfig,
    seed: int,
    n_slots: int,
    slot_minutes: int,
    net: pandapowerNet,
    participant_bus: np.ndarray,
    line_ids: np.ndarray,
    trafo_ids: np.ndarray,
    check_kind: str | None = None,
    base_model: Any = None,
    source_file: str | Path | None = None,
) -> FaultEvents | None:
    """The run's :class:`FaultEvents`, or None when the section configures no fault.

    Parameters
    ----------
    config : FaultsConfig
        The ``faults:`` section.
    seed : int
        The scenario seed (the faults draw from :func:`fault_stream`).
    n_slots, slot_minutes : int
        Horizon [slots] and slot length [min].
    net : pandapowerNet
        The (derated) network the grid adapter and the network check were built from.
    participant_bus : numpy.ndarray of int
        Bus of each participant.
    line_ids, trafo_ids : numpy.ndarray of int
        The grid adapter's line and transformer indices.
    check_kind : {"dc", "lindistflow"} or None
        The network check's model; None without a check.
    base_model : LinearGridModel, optional
        The check's model of the intact network (reused for slots without outage).
    source_file : str or Path, optional
        The scenario file, for error messages.

    Raises
    ------
    InputError
        A listed outage the network or the horizon cannot have (:func:`schedule_faults`).
    """
    if not config.enabled:
        return None
    bus = np.asarray(participant_bus)
    schedule = schedule_faults(
        config, n_slots, bus.size, slot_minutes, line_ids, trafo_ids, fault_stream(seed),
        source_file,
    )  # fmt: skip
    check: Callable[[Outage], Any] | None = None
    if check_kind is not None:
        from cosim.grid.linear import LinearGridModel

        kind: Any = check_kind

        def check(outage: Outage) -> Any:
            return LinearGridModel.from_pandapower(outaged_net(net, outage), kind)

    return FaultEvents(schedule, net, bus, check, base_model)
