"""Devices behind the participants' meters: one interface, a registry, the devices of a run.

A *device type* (an electric vehicle, a heat pump, a CHP ...) is one fleet: a struct of arrays
with one entry per participant (zeros where a participant has none), so a slot costs a few
vectorised numpy calls whatever the number of participants. Each type registers itself with
:func:`register`; a scenario names the types it uses in its top-level ``devices:`` mapping
(name -> that type's configuration), and :func:`build_devices` validates it and builds a
:class:`DeviceSet`. The engine asks the set for each slot's energy and never asks which devices
it holds (docs/devices.md).

Sign convention: a device's energy is drawn from the participant's connection; positive is
consumption (an EV charging, a heat pump), negative is generation (a CHP). It is added to the
participant's base load, so forecasts, orders and delivery see it like any other load.

Example
-------
>>> import numpy as np, pandas as pd
>>> ctx = DeviceContext(
...     n=3,
...     kind=np.array(["household", "household", "commercial"]),
...     slot_minutes=30,
...     slot_times=pd.date_range("2016-06-01", periods=48, freq="30min", tz="UTC"),
... )
>>> devices = build_devices({}, ctx, seed=0)
>>> bool(devices), devices.energy_kwh(0, np.ones(3), np.zeros(3), 0.5)
(False, array([0., 0., 0.]))
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cosim.config import describe_error
from cosim.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BUILTIN_DEVICE_MODULES",
    "DEVICE_TYPES",
    "Device",
    "DeviceContext",
    "DeviceSet",
    "DeviceType",
    "OwnedDeviceConfig",
    "ParticipantKind",
    "build_devices",
    "device_rng",
    "device_types",
    "next_slot",
    "owner_kinds",
    "owner_share",
    "register",
    "validate_device_configs",
]

FloatArray = NDArray[np.float64]

ParticipantKind = Literal["household", "commercial"]


def owner_share(default: float, what: str = "one") -> Any:
    """The ``share`` field of a device type's settings, with its default."""
    return Field(
        default=default,
        ge=0,
        le=1,
        description=f"Fraction of the participants of `kinds` owning {what}; round(share*N) of "
        "them, chosen from the seed (a higher share adds owners to a lower one's set).",
    )


def owner_kinds(default: tuple[ParticipantKind, ...] = ("household",), what: str = "one") -> Any:
    """The ``kinds`` field of a device type's settings, with its default."""
    return Field(
        default=default, min_length=1, description=f"Participant kinds that may own {what}."
    )


