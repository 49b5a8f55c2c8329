"""Sweep planning: ``--vary`` parsing, ranges, the grid, run-directory names, validation.

Everything here runs before any simulation: :func:`plan_sweep` applies every combination of
the varied values to the scenario and validates it, so bad input fails with an
:class:`~cosim.errors.InputError` before a run starts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cosim.errors import InputError
from cosim.overrides import set_path
from cosim.scenario import (
    Scenario,
    load_scenario,
    scenario_from_mapping,
    scenario_to_yaml,
)
from cosim.yamlload import read_yaml

__all__ = [
    "PlannedRun",
    "SweepPlan",
    "expand_grid",
    "parse_range",
    "parse_vary",
    "plan_sweep",
    "run_dir_name",
    "scenario_hash",
    "value_text",
]

#: Most values one START:STOP:STEP may expand to, and most runs in one sweep.
MAX_VALUES = 10_000
MAX_RUNS = 100_000
_FORBIDDEN_KEYS = ("sweep", "source_file")

# --------------------------------------------------------------------------- parsing


def parse_range(text: str, where: str = "--vary") -> list[int] | list[float] | None:
    """Expand ``START:STOP:STEP`` into its values, inclusive of STOP.

    The arithmetic is done on the decimal text, so ``0:1:0.1`` gives exactly the 11 floats
    ``0.0, 0.1, ..., 1.0`` (``0.3``, not ``0.30000000000000004``). STOP is included when it is
    reached within a relative 1e-9 of a step. Integers in, integers out.

    Parameters
    ----------
    text : str
        The range, e.g. ``0:1:0.1`` or ``1:5:2``.
    where : str
        Key path for error messages.

    Returns
    -------
    list of int or list of float, or None
        None when ``text`` is not three numbers separated by colons.

    Raises
    ------
    InputError
        For a zero step, a step pointing away from STOP, or too many values.
    """
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 3:
        return None
    try:
        start, stop, step = (Decimal(p) for p in parts)
    except InvalidOperation:
        return None
    if not all(d.is_finite() for d in (start, stop, step)):
        return None
    if step == 0:
        raise InputError(None, where, f"STEP of {text!r} must not be 0")
    ratio = (stop - start) / step
    if ratio < 0:
        raise InputError(None, where, f"STEP of {text!r} points away from STOP")
    count = int(ratio.to_integral_value(rounding="ROUND_FLOOR"))
    if ratio - count > 1 - Decimal("1e-9"):
        count += 1
    if count + 1 > MAX_VALUES:
        raise InputError(None, where, f"{text!r} gives {count + 1} values; at most {MAX_VALUES}")
    values = [start + i * step for i in range(count + 1)]
    if all(re.fullmatch(r"[-+]?\d+", p) for p in parts):
        return [int(v) for v in values]
    return [float(v) for v in values]


def parse_vary(item: str, file: str | Path | None = None) -> tuple[str, list[Any]]:
    """Split a ``--vary`` item into its key path and values.

    ``KEY=V1,V2,...`` values are parsed as YAML scalars (a YAML flow sequence, so quoted
    strings and ``[a, b]`` lists work); ``KEY=START:STOP:STEP`` is expanded by
    :func:`parse_range`.

    Raises
    ------
    InputError
        For a malformed item, no values, or repeated values.
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not p for p in key.split(".")) or not raw.strip():
        raise InputError(
            file, f"--vary {item}", "expected KEY=V1,V2,... or KEY=START:STOP:STEP, e.g. seed=1,2"
        )
    values = _values_from_text(raw, key, file)
    return key, values


def _values_from_text(raw: str, key: str, file: str | Path | None) -> list[Any]:
    expanded = parse_range(raw, key)
    if expanded is not None:
        return list(expanded)
    try:
        values = read_yaml(f"[{raw}]", file)
    except InputError:
        raise InputError(
            file, key, f"--vary values {raw!r} are not valid YAML scalars separated by commas"
        ) from None
    return list(values)


def _check_key(key: str, file: str | Path | None) -> None:
    if key.split(".")[0] in _FORBIDDEN_KEYS:
        raise InputError(file, key, "cannot be varied in a sweep")


