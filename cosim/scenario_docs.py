"""Generate docs/scenario.md from the scenario schema.

``python -m cosim.scenario_docs > docs/scenario.md``; a test fails when the page is stale.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cosim.participants.devices import device_types
from cosim.registry import Registry
from cosim.scenario import Scenario

__all__ = ["render"]


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin is tuple:
        return "list of " + _type_name(typing.get_args(annotation)[0])
    if origin is typing.Annotated:
        registry = next((m for m in annotation.__metadata__ if isinstance(m, Registry)), None)
        if registry is not None:  # a key naming an implementation: the registered names
            return " \\| ".join(f"`{n}`" for n in registry.names)
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    if origin is dict:
        key, value = typing.get_args(annotation)
        return f"mapping {_type_name(key)} -> {_type_name(value)}"
    if origin is list:
        return "list"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sym in (
            ("ge", ">="),
            ("gt", ">"),
            ("le", "<="),
            ("lt", "<"),
            ("min_length", "min length"),
        ):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sym} {value}")
    return ", ".join(parts)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, tuple):
        value = list(value)
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            title = (ann.__doc__ or "").strip().splitlines()[0]
            rows.append(f"| **`{prefix}{name}`** | section | | | {title} |")
            rows.extend(_rows(ann, f"{prefix}{name}."))
            continue
        desc = (field.description or "").replace("|", "\\|")
        registry = next((m for m in field.metadata if isinstance(m, Registry)), None)
        kind = _type_name(ann)
        if registry is not None:  # a key naming an implementation: the registered names
            kind = " \\| ".join(f"`{n}`" for n in registry.names)
        cells = [f"`{prefix}{name}`", kind, _default(field), _bounds(field), desc]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _device_rows() -> list[str]:
    """The keys of every registered device type, under ``devices.<name>``."""
    rows = []
    for name, device_type in sorted(device_types(in_runs=True).items()):
        model = device_type.config_model
        assert model is not None  # in_runs
        title = (model.__doc__ or "").strip().splitlines()[0]
        rows.append(f"| **`devices.{name}`** | section | | | {title} |")
        rows.extend(_rows(model, f"devices.{name}."))
    return rows


def render() -> str:
    """The scenario reference page as Markdown."""
    lines = [
        "# Scenario reference",
        "",
        "Generated from `cosim/scenario.py` by `python -m cosim.scenario_docs > docs/scenario.md`;",
        "a test fails if this page and the schema disagree. Every key is optional except `name`.",
        "Unknown keys, wrong types and out-of-range values stop `cosim run` and `cosim validate`",
        "with one line naming the file, the key path and what was expected (exit code 2).",
        "Override any key from the command line: `--set time.slots=96 --set seed=7`.",
        "",
        "| key | type | default | bounds | meaning |",
        "|---|---|---|---|---|",
        *_rows(Scenario, ""),
        *_device_rows(),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render())
