"""Scenario files: YAML validated into typed, frozen configuration objects.

A scenario is a YAML mapping whose sections mirror the classes below. Every key has a
documented default and unit; unknown keys, wrong types and out-of-range values are
rejected with an :class:`~cosim.errors.InputError` that names the file, the dotted key path
and what was expected. ``docs/scenario.md`` is generated from this schema
(``python -m cosim.scenario_docs``) and a test checks that it is up to date.

Example
-------
>>> from cosim.scenario import scenario_from_mapping
>>> sc = scenario_from_mapping({"name": "demo", "time": {"slots": 4}})
>>> sc.time.slot_minutes, sc.market.mechanism
(30, 'pay_as_clear')
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cosim.config import Section, describe_error, registered
from cosim.errors import InputError
from cosim.faults import FaultsConfig
from cosim.grid.flows import POWER_FLOWS
from cosim.market.auction import PRICE_RULES
from cosim.overrides import apply_overrides
from cosim.participants.config import BatteryConfig, ParticipantsConfig
from cosim.participants.devices import validate_device_configs
from cosim.settlement.backend import SETTLEMENT_BACKENDS
from cosim.settlement.billing import BILLING_MODEL_NAMES
from cosim.yamlload import read_yaml

__all__ = [
    "ChecksConfig",
    "DPConfig",
    "FulfilmentConfig",
    "GridConfig",
    "MarketConfig",
    "NetworkConfig",
    "OutputConfig",
    "PrivacyConfig",
    "Scenario",
    "SettlementConfig",
    "SweepConfig",
    "TimeConfig",
    "load_scenario",
    "scenario_from_mapping",
    "scenario_to_yaml",
]


class TimeConfig(Section):
    """Simulated horizon."""

    start: Annotated[dt.datetime, Field(strict=False)] = Field(
        default=dt.datetime(2016, 6, 1, tzinfo=dt.timezone.utc),
        description="Start of the first slot, ISO 8601 date or date-time; without a UTC offset it "
        "is taken as UTC.",
    )
    slots: int = Field(default=48, ge=1, le=1_000_000, description="Number of slots simulated.")
    slot_minutes: Literal[15, 30, 60] = Field(default=30, description="Slot length [min].")

    @field_validator("start", mode="before")
    @classmethod
    def _parse_start(cls, value: Any) -> Any:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError as exc:
                raise ValueError(
                    "an ISO 8601 date or date-time like 2016-06-01T00:00:00+00:00"
                ) from exc
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value

    @field_validator("start")
    @classmethod
    def _start_in_range(cls, value: dt.datetime) -> dt.datetime:
        if not 1900 <= value.year <= 2200:
            raise ValueError(f"a start between the years 1900 and 2200 (got {value.isoformat()})")
        return value

    @property
    def slot_hours(self) -> float:
        """Slot length [h]."""
        return self.slot_minutes / 60.0


class NetworkConfig(Section):
    """The low-voltage network."""

    name: str = Field(
        default="cigre_lv",
        min_length=1,
        description="`cigre_lv` (CIGRE LV, 44 buses), `village` (synthetic village_1, 80 buses), "
        "`district` (120 synthetic LV networks under one 20 kV bus, 5,208 households), "
        "or a path to a pandapower JSON file (relative to the scenario file).",
    )
    household_rating_kw: float = Field(
        default=4.0,
        ge=0.1,
        description="Rating of one household [kW]; aggregate residential loads are split into "
        "round(P / rating) households (docs/networks.md).",
    )


class MarketConfig(Section):
    """The per-slot double auction."""

    mechanism: registered(PRICE_RULES) = Field(  # type: ignore[valid-type]
        default="pay_as_clear",
        description="Uniform price or each trade at the buyer's bid (docs/market.md).",
    )
    retail_price: float = Field(
        default=0.35, ge=0, description="Price of energy bought from the supplier [currency/kWh]."
    )
    feed_in_tariff: float = Field(
        default=0.05,
        ge=0,
        description="Price paid by the supplier for exported energy [currency/kWh].",
    )
    network_check: Literal["none", "dc", "lindistflow"] = Field(
        default="none",
        description="Network check of the sellers' exports after clearing (docs/network_check.md): "
        "`none`, `dc` (thermal limits) or `lindistflow` (thermal and voltage limits).",
    )
    network_margin: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Thermal safety margin of the check [fraction of rating]; default 0.04 for "
        "`lindistflow`, 0.15 for `dc` (their measured linearisation errors).",
    )
    network_voltage_margin_pu: float = Field(
        default=0.005,
        ge=0,
        lt=0.1,
        description="Voltage safety margin of the check on each side of the band [pu].",
    )
    bid_strategy: Literal["uniform", "midpoint"] = Field(
        default="uniform",
        description="Limit prices: `uniform` draws each order's limit from "
        "[feed_in_tariff, retail_price] (seeded); `midpoint` uses their mean.",
    )
    min_order_kwh: float = Field(
        default=0.001,
        ge=0,
        description="Forecast net positions smaller than this submit no order [kWh].",
    )

    @model_validator(mode="after")
    def _prices(self) -> MarketConfig:
        if self.feed_in_tariff > self.retail_price:
            raise ValueError(
                f"feed_in_tariff ({self.feed_in_tariff}) <= retail_price ({self.retail_price})"
            )
        return self


class FulfilmentConfig(Section):
    """Imperfect fulfilment: forecasts deviate from what is delivered."""

    forecast_error: float = Field(
        default=0.1,
        ge=0,
        le=5,
        description="Relative standard deviation of load and PV forecast errors "
        "(0 = perfect fulfilment).",
    )


class SettlementConfig(Section):
    """Billing."""

    models: tuple[registered(BILLING_MODEL_NAMES), ...] = Field(  # type: ignore[valid-type]
        default=("retail", "individual"),
        min_length=1,
        description="Billing models computed side by side.",
    )
    encryption: registered(SETTLEMENT_BACKENDS) = Field(  # type: ignore[valid-type]
        default="plain",
        description="`plain` (floats, the reference), `paillier` (phe, textbook Paillier), "
        "`paillier_djn` (phe keys, pypaillier's short-exponent Damgard-Jurik-Nielsen "
        "encryption: several times faster, one more assumption) or `ckks` (tenseal): bills "
        "computed by the trading platform on encrypted meter data (docs/privacy.md).",
    )
    insecure_test_keys: bool = Field(
        default=False,
        description="Allow Paillier keys below 2048 bits (down to 1024); tests only, not secure.",
    )
    key_bits: int = Field(
        default=2048, ge=1024, description="Paillier modulus size [bit], >= 2048."
    )
    period: Literal["slot", "day", "month", "horizon"] = Field(
        default="horizon",
        description="Billing period: suppliers decrypt their customers' bills at its end (and CKKS "
        "packs one period per ciphertext).",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Processes for the meters' encryption: `paillier` and `ckks` split the "
        "meters over them; `paillier_djn` keeps `workers - 1` background processes making "
        "the meters' randomizers ahead of use (2 on a 2-core machine: about 1.5x faster).",
    )
    min_aggregate_members: int = Field(
        default=1,
        ge=1,
        description="The grid operator refuses to decrypt an aggregate of fewer users (1 keeps the "
        "published protocol; >= 2 settles those slots with `individual`, docs/privacy.md).",
    )
    suppliers: int = Field(
        default=2,
        ge=1,
        description="Number of suppliers; participants are assigned evenly from the seed.",
    )

    @field_validator("models", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(value)
        return value

    @field_validator("models")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each model at most once")
        return value

    @field_validator("key_bits")
    @classmethod
    def _key_size(cls, value: int, info: ValidationInfo) -> int:
        if value < 2048 and info.data.get("encryption") == "paillier_djn":
            raise ValueError(f"key_bits >= 2048 for paillier_djn (got {value})")
        if value < 2048 and not info.data.get("insecure_test_keys", False):
            raise ValueError(
                f"key_bits >= 2048 (got {value}); smaller keys need insecure_test_keys: true "
                "and are for tests only"
            )
        return value


ParticipantKind = Literal["household", "commercial"]


def _default_clip() -> dict[ParticipantKind, float]:
    return {"household": 3.0, "commercial": 30.0}


class DPConfig(Section):
    """Differential privacy of the metering aggregates (noise made on the meters)."""

    enabled: bool = Field(
        default=False,
        description="Add distributed discrete Laplace noise to every released group aggregate "
        "(never to bills; docs/privacy.md).",
    )
    epsilon: float = Field(
        default=1.0, gt=0, le=100, description="Privacy budget epsilon of each release."
    )
    resolution_kwh: float = Field(
        default=0.001, gt=0, le=1, description="Release grid [kWh]: readings are rounded to it."
    )
    clip_kwh: dict[ParticipantKind, float] = Field(
        default_factory=_default_clip,
        description="Per participant kind, readings are clipped to [-C, C] [kWh per slot] "
        "before noise; the sensitivity is 2 C / resolution.",
    )
    delta: float = Field(
        default=1e-6,
        gt=0,
        lt=1,
        description="delta of the advanced composition reported over the horizon.",
    )

    @field_validator("clip_kwh")
    @classmethod
    def _positive(cls, value: dict[ParticipantKind, float]) -> dict[ParticipantKind, float]:
        if any(not v > 0 for v in value.values()):
            raise ValueError("clipping bounds > 0")
        return _default_clip() | value


class PrivacyConfig(Section):
    """Privacy-preserving metering: group aggregates, role views, differential privacy."""

    aggregation: Literal["none", "masking", "threshold_paillier"] = Field(
        default="masking",
        description="How the meters' readings reach the grid operator as group sums: `masking` "
        "(pairwise masks with double masking; the aggregator holds no key), "
        "`threshold_paillier` (the decryption key split 2-of-2 between the grid operator and a "
        "second authority; also used for the settlement's grid-operator aggregates when the "
        "settlement is Paillier) or `none` (no metering aggregates).",
    )
    groups: Literal["transformer", "feeder", "explicit"] = Field(
        default="transformer",
        description="Aggregation groups: per transformer, per feeder, or `explicit_groups`.",
    )
    explicit_groups: list[list[int]] = Field(
        default_factory=list,
        description="For `groups: explicit`: lists of participant ids, each participant once.",
    )
    min_group_members: int = Field(
        default=2,
        ge=1,
        description="No release (aggregate, bus power, line loading) over fewer participants; "
        "the larger of this and `settlement.min_aggregate_members` applies.",
    )
    batch_slots: int = Field(
        default=336,
        ge=1,
        description="Slots the meters report at once (one masking round or one Paillier batch; "
        "default a week of half-hour slots: a masking round costs about 0.2 s for 47 meters "
        "whatever its length).",
    )
    masking_degree: int = Field(
        default=40,
        ge=2,
        description="Neighbours each meter masks with in groups larger than this (else all).",
    )
    key_bits: int = Field(
        default=2048,
        ge=1024,
        description="Modulus of the shared Paillier key of `threshold_paillier` [bit]; below 2048 "
        "needs `settlement.insecure_test_keys`.",
    )
    views: Literal["none", "roles", "all"] = Field(
        default="roles",
        description="Write `views/<role>/`: `roles` for the grid operator and each supplier, `all` "
        "also one per consumer, `none` no views.",
    )
    dp: DPConfig = DPConfig()

    @model_validator(mode="after")
    def _explicit(self) -> PrivacyConfig:
        if self.groups == "explicit" and not self.explicit_groups:
            raise ValueError("explicit_groups (lists of participant ids) for groups: explicit")
        return self


class GridConfig(Section):
    """Power flow."""

    backend: registered(POWER_FLOWS) = Field(  # type: ignore[valid-type]
        default="pandapower",
        description="`pandapower` (reference) or `lightsim2grid` (same networks and results within "
        "1e-6 pu, about 100x faster per flow; docs/performance.md).",
    )
    v_min_pu: float = Field(
        default=0.95, gt=0, lt=2, description="Lower voltage limit used in summaries [pu]."
    )
    v_max_pu: float = Field(
        default=1.05,
        gt=0,
        lt=2,
        description="Upper voltage limit used in summaries and the network check [pu]; above "
        "`v_min_pu`.",
    )
    line_rating_factor: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="Factor on every line's thermal rating (`max_i_ka`), for stress studies.",
    )
    trafo_rating_factor: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="Factor on every transformer's rating (`df`), for stress studies.",
    )


class ChecksConfig(Section):
    """Plausibility limits: inputs outside them are refused as a likely unit mistake.

    Each limit can be raised, or all switched off with ``plausibility: false``, when a
    scenario really means it (docs/profiles.md, "Plausibility checks").
    """

    plausibility: bool = Field(
        default=True, description="Apply the limits below (false: none of them)."
    )
    max_household_mean_kw: float = Field(
        default=10.0,
        gt=0,
        description="Largest mean load over households and the horizon's table [kW] "
        "(a typical household: 0.2-1 kW).",
    )
    min_household_mean_kw: float = Field(
        default=0.01,
        ge=0,
        description="Smallest mean load over households [kW] (a file in MW falls below).",
    )
    max_commercial_mean_kw: float = Field(
        default=1000.0, gt=0, description="Largest mean load of one business [kW]."
    )
    max_pv_kw_per_kwp: float = Field(
        default=1.5,
        gt=0,
        description="Largest value of a PV table [kW/kWp] (a panel peaks near 1; a file in "
        "W/kWp or in kW reaches far above).",
    )
    max_pv_kwp: float = Field(
        default=100.0,
        gt=0,
        description="Largest `participants.pv_kwp` [kWp] (LV rooftop systems: 1-100 kWp).",
    )
    max_battery_kwh: float = Field(
        default=500.0,
        gt=0,
        description="Largest `battery.capacity_kwh` [kWh] (home batteries: 5-20 kWh).",
    )
    max_participant_bus_kv: float = Field(
        default=1.0,
        gt=0,
        description="Largest nominal voltage of a bus with participants [kV] (LV: 0.4 kV; a "
        "medium-voltage network's loads are substations, not households).",
    )


class OutputConfig(Section):
    """What is written and how."""

    format: Literal["csv", "parquet"] = Field(
        default="csv",
        description="Result tables as CSV files, or as Parquet (a per-slot table is then a "
        "folder of part files, one per chunk; `docs/runs.md`).",
    )
    participants: bool = Field(
        default=True,
        description="Write participants.csv (slot x participant; the largest table). Off, the "
        "run's totals, bills and all other tables are unchanged.",
    )
    buses: bool = Field(default=True, description="Write buses.csv (slot x bus).")
    lines: bool = Field(default=True, description="Write lines.csv (slot x line).")
    aggregate: Literal["none", "hour", "day", "month"] = Field(
        default="none",
        description="Also write participants_<period> and buses_<period> (e.g. "
        "participants_day.csv): one row per period and participant (bus), energies summed, "
        "voltages as min/max/mean; with `participants: false` the per-participant results of a "
        "district year stay small (docs/runs.md).",
    )
    chunk_slots: int = Field(
        default=1000,
        ge=1,
        description="Results are appended to the tables (and a checkpoint written) at most "
        "every this many slots.",
    )
    chunk_rows: int = Field(
        default=500_000,
        ge=1,
        description="Bound on the rows buffered per chunk over all tables: large networks get "
        "chunks of fewer slots, so memory does not grow with participants x chunk_slots.",
    )
    background_writes: bool = Field(
        default=True,
        description="Format and write CSV chunks in a second process while the run goes on "
        "(same bytes; only for runs longer than one chunk). On macOS/Windows a script calling "
        'cosim needs an `if __name__ == "__main__":` guard, or set this to false.',
    )


class SweepConfig(Section):
    """Parameter sweep (``cosim sweep``): the cartesian product of the varied keys."""

    vary: dict[str, list[Any] | str] = Field(
        default_factory=dict,
        description="Dotted key -> list of values, or a quoted `START:STOP:STEP` (inclusive of "
        'STOP within rounding), e.g. `participants.pv_penetration: "0:1:0.1"`.',
    )

    @field_validator("vary", mode="before")
    @classmethod
    def _ranges_are_strings(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    raise ValueError(
                        f"a list of values or a quoted 'START:STOP:STEP' string for {key} (got the "
                        f"number {item!r}: YAML reads an unquoted a:b:c as a base-60 number)"
                    )
        return value

    workers: int | None = Field(
        default=None, ge=1, description="Local worker processes (default: cores)."
    )
    scheduler: str | None = Field(
        default=None, description="Address of a running Dask scheduler, e.g. `tcp://10.0.0.5:8786`."
    )


class DispatchAdmmConfig(Section):
    """Consensus ADMM of the decentralized dispatch (docs/dispatch.md)."""

    rho: float = Field(
        default=0.1, gt=0, description="Initial penalty of P and Q copies [currency/kW^2]."
    )
    voltage_rho_factor: float = Field(
        default=1e5, gt=0, description="Penalty of voltage copies relative to `rho` [kW^2/pu^2]."
    )
    over_relaxation: float = Field(default=1.6, gt=0, lt=2, description="Over-relaxation alpha.")
    tol_kw: float = Field(
        default=2.5e-4, gt=0, description="Primal and dual tolerance of P and Q [kW, kvar]."
    )
    tol_pu: float = Field(default=2.5e-5, gt=0, description="Primal and dual tolerance of V [pu].")
    max_iterations: int = Field(default=3000, ge=1, description="Iteration limit.")
    balance_iterations: int = Field(
        default=0, ge=0, description="Residual balancing of the penalties in the first iterations."
    )
    price_warm_start: bool = Field(
        default=True,
        description="Start from the public tariff: price duals and a price-taker upward sweep.",
    )
    acceleration: bool = Field(
        default=False, description="Nesterov extrapolation with restart (fast ADMM)."
    )
    voltage_warm_start: bool = Field(
        default=False,
        description="Voltage copies start at the LinDistFlow voltages of the price-taker sweep's "
        "flows (one more message round per DES-tree level, downwards).",
    )
    two_price_warm_start: bool = Field(
        default=False,
        description="The price-taker sweep buys at the tariff and sells at the feed-in price "
        "(instead of both at the tariff).",
    )
    rho_final: float = Field(
        default=0.0,
        ge=0,
        description="With `rho_ramp_iterations` > 0: the penalties grow geometrically from "
        "`rho` to this value over those iterations, then stay fixed [currency/kW^2].",
    )
    rho_ramp_iterations: int = Field(
        default=0, ge=0, description="Iterations of the geometric penalty ramp (0: none)."
    )


class DispatchConfig(Section):
    """Decentralized privacy-preserving dispatch of distributed energy systems (DES)."""

    enabled: bool = Field(
        default=False,
        description="Solve the dispatch with `cosim dispatch` (dispatch.csv); in `cosim run` "
        "the dispatch is the battery strategy `admm` (`participants.battery_strategy`).",
    )
    case: Literal["six_bus", "yingkou60", "village"] = Field(
        default="six_bus", description="Shipped dispatch case (network and devices)."
    )
    partition: Literal["bus", "feeder", "balanced", "explicit"] = Field(
        default="bus",
        description="Split into DES: per bus, per feeder, `parts` balanced parts, or `mapping`.",
    )
    parts: int = Field(default=0, ge=0, description="Number of DES for `balanced`.")
    mapping: tuple[int, ...] | None = Field(
        default=None, description="DES of each node for `explicit`."
    )
    encryption: Literal["ckks", "paillier_djn", "plain"] = Field(
        default="ckks", description="What the DSO sees: CKKS or DJN-Paillier ciphertexts, or plain."
    )
    masking: Literal["none", "rmme"] = Field(
        default="none", description="`rmme`: each DES's local QP is solved masked by a cloud."
    )
    key_bits: int = Field(default=2048, ge=2048, description="Paillier modulus size [bit].")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes that play the DES and solve their local problems in parallel "
        "(2 on a 2-core machine); the iterates are identical for any value. Masked (`rmme`) "
        "solves run in the main process.",
    )
    round_delay_ms: float = Field(
        default=50.0,
        ge=0,
        description="`cosim run` with `admm`: simulated time of one ADMM message round (DES "
        "to DSO and back) [ms].",
    )
    deadline_minutes: float = Field(
        default=5.0,
        gt=0,
        description="`cosim run` with `admm`: time after the slot start by which the dispatch "
        "must be done (capped at the slot length); later: the slot falls back to "
        "self-consumption (`dispatch_late`) [min].",
    )
    replan_slots: int = Field(
        default=1,
        ge=1,
        description="`cosim run` with `admm`: solve every this many slots; the slots between "
        "follow the last plan.",
    )
    voltage_penalty_per_pu_h: float = Field(
        default=1e3,
        ge=0,
        description="`cosim run` with `admm`: cost of a forecast voltage outside the band "
        "[currency per pu and hour] (elastic band; 0: hard band, a horizon that cannot keep it "
        "falls back).",
    )
    central_every: int = Field(
        default=1,
        ge=0,
        description="`cosim run` with `admm`: solve the central reference (gap, feasibility) "
        "every this many solves (0: never).",
    )
    admm: DispatchAdmmConfig = DispatchAdmmConfig()


class Scenario(Section):
    """A complete, validated scenario."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=100,
        description="Scenario name (letters, digits, `_.-`); default output folder "
        "`results/<name>/`.",
    )
    seed: int = Field(default=0, ge=0, description="Seed of every random draw.")
    time: TimeConfig = TimeConfig()
    network: NetworkConfig = NetworkConfig()
    participants: ParticipantsConfig = ParticipantsConfig()
    battery: BatteryConfig = BatteryConfig()
    market: MarketConfig = MarketConfig()
    fulfilment: FulfilmentConfig = FulfilmentConfig()
    settlement: SettlementConfig = SettlementConfig()
    grid: GridConfig = GridConfig()
    checks: ChecksConfig = ChecksConfig()
    output: OutputConfig = OutputConfig()
    sweep: SweepConfig = SweepConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    dispatch: DispatchConfig = DispatchConfig()
    devices: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Devices behind the participants' meters: device type -> its settings "
        "(`{}` for the defaults), e.g. `ev: {share: 0.3}`; the types' keys follow below "
        "(docs/devices.md).",
    )
    faults: FaultsConfig = FaultsConfig()
    source_file: str | None = Field(
        default=None, exclude=True, description="The scenario file (set by the loader)."
    )

    @model_validator(mode="after")
    def _privacy_keys(self) -> Scenario:
        if self.privacy.key_bits < 2048 and not self.settlement.insecure_test_keys:
            raise ValueError(
                f"privacy.key_bits >= 2048 (got {self.privacy.key_bits}); smaller keys need "
                "settlement.insecure_test_keys: true and are for tests only"
            )
        return self