class OwnedDeviceConfig(BaseModel):
    """What the settings of every device type share: who owns one (``share`` of the
    participants of ``kinds``). A type redeclares the two fields with its own defaults through
    :func:`owner_share` and :func:`owner_kinds`; YAML lists become tuples and repeats are
    refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    share: float = owner_share(0.3)
    kinds: tuple[ParticipantKind, ...] = owner_kinds()

    @field_validator("kinds", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("kinds")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"kinds without repeats (got {list(value)})")
        return value


def next_slot(fleet: str, expected: int, k: int, dt_h: float, slot_hours: float) -> int:
    """Check that a fleet is asked for its slots in order and at its slot length; the next
    slot number.

    Raises
    ------
    ValueError
        Slot ``k`` is not the ``expected`` one, or ``slot_hours`` is not the fleet's ``dt_h``.
    """
    if k != expected:
        raise ValueError(f"{fleet} fleet expected slot {expected}, got {k}")
    if abs(slot_hours - dt_h) > 1e-9:
        raise ValueError(f"{fleet} fleet built for {dt_h} h slots, got {slot_hours}")
    return k + 1


#: Modules of the device types shipped with cosim; each registers its type when imported.
#: They are imported on first use of the registry (:func:`device_types`), not by this module,
#: so a device module may import this one without an import cycle.
BUILTIN_DEVICE_MODULES: tuple[str, ...] = (
    "cosim.participants.ev",
    "cosim.participants.heat",
    "cosim.participants.chp",
    "cosim.participants.wind",
    "cosim.dispatch.devices",
)

#: First element of every device stream's spawn key: far above the children that
#: ``SeedSequence(seed).spawn`` hands out (0, 1, 2, ...), so no device stream can coincide with
#: one of the run's purpose streams, whatever purposes are added later.
_DEVICE_SPAWN_TAG = 0x44455643  # "DEVC"


@dataclass(frozen=True)
class DeviceContext:
    """What a device type may know about the run when it is built.

    Built by the engine from the population and the scenario's time axis; nothing else of
    the scenario reaches a device (its own configuration comes separately).

    Attributes
    ----------
    n : int
        Number of participants (the length of every per-participant array).
    kind : ndarray of str
        Each participant's kind: ``household`` or ``commercial``.
    slot_minutes : int
        Slot length [min].
    slot_times : pandas.DatetimeIndex
        Start of every slot of the run (tz-aware; its clock is the scenario's ``time.start``
        offset, the clock the profiles are read in).
    source_file : Path or None
        The scenario file (for error messages and data files relative to it).
    """

    n: int
    kind: NDArray[np.str_]
    slot_minutes: int
    slot_times: pd.DatetimeIndex
    source_file: Path | None = None

    @property
    def slot_hours(self) -> float:
        """Slot length [h]."""
        return self.slot_minutes / 60.0

    @property
    def slots(self) -> int:
        """Number of slots of the run."""
        return len(self.slot_times)


@runtime_checkable
class Device(Protocol):
    """The fleet of one device type behind the participants' meters (struct of arrays).

    The engine calls :meth:`energy_kwh` exactly once per slot, in slot order, then may read
    :meth:`columns` for that slot's rows; :meth:`state` and :meth:`restore` checkpoint it;
    :meth:`summary` is read once at the end of the run.
    """

    #: Names of :meth:`columns`, in a fixed order known before the run, each prefixed by the
    #: device type's name and carrying its unit (``ev_kwh``, ``ev_energy_kwh`` ...).
    column_names: tuple[str, ...]

    def energy_kwh(
        self, k: int, load_kwh: FloatArray, pv_kwh: FloatArray, slot_hours: float
    ) -> FloatArray:
        """Energy drawn (> 0) or delivered (< 0) during slot ``k``, per participant [kWh].

        Parameters
        ----------
        k : int
            Slot index (0, 1, 2, ... without gaps).
        load_kwh, pv_kwh : ndarray
            The participants' actual base load and PV energy of slot ``k`` [kWh].
        slot_hours : float
            Slot length [h].

        Advances the device's state to the end of slot ``k``.
        """
        ...

    def columns(self) -> dict[str, FloatArray]:
        """Per-participant values of the slot last computed, keyed by :attr:`column_names`."""
        ...

    def disconnect(self, cut: NDArray[np.bool_]) -> None:
        """The participants in ``cut`` were cut off from the grid during the slot last
        computed (an outage, anti-islanding): their devices drew and delivered nothing then.
        Undo that slot's energy for them (state and :meth:`columns`)."""
        ...

    def state(self) -> Any:
        """Everything needed to resume after the slot last computed (picklable plain data)."""
        ...

    def restore(self, state: Any) -> None:
        """Continue from a :meth:`state` of a device built from the same configuration."""
        ...

    def summary(self) -> dict[str, Any]:
        """Run totals so far (JSON-serialisable)."""
        ...


@dataclass(frozen=True)
class DeviceType:
    """A registered device type: its fleet in a run and its block in a dispatch LP.

    Attributes
    ----------
    name : str
        Key under ``devices:`` in a scenario, prefix of its columns, and ``kind`` of its
        records in a dispatch case's device table.
    config_model : type of pydantic.BaseModel or None
        Its configuration in a scenario (strict, ``extra="forbid"``, documented fields with
        units); None for a type that exists only in dispatch cases.
    build : callable or None
        ``build(config, context, rng) -> Device``: the fleet for one run, from a validated
        configuration, the :class:`DeviceContext` and the type's own seeded generator; None
        for a type that exists only in dispatch cases.
    description : str
        One line for the documentation.
    dispatch : callable or None
        The type's dispatch block: called with the fields of a device-table record (``name``
        and its parameters) it returns an object with ``build(lp, time)`` that adds the
        device's variables and rows to a DES block and returns its injection
        (:class:`cosim.dispatch.devices.DispatchDevice`). None for a type without one.
    """

    name: str
    config_model: type[BaseModel] | None = None
    build: Callable[[Any, DeviceContext, np.random.Generator], Device] | None = None
    description: str = ""
    dispatch: Callable[..., Any] | None = None

    @property
    def in_runs(self) -> bool:
        """True if a scenario's ``devices:`` may name this type (it builds a fleet)."""
        return self.build is not None and self.config_model is not None


