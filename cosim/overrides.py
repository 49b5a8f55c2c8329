"""``--set KEY.PATH=VALUE`` overrides of a scenario mapping, before validation.

Used by :func:`cosim.scenario.load_scenario` (which re-exports these names) and by sweeps,
which set varied keys the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cosim.errors import InputError
from cosim.yamlload import read_yaml

__all__ = ["apply_overrides", "parse_override", "set_path"]


def parse_override(item: str, file: str | Path | None = None) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a YAML-parsed value."""
    key, sep, raw = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not key.strip() or any(not part for part in parts):
        raise InputError(file, f"--set {item}", "expected KEY.PATH=VALUE, e.g. time.slots=48")
    if not raw.strip():
        return parts, ""
    try:
        value = read_yaml(raw, None, what=f"--set value {raw!r} is not a valid YAML value")
    except InputError as exc:
        raise InputError(file, key.strip(), exc.expected) from None
    return parts, value


def apply_overrides(
    data: Mapping[str, Any], overrides: Sequence[str], file: str | Path | None = None
) -> dict[str, Any]:
    """Return a copy of ``data`` with ``--set`` overrides applied (validation happens later)."""
    out: dict[str, Any] = _deep_copy(data)
    for item in overrides:
        parts, value = parse_override(item, file)
        set_path(out, parts, value, file)
    return out


def set_path(
    data: dict[str, Any], parts: Sequence[str], value: Any, file: str | Path | None = None
) -> None:
    """Set ``data[parts[0]][parts[1]]... = value`` in place, creating missing sections.

    Raises
    ------
    InputError
        When a key on the way is a value rather than a section.
    """
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise InputError(
                file,
                ".".join(parts[: i + 1]),
                "is a value, not a section; cannot set a key inside it",
            )
        node = child
    node[parts[-1]] = value


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}