# --------------------------------------------------------------------------- loading


def scenario_from_mapping(data: Mapping[str, Any], file: str | Path | None = None) -> Scenario:
    """Validate a mapping (parsed YAML) into a :class:`Scenario`.

    Parameters
    ----------
    data : Mapping
        The scenario as nested mappings.
    file : str or Path, optional
        File the mapping came from, for error messages and relative paths.

    Raises
    ------
    InputError
        On the first invalid key, naming the file, the key path and what was expected.
    """
    if not isinstance(data, Mapping):
        raise InputError(
            file, "(top level)", f"expected a mapping of scenario keys, got {type(data).__name__}"
        )
    payload = dict(data)
    if file is not None:
        payload["source_file"] = str(Path(file).resolve())
    try:
        scenario = Scenario.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        path, expected = describe_error(err, Scenario)
        raise InputError(file, path or "(top level)", expected) from None
    _check_across_sections(scenario, file)
    return scenario


def _check_across_sections(scenario: Scenario, file: str | Path | None) -> None:
    """Checks that involve keys of several sections (the schema checks one section)."""
    validate_device_configs(scenario.devices, file)  # each device type's own schema
    g, m = scenario.grid, scenario.market
    if g.v_min_pu >= g.v_max_pu:
        raise InputError(
            file,
            "grid.v_min_pu",
            f"expected below grid.v_max_pu (got v_min_pu {g.v_min_pu}, v_max_pu {g.v_max_pu}): "
            "the voltage band is empty",
        )
    if m.network_check == "lindistflow":
        margin = m.network_voltage_margin_pu
        if g.v_min_pu + margin >= g.v_max_pu - margin:
            raise InputError(
                file,
                "market.network_voltage_margin_pu",
                f"expected a margin that leaves a voltage band for the lindistflow check (got "
                f"{margin} on each side of [{g.v_min_pu}, {g.v_max_pu}] pu)",
            )
    t = scenario.time
    end = t.start + dt.timedelta(minutes=t.slots * t.slot_minutes)
    if end.year > 2200:
        raise InputError(
            file,
            "time.slots",
            f"expected a horizon ending by the year 2200 (got {t.slots} slots from "
            f"{t.start.isoformat()})",
        )


