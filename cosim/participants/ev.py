"""Electric vehicles charging at home: seeded daily sessions, a charger limit, PV-aware charging.

Each EV owner's vehicle comes home once a day, stays plugged in overnight and leaves the next
morning. Arrival and departure times [hours of the day] and the energy the vehicle needs are
drawn each day from normal distributions (docs/devices.md, "Electric vehicle"). While plugged
in, the charger draws at most ``charger_kw``:

- ``immediate``: full power from arrival until the session's energy is met (uncontrolled
  charging, the usual reference case);
- ``self_consumption``: the household's PV surplus ``max(pv - load, 0)`` first, and from the
  grid only what is needed to still meet the energy by departure at full power (the *latest
  start* rule: in a slot with ``L`` connected slots left, at least
  ``need / efficiency - (L - 1) * charger_kw * slot_hours`` is drawn).

Energy not delivered by departure is counted as unmet (:meth:`EVFleet.summary`); the vehicle
leaves with what it got and comes back the next day with a newly drawn need. Everything is
vectorised over the vehicles: a slot costs a few numpy calls.

Example
-------
>>> import numpy as np, pandas as pd
>>> from cosim.participants.devices import DeviceContext, build_devices
>>> ctx = DeviceContext(n=4, kind=np.array(["household"] * 4), slot_minutes=60,
...                     slot_times=pd.date_range("2016-06-01", periods=48, freq="h", tz="UTC"))
>>> ev = build_devices({"ev": {"share": 0.5, "strategy": "immediate"}}, ctx, seed=1)
>>> e = [ev.energy_kwh(k, np.full(4, 0.3), np.zeros(4), 1.0) for k in range(48)]
>>> int((np.array(e) > 0).any(axis=0).sum())  # two of four households charge
2
>>> float(np.max(e)) <= 11.0  # never above the charger's 11 kW for one hour
True
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator

from cosim.participants.devices import (
    DeviceContext,
    DeviceType,
    FloatArray,
    OwnedDeviceConfig,
    ParticipantKind,
    next_slot,
    owner_kinds,
    owner_share,
    register,
)

__all__ = ["EVConfig", "EVFleet"]

#: Energy below this is treated as met [kWh] (rounding of the latest-start arithmetic).
MET_TOLERANCE_KWH = 1e-9


class EVConfig(OwnedDeviceConfig):
    """Electric vehicles charging at home (docs/devices.md)."""

    share: float = owner_share(0.3, "an EV")
    kinds: tuple[ParticipantKind, ...] = owner_kinds(("household",), "an EV")
    charger_kw: float = Field(
        default=11.0,
        gt=0,
        le=350,
        description="Charging power limit at the connection (grid side) [kW]; 11 kW is a "
        "three-phase 16 A wallbox, 3.7/7.4 kW single-phase.",
    )
    battery_kwh: float = Field(
        default=60.0, gt=0, le=250, description="Usable capacity of the vehicle battery [kWh]."
    )
    efficiency: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Charging efficiency, energy into the vehicle battery over energy drawn [-].",
    )
    arrival_mean_h: float = Field(
        default=18.0, ge=0, lt=24, description="Mean arrival time at home [hour of the day]."
    )
    arrival_std_h: float = Field(
        default=2.0, ge=0, le=12, description="Standard deviation of the arrival time [h]."
    )
    departure_mean_h: float = Field(
        default=7.5,
        ge=0,
        lt=24,
        description="Mean departure time [hour of the day]; the first such time after arrival.",
    )
    departure_std_h: float = Field(
        default=1.0, ge=0, le=12, description="Standard deviation of the departure time [h]."
    )
    energy_mean_kwh: float = Field(
        default=9.0,
        ge=0,
        description="Mean energy a session must put into the vehicle battery [kWh] (about 50 "
        "km a day at 0.18 kWh/km); clipped to [0, battery_kwh].",
    )
    energy_std_kwh: float = Field(
        default=4.0, ge=0, description="Standard deviation of a session's energy [kWh]."
    )
    strategy: Literal["self_consumption", "immediate"] = Field(
        default="self_consumption",
        description="`immediate`: full power from arrival until the energy is met; "
        "`self_consumption`: PV surplus first, grid energy only as late as still meets the "
        "energy by departure at `charger_kw`.",
    )

    @model_validator(mode="after")
    def _energy_fits(self) -> EVConfig:
        if self.energy_mean_kwh > self.battery_kwh:
            raise ValueError(
                f"energy_mean_kwh ({self.energy_mean_kwh}) <= battery_kwh ({self.battery_kwh})"
            )
        return self


class EVFleet:
    """The EVs of a run, one entry per vehicle (at most one per participant).

    Parameters
    ----------
    config : EVConfig
    context : DeviceContext
    rng : numpy.random.Generator
        The ``ev`` stream (:func:`cosim.participants.devices.device_rng`).

    Notes
    -----
    Draws: at build, one permutation of the eligible participants (owners are its first
    round(share*N)); then for each day, before its first slot, three standard normals per
    *eligible* participant (arrival, departure, energy), of which the owners' are used. So
    the draws are the same whatever the parameter values, and with one seed a higher share
    adds vehicles without changing the existing vehicles' sessions.
    """

    column_names: tuple[str, ...] = ("ev_kwh", "ev_energy_kwh", "ev_connected", "ev_session")
    #: State held in arrays, in plain integers, and in mappings slot -> vehicles.
    _arrays = (
        "next_dep",
        "next_need",
        "last_departure_h",
        "connected",
        "dep",
        "dep_kwh",
        "to_draw_kwh",
        "need",
        "left_with",
        "e",
        "charged",
        "pv_used",
        "pv_last",
        "session",
    )
    _counters = ("day", "k", "next_draw", "n_active")
    _schedules = ("arrivals", "departures")

    def __init__(self, config: EVConfig, context: DeviceContext, rng: np.random.Generator) -> None:
        self.config = config
        self.n = context.n
        self.dt_h = context.slot_hours
        self.slots = context.slots
        first = context.slot_times[0] if context.slots else None
        # hour of the day of slot 0's start, in the clock of the slot times
        self.t0_h = 0.0 if first is None else first.hour + first.minute / 60 + first.second / 3600
        eligible = np.flatnonzero(np.isin(np.asarray(context.kind).astype(str), config.kinds))
        order = rng.permutation(eligible.size)
        chosen = np.sort(order[: round(config.share * eligible.size)])
        self.n_eligible = int(eligible.size)
        self.pick = chosen.astype(np.int64)  # positions in the eligible draws
        self.owner = eligible[chosen].astype(np.int64)  # participant of each vehicle
        self.rng = rng
        m = self.owner.size
        self.e_max_kwh = config.charger_kw * self.dt_h  # grid side, per slot
        # the drawn session that has not started yet
        self.next_dep = np.zeros(m, dtype=np.int64)
        self.next_need = np.zeros(m)
        self.last_departure_h = np.full(m, -np.inf)  # of the last drawn session [h from day 0]
        self.arrivals: dict[int, NDArray[np.int64]] = {}  # slot -> vehicles plugging in
        self.departures: dict[int, NDArray[np.int64]] = {}  # slot -> vehicles unplugged
        # the session in progress
        self.connected = np.zeros(m, dtype=bool)
        self.dep = np.zeros(m, dtype=np.int64)  # first slot no longer plugged in
        self.dep_kwh = np.zeros(m)  # dep * e_max: for the latest-start rule [kWh]
        self.to_draw_kwh = np.zeros(m)  # grid energy still to draw this session [kWh]
        self.need = np.zeros(m)  # energy the session needed into the battery [kWh]
        self.left_with = np.full(m, config.battery_kwh)  # battery energy at last departure [kWh]
        self.e = np.zeros(m)  # grid energy of the slot last computed [kWh]
        self.charged = np.zeros(m)  # grid energy so far, per vehicle [kWh]
        self.pv_used = np.zeros(m)  # of which while the household had a PV surplus [kWh]
        self.pv_last = np.zeros(m)  # the slot last computed's part of pv_used [kWh]
        self.session = np.zeros(m)  # number of the current or last session (1, 2, ...)
        self.totals = dict.fromkeys(("needed", "unmet", "sessions", "unmet_n"), 0.0)
        self.day = -1  # next day to draw; day -1 covers vehicles plugged in at the start
        self.k = 0  # next slot
        self.n_active = 0  # vehicles still drawing energy
        self._draw_day()
        self.next_draw = self._day_start_slot(self.day)  # slot that draws the next day

    # ----------------------------------------------------------------------- sessions

    def _day_start_slot(self, day: int) -> int:
        """First slot starting at or after midnight of ``day`` (day 0: slot 0's day)."""
        return max(0, math.ceil((24.0 * day - self.t0_h) / self.dt_h - 1e-9))

    def _draw_day(self) -> None:
        """Draw the sessions arriving on day ``self.day`` (one per vehicle); schedule them."""
        c, d = self.config, self.day
        z = self.rng.standard_normal((3, self.n_eligible))[:, self.pick]
        last_hour = np.nextafter(24.0, 0.0)
        a_h = np.clip(c.arrival_mean_h + c.arrival_std_h * z[0], 0.0, last_hour)
        dep_h = np.clip(c.departure_mean_h + c.departure_std_h * z[1], 0.0, last_hour)
        need = np.clip(c.energy_mean_kwh + c.energy_std_kwh * z[2], 0.0, c.battery_kwh)
        arrive = np.maximum(24.0 * d + a_h, self.last_departure_h)  # not before it left
        leave = 24.0 * np.floor(arrive / 24.0) + dep_h
        # the first dep_h after arrival (not the same instant up to rounding)
        leave = np.where(leave <= arrive + 1e-6, leave + 24.0, leave)
        self.last_departure_h = leave
        # plugged in for whole slots: from the first slot starting at or after arrival up to
        # the last slot ending at or before departure
        x_arr = (arrive - self.t0_h) / self.dt_h
        x_dep = (leave - self.t0_h) / self.dt_h
        arr = np.ceil(x_arr - 1e-9).astype(np.int64)
        dep = np.floor(x_dep + 1e-9).astype(np.int64)
        early = arr < 0  # plugged in before the run starts: the part of the need left at slot 0
        if early.any():
            stay = x_dep[early] - x_arr[early]  # > 0
            need[early] *= np.clip(x_dep[early] / stay, 0.0, 1.0)
            arr[early] = 0
        self.next_dep, self.next_need = dep, need
        come = dep > 0  # day -1's vehicles that left before the start: no session
        short = come & (dep <= arr)  # not one whole slot plugged in: unmet at once
        if short.any():
            counted = short & (arr < self.slots)
            t = self.totals
            t["sessions"] += int(counted.sum())
            t["needed"] += float(need[counted].sum())
            t["unmet"] += float(need[counted].sum())
            t["unmet_n"] += int((need[counted] > MET_TOLERANCE_KWH).sum())
        plugged = np.flatnonzero(come & ~short)
        for slot, group in _groups(arr[plugged], plugged):
            self.arrivals[slot] = group
        for slot, group in _groups(dep[plugged], plugged):
            old = self.departures.get(slot)
            self.departures[slot] = group if old is None else np.concatenate([old, group])
        self.day += 1

    def _start_sessions(self, k: int) -> None:
        """Plug in the vehicles whose session arrives in slot ``k``."""
        idx = self.arrivals.pop(k, None)
        if idx is None:
            return
        need, dep = self.next_need[idx], self.next_dep[idx]
        self.need[idx] = need
        self.to_draw_kwh[idx] = need / self.config.efficiency
        self.dep[idx] = dep
        self.dep_kwh[idx] = dep * self.e_max_kwh
        self.connected[idx] = True
        self.session[idx] += 1
        self.n_active = int(np.count_nonzero(self.to_draw_kwh))

    def _end(self, idx: NDArray[np.int64]) -> None:
        """Unplug vehicles ``idx``: count their sessions and the energy they did not get."""
        left = self.to_draw_kwh[idx] * self.config.efficiency
        t = self.totals
        t["sessions"] += int(idx.size)
        t["unmet"] += float(left.sum())
        t["unmet_n"] += int((left > MET_TOLERANCE_KWH).sum())
        t["needed"] += float(self.need[idx].sum())
        self.left_with[idx] = self.config.battery_kwh - left
        self.to_draw_kwh[idx] = 0.0
        self.connected[idx] = False

    def _events(self, k: int) -> None:
        """Departures, arrivals and the next day's draw (then its arrivals) at slot ``k``.

        A vehicle's next session is always drawn before it arrives and arrives at the latest
        in the slot that draws the following day, so the draw never replaces a waiting session.
        """
        idx = self.departures.pop(k, None)
        if idx is not None:
            self._end(idx)
            self.n_active = int(np.count_nonzero(self.to_draw_kwh))
        self._start_sessions(k)
        if k >= self.next_draw:
            self._draw_day()
            self.next_draw = self._day_start_slot(self.day)
            self._start_sessions(k)

    # ----------------------------------------------------------------------- interface

    def energy_kwh(
        self, k: int, load_kwh: FloatArray, pv_kwh: FloatArray, slot_hours: float
    ) -> FloatArray:
        """Grid energy of the chargers in slot ``k`` per participant [kWh] (>= 0)."""
        self.k = next_slot("EV", self.k, k, self.dt_h, slot_hours)
        self._events(k)
        out = np.zeros(self.n)
        if not self.n_active:
            self.e = np.zeros(self.owner.size)
            self.pv_last = np.zeros(self.owner.size)
            return out
        e_max, own = self.e_max_kwh, self.owner
        g = self.to_draw_kwh  # 0 for vehicles not plugged in
        surplus = (pv_kwh - load_kwh)[own]
        np.maximum(surplus, 0.0, out=surplus)
        e = np.minimum(g, e_max)
        if self.config.strategy == "self_consumption":
            # latest start: what the later slots at full power cannot cover is drawn now
            must = g - self.dep_kwh
            must += (k + 1) * e_max
            np.maximum(must, surplus, out=must)
            np.minimum(e, must, out=e)
        g -= e
        g[g <= MET_TOLERANCE_KWH] = 0.0
        self.n_active = int(np.count_nonzero(g))
        self.e = e
        self.charged += e
        self.pv_last = np.minimum(e, surplus)
        self.pv_used += self.pv_last
        out[own] = e
        return out

    def disconnect(self, cut: NDArray[np.bool_]) -> None:
        """The participants in ``cut`` drew nothing in the slot last computed (cut off from the
        grid): their vehicles' energy of that slot is taken back; their sessions still need it."""
        idx = np.flatnonzero(cut[self.owner] & (self.e > 0.0))
        if idx.size == 0:
            return
        self.to_draw_kwh[idx] += self.e[idx]
        self.charged[idx] -= self.e[idx]
        self.pv_used[idx] -= self.pv_last[idx]
        self.e[idx] = 0.0
        self.pv_last[idx] = 0.0
        self.n_active = int(np.count_nonzero(self.to_draw_kwh))

    def columns(self) -> dict[str, FloatArray]:
        """``ev_kwh`` (grid energy of the slot [kWh]), ``ev_energy_kwh`` (energy in the vehicle
        battery at the slot's end [kWh]; while away, what it left with) and ``ev_connected``
        (1 while plugged in during the slot); 0 for participants without an EV."""
        cols = {name: np.zeros(self.n) for name in self.column_names}
        cols["ev_kwh"][self.owner] = self.e
        c = self.config
        stored = np.where(
            self.connected, c.battery_kwh - self.to_draw_kwh * c.efficiency, self.left_with
        )
        cols["ev_energy_kwh"][self.owner] = stored
        cols["ev_connected"][self.owner] = self.connected  # plugged in during the slot
        cols["ev_session"][self.owner] = self.session
        return cols

    def state(self) -> dict[str, Any]:
        """Arrays, counters, schedules, totals and the generator's state after the last slot."""
        return {
            **{name: getattr(self, name).copy() for name in self._arrays},
            **{name: getattr(self, name) for name in self._counters},
            **{
                name: {s: v.copy() for s, v in getattr(self, name).items()}
                for name in self._schedules
            },
            "totals": dict(self.totals),
            "rng": self.rng.bit_generator.state,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (of a fleet built from the same configuration)."""
        for name in self._arrays:
            setattr(self, name, np.array(state[name], copy=True))
        for name in self._counters:
            setattr(self, name, int(state[name]))
        for name in self._schedules:
            setattr(self, name, {int(s): np.array(v) for s, v in state[name].items()})
        self.totals = dict(state["totals"])
        self.rng.bit_generator.state = state["rng"]

    def summary(self) -> dict[str, Any]:
        """Run totals: vehicles, completed sessions, energy drawn, delivered and unmet."""
        t = self.totals
        return {
            "strategy": self.config.strategy,
            "vehicles": int(self.owner.size),
            "sessions": int(t["sessions"]),
            "sessions_unmet": int(t["unmet_n"]),
            "sessions_open": int(self.connected.sum()),
            "charged_kwh": float(self.charged.sum()),
            "delivered_kwh": float(self.charged.sum()) * self.config.efficiency,
            "pv_surplus_kwh": float(self.pv_used.sum()),
            "needed_kwh": t["needed"],
            "unmet_kwh": t["unmet"],
        }


def _groups(
    slots: NDArray[np.int64], idx: NDArray[np.int64]
) -> list[tuple[int, NDArray[np.int64]]]:
    """``idx`` grouped by ``slots``: (slot, its members) in slot order."""
    if not slots.size:
        return []
    order = np.argsort(slots, kind="stable")
    values, first = np.unique(slots[order], return_index=True)
    return list(zip(values.tolist(), np.split(idx[order], first[1:]), strict=True))


def _build(config: EVConfig, context: DeviceContext, rng: np.random.Generator) -> EVFleet:
    return EVFleet(config, context, rng)


EV = register(
    DeviceType(
        name="ev",
        config_model=EVConfig,
        build=_build,
        description="electric vehicles charging at home (seeded daily sessions)",
    )
)