#: The registered device types by name (filled by :func:`register`; read it through
#: :func:`device_types`, which imports the shipped ones first).
DEVICE_TYPES: dict[str, DeviceType] = {}


def register(device_type: DeviceType) -> DeviceType:
    """Add a device type to the registry (a device module calls this when imported).

    Raises
    ------
    ValueError
        For a name that is not a lowercase identifier, one already taken by another type, or a
        type with neither a fleet (``build`` and ``config_model``) nor a dispatch block.
    """
    name = device_type.name
    if (device_type.build is None) != (device_type.config_model is None):
        raise ValueError(f"device type {name!r}: build and config_model go together")
    if not device_type.in_runs and device_type.dispatch is None:
        raise ValueError(f"device type {name!r} has neither a fleet nor a dispatch block")
    if not name.isidentifier() or name != name.lower():
        raise ValueError(f"a device type name must be a lowercase identifier, got {name!r}")
    known = DEVICE_TYPES.get(name)
    if known is not None and known is not device_type:
        raise ValueError(f"device type {name!r} is already registered")
    DEVICE_TYPES[name] = device_type
    return device_type


def device_types(in_runs: bool = False) -> Mapping[str, DeviceType]:
    """The registry, with the shipped device types (:data:`BUILTIN_DEVICE_MODULES`) loaded.

    ``in_runs``: only the types a scenario's ``devices:`` may name (those with a fleet); the
    dispatch cases' device tables may name every type with a dispatch block
    (:data:`cosim.dispatch.devices.DEVICE_KINDS`).
    """
    for module in BUILTIN_DEVICE_MODULES:
        importlib.import_module(module)
    if in_runs:
        return {name: t for name, t in DEVICE_TYPES.items() if t.in_runs}
    return DEVICE_TYPES


def device_rng(seed: int, name: str) -> np.random.Generator:
    """The seeded generator of device type ``name``.

    Derived from the scenario seed and a stable hash (CRC-32) of the name, not spawned from
    the run's streams: adding or removing a device type never changes another type's numbers
    nor those of :func:`cosim.participants.population.random_streams`.

    >>> float(device_rng(0, "ev").random()) == float(device_rng(0, "ev").random())
    True
    >>> float(device_rng(0, "ev").random()) == float(device_rng(0, "heat_pump").random())
    False
    """
    key = (_DEVICE_SPAWN_TAG, zlib.crc32(name.encode("utf-8")))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def validate_device_configs(
    config: Mapping[str, Any], source_file: str | Path | None = None
) -> dict[str, BaseModel]:
    """Validate the ``devices:`` mapping against the registry and each type's model.

    Needs no population, so it can run as soon as the scenario is read.

    Raises
    ------
    InputError
        ``devices.<name>`` for an unknown type or a section that is not a mapping,
        ``devices.<name>.<field>`` for a bad value, with what was expected.
    """
    types = device_types(in_runs=True)
    out: dict[str, BaseModel] = {}
    for name, section in config.items():
        where = f"devices.{name}"
        if name not in types:
            known = f"known: {', '.join(sorted(types)) or 'none'}"
            if name in DEVICE_TYPES:  # a dispatch block without a fleet (grid, load, ...)
                raise InputError(
                    source_file,
                    where,
                    f"a device of dispatch cases only, not of runs; {known}",
                )
            raise InputError(source_file, where, f"unknown device type; {known}")
        if not isinstance(section, Mapping):
            raise InputError(
                source_file,
                where,
                f"expected a mapping of {name} settings (or {{}} for the defaults), "
                f"got {type(section).__name__}",
            )
        model = types[name].config_model
        assert model is not None  # in_runs
        try:
            out[name] = model.model_validate(dict(section))
        except ValidationError as exc:
            key, expected = describe_error(exc.errors()[0], model)
            raise InputError(source_file, f"{where}.{key}" if key else where, expected) from None
    return out


