"""What every section of a scenario shares: the strict base model, paths and registry names.

Each concept owns its section of the scenario (``participants:`` and ``battery:`` live in
:mod:`cosim.participants.config`, ``faults:`` in :mod:`cosim.faults`); :mod:`cosim.scenario`
composes them. A key that names an implementation of an extension axis is declared with
:func:`registered`, so the axis's registry validates it and the generated reference
(``docs/scenario.md``) lists the registered names.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

from cosim.registry import Registry

__all__ = ["Section", "describe_error", "registered", "resolve_path"]


class Section(BaseModel):
    """Base of every scenario section: frozen, no unknown keys, no coercion, finite numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def registered(registry: Registry[Any]) -> Any:
    """The type of a key that names an implementation in ``registry``.

    >>> from pydantic import TypeAdapter
    >>> names = Registry("demo.backend", {"fast": "math:sqrt", "exact": "math:isqrt"})
    >>> TypeAdapter(registered(names)).validate_python("fast")
    'fast'
    """
    return Annotated[str, AfterValidator(registry.check), registry]


def resolve_path(source_file: Path | str | None, value: str) -> Path:
    """A path from a scenario: relative to the scenario file's folder if it exists there, else
    to the working directory.

    >>> resolve_path(None, "/data/load.csv")
    PosixPath('/data/load.csv')
    """
    p = Path(value)
    if p.is_absolute():
        return p
    if source_file is not None:
        candidate = Path(source_file).parent / p
        if candidate.exists():
            return candidate
    return p


def describe_error(err: Mapping[str, Any], model: type[BaseModel]) -> tuple[str, str]:
    """One pydantic error of ``model`` as (dotted key path, what was expected): the message
    of exit code 2 for a scenario section or a device's settings."""
    loc = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
    # drop pydantic's internal tags for Literal/union members
    path = ".".join(p for p in loc if not p.startswith(("literal[", "tagged")))
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        parent: type[BaseModel] | None = model
        for part in loc[:-1]:
            if part.isdigit():  # an item of a list of sections (faults.outage.events)
                continue
            field = parent.model_fields.get(part) if parent else None
            ann = field.annotation if field else None
            if typing.get_origin(ann) in (tuple, list):
                ann = typing.get_args(ann)[0]
            parent = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        allowed = (
            ", ".join(k for k, f in parent.model_fields.items() if not f.exclude) if parent else ""
        )
        return path, f"unknown key; allowed here: {allowed}"
    if kind == "missing":
        return path, "required key is missing"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error"):
        return path, f"expected {msg}"
    return path, f"{msg[0].lower()}{msg[1:]} (got {got!r})"
