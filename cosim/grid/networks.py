"""LV networks: loading them and attaching market participants to their buses.

Three ways to name a network (scenario key ``network.name``):

* ``"cigre_lv"``: :func:`pandapower.networks.create_cigre_network_lv` (44 buses, 15 loads);
* ``"village"``: :func:`pandapower.networks.create_synthetic_voltage_control_lv_network`
  with ``network_class="village_1"`` (80 buses, 47 loads, 13 PV sgens);
* ``"district"``: 120 of pandapower's synthetic LV networks (24 of each of its five classes)
  under one 20 kV busbar: 9,529 buses, 120 transformers, 5,208 household loads. Shipped as
  package data (``cosim/grid/data/district.json``, made by ``scripts/derive_district.py``);
* anything else: the path of a pandapower JSON file (:func:`pandapower.to_json`).

A participant is one customer behind one meter. :func:`attach_participants` derives them from the
network's loads (rules in ``docs/networks.md``); :func:`prepare_for_participants` takes the
network's own loads and static generators out of service, because the participants now play
their role.

Examples
--------
>>> from cosim.grid.networks import attach_participants, load_network
>>> net = load_network("cigre_lv")
>>> att = attach_participants(net, "cigre_lv")
>>> len(att), int((att.kind == "commercial").sum())
(105, 9)
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
from pandapower.auxiliary import pandapowerNet

from cosim.errors import InputError

__all__ = [
    "BUILTIN_NETWORKS",
    "KINDS",
    "Attachment",
    "attach_participants",
    "check_participant_buses",
    "load_network",
    "prepare_for_participants",
]

#: Names accepted by :func:`load_network` besides a file path.
BUILTIN_NETWORKS: tuple[str, ...] = ("cigre_lv", "village", "district")

#: Package data file of each built-in network shipped as JSON.
_PACKAGED: dict[str, str] = {"district": "district.json"}

#: Participant kinds.
KINDS: tuple[str, ...] = ("household", "commercial")

#: Values accepted in an optional ``net.load["cosim_kind"]`` column of a JSON network.
_COSIM_KIND_VALUES: tuple[str, ...] = ("household", "split", "commercial")

_KEY = "network.name"
#: Most participants one network may give (a safeguard against loads in the wrong unit).
MAX_PARTICIPANTS = 1_000_000


def load_network(name: str, scenario_file: str | Path | None = None) -> pandapowerNet:
    """Return a fresh pandapower network.

    Parameters
    ----------
    name : str
        ``"cigre_lv"``, ``"village"``, ``"district"``, or the path of a pandapower JSON file. A
        relative path is looked up next to ``scenario_file`` first, then in the current working
        directory.
    scenario_file : str or Path, optional
        The scenario the name came from; anchors relative paths and names the file in errors.

    Returns
    -------
    pandapowerNet
        A new network object; the caller may modify it freely.

    Raises
    ------
    InputError
        The file is missing, unreadable or not a pandapower network, or the network has no
        in-service external grid, no buses or no loads.
    """
    if name == "cigre_lv":
        return pn.create_cigre_network_lv()
    if name == "village":
        return pn.create_synthetic_voltage_control_lv_network(network_class="village_1")
    if name in _PACKAGED:
        with resources.as_file(resources.files("cosim.grid") / "data" / _PACKAGED[name]) as path:
            return pp.from_json(str(path))
    path = _resolve_path(name, scenario_file)
    try:
        net = pp.from_json(str(path))
    except Exception as exc:  # pandapower raises many types for a malformed file
        raise InputError(
            scenario_file,
            _KEY,
            f"a pandapower JSON network (pandapower.to_json) at {path}; "
            f"reading it failed: {type(exc).__name__}: {exc}",
        ) from exc
    if not isinstance(net, pandapowerNet):
        raise InputError(
            scenario_file,
            _KEY,
            f"a pandapower JSON network at {path}; the file holds a {type(net).__name__}",
        )
    _check_network(net, path, scenario_file)
    return net


def _resolve_path(name: str, scenario_file: str | Path | None) -> Path:
    """Find the JSON file ``name`` refers to (scenario folder first, then CWD)."""
    if not name.strip():
        raise InputError(
            scenario_file,
            _KEY,
            f"one of {', '.join(BUILTIN_NETWORKS)} or the path of a pandapower JSON file; "
            "found an empty name",
        )
    raw = Path(name).expanduser()
    candidates: list[Path] = []
    if raw.is_absolute():
        candidates.append(raw)
    else:
        if scenario_file is not None:
            candidates.append(Path(scenario_file).expanduser().parent / raw)
        candidates.append(Path.cwd() / raw)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise InputError(
        scenario_file,
        _KEY,
        f"one of {', '.join(BUILTIN_NETWORKS)} or an existing pandapower JSON file; "
        f"found {name!r} (no file at {tried})",
    )


#: Columns a simulation reads from each pandapower table (when the table has rows).
_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "bus": ("vn_kv", "in_service"),
    "load": ("bus", "p_mw", "q_mvar", "in_service"),
    "ext_grid": ("bus", "vm_pu", "va_degree", "in_service"),
    "line": (
        "from_bus",
        "to_bus",
        "length_km",
        "r_ohm_per_km",
        "x_ohm_per_km",
        "c_nf_per_km",
        "max_i_ka",
        "parallel",
        "df",
        "in_service",
    ),
    "trafo": (
        "hv_bus",
        "lv_bus",
        "sn_mva",
        "vn_hv_kv",
        "vn_lv_kv",
        "vk_percent",
        "vkr_percent",
        "in_service",
    ),
    "switch": ("bus", "element", "et", "closed"),
    "sgen": ("bus", "p_mw", "in_service"),
}
#: Columns holding bus indices.
_BUS_COLUMNS = ("bus", "from_bus", "to_bus", "hv_bus", "lv_bus")
#: Element kinds of a switch (``et``): bus, line, transformer, 3-winding transformer.
_SWITCH_KINDS = ("b", "l", "t", "t3")


def _check_tables(net: pandapowerNet, path: Path, scenario_file: str | Path | None) -> None:
    """Refuse tables a simulation cannot read: wrong type, missing or non-numeric columns.

    Checks what cosim and the power flow read (``_REQUIRED_COLUMNS``): a table is a data
    frame with integer row labels; required columns exist; numbers are finite; buses named
    by elements exist.
    """

    def fail(what: str) -> InputError:
        return InputError(scenario_file, _KEY, f"a usable pandapower network at {path}; {what}")

    for table, columns in _REQUIRED_COLUMNS.items():
        frame = net[table] if table in net else None
        if frame is None:
            if table in ("bus", "load", "ext_grid"):
                raise fail(f"it has no {table} table")
            continue
        if not isinstance(frame, pd.DataFrame):
            raise fail(f"its {table} is a {type(frame).__name__}, not a table")
        if len(frame) == 0:
            continue
        if not pd.api.types.is_integer_dtype(frame.index) or not frame.index.is_unique:
            raise fail(f"the rows of {table} must have unique integer indices")
        for column in columns:
            if column not in frame.columns:
                raise fail(f"{table} has no column {column!r}")
            values = frame[column]
            if column == "et":
                bad = ~values.isin(_SWITCH_KINDS)
            elif column in ("in_service", "closed"):
                bad = ~values.map(lambda v: isinstance(v, (bool, np.bool_)) or v in (0, 1))
            else:
                numeric = pd.to_numeric(values, errors="coerce")
                ok = numeric.notna() & np.isfinite(numeric.astype("float64"))
                if column in ("bus", "element", *_BUS_COLUMNS):
                    ok &= numeric.astype("float64") % 1 == 0
                bad = ~ok
            if bad.any():
                row = frame.index[np.flatnonzero(bad.to_numpy())[0]]
                raise fail(f"{table}.{column} has {values.loc[row]!r} at row {row}")
    buses = net.bus.index
    if not (pd.to_numeric(net.bus["vn_kv"]) > 0).all():
        raise fail("every bus needs a nominal voltage vn_kv > 0")
    for table in _REQUIRED_COLUMNS:
        frame = net[table] if table in net else None
        if frame is None or len(frame) == 0:
            continue
        for column in _BUS_COLUMNS:
            if column in frame.columns and column in _REQUIRED_COLUMNS[table]:
                missing = ~frame[column].astype("int64").isin(buses)
                if missing.any():
                    row = frame.index[np.flatnonzero(missing.to_numpy())[0]]
                    raise fail(
                        f"{table}.{column} at row {row} names bus {frame[column].loc[row]}, "
                        "which does not exist"
                    )


def _check_network(net: pandapowerNet, path: Path, scenario_file: str | Path | None) -> None:
    """Raise :class:`InputError` when ``net`` lacks what a simulation needs."""
    _check_tables(net, path, scenario_file)
    problems = []
    if len(net.bus) == 0:
        problems.append("no buses")
    if len(net.ext_grid) == 0 or not net.ext_grid["in_service"].astype(bool).any():
        problems.append("no in-service ext_grid")
    if len(net.load) == 0:
        problems.append("no loads")
    elif not net.load["bus"].isin(net.bus.index).all():
        problems.append("loads at buses that do not exist")
    if problems:
        raise InputError(
            scenario_file,
            _KEY,
            f"a network with buses, an in-service ext_grid and loads at {path}; "
            f"found {', '.join(problems)}",
        )


@dataclass(frozen=True, eq=False)
class Attachment:
    """Where the participants sit: one entry per participant, struct of arrays.

    Parameters
    ----------
    bus : numpy.ndarray of int64
        pandapower bus index of each participant's connection point.
    kind : numpy.ndarray of str
        ``"household"`` or ``"commercial"``.
    rating_kw : numpy.ndarray of float64
        The participant's share of the original load's rating [kW].
    source_load : numpy.ndarray of int64
        Index (``net.load`` index) of the original load the participant was derived from.

    Notes
    -----
    The arrays are made read-only; all four have the same length.
    """

    bus: np.ndarray
    kind: np.ndarray
    rating_kw: np.ndarray
    source_load: np.ndarray

    def __post_init__(self) -> None:
        arrays = {
            "bus": np.array(self.bus, dtype=np.int64),
            "kind": np.array(self.kind, dtype=str),
            "rating_kw": np.array(self.rating_kw, dtype=np.float64),
            "source_load": np.array(self.source_load, dtype=np.int64),
        }
        lengths = {a.shape for a in arrays.values()}
        if len(lengths) != 1 or arrays["bus"].ndim != 1:
            raise ValueError("Attachment arrays must be one-dimensional and of equal length")
        unknown = set(arrays["kind"].tolist()) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown participant kind(s): {sorted(unknown)}")
        for field, value in arrays.items():
            value.setflags(write=False)
            object.__setattr__(self, field, value)

    def __len__(self) -> int:
        """Return the number of participants."""
        return int(self.bus.shape[0])


def attach_participants(
    net: pandapowerNet, network_name: str, household_rating_kw: float = 4.0
) -> Attachment:
    """Derive the participants (customers) from the network's in-service loads.

    Rules (also in ``docs/networks.md``):

    * ``"village"``: every load is one household with the load's rating.
    * ``"cigre_lv"``: the loads are aggregates. A residential load (name ``"Load R..."``) is split
      into ``n = max(1, round(P / household_rating_kw))`` households of rating ``P / n`` each
      (halves round up); an industrial or commercial load (``"Load I..."``, ``"Load C..."``) is
      one commercial customer with the full rating. Any other name splits like residential.
    * any other network: a ``net.load["cosim_kind"]`` column, if present, decides per load:
      ``"household"`` (one household), ``"split"`` (split like residential) or ``"commercial"``
      (one commercial customer). Without the column every load splits like residential.

    ``P`` is the load's ``p_mw * scaling`` in kW. Participants are ordered by load index, then by
    split number, so the result is deterministic. Out-of-service loads give no participants.

    Parameters
    ----------
    net : pandapowerNet
        The network as loaded (before :func:`prepare_for_participants`).
    network_name : str
        The scenario's ``network.name`` (selects the rule; names the file in errors).
    household_rating_kw : float, default 4.0
        Typical rating of one household when an aggregate load is split [kW]; > 0.

    Returns
    -------
    Attachment
        One entry per participant.

    Raises
    ------
    ValueError
        ``household_rating_kw`` is not a positive finite number.
    InputError
        A load has a negative or non-finite rating, or a ``cosim_kind`` value is not one of
        ``household``, ``split``, ``commercial``.
    """
    if not (math.isfinite(household_rating_kw) and household_rating_kw > 0):
        raise ValueError(f"household_rating_kw must be > 0 [kW], got {household_rating_kw!r}")
    loads = net.load[net.load["in_service"].astype(bool)].sort_index()
    file_for_errors = None if network_name in BUILTIN_NETWORKS else network_name
    p_kw = loads["p_mw"].to_numpy(dtype=np.float64) * _scaling(loads) * 1000.0
    bad = ~np.isfinite(p_kw) | (p_kw < 0)
    if bad.any():
        first = loads.index[np.flatnonzero(bad)[0]]
        raise InputError(
            file_for_errors,
            "load.p_mw",
            f"a finite, non-negative load rating; found {p_kw[bad][0]!r} kW at load {first}",
        )
    rules = _load_rules(loads, network_name, file_for_errors)
    split = np.array([rule == "split" for rule in rules], dtype=bool)
    count = int(np.floor(p_kw[split] / household_rating_kw + 0.5).clip(min=1).sum())
    count += int((~split).sum())
    if count > MAX_PARTICIPANTS:
        raise InputError(
            file_for_errors,
            "network.household_rating_kw",
            f"at most {MAX_PARTICIPANTS:,} participants; the network's loads "
            f"({p_kw.sum():.4g} kW) split into {count:,} households of "
            f"{household_rating_kw:g} kW: are the loads' p_mw in kW?",
        )

    bus: list[int] = []
    kind: list[str] = []
    rating: list[float] = []
    source: list[int] = []
    for load_index, load_bus, load_kw, rule in zip(
        loads.index, loads["bus"], p_kw, rules, strict=True
    ):
        if rule == "split":
            n = max(1, math.floor(load_kw / household_rating_kw + 0.5))
            share = load_kw / n
            bus.extend([int(load_bus)] * n)
            kind.extend(["household"] * n)
            rating.extend([share] * n)
            source.extend([int(load_index)] * n)
        else:
            bus.append(int(load_bus))
            kind.append(rule)
            rating.append(float(load_kw))
            source.append(int(load_index))
    return Attachment(
        bus=np.array(bus, dtype=np.int64),
        kind=np.array(kind, dtype=str),
        rating_kw=np.array(rating, dtype=np.float64),
        source_load=np.array(source, dtype=np.int64),
    )


def _scaling(loads: pd.DataFrame) -> np.ndarray | float:
    """Return the loads' ``scaling`` column (1.0 when absent)."""
    if "scaling" in loads.columns:
        return loads["scaling"].fillna(1.0).to_numpy(dtype=np.float64)
    return 1.0


