"""Small wind turbines behind the meter: a generator following a built-in wind profile.

A seeded share of the participants owns a turbine of ``p_rated_kw``; each turbine follows one
of the built-in wind profiles (``cosim/data/profiles/wind.csv``: four SimBench wind-power
profiles of 2016 relative to rated power, derived by ``scripts/derive_device_profiles.py``),
chosen from the seed among ``profiles``. Its energy in a slot is ``-p_rated_kw x`` the
profile's energy per kW in that slot [kWh]: negative, generation. Nothing is drawn during the
run; the turbine is not curtailed by the device (the meters' export cap acts on PV and device
generation together). Cut off from the grid (an outage), a turbine stops (anti-islanding).

The dispatch block of the same type is :class:`Wind` (registered with the fleet).

Example
-------
>>> import numpy as np, pandas as pd
>>> from cosim.participants.devices import DeviceContext, build_devices
>>> ctx = DeviceContext(n=4, kind=np.array(["household"] * 4), slot_minutes=60,
...                     slot_times=pd.date_range("2016-01-10", periods=24, freq="h", tz="UTC"))
>>> wind = build_devices({"wind": {"share": 0.5, "p_rated_kw": 5.0}}, ctx, seed=1)
>>> e = np.array([wind.energy_kwh(k, np.zeros(4), np.zeros(4), 1.0) for k in range(24)])
>>> bool((e <= 0).all() and (e >= -5.0).all()), int((e < 0).any(axis=0).sum())
(True, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator

from cosim.dispatch.devices import Renewable
from cosim.participants.device_profiles import OwnerProfiles, choose_owners, device_profiles
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

__all__ = ["Wind", "WindConfig", "WindFleet"]

WindProfile = Literal["WP1", "WP4", "WP5", "WP6"]


class WindConfig(OwnedDeviceConfig):
    """Small wind turbines following the built-in wind profiles."""

    share: float = owner_share(0.1, "a turbine")
    kinds: tuple[ParticipantKind, ...] = owner_kinds(("household", "commercial"))
    p_rated_kw: float = Field(
        default=5.0, gt=0, le=5000, description="Rated power of each turbine [kW]."
    )
    profiles: tuple[WindProfile, ...] = Field(
        default=("WP1", "WP4", "WP5", "WP6"),
        min_length=1,
        description="Built-in wind profiles the turbines follow, one per turbine chosen from "
        "the seed (SimBench 2016; annual capacity factor WP1 0.55, WP4, WP5, WP6 0.29).",
    )

    @field_validator("profiles", mode="before")
    @classmethod
    def _profiles_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("profiles")
    @classmethod
    def _unique_profiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"profiles without repeats (got {list(value)})")
        return value


class WindFleet:
    """The wind turbines of a run, one per owner.

    Notes
    -----
    Draws, at build: one permutation of the eligible participants (the owners), then one
    uniform per eligible participant (its profile among ``profiles``), of which the owners'
    are used.
    """

    column_names: tuple[str, ...] = ("wind_kwh",)

    def __init__(
        self, config: WindConfig, context: DeviceContext, rng: np.random.Generator
    ) -> None:
        self.config = config
        self.n = context.n
        self.dt_h = context.slot_hours
        self.owner, pick, n_eligible = choose_owners(context.kind, config.kinds, config.share, rng)
        u = rng.random(n_eligible)[pick]
        names = device_profiles("wind").names
        allowed = np.array([names.index(p) for p in config.profiles], dtype=np.int64)
        choice = np.minimum((u * allowed.size).astype(np.int64), allowed.size - 1)
        self.profile = allowed[choice]
        zero = np.zeros(self.owner.size, dtype=np.int64)
        self.profiles = OwnerProfiles(
            "wind", context.slot_times, context.slot_minutes, self.profile, zero
        )
        self.e = np.zeros(self.owner.size)  # energy of the slot last computed, <= 0 [kWh]
        self.k = 0
        self.totals = {"generated": 0.0, "lost": 0.0}

    def energy_kwh(
        self, k: int, load_kwh: FloatArray, pv_kwh: FloatArray, slot_hours: float
    ) -> FloatArray:
        """Energy of the turbines in slot ``k`` per participant [kWh], <= 0 (generation)."""
        self.k = next_slot("wind", self.k, k, self.dt_h, slot_hours)
        self.e = -self.config.p_rated_kw * self.profiles.slot(k)
        self.totals["generated"] -= float(self.e.sum())
        out = np.zeros(self.n)
        out[self.owner] = self.e
        return out

    def disconnect(self, cut: NDArray[np.bool_]) -> None:
        """Turbines of participants in ``cut`` stopped during the slot last computed."""
        idx = np.flatnonzero(cut[self.owner])
        if idx.size == 0:
            return
        lost = -float(self.e[idx].sum())
        self.totals["generated"] -= lost
        self.totals["lost"] += lost
        self.e = self.e.copy()
        self.e[idx] = 0.0

    def columns(self) -> dict[str, FloatArray]:
        """``wind_kwh``: energy at the connection in the slot last computed [kWh], <= 0."""
        col = np.zeros(self.n)
        col[self.owner] = self.e
        return {"wind_kwh": col}

    def state(self) -> dict[str, Any]:
        """The last slot's energy, the slot counter and the totals."""
        return {"e": self.e.copy(), "k": self.k, "totals": dict(self.totals)}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (of a fleet built from the same configuration)."""
        self.e = np.array(state["e"], dtype=np.float64, copy=True)
        self.k = int(state["k"])
        self.totals = dict(state["totals"])

    def summary(self) -> dict[str, Any]:
        """Run totals: turbines, rated power, energy generated and lost to outages."""
        return {
            "turbines": int(self.owner.size),
            "rated_kw": float(self.owner.size * self.config.p_rated_kw),
            "generated_kwh": self.totals["generated"],
            "outage_lost_kwh": self.totals["lost"],
        }


@dataclass(frozen=True)
class Wind(Renewable):
    """Dispatch block of a wind turbine: ``0 <= p <= p_max_kw(t)`` (curtailable),
    ``|q| <= tan(acos(pf_min)) p`` (the constraints of PV)."""

    kind: str = "wind"


def _build(config: WindConfig, context: DeviceContext, rng: np.random.Generator) -> WindFleet:
    return WindFleet(config, context, rng)


WIND = register(
    DeviceType(
        name="wind",
        config_model=WindConfig,
        build=_build,
        description="small wind turbines following built-in wind profiles",
        dispatch=Wind,
    )
)