#: Scenarios shipped in the package, found by name when no such file exists
#: (``cosim run quickstart`` works from an installed wheel, without the repository).
SCENARIO_DIR = Path(__file__).resolve().parent / "data" / "scenarios"


def _find_scenario(path: str | Path) -> Path:
    """The scenario file ``path``, or the shipped scenario of that bare name."""
    p = Path(path)
    if p.is_file():
        return p
    if re.fullmatch(r"[A-Za-z0-9_-]+", str(path)):
        shipped = SCENARIO_DIR / f"{path}.yaml"
        if shipped.is_file():
            return shipped
    raise InputError(p, "(file)", "scenario file not found")


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, override and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        YAML scenario file, or the bare name of a scenario shipped in the package
        (``quickstart``) when no file of that name exists.
    overrides : sequence of str
        ``key.path=value`` items applied before validation (values parsed as YAML).
    """
    p = _find_scenario(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(p, "(file)", f"cannot read the file: {exc}") from None
    data = read_yaml(text, p)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(
            p, "(top level)", f"expected a mapping of scenario keys, got {type(data).__name__}"
        )
    data = apply_overrides(data, overrides, file=p)
    return scenario_from_mapping(data, file=p)


def scenario_to_yaml(scenario: Scenario) -> str:
    """The fully resolved scenario (every default filled in) as YAML text."""
    data = scenario.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