def _load_rules(loads: pd.DataFrame, network_name: str, file_for_errors: str | None) -> list[str]:
    """Return per load ``"household"``, ``"commercial"`` or ``"split"``."""
    count = len(loads)
    if network_name == "village":
        return ["household"] * count
    if network_name == "cigre_lv":
        names = loads["name"].fillna("").astype(str)
        return ["commercial" if n.startswith(("Load I", "Load C")) else "split" for n in names]
    if "cosim_kind" not in loads.columns:
        return ["split"] * count
    rules = []
    for index, value in loads["cosim_kind"].items():
        text = str(value).strip().lower() if isinstance(value, str) else ""
        if text not in _COSIM_KIND_VALUES:
            raise InputError(
                file_for_errors,
                "load.cosim_kind",
                f"one of {', '.join(_COSIM_KIND_VALUES)}; found {value!r} at load {index}",
            )
        rules.append(text)
    return rules


def prepare_for_participants(net: pandapowerNet) -> pandapowerNet:
    """Return a deep copy of ``net`` with its own injections taken out of service.

    Loads, static generators, storage units and asymmetric loads/sgens are set
    ``in_service=False``: the participants (attached with :func:`attach_participants`) now
    draw and inject that power. Buses, lines, transformers, switches (open or closed), external
    grids and voltage-controlled generators are kept unchanged. Applying it twice is harmless.

    Parameters
    ----------
    net : pandapowerNet
        The network as loaded; it is not modified.

    Returns
    -------
    pandapowerNet
        The prepared copy.
    """
    prepared = copy.deepcopy(net)
    for table in ("load", "sgen", "storage", "asymmetric_load", "asymmetric_sgen"):
        if table in prepared and len(prepared[table]) > 0:
            prepared[table]["in_service"] = False
    return prepared


