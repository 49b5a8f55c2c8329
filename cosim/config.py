"""What every section of a scenario shares: the strict base model, paths and registry names.

Each concept owns its section of the scenario (``participants:`` and ``battery:`` live in
:mod:`cosim.participants.config`, ``faults:`` in :mod:`cosim.faults`); :mod:`cosim.scenario`
composes them. A key that names an implementation of an extension axis is declared with
:func:`registered`, so the axis's registry validates it and the generated reference
(``docs/scenario.md``) lists the registered names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

from cosim.registry import Registry

__all__ = ["Section", "registered", "resolve_path"]


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