def expand_grid(vary: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of the varied values, the last key varying fastest.

    >>> expand_grid({"a": [1, 2], "b": ["x", "y"]})
    [{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 2, 'b': 'y'}]
    """
    keys = list(vary)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*vary.values())]


def value_text(value: Any) -> str:
    """A value as text: YAML spelling for scalars, compact JSON otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def _short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def run_dir_name(values: Mapping[str, Any]) -> str:
    """Filesystem-safe, stable directory name of one run, from its varied values.

    ``key=value`` pairs joined by ``__``. Characters outside ``[A-Za-z0-9._+-]`` become
    ``_``; a value that had to be changed (or is not a scalar) gets ``~`` and 8 hex digits of
    its hash, so distinct values keep distinct names. Names are cut to 200 characters.

    >>> run_dir_name({"participants.pv_penetration": 0.3, "seed": 2})
    'participants.pv_penetration=0.3__seed=2'
    """
    parts = []
    for key, value in values.items():
        text = value_text(value)
        safe = _UNSAFE.sub("_", text)[:40]
        if safe != text or isinstance(value, (list, tuple, dict)):
            safe = f"{safe}~{_short_hash(text)}"
        parts.append(f"{_UNSAFE.sub('_', key)}={safe}")
    name = "__".join(parts)
    if len(name) > 200:
        name = f"{name[:180]}~{_short_hash(name, 12)}"
    return name


def scenario_hash(scenario: Scenario) -> str:
    """sha256 (hex) of the fully resolved scenario's YAML; identifies a run's inputs."""
    return hashlib.sha256(scenario_to_yaml(scenario).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep.

    Attributes
    ----------
    index : int
        Position in the sweep (row of sweep.csv).
    values : dict
        Varied key path -> value.
    name : str
        Run directory name (:func:`run_dir_name`).
    scenario : Scenario
        The resolved scenario of the run (its ``sweep`` section reset to the default).
    scenario_hash : str
        :func:`scenario_hash` of ``scenario``.
    """

    index: int
    values: dict[str, Any]
    name: str
    scenario: Scenario
    scenario_hash: str


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: the base scenario, the varied values and every run.

    Attributes
    ----------
    base : Scenario
        The scenario file with ``--set`` overrides (and its ``sweep`` section).
    vary : dict
        Varied key path -> list of values, file's keys first, then the CLI's.
    runs : list of PlannedRun
        The cartesian product, in order.
    """

    base: Scenario
    vary: dict[str, list[Any]]
    runs: list[PlannedRun]


def plan_sweep(
    scenario_file: str | Path,
    vary: Sequence[str] = (),
    overrides: Sequence[str] = (),
) -> SweepPlan:
    """Read a scenario, merge its ``sweep.vary`` with ``--vary`` items, validate every run.

    Parameters
    ----------
    scenario_file : str or Path
        Scenario YAML.
    vary : sequence of str
        ``--vary`` items (:func:`parse_vary`); a key given here replaces the file's values.
    overrides : sequence of str
        ``--set`` items applied to the base scenario before the varied values.

    Raises
    ------
    InputError
        For any invalid key or value, in the base scenario or in any combination, before
        anything runs.
    """
    file = Path(scenario_file)
    base = load_scenario(file, overrides)
    merged: dict[str, list[Any]] = {}
    for key, spec in base.sweep.vary.items():
        where = f"sweep.vary.{key}"
        if isinstance(spec, str):
            expanded = parse_range(spec, where)
            if expanded is None:
                raise InputError(file, where, f"expected a list or START:STOP:STEP, got {spec!r}")
            merged[key] = list(expanded)
        else:
            merged[key] = list(spec)
    for item in vary:
        key, cli_values = parse_vary(item, file)
        merged[key] = cli_values
    if not merged:
        raise InputError(
            file, "sweep.vary", "nothing to vary: give --vary KEY=V1,V2 or a sweep.vary section"
        )
    for key, values in merged.items():
        _check_key(key, file)
        if not values:
            raise InputError(file, key, "expected at least one value to vary")
        texts = [value_text(v) for v in values]
        if len(set(texts)) != len(texts):
            raise InputError(file, key, f"repeated value among {texts}")
    n_runs = math.prod(len(v) for v in merged.values())
    if n_runs > MAX_RUNS:
        raise InputError(file, "sweep.vary", f"{n_runs} runs; at most {MAX_RUNS}")
    data = base.model_dump(mode="json")
    data.pop("sweep", None)
    runs: list[PlannedRun] = []
    seen: dict[str, str] = {}
    for index, combo in enumerate(expand_grid(merged)):
        name = run_dir_name(combo)
        if name.lower() in seen:
            raise InputError(
                file, "sweep.vary", f"runs {seen[name.lower()]} and {name} share a directory name"
            )
        seen[name.lower()] = name
        run_data = json.loads(json.dumps(data))  # deep copy of plain JSON types
        for key, value in combo.items():
            set_path(run_data, key.split("."), value, file)
        try:
            scenario = scenario_from_mapping(run_data, file)
        except InputError as exc:
            raise InputError(exc.file, exc.key, f"{exc.expected} (in sweep run {name})") from None
        runs.append(PlannedRun(index, combo, name, scenario, scenario_hash(scenario)))
    return SweepPlan(base, merged, runs)