class DeviceSet:
    """The configured devices of a run (possibly none), used like one device.

    Parameters
    ----------
    n : int
        Number of participants.
    devices : mapping of str to Device
        The fleets by type name, in the order of the scenario's ``devices:`` mapping.
    """

    def __init__(self, n: int, devices: Mapping[str, Device]) -> None:
        self.n = n
        self.devices: dict[str, Device] = dict(devices)

    def __bool__(self) -> bool:
        return bool(self.devices)

    def __len__(self) -> int:
        return len(self.devices)

    def __iter__(self) -> Iterator[str]:
        return iter(self.devices)

    @property
    def empty(self) -> bool:
        """True without devices: :meth:`energy_kwh` is all zeros and the engine may skip it."""
        return not self.devices

    @property
    def column_names(self) -> tuple[str, ...]:
        """Extra participants.csv columns of every device, in a fixed order."""
        return tuple(c for d in self.devices.values() for c in d.column_names)

    def energy_kwh(
        self, k: int, load_kwh: FloatArray, pv_kwh: FloatArray, slot_hours: float
    ) -> FloatArray:
        """Sum of every device's energy of slot ``k`` per participant [kWh]; zeros without any.

        Each device sees the base load and PV (not the other devices' energy).
        """
        total = np.zeros(self.n, dtype=np.float64)
        for device in self.devices.values():
            total += device.energy_kwh(k, load_kwh, pv_kwh, slot_hours)
        return total

    def columns(self) -> dict[str, FloatArray]:
        """Every device's columns of the slot last computed, in :attr:`column_names` order."""
        out: dict[str, FloatArray] = {}
        for device in self.devices.values():
            values = device.columns()
            for name in device.column_names:
                out[name] = values[name]
        return out

    def disconnect(self, cut: NDArray[np.bool_]) -> None:
        """Tell every device that the participants in ``cut`` drew nothing in the last slot."""
        for device in self.devices.values():
            device.disconnect(cut)

    def state(self) -> dict[str, Any]:
        """Each device's :meth:`Device.state` by type name."""
        return {name: device.state() for name, device in self.devices.items()}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore every device from :meth:`state` of a set built from the same scenario."""
        if set(state) != set(self.devices):
            raise ValueError(
                f"checkpoint has devices {sorted(state)}, the scenario {sorted(self.devices)}"
            )
        for name, device in self.devices.items():
            device.restore(state[name])

    def summary(self) -> dict[str, Any]:
        """Each device's run totals by type name (``{}`` without devices)."""
        return {name: device.summary() for name, device in self.devices.items()}


def build_devices(
    config: Mapping[str, Any],
    context: DeviceContext,
    seed: int,
    source_file: str | Path | None = None,
) -> DeviceSet:
    """Validate the scenario's ``devices:`` mapping and build every configured fleet.

    Parameters
    ----------
    config : mapping
        ``devices:`` of the scenario: type name -> that type's settings.
    context : DeviceContext
        The participants and the time axis.
    seed : int
        The scenario seed; each type draws from :func:`device_rng` ``(seed, name)``.
    source_file : str or Path, optional
        For error messages; default ``context.source_file``.

    Raises
    ------
    InputError
        For an unknown type or a bad setting (:func:`validate_device_configs`), or a fleet
        its type refuses to build for this population.
    """
    file = source_file if source_file is not None else context.source_file
    configs = validate_device_configs(config, file)
    types = device_types(in_runs=True)
    devices: dict[str, Device] = {}
    for name, cfg in configs.items():
        build = types[name].build
        assert build is not None  # in_runs
        device = build(cfg, context, device_rng(seed, name))
        names = tuple(device.column_names)
        if any(not c.startswith(f"{name}_") for c in names):
            raise ValueError(f"device {name!r}: every column name must start with '{name}_'")
        devices[name] = device
    return DeviceSet(context.n, devices)