def check_participant_buses(
    net: pandapowerNet,
    attachment: Attachment,
    scenario_file: str | Path | None,
    max_kv: float | None,
) -> None:
    """Refuse participants the power flow cannot supply, or on buses that are not LV.

    Parameters
    ----------
    net : pandapowerNet
        The network as loaded.
    attachment : Attachment
        The participants (from :func:`attach_participants`).
    scenario_file : str or Path or None
        Names the file in errors (key ``network.name``).
    max_kv : float or None
        Largest nominal voltage of a participant's bus [kV]; None: not checked
        (``checks.plausibility: false``).

    Raises
    ------
    InputError
        A participant's bus is out of service or not connected to an in-service external grid
        (an isolated bus, or one behind an open switch or an out-of-service line or
        transformer): its voltages would be empty and its flows meaningless. Or its nominal
        voltage is above ``max_kv`` (key ``checks.max_participant_bus_kv``).
    """
    from pandapower.topology import unsupplied_buses

    buses = np.unique(attachment.bus)
    in_service = net.bus["in_service"].astype(bool)
    off = [int(b) for b in buses if not bool(in_service.get(b, False))]
    unsupplied = set(int(b) for b in unsupplied_buses(net)) | set(off)
    bad = [int(b) for b in buses if int(b) in unsupplied]
    if bad:
        pairs = zip(attachment.source_load, attachment.bus, strict=True)
        loads = sorted({int(i) for i, b in pairs if b in bad})
        what = "out of service" if bad[0] in off else "not connected to an in-service ext_grid"
        raise InputError(
            scenario_file,
            _KEY,
            f"every load with participants on a supplied bus; bus {bad[0]} (load "
            f"{loads[0]}) is {what}"
            + (f", and {len(bad) - 1} more bus(es)" if len(bad) > 1 else "")
            + " (isolated, or behind an open switch or an out-of-service line)",
        )
    if max_kv is None:
        return
    vn_kv = net.bus.loc[buses, "vn_kv"].to_numpy(dtype=np.float64)
    high = np.flatnonzero(~(vn_kv <= max_kv))
    if high.size:
        b = int(buses[high[0]])
        raise InputError(
            scenario_file,
            "checks.max_participant_bus_kv",
            f"participants on low-voltage buses (<= {max_kv:g} kV); bus {b} has a nominal "
            f"voltage of {vn_kv[high[0]]:g} kV: is this a medium-voltage network whose loads "
            "are substations, not households? Raise checks.max_participant_bus_kv if you mean it",
        )
