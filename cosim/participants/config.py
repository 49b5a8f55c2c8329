"""The ``participants:`` and ``battery:`` sections of a scenario: who trades, with what.

The participants' concept owns its configuration; :mod:`cosim.scenario` composes it with the
other sections. ``participants.battery_strategy`` names an entry of
:data:`cosim.participants.strategies.BATTERY_STRATEGIES`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cosim.config import Section, registered
from cosim.participants.strategies import BATTERY_STRATEGIES

__all__ = ["BatteryConfig", "ParticipantsConfig"]


class BatteryConfig(Section):
    """Home battery parameters (for participants that have one)."""

    capacity_kwh: float = Field(default=5.0, gt=0, description="Usable capacity [kWh].")
    power_kw: float = Field(default=2.5, gt=0, description="Charge and discharge power limit [kW].")
    round_trip_efficiency: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Round-trip efficiency; charge and discharge each get its square root.",
    )
    soc_min_fraction: float = Field(
        default=0.1, ge=0, le=1, description="Lower state-of-charge bound [fraction of capacity]."
    )
    soc_max_fraction: float = Field(
        default=0.95, ge=0, le=1, description="Upper state-of-charge bound [fraction of capacity]."
    )
    soc_initial_fraction: float = Field(
        default=0.5, ge=0, le=1, description="State of charge at the start [fraction of capacity]."
    )
    horizon_slots: int = Field(
        default=48,
        ge=1,
        le=2000,
        description="Receding horizon of the `price` and `rolling` strategies [slots]; shorter "
        "at the end of a run.",
    )
    rolling_objective: Literal["cost", "tracking"] = Field(
        default="cost",
        description="`rolling`: `cost` (the feeder's bill at retail price and feed-in tariff) or "
        "`tracking` (|import - target_import_kw|); docs/rolling.md.",
    )
    target_import_kw: float = Field(
        default=0.0,
        allow_inf_nan=False,
        description="`rolling` with `tracking`: the feeder's target import [kW].",
    )
    trade_penalty_per_kwh: float = Field(
        default=0.01,
        ge=0,
        allow_inf_nan=False,
        description="`rolling`: weight of the (advisory) traded volume [currency/kWh].",
    )
    stored_energy_price_per_kwh: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="Value of energy left in a battery at the horizon end [currency/kWh]; "
        "default: the mean of feed-in tariff and retail price.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> BatteryConfig:
        if self.soc_min_fraction > self.soc_max_fraction:
            raise ValueError(
                f"soc_min_fraction ({self.soc_min_fraction}) <= "
                f"soc_max_fraction ({self.soc_max_fraction})"
            )
        if not self.soc_min_fraction <= self.soc_initial_fraction <= self.soc_max_fraction:
            raise ValueError(
                f"soc_initial_fraction ({self.soc_initial_fraction}) between soc_min_fraction "
                f"({self.soc_min_fraction}) and soc_max_fraction ({self.soc_max_fraction})"
            )
        return self


class ParticipantsConfig(Section):
    """Who trades: households and businesses behind smart meters."""

    pv_penetration: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Fraction of participants with PV; round(p*N) of them, chosen from the seed.",
    )
    battery_penetration: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Fraction of participants with a battery; chosen from the seed.",
    )
    pv_kwp: float = Field(
        default=3.0, gt=0, description="PV size of each participant that has PV [kWp]."
    )
    annual_load_kwh: float = Field(
        default=3500.0,
        gt=0,
        description="Median annual consumption of a household [kWh/a] (`load_scaling: "
        "annual_energy` only).",
    )
    annual_load_spread: float = Field(
        default=0.3,
        ge=0,
        le=2,
        description="Log-normal sigma of households' annual consumption around the median "
        "(`load_scaling: annual_energy` only).",
    )
    load_scaling: Literal["auto", "annual_energy", "as_given"] = Field(
        default="auto",
        description="How load tables become participants' loads (docs/profiles.md): "
        "`annual_energy` scales each column to a household's annual energy "
        "(`annual_load_kwh` with `annual_load_spread`; a business's peak to its connection "
        "rating); `as_given` uses the values in kW unchanged; `auto`: `annual_energy` for "
        "built-in tables, `as_given` for CSV files.",
    )
    profile_shift_minutes: int | None = Field(
        default=None,
        ge=0,
        le=720,
        description="Each participant's load profile is shifted by a seeded whole number of "
        "15-min steps within +- this [min]; default 60 for tables scaled by `annual_energy`, "
        "0 for tables used `as_given`.",
    )
    pv_shift_minutes: int | None = Field(
        default=None,
        ge=0,
        le=720,
        description="Each participant's PV profile is shifted likewise within +- this [min]; "
        "default 15 for the built-in PV table, 0 for a PV CSV file.",
    )
    load_profiles: str = Field(
        default="builtin",
        min_length=1,
        description="`builtin` (SimBench households, 1,000 kWh/a shapes) or a CSV path "
        "(`*_p_kw` columns [kW], docs/profiles.md).",
    )
    commercial_profiles: str = Field(
        default="builtin",
        min_length=1,
        description="`builtin` (SimBench G0/G1/G3, 1,000 kWh/a shapes) or a CSV path "
        "(`*_p_kw` columns [kW]).",
    )
    pv_profiles: str = Field(
        default="builtin",
        min_length=1,
        description="`builtin` (SimBench PV1-8) or a CSV path (`*_p_kw_per_kwp` columns "
        "[kW/kWp]), multiplied by `pv_kwp`.",
    )
    load_power_factor: float = Field(
        default=0.97,
        gt=0,
        le=1,
        description="Power factor of the loads (inductive); PV and batteries run at unity.",
    )
    battery_strategy: registered(BATTERY_STRATEGIES) = Field(  # type: ignore[valid-type]
        default="self_consumption",
        description="Battery dispatch: `self_consumption` charges from surplus and discharges "
        "into deficit; `price` minimises each owner's bill over `battery.horizon_slots`; "
        "`rolling` plans all batteries in one LinDistFlow LP (docs/rolling.md).",
    )
